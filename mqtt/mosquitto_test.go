package mqtt

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

const mosquittoBin = "/usr/sbin/mosquitto"

// mosquitto runs a real broker on a loopback port with the settings of
// MEASURED.md (no Nagle delay, no silent queue limit, no persistence).
type mosquitto struct {
	t    *testing.T
	addr string
	conf string
	cmd  *exec.Cmd
	log  syncBuffer // the broker's stderr, shown when the test fails
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startMosquitto(t *testing.T, extra string) *mosquitto {
	t.Helper()
	if _, err := os.Stat(mosquittoBin); err != nil {
		t.Skipf("mosquitto is not installed at %s (apt-get install mosquitto): %v", mosquittoBin, err)
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\nmax_queued_messages 0\npersistence false\nlog_dest stderr\nlog_type error\n", port)
	if os.Getuid() == 0 {
		conf += "user root\n" // otherwise mosquitto drops to a user that cannot read our files
	}
	conf += extra
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &mosquitto{t: t, addr: addr, conf: path}
	m.start()
	t.Cleanup(func() {
		m.kill()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", m.log.String())
		}
	})
	return m
}

func (m *mosquitto) url() string { return "tcp://" + m.addr }

func (m *mosquitto) start() {
	m.t.Helper()
	m.cmd = exec.Command(mosquittoBin, "-c", m.conf)
	m.cmd.Stderr = &m.log
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", m.addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto does not listen on %s: %v", m.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the broker with SIGKILL (no goodbye to anyone).
func (m *mosquitto) kill() {
	if m.cmd != nil && m.cmd.Process != nil {
		m.cmd.Process.Kill()
		m.cmd.Wait()
		m.cmd = nil
	}
}

// Three nodes on mosquitto; the broker is killed and restarted on the same
// port: every node reconnects with a new bdSeq, republishes its birth, and
// the fleet view converges with nobody's help.
func TestMosquittoRestartConverges(t *testing.T) {
	m := startMosquitto(t, "")
	devs := []string{"m1", "m2", "m3"}
	var nodes []*Node
	for _, d := range devs {
		c := baseConfig(t, d)
		c.Broker = m.url()
		nodes = append(nodes, startNode(t, c, newFake(d)))
	}
	converged := func(bd0 map[string]uint64) func() bool {
		return func() bool {
			for _, n := range nodes {
				for _, d := range devs {
					p, ok := peerOf(n, d)
					if !ok || !p.Online || !p.HasState || p.Birth.BdSeq <= bd0[d] {
						return false
					}
				}
			}
			return true
		}
	}
	waitFor(t, 3*time.Second, "first convergence", converged(map[string]uint64{}))
	bd0 := map[string]uint64{}
	for i, n := range nodes {
		bd0[devs[i]] = n.Stats().BdSeq
	}

	m.kill()
	waitFor(t, 2*time.Second, "nodes notice", func() bool {
		for _, n := range nodes {
			if n.Stats().Connected {
				return false
			}
		}
		return true
	})
	start := time.Now()
	m.start()
	waitFor(t, 10*time.Second, "convergence after the restart", converged(bd0))
	t.Logf("fleet converged %v after the broker restarted", time.Since(start))
	for i, n := range nodes {
		if s := n.Stats(); s.Reconnects < 1 || s.BdSeq <= bd0[devs[i]] {
			t.Errorf("%s: reconnects %d, bd %d (was %d)", devs[i], s.Reconnects, s.BdSeq, bd0[devs[i]])
		}
	}
	// Forwarding works again.
	r, err := nodes[0].Forward(context.Background(), "m2", request("after-restart"))
	if err != nil || !r.OK {
		t.Errorf("forward after the restart: %+v, %v", r, err)
	}
}

// Password authentication with a mosquitto password file.
func TestMosquittoPassword(t *testing.T) {
	passwd := "/usr/bin/mosquitto_passwd"
	if _, err := os.Stat(passwd); err != nil {
		t.Skipf("%s is not installed: %v", passwd, err)
	}
	file := filepath.Join(t.TempDir(), "passwd")
	if out, err := exec.Command(passwd, "-b", "-c", file, "rmd", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	m := startMosquitto(t, "allow_anonymous false\npassword_file "+file+"\n")
	// allow_anonymous appears twice; mosquitto takes the last one.
	good := baseConfig(t, "auth-ok")
	good.Broker, good.Username, good.Password = m.url(), "rmd", "s3cret"
	n := startNode(t, good, newFake("auth-ok"))
	waitFor(t, 2*time.Second, "self born", func() bool { return online(n, "auth-ok") && n.Stats().Connected })

	bad := baseConfig(t, "auth-bad")
	bad.Broker, bad.Username, bad.Password = m.url(), "rmd", "wrong"
	_, err := Start(context.Background(), bad, newFake("auth-bad"))
	if err == nil || !(errors.Is(err, packets.ErrorRefusedNotAuthorised) || errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword)) {
		t.Fatalf("wrong password: err = %v, want a refusal", err)
	}
	if !strings.Contains(err.Error(), `as "rmd"`) {
		t.Errorf("error should name the user: %v", err)
	}
	anon := baseConfig(t, "auth-anon")
	anon.Broker = m.url()
	if _, err := Start(context.Background(), anon, newFake("auth-anon")); err == nil {
		t.Error("anonymous connection accepted")
	}
	if _, ok := peerOf(n, "auth-bad"); ok {
		t.Error("a refused node appears in the fleet")
	}
}

// The embedded broker with a password admits only that user.
func TestEmbeddedPassword(t *testing.T) {
	addr := freeAddr(t)
	c := baseConfig(t, "emb-auth")
	c.EmbeddedAddr, c.Username, c.Password = addr, "fleet", "pw"
	n := startNode(t, c, newFake("emb-auth"))
	if !n.Stats().HostingBroker {
		t.Fatal("not hosting")
	}
	bad := baseConfig(t, "emb-bad")
	bad.Broker, bad.Username, bad.Password = "tcp://"+addr, "fleet", "nope"
	if _, err := Start(context.Background(), bad, newFake("emb-bad")); err == nil {
		t.Fatal("wrong password accepted by the embedded broker")
	}
	ok := baseConfig(t, "emb-ok")
	ok.EmbeddedAddr, ok.Username, ok.Password = addr, "fleet", "pw"
	m := startNode(t, ok, newFake("emb-ok"))
	waitFor(t, 2*time.Second, "peers see each other", func() bool { return online(n, "emb-ok") && online(m, "emb-auth") })
}

// testCA makes a CA and a server certificate for 127.0.0.1, in PEM files.
func testCA(t *testing.T, dir, name string) (caFile, certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) string {
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return write(name+"-ca.pem", "CERTIFICATE", caDER), write(name+"-server.pem", "CERTIFICATE", der),
		write(name+"-server.key", "EC PRIVATE KEY", keyDER), pool
}

// TLS to mosquitto: the right CA connects, another CA is refused at Start.
func TestMosquittoTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, pool := testCA(t, dir, "good")
	_, _, _, otherPool := testCA(t, dir, "other")
	m := startMosquitto(t, fmt.Sprintf("cafile %s\ncertfile %s\nkeyfile %s\n", caFile, certFile, keyFile))
	url := "ssl://" + m.addr

	c := baseConfig(t, "tls-ok")
	c.Broker, c.TLS = url, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	n := startNode(t, c, newFake("tls-ok"))
	c2 := baseConfig(t, "tls-peer")
	c2.Broker, c2.TLS = url, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	p := startNode(t, c2, newFake("tls-peer"))
	waitFor(t, 3*time.Second, "peers over TLS", func() bool { return online(n, "tls-peer") && online(p, "tls-ok") })

	bad := baseConfig(t, "tls-bad")
	bad.Broker, bad.TLS = url, &tls.Config{RootCAs: otherPool, MinVersion: tls.VersionTLS12}
	_, err := Start(context.Background(), bad, newFake("tls-bad"))
	var unknown x509.UnknownAuthorityError
	if err == nil || !errors.As(err, &unknown) {
		t.Fatalf("a broker certificate from an unknown CA: err = %v", err)
	}
	plain := baseConfig(t, "tls-plain")
	plain.Broker = "tcp://" + m.addr
	plain.ConnectTimeout = 300 * time.Millisecond
	n2, err := Start(context.Background(), plain, newFake("tls-plain"))
	if err == nil {
		defer n2.Close()
		if n2.Stats().Connected {
			t.Error("a plain TCP client connected to a TLS listener")
		}
	}
}
