package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	rmv1 "github.com/eigen-os/rm/api/rm/v1"
	"github.com/eigen-os/rm/api/rm/v1/rmv1connect"
	"github.com/eigen-os/rm/runtime/config"
	"github.com/eigen-os/rm/store"
)

func noEnv(string) (string, bool) { return "", false }

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigurePrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rm.yaml")
	os.WriteFile(file, []byte("resource_manager:\n  server:\n    endpoint: 127.0.0.1:1111\n  storage:\n    path: /from/file\n  log:\n    level: warn\n"), 0o644)
	var errb bytes.Buffer
	// file < env < flags
	cfg, err := configure([]string{"--config", file, "--storage", "/from/flag"}, &errb,
		envOf(map[string]string{"RM_ENDPOINT": "127.0.0.1:2222", "RM_STORAGE_PATH": "/from/env", "RM_LOG_LEVEL": "DEBUG"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Endpoint != "127.0.0.1:2222" || cfg.Storage.Path != "/from/flag" || cfg.Log.Level != "debug" {
		t.Fatalf("precedence: endpoint %s storage %s level %s", cfg.Server.Endpoint, cfg.Storage.Path, cfg.Log.Level)
	}
	// Defaults with nothing at all: the built-in synthetic device, loopback.
	cfg, err = configure(nil, &errb, noEnv)
	if err != nil || cfg.Device.Path != "synthetic:heavyhex-127" || cfg.Server.Endpoint != "127.0.0.1:50052" {
		t.Fatalf("defaults: %v %+v", err, cfg.Server)
	}
}

func TestConfigureRefusals(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("resource_manager:\n  isolation:\n    spatial:\n      minimum_distanse: 2\n"), 0o644)
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--config", bad}, nil, "unknown key resource_manager.isolation.spatial.minimum_distanse"},
		{[]string{"--config", filepath.Join(dir, "missing.yaml")}, nil, "missing.yaml"},
		{[]string{"--endpoint", "0.0.0.0:5000"}, nil, "refusing to listen on 0.0.0.0:5000 with no access tokens"},
		{nil, map[string]string{"RM_ENDPOINT": "10.1.2.3:5000"}, "refusing to listen"},
		{[]string{"--isolation", "total"}, nil, "--isolation"},
		{[]string{"--log-level", "loud"}, nil, "resource_manager.log.level"},
		{nil, map[string]string{"RM_LOAD_BALANCING_ENABLED": "perhaps"}, "RM_LOAD_BALANCING_ENABLED"},
		{[]string{"stray"}, nil, "unexpected arguments"},
	}
	for _, tc := range cases {
		var errb bytes.Buffer
		_, err := configure(tc.args, &errb, envOf(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: err %v, want %q", tc.args, tc.env, err, tc.want)
		}
	}
	var errb bytes.Buffer
	if _, err := configure([]string{"--endpoint", "0.0.0.0:5000", "--insecure"}, &errb, noEnv); err != nil {
		t.Errorf("--insecure: %v", err)
	}
	// An invalid configuration exits with code 2 before touching anything.
	var out bytes.Buffer
	if code := run([]string{"--config", bad}, &out, &errb, noEnv); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
}

// TestGracefulShutdown sends SIGTERM to a serving rmd: it exits 0 after
// finishing, and the store is closed cleanly (it reopens at once, and the
// acknowledged allocation is there).
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("process test skipped in -short mode")
	}
	bin := buildRMD(t)
	storage := t.TempDir()
	addr := freePort(t)
	d := startRMD(t, bin, addr, storage)
	c := rmv1connect.NewResourceManagerClient(http.DefaultClient, "http://"+addr)
	resp, err := c.Allocate(context.Background(), connect.NewRequest(&rmv1.AllocateRequest{Qubits: 4, Shape: rmv1.Shape_SHAPE_LINEAR}))
	if err != nil {
		d.kill()
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("rmd exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		d.kill()
		t.Fatal("rmd did not stop within 15s of SIGTERM")
	}
	st, err := store.Open(storage, store.Options{})
	if err != nil {
		t.Fatalf("store not closed cleanly: %v", err)
	}
	defer st.Close()
	a, err := st.GetAllocation(resp.Msg.Allocation.Id)
	if err != nil || a.State != store.StateActive {
		t.Fatalf("allocation after shutdown: %+v %v", a, err)
	}
}

// The profiler listens on loopback only, and serves Go's profiles there.
func TestPprofLoopbackOnly(t *testing.T) {
	log := newLogger(config.Log{Level: "error"}, os.Stderr)
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:6060", "example.com:6060", "nonsense"} {
		if stop, err := servePprof(addr, log); err == nil {
			stop()
			t.Errorf("--pprof %s accepted", addr)
		}
	}
	addr := freePort(t)
	stop, err := servePprof(addr, log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pprof: %s", resp.Status)
	}
}
