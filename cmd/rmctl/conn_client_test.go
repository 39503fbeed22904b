package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eigen-os/rm/runtime/config"
)

// bench api drives a live controller through both transports, with a
// token, and reports what it measured.
func TestBenchAPI(t *testing.T) {
	ep := startDaemon(t, []config.Token{{Tenant: "alice", Token: "alice-token-0123456789"}})
	for _, tr := range []string{"conn", "pool", "auto"} {
		out, errs, code := rmctl(t, "bench", "api", "--endpoint", ep, "--token", "alice-token-0123456789", "--clients", "3",
			"--duration", "300ms", "--warmup", "100ms", "--transport", tr, "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s %s", tr, code, out, errs)
		}
		var got struct {
			Transport   string  `json:"transport"`
			Allocations int     `json:"allocations"`
			Failures    int     `json:"failures"`
			P50         float64 `json:"allocate_p50_us"`
			P99         float64 `json:"allocate_p99_us"`
			Pairs       float64 `json:"pairs_per_second"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%s: %v: %s", tr, err, out)
		}
		want := tr
		if tr == "auto" {
			want = "conn"
		}
		if got.Transport != want || got.Allocations == 0 || got.Failures != 0 || got.P50 <= 0 || got.P99 < got.P50 || got.Pairs <= 0 {
			t.Errorf("%s: %+v", tr, got)
		}
	}
	// A wrong token fails every call: reported, not hidden.
	out, _, code := rmctl(t, "bench", "api", "--endpoint", ep, "--token", "wrong-token-0123456789", "--clients", "2",
		"--duration", "200ms", "--warmup", "0s", "--json")
	if code == 0 || !strings.Contains(out, "no successful allocation") {
		t.Errorf("bench api with a wrong token: exit %d: %s", code, out)
	}
	if _, errs, code := rmctl(t, "bench", "api", "--endpoint", ep, "--transport", "carrier-pigeon", "--duration", "100ms"); code == 0 || !strings.Contains(errs, "want conn, pool or auto") {
		t.Errorf("bad --transport: exit %d: %s", code, errs)
	}
	if _, errs, code := rmctl(t, "bench", "api", "--endpoint", ep, "--transport", "conn", "--grpc", "--duration", "100ms"); code == 0 || !strings.Contains(errs, "plain HTTP/1.1 only") {
		t.Errorf("--transport conn with --grpc: exit %d: %s", code, errs)
	}
}

// connClient keeps one connection across calls, reconnects after the
// server closes it, refuses a call while a body is unread, and gives up at
// the request's deadline.
func TestConnClient(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/close":
			w.Header().Set("Connection", "close")
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		}
		fmt.Fprintf(w, "%s:%s", r.URL.Path, body)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := newConnClient(srv.Listener.Addr().String())
	call := func(path, body string) (string, error) {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for i := 0; i < 5; i++ {
		if got, err := call("/echo", fmt.Sprint(i)); err != nil || got != fmt.Sprintf("/echo:%d", i) {
			t.Fatalf("call %d: %q, %v", i, got, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 sequential calls, want 1", n)
	}
	if got, err := call("/close", "x"); err != nil || got != "/close:x" {
		t.Fatalf("closing call: %q, %v", got, err)
	}
	if got, err := call("/echo", "y"); err != nil || got != "/echo:y" {
		t.Fatalf("call after the server closed: %q, %v", got, err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections after the server closed one, want 2", n)
	}

	// A body left unread blocks the connection's next call; closing it
	// frees the connection.
	req, _ := http.NewRequest("POST", srv.URL+"/echo", strings.NewReader("z"))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call("/echo", "w"); err == nil || !strings.Contains(err.Error(), "neither read") {
		t.Errorf("call over an unread body: %v", err)
	}
	resp.Body.Close()
	if got, err := call("/echo", "v"); err != nil || got != "/echo:v" {
		t.Fatalf("call after closing the body: %q, %v", got, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, "POST", srv.URL+"/slow", strings.NewReader("s"))
	if _, err := c.Do(req); err == nil {
		t.Error("a call past its deadline succeeded")
	}
	if got, err := call("/echo", "after"); err != nil || got != "/echo:after" {
		t.Fatalf("call after a timed-out one: %q, %v", got, err)
	}
	req, _ = http.NewRequest("GET", "https://example.invalid/", nil)
	if _, err := c.Do(req); err == nil || !strings.Contains(err.Error(), "plain http only") {
		t.Errorf("https: %v", err)
	}
}
