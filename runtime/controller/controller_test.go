package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/hal/sim"
	"github.com/eigen-os/rm/hal/synth"
	"github.com/eigen-os/rm/mqtt"
	"github.com/eigen-os/rm/runtime/alloc"
	"github.com/eigen-os/rm/runtime/config"
	"github.com/eigen-os/rm/store"
	dto "github.com/prometheus/client_model/go"
)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }
func quiet() *slog.Logger            { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func linear(n int) alloc.Request {
	return alloc.Request{Qubits: n, Shape: alloc.Shape{Kind: alloc.ShapeLinear}, Buffer: -1}
}
func params(n int, key string) AllocateParams {
	return AllocateParams{IdempotencyKey: key, Req: linear(n), Shape: "linear"}
}

type fixture struct {
	t   *testing.T
	c   *Controller
	dev *sim.Device
	st  *store.Store
	clk *clock
	dir string
	cfg config.Config
}

func newFixtureB(b *testing.B) *fixture {
	m, err := synth.ByName("heavyhex-127")
	if err != nil {
		b.Fatal(err)
	}
	f := &fixture{t: &testing.T{}, clk: newClock(), dir: b.TempDir(), cfg: config.Default()}
	// The device keeps time by the test's clock: its calendar compares
	// slots (in the controller's time) with its own now.
	f.dev = sim.New(m, sim.Options{Seed: 1, Clock: f.clk.now})
	st, err := store.Open(f.dir, store.Options{Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	f.st = st
	if f.c, err = New(context.Background(), f.cfg, Options{Device: f.dev, Store: st, Logger: quiet()}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(f.close)
	return f
}

func newFixture(t *testing.T, device string, mutate func(*config.Config)) *fixture {
	t.Helper()
	m, err := synth.ByName(device)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, clk: newClock(), dir: t.TempDir(), cfg: config.Default()}
	// The device keeps time by the test's clock: its calendar compares
	// slots (in the controller's time) with its own now.
	f.dev = sim.New(m, sim.Options{Seed: 1, Clock: f.clk.now})
	if mutate != nil {
		mutate(&f.cfg)
	}
	f.open()
	t.Cleanup(f.close)
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	st, err := store.Open(f.dir, store.Options{Logger: quiet()})
	if err != nil {
		f.t.Fatal(err)
	}
	f.st = st
	c, err := New(context.Background(), f.cfg, Options{Device: f.dev, Store: st, Logger: quiet(), Now: f.clk.now})
	if err != nil {
		f.t.Fatal(err)
	}
	f.c = c
}

func (f *fixture) close() {
	if f.c != nil {
		f.c.Close()
		f.c = nil
	}
	if f.st != nil {
		f.st.Close()
		f.st = nil
	}
}

func (f *fixture) restart() {
	f.close()
	f.open()
}

var alice = Caller{Tenant: "alice"}
var bob = Caller{Tenant: "bob"}
var admin = Caller{Tenant: "ops", Admin: true}

func TestAllocateReleaseIdempotent(t *testing.T) {
	f := newFixture(t, "heavyhex-127", nil)
	ctx := context.Background()
	g, err := f.c.Allocate(ctx, alice, params(5, "k1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Allocation.Qubits) != 5 || g.Replayed || g.Allocation.ESP <= 0 || g.Buffer != 2 {
		t.Fatalf("grant %+v", g)
	}
	// A retry returns the same allocation, never a second one.
	g2, err := f.c.Allocate(ctx, alice, params(5, "k1"))
	if err != nil || !g2.Replayed || g2.Allocation.ID != g.Allocation.ID {
		t.Fatalf("retry: %+v %v", g2, err)
	}
	// The same key of another tenant is another request.
	g3, err := f.c.Allocate(ctx, bob, params(5, "k1"))
	if err != nil || g3.Allocation.ID == g.Allocation.ID {
		t.Fatalf("other tenant: %+v %v", g3, err)
	}
	if st := f.c.Status(); st.ActiveAllocations != 2 || st.AllocatedQubits != 10 {
		t.Fatalf("status %+v", st)
	}
	// Bob cannot see or release Alice's allocation.
	if _, _, err := f.c.Release(ctx, bob, g.Allocation.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob released alice's: %v", err)
	}
	if _, err := f.c.Get(bob, g.Allocation.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob saw alice's: %v", err)
	}
	if list, _ := f.c.List(bob, "", false); len(list) != 1 {
		t.Fatalf("bob lists %d", len(list))
	}
	if _, err := f.c.List(bob, "*", false); !errors.Is(err, ErrPermission) {
		t.Fatalf("bob listed all: %v", err)
	}
	a, now, err := f.c.Release(ctx, alice, g.Allocation.ID)
	if err != nil || !now || a.State != store.StateReleased {
		t.Fatalf("release: %+v %v %v", a, now, err)
	}
	// Release is idempotent.
	a, now, err = f.c.Release(ctx, alice, g.Allocation.ID)
	if err != nil || now || a.State != store.StateReleased {
		t.Fatalf("second release: %+v %v %v", a, now, err)
	}
	// A retry after release returns the released allocation, not a new grant.
	g4, err := f.c.Allocate(ctx, alice, params(5, "k1"))
	if err != nil || g4.Allocation.ID != g.Allocation.ID || g4.Allocation.State != store.StateReleased {
		t.Fatalf("retry after release: %+v %v", g4, err)
	}
	if _, _, err := f.c.Release(ctx, alice, "a-nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	// The device holds exactly the active allocation.
	b, _ := f.dev.Bindings(ctx)
	if len(b) != 1 || b[0].Owner != g3.Allocation.ID {
		t.Fatalf("device bindings %+v", b)
	}
}

func TestSpatialIsolation(t *testing.T) {
	f := newFixture(t, "heavyhex-127", nil)
	ctx := context.Background()
	m := f.dev.Model()
	var held [][]int
	for i := 0; i < 6; i++ {
		g, err := f.c.Allocate(ctx, alice, params(4, ""))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, g.Allocation.Qubits)
	}
	for i := range held {
		for j := range held {
			if i == j {
				continue
			}
			for _, a := range held[i] {
				for _, b := range held[j] {
					if d := m.Dist(a, b); d < 3 {
						t.Fatalf("tasks %d and %d are %d hops apart (qubits %d, %d); minimum_distance 2 needs 3", i, j, d, a, b)
					}
				}
			}
		}
	}
}

func TestHighPriorityBuffer(t *testing.T) {
	f := newFixture(t, "heavyhex-127", nil)
	p := params(3, "")
	p.Priority = 10
	g, err := f.c.Allocate(context.Background(), alice, p)
	if err != nil {
		t.Fatal(err)
	}
	if g.Buffer != 3 {
		t.Fatalf("high priority buffer %d, want 3 (strict_isolation_for_high_priority)", g.Buffer)
	}
	f2 := newFixture(t, "heavyhex-127", func(c *config.Config) { c.Policies.IsolationPolicies = nil })
	g, _ = f2.c.Allocate(context.Background(), alice, p)
	if g.Buffer != 2 {
		t.Fatalf("without the policy: buffer %d", g.Buffer)
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t, "heavyhex-27", nil)
	ctx := context.Background()
	for name, p := range map[string]AllocateParams{
		"zero qubits":   params(0, ""),
		"too many":      params(28, ""),
		"negative wait": {Req: linear(2), MaxWait: -time.Second},
		"huge duration": {Req: linear(2), Duration: 365 * 24 * time.Hour},
	} {
		if _, err := f.c.Allocate(ctx, alice, p); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if st := f.c.Status(); st.ActiveAllocations != 0 {
		t.Fatal("a bad request allocated")
	}
}

func TestQueueWaitsThenGrants(t *testing.T) {
	f := newFixture(t, "heavyhex-27", func(c *config.Config) { _ = config.SetIsolationLevel(c, "none") })
	ctx := context.Background()
	big, err := f.c.Allocate(ctx, alice, params(20, ""))
	if err != nil {
		t.Fatal(err)
	}
	// No room for 10 more now: refused at once without max_wait.
	if _, err := f.c.Allocate(ctx, bob, params(10, "")); !errors.Is(err, ErrNoFit) {
		t.Fatalf("no wait: %v", err)
	}
	// With max_wait it waits, and is granted when Alice releases.
	done := make(chan *Grant, 1)
	go func() {
		p := params(10, "wait-1")
		p.MaxWait = 10 * time.Second
		g, err := f.c.Allocate(ctx, bob, p)
		if err != nil {
			t.Error(err)
		}
		done <- g
	}()
	waitFor(t, func() bool { return f.c.Status().QueuedRequests == 1 })
	if _, _, err := f.c.Release(ctx, alice, big.Allocation.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-done:
		if g == nil || len(g.Allocation.Qubits) != 10 {
			t.Fatalf("grant %+v", g)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("queued request not granted after release")
	}
	// A wait that ends is DeadlineExceeded-like.
	p := params(26, "")
	p.MaxWait = 50 * time.Millisecond
	if _, err := f.c.Allocate(ctx, alice, p); !errors.Is(err, ErrWaitExpired) {
		t.Fatalf("expired wait: %v", err)
	}
	if f.c.Status().QueuedRequests != 0 {
		t.Fatal("expired waiter left in the queue")
	}
	q, _, _ := f.st.ListQueue()
	if len(q) != 0 {
		t.Fatalf("store queue not emptied: %+v", q)
	}
}

func TestQueueOrderPriorityThenFairShare(t *testing.T) {
	f := newFixture(t, "heavyhex-27", func(c *config.Config) { _ = config.SetIsolationLevel(c, "none") })
	ctx := context.Background()
	big, err := f.c.Allocate(ctx, alice, params(27, ""))
	if err != nil {
		// 27 linear may not embed; take what the device allows as "none".
		p := params(27, "")
		p.Req.Shape = alloc.Shape{Kind: alloc.ShapeNone}
		if big, err = f.c.Allocate(ctx, alice, p); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	start := func(who Caller, prio int, name string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := params(20, "")
			p.Req.Shape = alloc.Shape{Kind: alloc.ShapeNone}
			p.Priority = prio
			p.MaxWait = 10 * time.Second
			p.Duration = time.Second
			g, err := f.c.Allocate(ctx, who, p)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			_, _, _ = f.c.Release(ctx, who, g.Allocation.ID)
		}()
		waitFor(t, func() bool { return f.c.Status().QueuedRequests >= 1 })
	}
	start(bob, 0, "low")
	start(alice, 5, "high")
	waitFor(t, func() bool { return f.c.Status().QueuedRequests == 2 })
	if _, _, err := f.c.Release(ctx, alice, big.Allocation.ID); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(order) != 2 || order[0] != "high" {
		t.Fatalf("order %v: priority_based must serve high first", order)
	}
}

func TestLeaseExpiry(t *testing.T) {
	f := newFixture(t, "heavyhex-27", nil)
	ctx := context.Background()
	p := params(3, "")
	p.Duration = 10 * time.Second
	g, err := f.c.Allocate(ctx, alice, p)
	if err != nil {
		t.Fatal(err)
	}
	// Lease = duration (rounded to time slices) + grace (30s).
	if want := f.clk.now().Add(40 * time.Second); !g.Allocation.LeaseExpires.Equal(want) {
		t.Fatalf("lease %v, want %v", g.Allocation.LeaseExpires, want)
	}
	if _, err := f.c.RenewLease(alice, g.Allocation.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	f.clk.add(41 * time.Second)
	f.c.expireLeases()
	if f.c.Status().ActiveAllocations != 1 {
		t.Fatal("renewed lease expired early")
	}
	f.clk.add(time.Minute)
	f.c.expireLeases()
	a, err := f.c.Get(alice, g.Allocation.ID)
	if err != nil || a.State != store.StateExpired || f.c.Status().ActiveAllocations != 0 {
		t.Fatalf("after expiry: %+v %v", a, err)
	}
	waitFor(t, func() bool { // the event log is written asynchronously
		ev, _, _ := f.st.Events(1, 100)
		for _, e := range ev {
			if e.Kind == "expired" && e.Subject == g.Allocation.ID {
				return true
			}
		}
		return false
	})
}

func TestRestartRebuildsAndReconciles(t *testing.T) {
	f := newFixture(t, "heavyhex-127", nil)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 4; i++ {
		g, err := f.c.Allocate(ctx, alice, params(5, ""))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, g.Allocation.ID)
	}
	if _, _, err := f.c.Release(ctx, alice, ids[0]); err != nil {
		t.Fatal(err)
	}
	// The device loses its bindings (power cycle of the electronics) and the
	// controller restarts: the store wins.
	for _, id := range ids {
		_ = f.dev.Release(ctx, id)
	}
	_ = f.dev.Isolate(ctx, "stale-owner", []int{100})
	f.restart()
	st := f.c.Status()
	if st.ActiveAllocations != 3 || st.AllocatedQubits != 15 {
		t.Fatalf("after restart: %+v", st)
	}
	b, _ := f.dev.Bindings(ctx)
	if len(b) != 3 {
		t.Fatalf("device not reconciled: %+v", b)
	}
	for _, x := range b {
		if x.Owner == "stale-owner" || x.Owner == ids[0] {
			t.Fatalf("stale binding kept: %+v", x)
		}
	}
	// New grants keep away from the restored ones.
	g, err := f.c.Allocate(ctx, alice, params(5, ""))
	if err != nil {
		t.Fatal(err)
	}
	owners := f.c.Owners()
	for _, q := range g.Allocation.Qubits {
		if owners[q] != g.Allocation.ID {
			t.Fatalf("qubit %d double-granted", q)
		}
	}
}

func TestReservations(t *testing.T) {
	f := newFixture(t, "heavyhex-27", func(c *config.Config) { _ = config.SetIsolationLevel(c, "none") })
	ctx := context.Background()
	now := f.clk.now()
	if _, err := f.c.Reserve(ctx, alice, ReserveParams{Tenant: "alice", Whole: true, End: now.Add(time.Hour)}); !errors.Is(err, ErrPermission) {
		t.Fatalf("tenant reserved: %v", err)
	}
	r, err := f.c.Reserve(ctx, admin, ReserveParams{Tenant: "alice", Count: 10, Start: now, End: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Qubits) != 10 {
		t.Fatalf("reservation %+v", r)
	}
	reserved := map[int]bool{}
	for _, q := range r.Qubits {
		reserved[q] = true
	}
	// Bob's tasks avoid Alice's reserved qubits.
	p := params(15, "")
	p.Req.Shape = alloc.Shape{Kind: alloc.ShapeNone}
	g, err := f.c.Allocate(ctx, bob, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range g.Allocation.Qubits {
		if reserved[q] {
			t.Fatalf("bob got reserved qubit %d", q)
		}
	}
	// A conflicting reservation for another tenant is refused.
	if _, err := f.c.Reserve(ctx, admin, ReserveParams{Tenant: "bob", Qubits: r.Qubits[:1], End: now.Add(time.Hour)}); !errors.Is(err, ErrConflict) {
		t.Fatalf("overlap: %v", err)
	}
	// Alice may use them.
	p = params(2, "")
	p.Req.Shape = alloc.Shape{Kind: alloc.ShapeNone}
	if _, err := f.c.Allocate(ctx, alice, p); err != nil {
		t.Fatal(err)
	}
	// Whole device for Carol later: Bob still allocates now; during it he cannot.
	w, err := f.c.Reserve(ctx, admin, ReserveParams{Tenant: "carol", Whole: true, Start: now.Add(2 * time.Hour), End: now.Add(3 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	f.clk.add(2*time.Hour + time.Minute)
	f.c.expireLeases() // also ends Alice's reservation
	if _, err := f.c.Allocate(ctx, bob, params(1, "")); !errors.Is(err, ErrNoFit) {
		t.Fatalf("bob allocated during carol's whole-device reservation: %v", err)
	}
	if _, err := f.c.CancelReservation(ctx, admin, w.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Allocate(ctx, bob, params(1, "")); err != nil {
		t.Fatalf("after cancel: %v", err)
	}
	list, _ := f.c.Reservations(admin, true)
	if len(list) != 2 {
		t.Fatalf("reservations %d", len(list))
	}
}

func TestFidelityFloorRequestsCalibration(t *testing.T) {
	f := newFixture(t, "heavyhex-27", nil)
	ch := f.dev.Subscribe(t.Context())
	p := params(8, "")
	p.Req.Floor = 0.999999
	_, err := f.c.Allocate(context.Background(), alice, p)
	if !errors.Is(err, ErrFidelity) {
		t.Fatalf("floor: %v", err)
	}
	select {
	case e := <-ch:
		if e.Kind != hal.EventCalibration {
			t.Fatalf("event %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no calibration requested")
	}
}

func TestCalibrationEpochFollowed(t *testing.T) {
	f := newFixture(t, "heavyhex-27", nil)
	e0 := f.c.Status().Epoch
	f.dev.Recalibrate()
	waitFor(t, func() bool { return f.c.eng.Model().Cal.Epoch != e0 })
	waitFor(t, func() bool {
		cal, _, _ := f.st.ListCalibrations(f.c.DeviceID(), time.Time{})
		return len(cal) >= 2
	})
}

func TestConcurrentNoDoubleGrant(t *testing.T) {
	f := newFixture(t, "heavyhex-127", func(c *config.Config) { c.Isolation.Spatial.MinimumDistance = 1 })
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				g, err := f.c.Allocate(ctx, alice, params(3+w%3, ""))
				if err != nil {
					continue
				}
				if i%2 == 0 {
					_, _, _ = f.c.Release(ctx, alice, g.Allocation.ID)
				}
			}
		}(w)
	}
	wg.Wait()
	owners, bad, err := f.st.ActiveQubitOwners()
	if err != nil || len(bad) > 0 {
		t.Fatal(err, bad)
	}
	if c := owners.Conflicts(); len(c) > 0 {
		t.Fatalf("double grants: %v", c)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTemporalIsolationExclusive(t *testing.T) {
	f := newFixture(t, "heavyhex-27", nil)
	ctx := context.Background()
	// A spatially isolated task runs.
	g1, err := f.c.Allocate(ctx, alice, params(3, ""))
	if err != nil {
		t.Fatal(err)
	}
	// A temporally isolated one needs the device to itself: it waits.
	p := params(3, "")
	p.Isolation = "temporal"
	if _, err := f.c.Allocate(ctx, bob, p); !errors.Is(err, ErrNoFit) {
		t.Fatalf("exclusive beside a running task: %v", err)
	}
	done := make(chan *Grant, 1)
	go func() {
		p.MaxWait = 10 * time.Second
		g, err := f.c.Allocate(ctx, bob, p)
		if err != nil {
			t.Error(err)
		}
		done <- g
	}()
	waitFor(t, func() bool { return f.c.Status().QueuedRequests == 1 })
	if _, _, err := f.c.Release(ctx, alice, g1.Allocation.ID); err != nil {
		t.Fatal(err)
	}
	g2 := <-done
	if g2 == nil {
		t.Fatal("exclusive task not granted once the device was free")
	}
	// While it runs, nobody else is granted, and the device's calendar
	// holds its slot for the whole device.
	if _, err := f.c.Allocate(ctx, alice, params(2, "")); !errors.Is(err, ErrNoFit) {
		t.Fatalf("granted beside an exclusive task: %v", err)
	}
	found := false
	for _, s := range f.dev.Slots() {
		if s.Owner == g2.Allocation.ID && s.Qubits == nil {
			found = true
		}
	}
	if !found {
		t.Fatalf("no whole-device slot for the exclusive task: %+v", f.dev.Slots())
	}
	// It survives a restart.
	f.restart()
	if _, err := f.c.Allocate(ctx, alice, params(2, "")); !errors.Is(err, ErrNoFit) {
		t.Fatalf("after restart, granted beside an exclusive task: %v", err)
	}
}

func TestFleetAdapter(t *testing.T) {
	f := newFixture(t, "heavyhex-27", nil)
	ctx := context.Background()
	fl := f.c.FleetAdapter("127.0.0.1:1")
	b := fl.Birth()
	if b.Summary.Qubits != 27 || len(b.Capabilities) == 0 || b.Endpoint != "127.0.0.1:1" {
		t.Fatalf("birth %+v", b)
	}
	st := fl.State()
	if st.FreeQubits == 0 || len(st.Quality.Linear) != mqtt.DefaultProfileLen || st.Quality.Linear[4] <= 0 || st.Quality.Idle[4] < st.Quality.Linear[4] {
		t.Fatalf("state %+v", st)
	}
	req := mqtt.ForwardRequest{Tenant: "alice", Key: "fwd-1", Qubits: 4, Shape: "linear", DurationMs: 60000}
	r1 := fl.HandleForward(ctx, req)
	r2 := fl.HandleForward(ctx, req)
	if !r1.OK || !r2.OK || r1.AllocationID != r2.AllocationID || !r2.Replayed {
		t.Fatalf("forward twice: %+v %+v", r1, r2)
	}
	if r := fl.HandleForward(ctx, mqtt.ForwardRequest{Tenant: "alice", Key: "fwd-2", Qubits: 4, Shape: "hexagon"}); r.OK || r.Code != mqtt.CodeBadRequest {
		t.Fatalf("bad shape: %+v", r)
	}
	// Cancel releases and refuses the key from then on.
	if err := fl.HandleCommand(ctx, mqtt.Command{Kind: mqtt.CmdCancel, Tenant: "alice", Key: "fwd-1"}); err != nil {
		t.Fatal(err)
	}
	if a, _ := f.c.Get(alice, r1.AllocationID); a.State != store.StateReleased {
		t.Fatalf("after cancel: %+v", a)
	}
	if r := fl.HandleForward(ctx, req); r.OK || r.Code != mqtt.CodeCancelled {
		t.Fatalf("forward after cancel: %+v", r)
	}
	// Drain refuses forwarded work until undrained.
	if err := fl.HandleCommand(ctx, mqtt.Command{Kind: mqtt.CmdDrain}); err != nil || !fl.State().Draining {
		t.Fatalf("drain: %v", err)
	}
	if r := fl.HandleForward(ctx, mqtt.ForwardRequest{Tenant: "bob", Key: "k", Qubits: 2, Shape: "linear"}); r.Code != mqtt.CodeDraining {
		t.Fatalf("forward while draining: %+v", r)
	}
	_ = fl.HandleCommand(ctx, mqtt.Command{Kind: mqtt.CmdUndrain})
	if r := fl.HandleForward(ctx, mqtt.ForwardRequest{Tenant: "bob", Key: "k", Qubits: 2, Shape: "linear"}); !r.OK {
		t.Fatalf("forward after undrain: %+v", r)
	}
	if err := fl.HandleCommand(ctx, mqtt.Command{Kind: mqtt.CmdRollout, Args: map[string]string{"module": "x", "version": "1"}}); err == nil ||
		!strings.Contains(err.Error(), "disabled") {
		t.Fatalf("rollout without modules: %v", err)
	}
	if err := fl.HandleCommand(ctx, mqtt.Command{Kind: "selfdestruct"}); err == nil {
		t.Fatal("unknown command accepted")
	}
}

func TestStrategies(t *testing.T) {
	ring := func(n int) AllocateParams {
		return AllocateParams{Req: alloc.Request{Qubits: n, Shape: alloc.Shape{Kind: alloc.ShapeRing}, Buffer: -1}, Shape: "ring"}
	}
	ctx := context.Background()
	// Defaults: topology_aware, falling back to noise_aware for a ring
	// that does not embed in heavy-hex.
	f := newFixture(t, "heavyhex-127", nil)
	g, err := f.c.Allocate(ctx, alice, ring(4))
	if err != nil || g.Allocation.Swaps == 0 || !strings.Contains(g.Strategy, "fallback noise_aware") {
		t.Fatalf("ring with defaults: %v %+v", err, g)
	}
	lin, err := f.c.Allocate(ctx, alice, params(5, ""))
	if err != nil || lin.Strategy != alloc.StrategyExact || lin.Allocation.Swaps != 0 {
		t.Fatalf("linear with defaults: %v %+v", err, lin)
	}
	// topology_aware alone refuses what does not embed.
	f2 := newFixture(t, "heavyhex-127", func(c *config.Config) { c.Allocation.FallbackStrategy = "topology_aware" })
	if _, err := f2.c.Allocate(ctx, alice, ring(4)); !errors.Is(err, ErrNoFit) {
		t.Fatalf("topology_aware without fallback: %v", err)
	}
	// first_fit finds a valid placement fast, never better than the
	// optimum (compared by ESP without a fragmentation weight: with one,
	// the optimum may trade ESP for a smaller footprint).
	pure := func(c *config.Config) { c.Allocation.FragmentationWeight = 0 }
	best, err := newFixture(t, "heavyhex-127", pure).c.Allocate(ctx, alice, params(5, ""))
	if err != nil {
		t.Fatal(err)
	}
	f3 := newFixture(t, "heavyhex-127", func(c *config.Config) { pure(c); c.Allocation.DefaultStrategy = "first_fit" })
	ff, err := f3.c.Allocate(ctx, alice, params(5, ""))
	if err != nil || len(ff.Allocation.Qubits) != 5 || ff.Allocation.ESP > best.Allocation.ESP+1e-12 {
		t.Fatalf("first_fit: %v %+v (optimum %v)", err, ff, best.Allocation.ESP)
	}
	// noise_aware routes directly.
	f4 := newFixture(t, "heavyhex-127", func(c *config.Config) { c.Allocation.DefaultStrategy = "noise_aware" })
	nr, err := f4.c.Allocate(ctx, alice, ring(4))
	if err != nil || nr.Allocation.Swaps == 0 || strings.Contains(nr.Strategy, "fallback") {
		t.Fatalf("noise_aware ring: %v %+v", err, nr)
	}
}

// TestSpeculation: a placement searched outside the lock (as when modules
// place) is used when the
// occupancy is the one it was searched on, and searched again under the
// lock when another grant took its qubits meanwhile; nothing is granted
// twice.
func TestSpeculation(t *testing.T) {
	f := newFixture(t, "heavyhex-127", func(c *config.Config) { c.Isolation.Spatial.MinimumDistance = 1 })
	ctx := context.Background()
	c := f.c
	c.specNative = true // as with modules
	count := func(outcome string) float64 {
		var m dto.Metric
		if err := c.met.Speculation.WithLabelValues(outcome).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	used := func() float64 { return count("used") }
	again := func() float64 { return count("searched_again") }
	p := params(5, "")
	p.Req.Buffer = c.buffer(&p)

	// Unchanged state: the speculative answer is the answer.
	spec := c.speculate(ctx, alice, &p)
	if spec == nil || spec.res == nil {
		t.Fatalf("speculate: %+v", spec)
	}
	c.mu.Lock()
	pg, err := c.placeLocked(ctx, alice, p, p.Req.Buffer, nil, spec)
	if err == nil {
		c.occ.Release(pg.a.ID)
	}
	c.mu.Unlock()
	if err != nil || fmt.Sprint(pg.a.Qubits) != fmt.Sprint(spec.res.Mapping) || used() != 1 || again() != 0 {
		t.Fatalf("unchanged state: %v %v (speculated %v), used %v, again %v", err, pg, spec.res.Mapping, used(), again())
	}

	// Another grant takes the speculated qubits: searched again, elsewhere.
	spec = c.speculate(ctx, alice, &p)
	taken := spec.res.Mapping[1:3]
	before := used()
	c.mu.Lock()
	if err := c.occ.Commit(alloc.Holding{Task: "other", Qubits: taken}); err != nil {
		t.Fatal(err)
	}
	pg, err = c.placeLocked(ctx, alice, p, p.Req.Buffer, nil, spec)
	c.mu.Unlock()
	if err != nil || again() != 1 || used() != before {
		t.Fatalf("stale speculation: %v, used %v, again %v", err, used(), again())
	}
	for _, q := range pg.a.Qubits {
		if q == taken[0] || q == taken[1] {
			t.Fatalf("qubit %d granted twice: %v, other task %v", q, pg.a.Qubits, taken)
		}
	}
}
