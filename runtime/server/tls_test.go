package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"

	rmv1 "github.com/eigen-os/rm/api/rm/v1"
	"github.com/eigen-os/rm/api/rm/v1/rmv1connect"
	"github.com/eigen-os/rm/hal/sim"
	"github.com/eigen-os/rm/hal/synth"
	"github.com/eigen-os/rm/runtime/config"
	"github.com/eigen-os/rm/runtime/controller"
	"github.com/eigen-os/rm/store"
)

// selfSigned writes a certificate and key for 127.0.0.1 and returns their
// paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rmd-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	m, _ := synth.ByName("heavyhex-27")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(t.TempDir(), store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctl, err := controller.New(context.Background(), config.Default(), controller.Options{Device: sim.New(m, sim.Options{}), Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	auth, _ := NewAuth([]config.Token{{Tenant: "alice", Token: aliceTok}}, nil)
	srv, err := Listen(ctl, Config{Endpoint: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile, Auth: auth, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	defer srv.Shutdown(context.Background())
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	for name, opts := range map[string][]connect.ClientOption{"connect": nil, "grpc": {connect.WithGRPC()}} {
		c := rmv1connect.NewResourceManagerClient(hc, "https://"+srv.APIAddr(), append(opts, connect.WithInterceptors(
			connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
				return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
					req.Header().Set("Authorization", "Bearer "+aliceTok)
					return next(ctx, req)
				}
			})))...)
		resp, err := c.Status(context.Background(), connect.NewRequest(&rmv1.StatusRequest{}))
		if err != nil || resp.Msg.Qubits != 27 {
			t.Fatalf("%s over TLS: %v", name, err)
		}
	}
	// Plain HTTP to the TLS port fails; an untrusted client fails.
	if _, err := http.Get("http://" + srv.APIAddr() + "/healthz"); err == nil {
		t.Log("plain HTTP got an answer (Go's TLS server replies 400): acceptable")
	}
	if _, err := http.Get("https://" + srv.APIAddr() + "/healthz"); err == nil {
		t.Fatal("a client that does not trust the certificate connected")
	}
}
