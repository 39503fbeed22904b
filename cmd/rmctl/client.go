package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/eigen-os/rm/api/rm/v1/rmv1connect"
)

// clientFlags are the flags every command that talks to rmd takes.
type clientFlags struct {
	endpoint *string
	token    *string
	caFile   *string
	timeout  *time.Duration
	asJSON   *bool
	// h2c: speak gRPC over cleartext HTTP/2 instead of Connect over HTTP/1.1.
	h2c bool
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	def := os.Getenv("RM_ENDPOINT")
	if def == "" {
		def = "127.0.0.1:50052"
	}
	return &clientFlags{
		endpoint: fs.String("endpoint", def, "rmd's API as HOST:PORT or a URL (default $RM_ENDPOINT or 127.0.0.1:50052)"),
		token:    fs.String("token", os.Getenv("RM_TOKEN"), "bearer token (default $RM_TOKEN)"),
		caFile:   fs.String("ca", os.Getenv("RM_CA"), "CA certificate (PEM) to verify a TLS endpoint; implies https"),
		timeout:  fs.Duration("timeout", 30*time.Second, "give up after this long"),
		asJSON:   fs.Bool("json", false, "print JSON for scripts"),
	}
}

// client builds a Connect client (Connect protocol over HTTP/1.1 or 2).
func (f *clientFlags) client() (rmv1connect.ResourceManagerClient, error) {
	base, opts := f.target()
	// Keep a connection per concurrent caller (bench api runs many): the
	// default transport keeps two idle connections per host and would
	// reconnect for every further concurrent call.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	if *f.caFile != "" {
		pem, err := os.ReadFile(*f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate found", *f.caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if f.h2c {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr.Protocols = &p
	}
	return rmv1connect.NewResourceManagerClient(&http.Client{Transport: tr}, base, opts...), nil
}

// plainHTTP reports whether the flags ask for Connect over plain HTTP/1.1
// (no TLS, no gRPC), which connClientFor speaks.
func (f *clientFlags) plainHTTP() bool {
	base, _ := f.target()
	return strings.HasPrefix(base, "http://") && !f.h2c
}

// connClientFor builds a Connect client over a connection of its own that
// it uses from the caller's goroutine (connClient): plain HTTP/1.1 only.
func (f *clientFlags) connClientFor() (rmv1connect.ResourceManagerClient, error) {
	base, opts := f.target()
	u, err := url.Parse(base)
	if err != nil || !f.plainHTTP() {
		return nil, fmt.Errorf("--transport conn speaks Connect over plain HTTP/1.1 only (endpoint %s)", base)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	return rmv1connect.NewResourceManagerClient(newConnClient(host), base, opts...), nil
}

// target is the base URL and the Connect options the flags ask for.
func (f *clientFlags) target() (string, []connect.ClientOption) {
	base := *f.endpoint
	if !strings.Contains(base, "://") {
		if *f.caFile != "" {
			base = "https://" + base
		} else {
			base = "http://" + base
		}
	}
	var opts []connect.ClientOption
	if f.h2c {
		opts = append(opts, connect.WithGRPC())
	}
	if *f.token != "" {
		tok := *f.token
		opts = append(opts, connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
				req.Header().Set("Authorization", "Bearer "+tok)
				return next(ctx, req)
			}
		})), connect.WithInterceptors(streamAuth(tok)))
	}
	return base, opts
}

type streamAuth string

func (s streamAuth) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc { return next }
func (s streamAuth) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(s))
		return conn
	}
}
func (s streamAuth) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

func (f *clientFlags) context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), *f.timeout)
}

// printProto prints a message as JSON with the proto field names.
func printProto(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// rpcFail prints an RPC error with its code.
func rpcFail(stdout, stderr io.Writer, asJSON bool, err error) int {
	var ce *connect.Error
	if errors.As(err, &ce) {
		if asJSON {
			_ = printJSON(stdout, map[string]string{"error": ce.Message(), "code": ce.Code().String()})
		}
		fmt.Fprintf(stderr, "rmctl: %s: %s\n", ce.Code(), ce.Message())
		return 1
	}
	return fail(stdout, stderr, asJSON, err)
}

func timeStr(t interface{ AsTime() time.Time }, valid bool) string {
	if !valid {
		return "-"
	}
	return t.AsTime().Local().Format(time.DateTime)
}

func qubitList(qs []uint32) string {
	s := make([]string, len(qs))
	for i, q := range qs {
		s[i] = fmt.Sprint(q)
	}
	return strings.Join(s, ",")
}

// call runs one RPC against rmd and prints its answer: the message as JSON
// with --json, else human's rendering. It returns the exit code.
func call[T any, PT interface {
	*T
	proto.Message
}](cf *clientFlags, stdout, stderr io.Writer, rpc func(context.Context, rmv1connect.ResourceManagerClient) (*connect.Response[T], error), human func(PT)) int {
	c, err := cf.client()
	if err != nil {
		return fail(stdout, stderr, *cf.asJSON, err)
	}
	ctx, cancel := cf.context()
	defer cancel()
	resp, err := rpc(ctx, c)
	if err != nil {
		return rpcFail(stdout, stderr, *cf.asJSON, err)
	}
	if *cf.asJSON {
		_ = printProto(stdout, PT(resp.Msg))
		return 0
	}
	human(PT(resp.Msg))
	return 0
}
