package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/runtime/alloc"
)

// Hostile modules: each is refused at push or contained at call time, the
// host keeps serving, nothing stored changes.

const (
	loopForever = `(loop $l (br $l)) (unreachable)`
	memoryBomb  = `(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) (unreachable)`
	hugeAnswer  = `(i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 0x7fffffff))`
	outOfMemory = `(i64.or (i64.shl (i64.const 0x7fff0000) (i64.const 32)) (i64.const 64))`
	badStatus   = `(i64.const -4)`
	manyCands   = `(i32.store (i32.const 1024) (i32.const 1000000)) (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 64))`
)

// errTrapOrTimeout accepts either cause.
var errTrapOrTimeout = errors.New("trap or timeout")

// testHostConfig keeps hostile calls short.
var testHostConfig = Config{CallTimeout: 300 * time.Millisecond, LoadTimeout: time.Second}

// checker verifies, after each hostile module, that a good module still
// answers right on the same host.
type checker struct {
	t     *testing.T
	good  *Module
	model *hal.Model
	req   alloc.Request
	want  []int
}

func newChecker(t *testing.T, h *Host) *checker {
	pw, _ := builtinWasm(t)
	m := device(t, "heavyhex-27")
	c := &checker{t: t, good: load(t, h, "builtin", pw), model: m,
		req: alloc.Request{Qubits: 4, Shape: alloc.Shape{Kind: alloc.ShapeLinear}}}
	eng, err := alloc.NewEngine(m, alloc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := eng.Place(context.Background(), &c.req, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.want = pl.Mapping
	return c
}

func (c *checker) serving(after string) {
	c.t.Helper()
	got, err := c.good.Place(context.Background(), c.model, &c.req, nil, nil)
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0].Mapping, c.want) {
		c.t.Errorf("after %s: the good module answered %+v, %v; want %v", after, got, err, c.want)
	}
}

func TestHostileRefusedAtPush(t *testing.T) {
	h := newHost(t, testHostConfig)
	st := newMemStore()
	mgr, err := NewManager(context.Background(), h, st, ManagerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close(context.Background())
	c := newChecker(t, h)
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 3000)
	for i := range garbage {
		garbage[i] = byte(rng.IntN(256))
	}
	header := append([]byte("\x00asm\x01\x00\x00\x00"), garbage[:200]...)
	cases := []struct {
		name  string
		wasm  []byte
		src   *watModule
		check string
	}{
		{name: "garbage bytes", wasm: garbage, check: CheckWasm},
		{name: "garbage after a valid header", wasm: header, check: CheckWasm},
		{name: "empty", wasm: []byte{}, check: CheckWasm},
		{name: "missing rm_place", src: &watModule{}, check: CheckExports},
		{name: "missing rm_alloc", src: &watModule{NoAlloc: true, Place: answer(0)}, check: CheckExports},
		{name: "no memory export", src: &watModule{Memory: `(memory 2)`, Place: answer(0)}, check: CheckExports},
		{name: "scoring without rm_score", src: &watModule{Kind: "(i32.const 2)", Place: answer(0)}, check: CheckExports},
		{name: "wrong ABI version", src: &watModule{Version: "(i32.const 2)", Place: answer(0)}, check: CheckABIVersion},
		{name: "unknown kind", src: &watModule{Kind: "(i32.const 7)", Place: answer(0)}, check: CheckKind},
		{name: "forbidden WASI import", src: &watModule{Place: answer(0),
			Imports: `(import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))`}, check: CheckImports},
		{name: "env import", src: &watModule{Place: answer(0), Imports: `(import "env" "abort" (func (param i32 i32 i32 i32)))`}, check: CheckImports},
		{name: "imported memory", src: &watModule{Place: answer(0), Memory: `(import "env" "memory" (memory 2)) (export "memory" (memory 0))`}, check: CheckImports},
		{name: "host's reserved import", src: &watModule{Place: answer(0), Imports: `(import "rm_host" "refuel" (func (result i32)))`}, check: CheckImports},
		{name: "memory over the limit", src: &watModule{Place: answer(0), Memory: `(memory (export "memory") 1000)`}, check: CheckWasm},
		{name: "start function loops", src: &watModule{Place: answer(0), Extra: `(func $spin (loop $l (br $l))) (start $spin)`}, check: CheckInstantiate},
		{name: "infinite loop", src: &watModule{Place: loopForever}, check: CheckConformance},
		{name: "memory bomb", src: &watModule{Place: memoryBomb}, check: CheckConformance},
		{name: "unreachable", src: &watModule{Place: "(unreachable)"}, check: CheckConformance},
		{name: "duplicate qubits", src: &watModule{Place: answer(1)}, check: CheckConformance},
		{name: "out-of-range qubits", src: &watModule{Place: answer(2)}, check: CheckConformance},
		{name: "occupied qubits", src: &watModule{Place: answer(3)}, check: CheckConformance},
		{name: "buffered qubits", src: &watModule{Place: answer(4)}, check: CheckConformance},
		{name: "uncoupled qubits", src: &watModule{Place: answer(0)}, check: CheckConformance},
		{name: "enormous answer", src: &watModule{Place: hugeAnswer}, check: CheckConformance},
		{name: "answer outside memory", src: &watModule{Place: outOfMemory}, check: CheckConformance},
		{name: "a million candidates", src: &watModule{Place: manyCands}, check: CheckConformance},
		{name: "error status", src: &watModule{Place: badStatus}, check: CheckConformance},
		{name: "load device fails", src: &watModule{Place: answer(0), Load: "(i32.const 4)"}, check: CheckConformance},
	}
	for _, tc := range cases {
		wasm := tc.wasm
		if tc.src != nil {
			wasm = wat(t, tc.src.String())
		}
		before := st.writeCount()
		_, err := mgr.Push(context.Background(), PushRequest{Name: "hostile", Wasm: wasm})
		var re *RejectError
		if !errors.As(err, &re) || !errors.Is(err, ErrRejected) {
			t.Errorf("%s: push gave %v, want a rejection", tc.name, err)
		} else if re.Check != tc.check {
			t.Errorf("%s: refused by check %q (%v), want %q", tc.name, re.Check, err, tc.check)
		}
		if st.writeCount() != before {
			t.Errorf("%s: the store changed", tc.name)
		}
		c.serving(tc.name)
	}
	if list, _, _ := mgr.List(); len(list) != 0 {
		t.Errorf("stored after refusals: %+v", list)
	}
}

// containedProblem is a request without interactions on a device with
// held and buffered qubits, which answer(0) places correctly.
func containedProblem(t *testing.T) (*hal.Model, *alloc.Request, *alloc.Occupancy) {
	m := device(t, "heavyhex-27")
	occ := alloc.NewOccupancy(m.Topology)
	if err := occ.Commit(alloc.Holding{Task: "a", Qubits: []int{m.Couplers[0].A, m.Couplers[0].B}, Buffer: 1}); err != nil {
		t.Fatal(err)
	}
	return m, &alloc.Request{Qubits: 3, Shape: alloc.Shape{Kind: alloc.ShapeNone}}, occ
}

func TestHostileContainedAtCall(t *testing.T) {
	h := newHost(t, testHostConfig)
	c := newChecker(t, h)
	m, req, occ := containedProblem(t)
	cases := []struct {
		name  string
		src   watModule
		cause error
	}{
		{"infinite loop", watModule{Place: loopForever}, ErrTimeout},
		{"memory bomb", watModule{Place: memoryBomb}, ErrMemory},
		{"unreachable", watModule{Place: "(unreachable)"}, ErrTrap},
		{"proc_exit", watModule{Imports: `(import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))`,
			Place: "(call $exit (i32.const 3)) (unreachable)"}, ErrTrap},
		// Deep recursion: wazero's stack limit or the deadline, whichever
		// comes first (the stack grows by copying, slowly under -race).
		{"stack overflow", watModule{Place: "(call $deep) (unreachable)", Extra: "(func $deep (call $deep))"}, errTrapOrTimeout},
		{"duplicate qubits", watModule{Place: answer(1)}, ErrInvalidAnswer},
		{"out-of-range qubits", watModule{Place: answer(2)}, ErrInvalidAnswer},
		{"occupied qubits", watModule{Place: answer(3)}, ErrInvalidAnswer},
		{"buffered qubits", watModule{Place: answer(4)}, ErrInvalidAnswer},
		{"enormous answer", watModule{Place: hugeAnswer}, ErrInvalidAnswer},
		{"answer outside memory", watModule{Place: outOfMemory}, ErrInvalidAnswer},
		{"a million candidates", watModule{Place: manyCands}, ErrInvalidAnswer},
		{"error status", watModule{Place: badStatus}, ErrInvalidAnswer},
		{"rm_alloc outside memory", watModule{Place: answer(0), Alloc: "(i32.const 0x7ffffff0)"}, ErrInvalidAnswer},
		{"load device fails", watModule{Place: answer(0), Load: "(i32.const 2)"}, ErrInvalidAnswer},
	}
	for _, tc := range cases {
		mod := load(t, h, "hostile", wat(t, tc.src.String()))
		for round := 0; round < 2; round++ { // the instance is replaced, and fails again the same way
			_, err := mod.Place(context.Background(), m, req, occ, nil)
			var ce *CallError
			if tc.cause == errTrapOrTimeout && (isCause(err, ErrTrap) || isCause(err, ErrTimeout)) {
				continue
			}
			if !errors.As(err, &ce) || !errors.Is(err, tc.cause) {
				t.Errorf("%s (call %d): %v, want a *CallError with %v", tc.name, round+1, err, tc.cause)
			}
			if n := mod.Stats().Instances; n != 0 {
				t.Errorf("%s: %d instances alive after a failure", tc.name, n)
			}
		}
		c.serving(tc.name)
	}
	// The control: the same template with a valid answer works.
	mod := load(t, h, "control", wat(t, goodWAT.String()))
	got, err := mod.Place(context.Background(), m, req, occ, nil)
	if err != nil || len(got) != 1 {
		t.Fatalf("control module: %v %v", got, err)
	}
	if err := alloc.Validate(m, req, occ, nil, got[0].Mapping); err != nil {
		t.Error(err)
	}
}

// TestDeadlineUnderAndOver: a module just under its deadline answers, one
// just over is stopped — with either guard. The loop's speed is measured
// first; the deadlines are a tenth and ten times its duration.
func TestDeadlineUnderAndOver(t *testing.T) {
	for _, guard := range []Guard{GuardFuel, GuardWazero} {
		t.Run(guard.String(), func(t *testing.T) {
			const iterations = 2_000_000
			m, req, occ := containedProblem(t)
			src := busyWAT(iterations).String()
			probe := load(t, newHost(t, Config{Guard: guard, CallTimeout: 10 * time.Second}), "busy", wat(t, src))
			if _, err := probe.Place(context.Background(), m, req, occ, nil); err != nil { // instantiate
				t.Fatal(err)
			}
			t0 := time.Now()
			if _, err := probe.Place(context.Background(), m, req, occ, nil); err != nil {
				t.Fatal(err)
			}
			d := time.Since(t0)
			t.Logf("%d iterations take %v", iterations, d)
			under := load(t, newHost(t, Config{Guard: guard, CallTimeout: 10*d + 20*time.Millisecond}), "busy", wat(t, src))
			if _, err := under.Place(context.Background(), m, req, occ, nil); err != nil {
				t.Errorf("under the deadline: %v", err)
			}
			over := load(t, newHost(t, Config{Guard: guard, CallTimeout: d / 10}), "busy", wat(t, src))
			over.Warm(context.Background(), m)
			t1 := time.Now()
			_, err := over.Place(context.Background(), m, req, occ, nil)
			if !isCause(err, ErrTimeout) {
				t.Errorf("over the deadline: %v, want ErrTimeout", err)
			}
			t.Logf("stopped after %v (deadline %v)", time.Since(t1), d/10)
		})
	}
}

// TestServesWhileHostileLoops: a looping module does not hold up other
// modules' calls.
func TestServesWhileHostileLoops(t *testing.T) {
	h := newHost(t, Config{CallTimeout: 2 * time.Second})
	c := newChecker(t, h)
	m, req, occ := containedProblem(t)
	bad := load(t, h, "looping", wat(t, watModule{Place: loopForever}.String()))
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := bad.Place(context.Background(), m, req, occ, nil)
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond) // the loops are running
	for i := 0; i < 5; i++ {
		c.serving(fmt.Sprintf("a loop started (check %d)", i))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !isCause(err, ErrTimeout) {
			t.Errorf("looping call: %v, want ErrTimeout", err)
		}
	}
}

// TestCallerCancellation is not the module's failure.
func TestCallerCancellation(t *testing.T) {
	h := newHost(t, Config{CallTimeout: 5 * time.Second})
	m, req, occ := containedProblem(t)
	mod := load(t, h, "looping", wat(t, watModule{Place: loopForever}.String()))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	_, err := mod.Place(ctx, m, req, occ, nil)
	if !errors.Is(err, context.Canceled) || isCause(err, ErrTimeout) {
		t.Errorf("cancelled call: %v", err)
	}
	if s := mod.Stats(); s.Failures != 0 {
		t.Errorf("cancellation counted as %d failures", s.Failures)
	}
}

// TestQuarantine: K failures in the window quarantine the module, with a
// doubling backoff; quarantined calls do not reach the guest.
func TestQuarantine(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var events []Event
	var emu sync.Mutex
	metrics := NewMetrics()
	h := newHost(t, Config{Now: clock, Metrics: metrics,
		Quarantine: QuarantinePolicy{Failures: 3, Window: time.Minute, Backoff: 10 * time.Second, MaxBackoff: 15 * time.Second},
		OnEvent:    func(e Event) { emu.Lock(); events = append(events, e); emu.Unlock() }})
	m, req, occ := containedProblem(t)
	mod, err := h.Load(context.Background(), "trapper", 1, wat(t, watModule{Place: "(unreachable)"}.String()))
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close(context.Background())
	call := func() error { _, err := mod.Place(context.Background(), m, req, occ, nil); return err }
	for i := 0; i < 3; i++ {
		if err := call(); !isCause(err, ErrTrap) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if err := call(); !isCause(err, ErrQuarantined) {
		t.Fatalf("after 3 failures: %v, want ErrQuarantined", err)
	}
	if s := mod.Stats(); s.Failures != 3 || s.Until == nil || !s.Until.Equal(now.Add(10*time.Second)) {
		t.Errorf("stats %+v", s)
	}
	advance(11 * time.Second)
	for i := 0; i < 3; i++ {
		if err := call(); !isCause(err, ErrTrap) {
			t.Fatalf("after the quarantine, call %d: %v", i, err)
		}
	}
	if s := mod.Stats(); s.Until == nil || !s.Until.Equal(now.Add(15*time.Second)) {
		t.Errorf("second quarantine until %v, want the doubled backoff capped at 15 s", s.Until)
	}
	emu.Lock()
	defer emu.Unlock()
	var q, f int
	for _, e := range events {
		switch e.Kind {
		case EventQuarantined:
			q++
		case EventFailure:
			f++
		}
	}
	if q != 2 || f != 6 {
		t.Errorf("%d quarantine and %d failure events, want 2 and 6", q, f)
	}
	if got := counterValue(t, metrics.Failures.WithLabelValues("trapper", "1", "placement", "trap")); got != 6 {
		t.Errorf("trap failures metric %v, want 6", got)
	}
	if got := counterValue(t, metrics.Failures.WithLabelValues("trapper", "1", "placement", "quarantined")); got != 1 {
		t.Errorf("quarantined metric %v, want 1", got)
	}
}

// TestScoringAnswers: a scoring module's scores are checked.
func TestScoringAnswers(t *testing.T) {
	h := newHost(t, testHostConfig)
	m, req, occ := containedProblem(t)
	scores := func(esp string) string {
		return fmt.Sprintf(`(i32.store (i32.const 1024) (i32.const 1)) (f64.store (i32.const 1032) (f64.const %s))
		  (f64.store (i32.const 1040) (f64.const 0)) (i32.store (i32.const 1048) (i32.const 0))
		  (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 28))`, esp)
	}
	mapping := [][]int{{5, 10, 20}}
	for _, tc := range []struct {
		esp   string
		cause error
	}{{"0.75", nil}, {"1.5", ErrInvalidAnswer}, {"-0.1", ErrInvalidAnswer}, {"nan", ErrInvalidAnswer}} {
		mod := load(t, h, "scorer", wat(t, watModule{Kind: "(i32.const 2)", Score: scores(tc.esp)}.String()))
		got, err := mod.Score(context.Background(), m, req, occ, nil, mapping)
		switch {
		case tc.cause == nil && (err != nil || len(got) != 1 || got[0].ESP != 0.75):
			t.Errorf("ESP %s: %v %v", tc.esp, got, err)
		case tc.cause != nil && !isCause(err, tc.cause):
			t.Errorf("ESP %s: %v, want %v", tc.esp, err, tc.cause)
		}
	}
	mod := load(t, h, "scorer", wat(t, watModule{Kind: "(i32.const 2)", Score: scores("0.5")}.String()))
	if _, err := mod.Score(context.Background(), m, req, occ, nil, [][]int{{1, 2}}); err == nil || errors.As(err, new(*CallError)) {
		t.Errorf("a placement of the wrong size: %v, want the caller's error", err)
	}
	if _, err := mod.Place(context.Background(), m, req, occ, nil); err == nil {
		t.Error("a scoring module placed")
	}
	if mod.Kind() != abi.KindScoring {
		t.Errorf("kind %v", mod.Kind())
	}
}
