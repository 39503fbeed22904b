package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	rmv1 "github.com/eigen-os/rm/api/rm/v1"
	"github.com/eigen-os/rm/api/rm/v1/rmv1connect"
)

// buildModule compiles a built-in strategy (placement or scoring) to
// WebAssembly (the same Go code as the native engine).
func buildModule(t *testing.T, kind string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), kind+".wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, "../../modules/builtin/"+kind)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the placement module: %v\n%s", err, b)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// TestModulesHotSwapAndRestart pushes the built-in placement module to a
// serving rmd, checks that allocations go through it, that a bad module is
// refused with the reason and changes nothing, that swapping modules ten
// times under load fails no request, and that the module is active again
// after a restart.
func TestModulesHotSwapAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("module process test skipped in -short mode")
	}
	bin := buildRMD(t)
	wasm := buildModule(t, "placement")
	scoring := buildModule(t, "scoring")
	storage := t.TempDir()
	addr := freePort(t)
	d := startRMD(t, bin, addr, storage, "--no-federation")
	defer func() { d.kill() }()
	c := rmv1connect.NewResourceManagerClient(http.DefaultClient, "http://"+addr)
	ctx := context.Background()

	m, err := c.PushModule(ctx, connect.NewRequest(&rmv1.PushModuleRequest{Name: "place-a", Kind: "placement", Wasm: wasm, Activate: true}))
	if err != nil || !m.Msg.Active || m.Msg.Version != 1 {
		t.Fatalf("push: %v %+v", err, m)
	}
	// The module pipeline serves once a placement and a scoring module are
	// both active; until then the native engine does.
	a, err := c.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 5, Shape: rmv1.Shape_SHAPE_LINEAR}))
	if err != nil || a.Msg.Allocation.Strategy == "module:place-a@1" {
		t.Fatalf("placement module alone: %v %+v", err, a)
	}
	if _, err := c.PushModule(ctx, connect.NewRequest(&rmv1.PushModuleRequest{Name: "score", Kind: "scoring", Wasm: scoring, Activate: true})); err != nil {
		t.Fatalf("push scoring: %v", err)
	}
	a, err = c.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 5, Shape: rmv1.Shape_SHAPE_LINEAR}))
	if err != nil || a.Msg.Allocation.Strategy != "module:place-a@1" {
		t.Fatalf("allocate through the module: %v %+v", err, a)
	}
	// Refused at push, with the reason; nothing stored changes.
	for name, bad := range map[string][]byte{"garbage": []byte("not wasm at all"), "truncated": wasm[:len(wasm)/2]} {
		_, err := c.PushModule(ctx, connect.NewRequest(&rmv1.PushModuleRequest{Name: "bad-" + name, Wasm: bad, Activate: true}))
		if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "rejected") {
			t.Fatalf("%s module: %v", name, err)
		}
	}
	list, err := c.ListModules(ctx, connect.NewRequest(&rmv1.ListModulesRequest{}))
	if err != nil || len(list.Msg.Modules) != 2 {
		t.Fatalf("modules after refusals: %v %+v", err, list)
	}
	if _, err := c.PushModule(ctx, connect.NewRequest(&rmv1.PushModuleRequest{Name: "place-b", Kind: "placement", Wasm: wasm})); err != nil {
		t.Fatal(err)
	}

	// Hot swap under load: eight clients allocate and release while a
	// module is pushed and activated ten times (a new version each time,
	// compiled from the cache, checked and run on the golden problems);
	// no request fails. The rate is reported, not asserted (the machine is
	// shared).
	var failures, pairs atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := c.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 4, Shape: rmv1.Shape_SHAPE_LINEAR, Duration: durationpb.New(time.Minute)}))
				if err != nil {
					failures.Add(1)
					continue
				}
				if _, err := c.Release(ctx, connect.NewRequest(&rmv1.ReleaseRequest{Id: r.Msg.Allocation.Id})); err != nil {
					failures.Add(1)
					continue
				}
				pairs.Add(1)
			}
		}()
	}
	swapStart := time.Now()
	last := ""
	for i := 0; i < 10; i++ {
		name := []string{"place-a", "place-b"}[i%2]
		m, err := c.PushModule(ctx, connect.NewRequest(&rmv1.PushModuleRequest{Name: name, Kind: "placement", Wasm: wasm, Activate: true}))
		if err != nil || !m.Msg.Active {
			t.Fatalf("push and activate %s: %v %+v", name, err, m)
		}
		last = fmt.Sprintf("module:%s@%d", name, m.Msg.Version)
		time.Sleep(250 * time.Millisecond) // swaps spread over ~3 s of load
	}
	close(stop)
	wg.Wait()
	took := time.Since(swapStart)
	if failures.Load() != 0 || pairs.Load() == 0 {
		t.Fatalf("hot swap under load: %d failed requests, %d pairs", failures.Load(), pairs.Load())
	}
	t.Logf("hot swap: %d allocate+release pairs in %s (%.0f/s) during 10 pushes and activations, 0 failures",
		pairs.Load(), took.Round(time.Millisecond), float64(pairs.Load())/took.Seconds())
	if _, err := c.RollbackModule(ctx, connect.NewRequest(&rmv1.RollbackModuleRequest{Name: "place-a"})); err == nil {
		t.Fatal("rollback of an inactive module accepted")
	}

	// Restart: the active module comes back from the store.
	d.kill()
	t0 := time.Now()
	d = startRMD(t, bin, addr, storage, "--no-federation")
	ready := time.Since(t0)
	a, err = c.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 5, Shape: rmv1.Shape_SHAPE_LINEAR}))
	if err != nil || a.Msg.Allocation.Strategy != last {
		t.Fatalf("after restart: %v %+v, want strategy %s", err, a, last)
	}
	t.Logf("restart with the module in the compilation cache: serving after %s", ready.Round(time.Millisecond))
}
