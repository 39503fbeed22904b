package main

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	rmv1 "github.com/eigen-os/rm/api/rm/v1"
	"github.com/eigen-os/rm/api/rm/v1/rmv1connect"
)

// buildRMD compiles rmd once for the package's process tests.
var (
	buildOnce sync.Once
	rmdPath   string
	buildErr  error
)

func buildRMD(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rmd-test-bin")
		if err != nil {
			buildErr = err
			return
		}
		rmdPath = filepath.Join(dir, "rmd")
		out, err := exec.Command("go", "build", "-o", rmdPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return rmdPath
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

type daemon struct {
	cmd  *exec.Cmd
	addr string
}

func startRMD(t *testing.T, bin, addr, storage string, extra ...string) *daemon {
	t.Helper()
	args := append([]string{"--endpoint", addr, "--storage", storage, "--log-level", "warn"}, extra...)
	if len(extra) == 0 {
		args = append(args, "--no-federation")
	}
	cmd := exec.Command(bin, args...)
	if os.Getenv("RMD_TEST_LOG") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, addr: addr}
	c := rmv1connect.NewResourceManagerClient(http.DefaultClient, "http://"+addr)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := c.Status(ctx, connect.NewRequest(&rmv1.StatusRequest{}))
		cancel()
		if err == nil {
			return d
		}
		if time.Now().After(deadline) {
			d.kill()
			t.Fatalf("rmd did not come up on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemon) kill() {
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	_ = d.cmd.Wait()
}

// TestCrashSafety kills rmd with SIGKILL at random moments while several
// clients allocate and release, restarts it, and checks that every
// acknowledged allocation is present, no qubit is held twice, and no
// released allocation comes back.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("process crash test skipped in -short mode")
	}
	bin := buildRMD(t)
	storage := t.TempDir()
	addr := freePort(t)
	rng := rand.New(rand.NewSource(7))

	var mu sync.Mutex
	acked := map[string]bool{}    // allocation id -> granted (acknowledged)
	released := map[string]bool{} // release acknowledged
	tried := map[string]bool{}    // release sent (its answer may have been lost in a kill)
	keyOf := map[string]string{}  // idempotency key -> allocation id
	const kills = 20
	const workers = 4
	// A client whose request got no answer retries it with the same key in
	// the next round, as real clients do; held allocations carry over too.
	pending := make([]string, workers)
	holding := make([][]string, workers)
	for round := 0; round < kills; round++ {
		d := startRMD(t, bin, addr, storage)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				c := rmv1connect.NewResourceManagerClient(http.DefaultClient, "http://"+addr)
				mine := holding[w]
				defer func() { holding[w] = mine }()
				for i := 0; ctx.Err() == nil; i++ {
					key := pending[w]
					if key == "" {
						key = fmt.Sprintf("r%d-w%d-%d", round, w, i)
						pending[w] = key
					}
					resp, err := c.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: uint32(2 + (i+w)%4),
						Shape: rmv1.Shape_SHAPE_LINEAR, IdempotencyKey: key, Duration: durationpb.New(time.Hour)}))
					if err == nil {
						pending[w] = ""
						id := resp.Msg.Allocation.Id
						mu.Lock()
						if prev, ok := keyOf[key]; ok && prev != id {
							t.Errorf("key %s granted twice: %s and %s", key, prev, id)
						}
						acked[id] = true
						keyOf[key] = id
						mu.Unlock()
						if resp.Msg.Allocation.State == "active" {
							mine = append(mine, id)
						}
					} else if connect.CodeOf(err) == connect.CodeResourceExhausted {
						pending[w] = "" // refused: nothing was granted
					}
					if len(mine) > 2 {
						id := mine[0]
						mu.Lock()
						tried[id] = true
						mu.Unlock()
						if _, err := c.Release(ctx, connect.NewRequest(&rmv1.ReleaseRequest{Id: id})); err == nil {
							mu.Lock()
							released[id] = true
							mu.Unlock()
							mine = mine[1:]
						}
					}
				}
			}(w)
		}
		time.Sleep(time.Duration(100+rng.Intn(300)) * time.Millisecond)
		d.kill() // SIGKILL mid-traffic
		cancel()
		wg.Wait()
	}

	d := startRMD(t, bin, addr, storage)
	defer d.kill()
	c := rmv1connect.NewResourceManagerClient(http.DefaultClient, "http://"+addr)
	resp, err := c.ListAllocations(context.Background(), connect.NewRequest(&rmv1.ListAllocationsRequest{IncludeInactive: true, Tenant: "*"}))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*rmv1.Allocation{}
	held := map[uint32]string{}
	for _, a := range resp.Msg.Allocations {
		byID[a.Id] = a
		if a.State == "active" {
			for _, q := range a.PhysicalQubits {
				if other, dup := held[q]; dup {
					t.Errorf("qubit %d held by %s and %s", q, other, a.Id)
				}
				held[q] = a.Id
			}
		}
	}
	if len(acked) < kills {
		t.Fatalf("only %d allocations acknowledged over %d rounds: the test did not exercise the daemon", len(acked), kills)
	}
	for id := range acked {
		a, ok := byID[id]
		if !ok {
			t.Errorf("acknowledged allocation %s lost", id)
			continue
		}
		if released[id] && a.State == "active" {
			t.Errorf("released allocation %s came back as active", id)
		}
		if !tried[id] && a.State != "active" {
			t.Errorf("allocation %s is %s but no release was ever sent", id, a.State)
		}
	}
	// A retry of every acknowledged request returns its first answer.
	for key, id := range keyOf {
		r, err := c.Allocate(context.Background(), connect.NewRequest(&rmv1.AllocateRequest{Qubits: 2, Shape: rmv1.Shape_SHAPE_LINEAR, IdempotencyKey: key}))
		if err != nil || r.Msg.Allocation.Id != id {
			t.Errorf("retry of %s: %v, want %s", key, err, id)
			break
		}
	}
	unacked := 0
	for id, a := range byID {
		if a.State == "active" && !acked[id] {
			unacked++
		}
	}
	heldByClients := 0
	for _, h := range holding {
		heldByClients += len(h)
	}
	t.Logf("active at the end: %d held by the clients, %d granted but never acknowledged", heldByClients, unacked)
	t.Logf("%d kills, %d allocations acknowledged, %d releases acknowledged, %d qubits held at the end", kills, len(acked), len(released), len(held))
}
