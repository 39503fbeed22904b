package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eigen-os/rm/hal/sim"
	"github.com/eigen-os/rm/hal/synth"
	"github.com/eigen-os/rm/internal/corpus"
	"github.com/eigen-os/rm/runtime/config"
	"github.com/eigen-os/rm/runtime/controller"
	"github.com/eigen-os/rm/runtime/server"
	"github.com/eigen-os/rm/store"
)

// startDaemon serves a controller in-process and returns its endpoint.
func startDaemon(t *testing.T, tokens []config.Token) string {
	t.Helper()
	m, err := synth.ByName("heavyhex-127")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(t.TempDir(), store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := controller.New(context.Background(), config.Default(), controller.Options{Device: sim.New(m, sim.Options{}), Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	auth, _ := server.NewAuth(tokens, nil)
	srv, err := server.Listen(ctl, server.Config{Endpoint: "127.0.0.1:0", Auth: auth, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		ctl.Close()
		st.Close()
	})
	return srv.APIAddr()
}

func rmctl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestClientCommands(t *testing.T) {
	ep := startDaemon(t, []config.Token{{Tenant: "alice", Token: "alice-token-0123456789"}, {Tenant: "ops", Token: "admin-token-0123456789", Role: "admin"}})
	t.Setenv("RM_ENDPOINT", ep)
	t.Setenv("RM_TOKEN", "alice-token-0123456789")

	out, errs, code := rmctl(t, "allocate", "--qubits", "5", "--shape", "linear", "--key", "k1", "--json")
	if code != 0 {
		t.Fatalf("allocate: %d %s", code, errs)
	}
	var a struct {
		ID     string   `json:"id"`
		Qubits []uint32 `json:"physical_qubits"`
		State  string   `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.ID == "" || len(a.Qubits) != 5 || a.State != "active" {
		t.Fatalf("allocate json: %v %s", err, out)
	}
	// Retry with the key: same allocation.
	out, _, _ = rmctl(t, "allocate", "--qubits", "5", "--shape", "linear", "--key", "k1")
	if !strings.Contains(out, a.ID) || !strings.Contains(out, "replayed") {
		t.Fatalf("replay: %s", out)
	}
	if dir := corpus.Root(); dir != "" {
		out, errs, code = rmctl(t, "allocate", "--circuit", filepath.Join(dir, "workloads/qasmbench/adder_n10.qasm"), "--json")
		if code != 0 {
			t.Fatalf("circuit allocate: %s", errs)
		}
	}
	out, _, code = rmctl(t, "list", "--json")
	var list struct {
		Allocations []json.RawMessage `json:"allocations"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Allocations) < 1 {
		t.Fatalf("list: %s", out)
	}
	out, _, code = rmctl(t, "status")
	if code != 0 || !strings.Contains(out, "synthetic-heavyhex-127") {
		t.Fatalf("status: %s", out)
	}
	out, _, code = rmctl(t, "device", "--json")
	var dev struct {
		Qubits int `json:"qubits"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &dev) != nil || dev.Qubits != 127 {
		t.Fatalf("device: %s", out)
	}
	// A tenant may not reserve; the admin may.
	_, errs, code = rmctl(t, "reserve", "--tenant", "alice", "--count", "4", "--for", "1h")
	if code == 0 || !strings.Contains(errs, "permission_denied") {
		t.Fatalf("tenant reserve: %d %s", code, errs)
	}
	out, errs, code = rmctl(t, "reserve", "--token", "admin-token-0123456789", "--tenant", "alice", "--count", "4", "--for", "1h")
	if code != 0 || !strings.Contains(out, "reservation") {
		t.Fatalf("admin reserve: %s %s", out, errs)
	}
	out, _, code = rmctl(t, "release", a.ID)
	if code != 0 || !strings.Contains(out, "released "+a.ID) {
		t.Fatalf("release: %s", out)
	}
	out, _, code = rmctl(t, "release", a.ID)
	if code != 0 || !strings.Contains(out, "already released") {
		t.Fatalf("second release: %s", out)
	}
	// Errors carry the code; JSON for scripts.
	out, errs, code = rmctl(t, "release", "a-nope", "--json")
	if code == 0 || !strings.Contains(out, `"code": "not_found"`) {
		t.Fatalf("unknown release: %s %s", out, errs)
	}
	_, errs, code = rmctl(t, "status", "--token", "wrong-token-0000000000")
	if code == 0 || !strings.Contains(errs, "unauthenticated") {
		t.Fatalf("bad token: %s", errs)
	}
	_, errs, code = rmctl(t, "allocate", "--qubits", "5", "--shape", "hexagon")
	if code == 0 || !strings.Contains(errs, "--shape") {
		t.Fatalf("bad shape: %s", errs)
	}
	out, errs, code = rmctl(t, "watch", "--from", "1", "--count", "2", "--json")
	if code != 0 || strings.Count(out, `"kind"`) != 2 {
		t.Fatalf("watch: %s %s", out, errs)
	}
}

func TestBenchFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("fleet benchmark skipped in -short mode")
	}
	out, errs, code := rmctl(t, "bench", "fleet", "--nodes", "3", "--changes", "3", "--state-interval", "1s", "--json")
	if code != 0 {
		t.Fatalf("bench fleet: %d %s", code, errs)
	}
	var res struct {
		Nodes   int
		SeqGaps uint64
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Nodes != 3 || res.SeqGaps != 0 {
		t.Fatalf("bench fleet: %v %s", err, out)
	}
	if _, _, code := rmctl(t, "bench", "fleet", "--nodes", "1"); code == 0 {
		t.Fatal("a fleet of one accepted")
	}
}
