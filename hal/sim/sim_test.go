package sim_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/hal/sim"
	"github.com/eigen-os/rm/hal/synth"
)

// clock is a fake clock: Now advances by step on every reading (step 0: it
// stands still until Set).
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func newClock(step time.Duration) *clock {
	return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), step: step}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func model(t testing.TB, spec string) *hal.Model {
	t.Helper()
	m, err := synth.ByName(spec)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// drain reads what is buffered on ch without waiting.
func drain(ch <-chan hal.Event) []hal.Event {
	var out []hal.Event
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}

func kinds(evs []hal.Event) []hal.EventKind {
	out := make([]hal.EventKind, len(evs))
	for i, e := range evs {
		out[i] = e.Kind
	}
	return out
}

func TestNewServesModel(t *testing.T) {
	m := model(t, "heavyhex-27")
	d := sim.New(m, sim.Options{})
	var dev hal.Device = d
	if dev.ID() != "synthetic-heavyhex-27" || dev.Model() != m || dev.Health() != hal.HealthOnline {
		t.Fatalf("ID %q, model %p (want %p), health %s", dev.ID(), dev.Model(), m, dev.Health())
	}
	defer func() {
		if recover() == nil {
			t.Error("New(nil) did not panic")
		}
	}()
	sim.New(nil, sim.Options{})
}

func TestRecalibrate(t *testing.T) {
	m := model(t, "heavyhex-127")
	clk := newClock(time.Minute)
	d := sim.New(m, sim.Options{Seed: 3, Clock: clk.Now})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := d.Subscribe(ctx)
	prev := m
	for i := 0; i < 5; i++ {
		var next *hal.Model
		if i%2 == 0 {
			next = d.Recalibrate()
		} else {
			if err := d.RequestCalibration(ctx); err != nil {
				t.Fatal(err)
			}
			next = d.Model()
		}
		if next.Cal.Epoch == prev.Cal.Epoch || !next.Cal.Time.After(prev.Cal.Time) || next.Topology != m.Topology {
			t.Fatalf("step %d: epoch %x -> %x, time %v -> %v", i, prev.Cal.Epoch, next.Cal.Epoch, prev.Cal.Time, next.Cal.Time)
		}
		if d.Model() != next {
			t.Fatal("Model() is not the new calibration")
		}
		evs := drain(ch)
		if len(evs) != 1 || evs[0].Kind != hal.EventCalibration || evs[0].Epoch != next.Cal.Epoch {
			t.Fatalf("step %d: events %+v", i, evs)
		}
		prev = next
	}
	// The starting model is untouched (models are immutable).
	if m.Cal.Epoch != synth.Default().Cal.Epoch {
		t.Fatal("recalibration changed the model given to New")
	}
	// Figures moved, by a few percent.
	moved := 0
	for ci, cc := range prev.Cal.Couplers {
		if cc.Error != m.Cal.Couplers[ci].Error {
			moved++
		}
	}
	if moved < len(prev.Couplers)/2 {
		t.Fatalf("only %d of %d couplers drifted", moved, len(prev.Couplers))
	}
	// A standing clock still gives strictly later calibration times.
	clk2 := newClock(0)
	d2 := sim.New(m, sim.Options{Clock: clk2.Now})
	a := d2.Recalibrate()
	b := d2.Recalibrate()
	if !b.Cal.Time.After(a.Cal.Time) || a.Cal.Epoch == b.Cal.Epoch {
		t.Fatalf("standing clock: times %v %v epochs %x %x", a.Cal.Time, b.Cal.Time, a.Cal.Epoch, b.Cal.Epoch)
	}
}

func TestDriftDeterministic(t *testing.T) {
	m := model(t, "heavyhex-65")
	epochs := func(seed int64) []uint64 {
		clk := newClock(time.Hour)
		d := sim.New(m, sim.Options{Seed: seed, Clock: clk.Now})
		var out []uint64
		for i := 0; i < 8; i++ {
			out = append(out, d.Recalibrate().Cal.Epoch)
			if i == 3 { // faults are overlays: they do not change the drift
				if err := d.BreakQubit(5, "test"); err != nil {
					t.Fatal(err)
				}
				if err := d.RepairQubit(5); err != nil {
					t.Fatal(err)
				}
			}
		}
		return out
	}
	a, b, c := epochs(7), epochs(7), epochs(8)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different epochs:\n%x\n%x", a, b)
	}
	for i := range a {
		if a[i] == c[i] {
			t.Fatalf("seeds 7 and 8 share epoch %x at step %d", a[i], i)
		}
	}
}

func TestDriftBounds(t *testing.T) {
	for _, spec := range []string{"heavyhex-127@4", "octagons-4", "grid-5x5"} {
		m := model(t, spec)
		clk := newClock(time.Hour)
		d := sim.New(m, sim.Options{Seed: 1, DriftSigma: 0.3, Clock: clk.Now})
		var cur *hal.Model
		for i := 0; i < 400; i++ {
			cur = d.Recalibrate()
		}
		base := m.Cal
		var ratios []float64
		for ci, cc := range cur.Cal.Couplers {
			bc := base.Couplers[ci]
			if cc.Usable != bc.Usable || cc.Reason != bc.Reason {
				t.Fatalf("%s coupler %v: usable %v (%s), was %v (%s)", spec, m.Couplers[ci], cc.Usable, cc.Reason, bc.Usable, bc.Reason)
			}
			for gi, g := range cc.Gates {
				b := bc.Gates[gi]
				switch {
				case !hal.Known(b.Error) || b.Error >= hal.BrokenThreshold:
					if math.Float64bits(g.Error) != math.Float64bits(b.Error) {
						t.Fatalf("%s: broken or unknown gate error %v drifted to %v", spec, b.Error, g.Error)
					}
				default:
					if g.Error < b.Error/4*(1-1e-9) || g.Error > math.Min(4*b.Error, 0.45)*(1+1e-9) {
						t.Fatalf("%s: gate error %v left the band around %v", spec, g.Error, b.Error)
					}
				}
				if math.Float64bits(g.Duration) != math.Float64bits(b.Duration) {
					t.Fatalf("%s: duration drifted", spec)
				}
			}
			if hal.Known(cc.Error) && cc.Usable {
				ratios = append(ratios, cc.Error/bc.Error)
			}
			// Directions of one gate keep equal errors.
			if len(cc.Gates) == 2 && cc.Gates[0].Gate == cc.Gates[1].Gate && cc.Gates[0].Error != cc.Gates[1].Error {
				t.Fatalf("%s: directions drifted apart: %v %v", spec, cc.Gates[0].Error, cc.Gates[1].Error)
			}
		}
		// Mean reversion: no systematic drift after 400 steps.
		if med := hal.Median(ratios); med < 0.7 || med > 1.4 {
			t.Fatalf("%s: median error ratio after 400 steps %.3f", spec, med)
		}
		for qi, q := range cur.Cal.Qubits {
			b := base.Qubits[qi]
			if q.Usable != b.Usable {
				t.Fatalf("%s qubit %d: usable %v, was %v", spec, qi, q.Usable, b.Usable)
			}
			for _, f := range [][2]float64{{q.T1, b.T1}, {q.T2, b.T2}, {q.Error1Q, b.Error1Q}, {q.ReadoutError, b.ReadoutError}} {
				if hal.Known(f[0]) != hal.Known(f[1]) {
					t.Fatalf("%s qubit %d: figure known=%v, was %v", spec, qi, hal.Known(f[0]), hal.Known(f[1]))
				}
				if hal.Known(f[1]) && f[1] < hal.BrokenThreshold && (f[0] < f[1]/4*(1-1e-9) || f[0] > 4*f[1]*(1+1e-9)) {
					t.Fatalf("%s qubit %d: %v left the band around %v", spec, qi, f[0], f[1])
				}
			}
			if b.ReadoutError >= hal.BrokenThreshold && q.ReadoutError != b.ReadoutError {
				t.Fatalf("%s: bad readout %v drifted to %v", spec, b.ReadoutError, q.ReadoutError)
			}
			if hal.Known(q.T2) && b.T2 <= 2*b.T1 && q.T2 > 2*q.T1*(1+1e-12) {
				t.Fatalf("%s qubit %d: T2 %v > 2*T1 %v", spec, qi, q.T2, q.T1)
			}
			if hal.Known(q.P01) && math.Abs((q.P01+q.P10)/2-q.ReadoutError) > 1e-12 {
				t.Fatalf("%s qubit %d: P01 %v P10 %v readout %v", spec, qi, q.P01, q.P10, q.ReadoutError)
			}
		}
	}
}

func TestNoDrift(t *testing.T) {
	m := model(t, "grid-3x3")
	d := sim.New(m, sim.Options{DriftSigma: -1, Clock: newClock(time.Hour).Now})
	next := d.Recalibrate()
	for qi, q := range next.Cal.Qubits {
		if q.ReadoutError != m.Cal.Qubits[qi].ReadoutError || math.Float64bits(q.T1) != math.Float64bits(m.Cal.Qubits[qi].T1) {
			t.Fatalf("qubit %d changed without drift", qi)
		}
	}
	if next.Cal.Epoch == m.Cal.Epoch {
		t.Fatal("recalibration without drift kept the epoch (the time changed)")
	}
}

func TestFaults(t *testing.T) {
	m := model(t, "heavyhex-27")
	d := sim.New(m, sim.Options{Clock: newClock(time.Second).Now})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := d.Subscribe(ctx)

	if err := d.BreakQubit(7, "TLS defect"); err != nil {
		t.Fatal(err)
	}
	m1 := d.Model()
	q := m1.Cal.Qubits[7]
	if q.Usable || q.Reason != hal.ReasonInjectedFault || m1.Cal.Epoch == m.Cal.Epoch {
		t.Fatalf("broken qubit: usable %v reason %q epoch %x", q.Usable, q.Reason, m1.Cal.Epoch)
	}
	for _, ci := range m1.NeighborCouplers(7) {
		if m1.CouplerUsable(int(ci)) {
			t.Fatalf("coupler %v of a broken qubit is usable", m1.Couplers[ci])
		}
	}
	evs := drain(ch)
	if !slices.Equal(kinds(evs), []hal.EventKind{hal.EventFault, hal.EventHealth}) || evs[0].Detail != "TLS defect" ||
		!slices.Equal(evs[0].Qubits, []int{7}) || evs[0].Epoch != m1.Cal.Epoch || evs[1].Health != hal.HealthDegraded {
		t.Fatalf("events %+v", evs)
	}
	if d.Health() != hal.HealthDegraded {
		t.Fatalf("health %s", d.Health())
	}
	if err := d.BreakQubit(7, "again"); err != nil || d.Model() != m1 || len(drain(ch)) != 0 {
		t.Fatalf("breaking a broken qubit again: %v, new model %v", err, d.Model() != m1)
	}

	e := m.Couplers[3]
	if err := d.BreakCoupler(e.B, e.A, "flux jump"); err != nil {
		t.Fatal(err)
	}
	m2 := d.Model()
	if m2.CouplerUsable(3) || m2.Cal.Couplers[3].OwnReason != hal.ReasonInjectedFault || m2.Cal.Epoch == m1.Cal.Epoch {
		t.Fatalf("broken coupler usable %v reason %q", m2.CouplerUsable(3), m2.Cal.Couplers[3].OwnReason)
	}
	evs = drain(ch)
	if !slices.Equal(kinds(evs), []hal.EventKind{hal.EventFault}) || len(evs[0].Couplers) != 1 || evs[0].Couplers[0] != e {
		t.Fatalf("coupler fault events %+v", evs)
	}
	qs, cs := d.Faults()
	if !slices.Equal(qs, []int{7}) || len(cs) != 1 || cs[0] != e {
		t.Fatalf("Faults() = %v %v", qs, cs)
	}

	if err := d.BreakQubit(27, "x"); !errors.Is(err, hal.ErrRange) {
		t.Fatalf("qubit 27: %v", err)
	}
	if err := d.BreakCoupler(0, 26, "x"); !errors.Is(err, sim.ErrNoCoupler) {
		t.Fatalf("coupler 0-26: %v", err)
	}
	if err := d.BreakCoupler(0, -1, "x"); !errors.Is(err, hal.ErrRange) {
		t.Fatalf("coupler 0-(-1): %v", err)
	}

	if err := d.RepairQubit(7); err != nil {
		t.Fatal(err)
	}
	if err := d.RepairQubit(7); err != nil { // no-op
		t.Fatal(err)
	}
	if d.Health() != hal.HealthDegraded {
		t.Fatalf("health with one fault left: %s", d.Health())
	}
	if err := d.RepairCoupler(e.A, e.B); err != nil {
		t.Fatal(err)
	}
	m3 := d.Model()
	evs = drain(ch)
	if !slices.Equal(kinds(evs), []hal.EventKind{hal.EventRepair, hal.EventRepair, hal.EventHealth}) || evs[2].Health != hal.HealthOnline {
		t.Fatalf("repair events %+v", evs)
	}
	// With every fault repaired and no recalibration in between the figures
	// are those of the start, and so is the epoch (the epoch is a digest).
	if m3.Cal.Epoch != m.Cal.Epoch || !m3.QubitUsable(7) || !m3.CouplerUsable(3) {
		t.Fatalf("after repair: epoch %x (start %x)", m3.Cal.Epoch, m.Cal.Epoch)
	}

	_ = d.BreakQubit(1, "a")
	_ = d.BreakQubit(2, "b")
	drain(ch)
	d.RepairAll()
	evs = drain(ch)
	if !slices.Equal(kinds(evs), []hal.EventKind{hal.EventRepair, hal.EventHealth}) || !slices.Equal(evs[0].Qubits, []int{1, 2}) {
		t.Fatalf("RepairAll events %+v", evs)
	}
	d.RepairAll() // nothing to repair
	if len(drain(ch)) != 0 {
		t.Fatal("RepairAll without faults emitted events")
	}
}

func TestOffline(t *testing.T) {
	d := sim.New(model(t, "grid-3x3"), sim.Options{})
	ctx := context.Background()
	ch := d.Subscribe(ctx)
	if err := d.Isolate(ctx, "a", []int{0, 1}); err != nil {
		t.Fatal(err)
	}
	epoch := d.Model().Cal.Epoch
	d.SetOffline(true)
	d.SetOffline(true) // no change, no event
	if d.Health() != hal.HealthOffline || d.Model().Cal.Epoch != epoch {
		t.Fatalf("offline: health %s, epoch changed %v", d.Health(), d.Model().Cal.Epoch != epoch)
	}
	for name, err := range map[string]error{
		"isolate":     d.Isolate(ctx, "b", []int{5}),
		"reserve":     d.ReserveSlot(ctx, hal.TimeSlot{Owner: "b", Start: time.Now(), End: time.Now().Add(time.Hour)}),
		"calibration": d.RequestCalibration(ctx),
	} {
		if !errors.Is(err, hal.ErrOffline) {
			t.Errorf("%s while offline: %v", name, err)
		}
	}
	if err := d.Release(ctx, "a"); err != nil {
		t.Fatalf("release while offline: %v", err)
	}
	if err := d.BreakQubit(4, "x"); err != nil {
		t.Fatal(err)
	}
	d.SetOffline(false)
	if d.Health() != hal.HealthDegraded {
		t.Fatalf("back online with a fault: %s", d.Health())
	}
	var healths []hal.Health
	for _, ev := range drain(ch) {
		if ev.Kind == hal.EventHealth {
			healths = append(healths, ev.Health)
		}
	}
	if !slices.Equal(healths, []hal.Health{hal.HealthOffline, hal.HealthDegraded}) {
		t.Fatalf("health events %v", healths)
	}
}

func TestIsolate(t *testing.T) {
	d := sim.New(model(t, "heavyhex-27"), sim.Options{})
	ctx := context.Background()
	ch := d.Subscribe(ctx)
	if err := d.Isolate(ctx, "task-b", []int{5, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := d.Isolate(ctx, "task-b", []int{3, 4, 5}); err != nil { // same: no-op
		t.Fatal(err)
	}
	if err := d.Isolate(ctx, "task-b", []int{4}); err != nil { // subset: no-op
		t.Fatal(err)
	}
	evs := drain(ch)
	if len(evs) != 1 || evs[0].Kind != hal.EventIsolate || evs[0].Owner != "task-b" || !slices.Equal(evs[0].Qubits, []int{3, 4, 5}) {
		t.Fatalf("events %+v", evs)
	}
	err := d.Isolate(ctx, "task-a", []int{0, 1, 5})
	if !errors.Is(err, hal.ErrConflict) {
		t.Fatalf("conflict: %v", err)
	}
	for _, bad := range []struct {
		owner  string
		qubits []int
		want   error
	}{{"task-a", []int{0, 27}, hal.ErrRange}, {"task-a", []int{-1}, hal.ErrRange}} {
		if err := d.Isolate(ctx, bad.owner, bad.qubits); !errors.Is(err, bad.want) {
			t.Errorf("Isolate(%q, %v) = %v, want %v", bad.owner, bad.qubits, err, bad.want)
		}
	}
	for _, bad := range []struct {
		owner  string
		qubits []int
	}{{"", []int{1}}, {"task-a", nil}, {"task-a", []int{1, 1}}} {
		if err := d.Isolate(ctx, bad.owner, bad.qubits); err == nil {
			t.Errorf("Isolate(%q, %v): no error", bad.owner, bad.qubits)
		}
	}
	// A failed call binds nothing.
	bs, _ := d.Bindings(ctx)
	if len(bs) != 1 {
		t.Fatalf("bindings after failed calls: %+v", bs)
	}
	if err := d.Isolate(ctx, "task-b", []int{6, 5}); err != nil { // adds 6
		t.Fatal(err)
	}
	if err := d.Isolate(ctx, "task-a", []int{0, 1}); err != nil {
		t.Fatal(err)
	}
	bs, err = d.Bindings(ctx)
	if err != nil || len(bs) != 2 || bs[0].Owner != "task-a" || !slices.Equal(bs[0].Qubits, []int{0, 1}) ||
		bs[1].Owner != "task-b" || !slices.Equal(bs[1].Qubits, []int{3, 4, 5, 6}) {
		t.Fatalf("Bindings = %+v, %v", bs, err)
	}
	bs[1].Qubits[0] = 99 // a copy
	drain(ch)
	if err := d.Release(ctx, "task-b"); err != nil {
		t.Fatal(err)
	}
	if err := d.Release(ctx, "task-b"); err != nil {
		t.Fatal(err)
	}
	if err := d.Release(ctx, "never-bound"); err != nil {
		t.Fatal(err)
	}
	evs = drain(ch)
	if len(evs) != 1 || evs[0].Kind != hal.EventReleaseQ || !slices.Equal(evs[0].Qubits, []int{3, 4, 5, 6}) {
		t.Fatalf("release events %+v", evs)
	}
	if err := d.Isolate(ctx, "task-c", []int{5}); err != nil {
		t.Fatalf("qubit 5 after release: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := d.Isolate(cctx, "task-d", []int{9}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled isolate: %v", err)
	}
	if _, err := d.Bindings(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled bindings: %v", err)
	}
}

func TestOpLatency(t *testing.T) {
	d := sim.New(model(t, "grid-2x2"), sim.Options{OpLatency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	go cancel()
	if err := d.Isolate(ctx, "a", []int{0}); !errors.Is(err, context.Canceled) {
		t.Fatalf("isolate with an hour of latency and a cancelled context: %v", err)
	}
	if bs, _ := d.Bindings(context.Background()); len(bs) != 0 {
		t.Fatalf("cancelled isolate bound %+v", bs)
	}
	d2 := sim.New(model(t, "grid-2x2"), sim.Options{OpLatency: time.Millisecond})
	if err := d2.Isolate(context.Background(), "a", []int{0}); err != nil {
		t.Fatal(err)
	}
}

func TestReserveSlot(t *testing.T) {
	clk := newClock(0)
	d := sim.New(model(t, "grid-4x4"), sim.Options{Clock: clk.Now})
	ctx := context.Background()
	t0 := clk.Now()
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	slot := func(owner string, from, to int, qs ...int) hal.TimeSlot {
		return hal.TimeSlot{Owner: owner, Qubits: qs, Start: at(from), End: at(to)}
	}
	ch := d.Subscribe(ctx)
	must := func(s hal.TimeSlot) {
		t.Helper()
		if err := d.ReserveSlot(ctx, s); err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
	}
	must(slot("a", 10, 20, 1, 2, 3))
	must(slot("a", 10, 20, 3, 2, 1)) // same slot: no-op
	must(slot("a", 15, 25, 3, 4))    // own slots may overlap
	must(slot("b", 10, 20, 5, 6))    // other qubits
	must(slot("b", 20, 30, 1))       // starts when a's ends
	must(slot("c", 0, 10, 1, 2))     // ends when a's starts
	if n := len(drain(ch)); n != 5 {
		t.Fatalf("%d reserve events, want 5", n)
	}
	for _, s := range []hal.TimeSlot{slot("b", 19, 21, 3), slot("c", 5, 11, 2), {Owner: "d", Start: at(12), End: at(13)}} {
		if err := d.ReserveSlot(ctx, s); !errors.Is(err, hal.ErrConflict) {
			t.Errorf("%+v: %v, want conflict", s, err)
		}
	}
	// The whole device (nil qubits) against anything in its window.
	must(hal.TimeSlot{Owner: "e", Start: at(40), End: at(50)})
	if err := d.ReserveSlot(ctx, slot("f", 45, 46, 15)); !errors.Is(err, hal.ErrConflict) {
		t.Errorf("slot inside a whole-device slot: %v", err)
	}
	must(hal.TimeSlot{Owner: "e", Start: at(40), End: at(50)}) // idempotent
	for _, bad := range []hal.TimeSlot{
		slot("", 1, 2, 1), slot("g", 5, 5, 1), slot("g", 6, 5, 1), slot("g", 1, 2, 16), slot("g", 1, 2, 3, 3),
		{Owner: "g", Qubits: []int{}, Start: at(1), End: at(2)}, slot("g", -10, -5, 1),
	} {
		if err := d.ReserveSlot(ctx, bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if err := d.ReserveSlot(ctx, slot("g", 1, 2, 16)); !errors.Is(err, hal.ErrRange) {
		t.Errorf("qubit 16 of 16: %v", err)
	}
	if got := len(d.Slots()); got != 6 {
		t.Fatalf("%d slots, want 6: %+v", got, d.Slots())
	}
	// Time passes: a's slots end and are forgotten; the window is free.
	clk.Set(at(26))
	must(slot("h", 26, 28, 3))
	if got := len(d.Slots()); got != 3 { // b 20-30, e 40-50, h
		t.Fatalf("%d slots after time passed, want 3: %+v", got, d.Slots())
	}
	// Release drops the owner's slots.
	if err := d.Release(ctx, "e"); err != nil {
		t.Fatal(err)
	}
	must(slot("f", 45, 46, 15))
}

func TestEventsNeverBlock(t *testing.T) {
	d := sim.New(model(t, "heavyhex-27"), sim.Options{EventBuffer: 2, Clock: newClock(time.Second).Now})
	ctx, cancel := context.WithCancel(context.Background())
	slow := d.Subscribe(ctx)
	for i := 0; i < 50; i++ {
		d.Recalibrate()
	}
	if d.Dropped() != 48 {
		t.Fatalf("dropped %d, want 48", d.Dropped())
	}
	if evs := drain(slow); len(evs) != 2 {
		t.Fatalf("slow subscriber got %d events", len(evs))
	}
	cancel()
	// The channel is closed once the context ends.
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-slow:
			if !ok {
				if ch := d.Subscribe(ctx); !isClosed(ch) {
					t.Fatal("subscribing with an ended context gave an open channel")
				}
				return
			}
		case <-timeout:
			t.Fatal("channel not closed after its context ended")
		}
	}
}

func isClosed(ch <-chan hal.Event) bool {
	select {
	case _, ok := <-ch:
		return !ok
	default:
		return false
	}
}

func TestStartClose(t *testing.T) {
	d := sim.New(model(t, "heavyhex-27"), sim.Options{Seed: 1, DriftInterval: time.Millisecond, EventBuffer: 1 << 14})
	ctx := context.Background()
	ch := d.Subscribe(ctx)
	d.Start(ctx)
	d.Start(ctx) // once only
	seen := map[uint64]bool{}
	timeout := time.After(20 * time.Second)
	for len(seen) < 3 {
		select {
		case ev := <-ch:
			if ev.Kind == hal.EventCalibration {
				seen[ev.Epoch] = true
			}
		case <-timeout:
			t.Fatalf("only %d scheduled calibrations", len(seen))
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	epoch := d.Model().Cal.Epoch
	var last hal.Event
	for ev := range ch { // closed by Close, after what was buffered
		last = ev
	}
	if last.Kind != hal.EventHealth || last.Health != hal.HealthOffline {
		t.Fatalf("last event before the channel closed: %+v", last)
	}
	time.Sleep(5 * time.Millisecond)
	if d.Model().Cal.Epoch != epoch {
		t.Fatal("drift continued after Close")
	}
	if d.Health() != hal.HealthOffline {
		t.Fatalf("closed device health %s", d.Health())
	}
	if err := d.Isolate(ctx, "a", []int{0}); !errors.Is(err, hal.ErrOffline) {
		t.Fatalf("isolate after close: %v", err)
	}
	if err := d.BreakQubit(0, "x"); !errors.Is(err, hal.ErrOffline) {
		t.Fatalf("fault after close: %v", err)
	}
	if !isClosed(d.Subscribe(ctx)) {
		t.Fatal("subscribe after close: open channel")
	}
	// Start after Close does nothing; a device without interval never drifts.
	d.Start(ctx)
	d2 := sim.New(model(t, "grid-2x2"), sim.Options{})
	d2.Start(ctx)
	defer d2.Close()
}

func TestScheduledDriftPausesOffline(t *testing.T) {
	d := sim.New(model(t, "grid-2x2"), sim.Options{DriftInterval: time.Millisecond})
	d.SetOffline(true)
	epoch := d.Model().Cal.Epoch
	d.Start(context.Background())
	time.Sleep(20 * time.Millisecond)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if d.Model().Cal.Epoch != epoch {
		t.Fatal("scheduled drift ran while offline")
	}
}

// Concurrent binding, drift, faults and readers; run with -race.
func TestConcurrent(t *testing.T) {
	m := model(t, "heavyhex-127")
	d := sim.New(m, sim.Options{Seed: 2, DriftInterval: time.Millisecond, EventBuffer: 8})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.Start(ctx)
	defer d.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for s := 0; s < 2; s++ { // subscribers, one fast one slow
		ch := d.Subscribe(ctx)
		wg.Add(1)
		go func(slow bool) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-ch:
					if slow {
						time.Sleep(100 * time.Microsecond)
					}
				}
			}
		}(s == 1)
	}
	wg.Add(1)
	go func() { // readers of the model
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			cur := d.Model()
			if cur.Cal.Epoch == 0 || len(cur.Cal.Qubits) != 127 {
				t.Error("inconsistent model")
				return
			}
		}
	}()
	wg.Add(1)
	go func() { // faults
		defer wg.Done()
		for i := 0; i < 100; i++ {
			_ = d.BreakQubit(i%127, "chaos")
			_ = d.BreakCoupler(m.Couplers[i%144].A, m.Couplers[i%144].B, "chaos")
			_ = d.RepairQubit(i % 127)
			if i%50 == 0 {
				d.RepairAll()
			}
		}
	}()
	var workers sync.WaitGroup
	for w := 0; w < 6; w++ {
		workers.Add(1)
		go func(w int) {
			defer workers.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; i < 300; i++ {
				owner := fmt.Sprintf("w%d-%d", w, i%3)
				qs := []int{r.IntN(127), r.IntN(127), r.IntN(127)}
				slices.Sort(qs)
				qs = slices.Compact(qs)
				err := d.Isolate(ctx, owner, qs)
				if err != nil && !errors.Is(err, hal.ErrConflict) {
					t.Errorf("isolate: %v", err)
				}
				if r.IntN(3) == 0 {
					if err := d.Release(ctx, owner); err != nil {
						t.Errorf("release: %v", err)
					}
				}
				if i%10 == 0 {
					_ = d.RequestCalibration(ctx)
				}
			}
		}(w)
	}
	workers.Wait()
	close(stop)
	wg.Wait()
	bs, err := d.Bindings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	holder := map[int]string{}
	for _, b := range bs {
		if !slices.IsSorted(b.Qubits) {
			t.Fatalf("binding %q qubits not sorted: %v", b.Owner, b.Qubits)
		}
		for _, q := range b.Qubits {
			if o, ok := holder[q]; ok {
				t.Fatalf("qubit %d bound to %q and %q", q, o, b.Owner)
			}
			holder[q] = b.Owner
		}
	}
	if !slices.IsSortedFunc(bs, func(a, b hal.Binding) int {
		if a.Owner < b.Owner {
			return -1
		}
		return 1
	}) {
		t.Fatal("bindings not sorted by owner")
	}
}
