package sandbox

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/runtime/alloc"
)

// noneProblems is a golden set that the template modules pass: a request
// without interactions next to held qubits.
func noneProblems(t *testing.T) []Problem {
	m, req, occ := containedProblem(t)
	return []Problem{{Name: "none 3 beside a task", Model: m, Request: *req, Occupancy: occ}}
}

type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) { l.mu.Lock(); l.events = append(l.events, e); l.mu.Unlock() }

func (l *eventLog) count(k EventKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

func newManager(t *testing.T, h *Host, st ModuleStore, cfg ManagerConfig) *Manager {
	t.Helper()
	mgr, err := NewManager(context.Background(), h, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close(context.Background()) })
	return mgr
}

func TestManagerLifecycle(t *testing.T) {
	log := &eventLog{}
	metrics := NewMetrics()
	cfg := testHostConfig
	cfg.Metrics, cfg.OnEvent = metrics, log.add
	h := newHost(t, cfg)
	st := newMemStore()
	mgr := newManager(t, h, st, ManagerConfig{Problems: noneProblems(t)})
	ctx := context.Background()
	v1, v2 := wat(t, goodWAT.String()), wat(t, busyWAT(10).String())

	i1, err := mgr.Push(ctx, PushRequest{Name: "greedy", Wasm: v1})
	if err != nil || i1.Version != 1 || i1.Kind != abi.KindPlacement || i1.State != StateVerified || i1.Existing {
		t.Fatalf("push v1: %+v %v", i1, err)
	}
	i2, err := mgr.Push(ctx, PushRequest{Name: "greedy", Wasm: v2, Kind: abi.KindPlacement})
	if err != nil || i2.Version != 2 {
		t.Fatalf("push v2: %+v %v", i2, err)
	}
	again, err := mgr.Push(ctx, PushRequest{Name: "greedy", Wasm: v1})
	if err != nil || !again.Existing || again.Version != 1 {
		t.Errorf("pushing v1 again: %+v %v", again, err)
	}
	var re *RejectError
	if _, err := mgr.Push(ctx, PushRequest{Name: "greedy", Version: 2, Wasm: wat(t, busyWAT(11).String())}); !errors.As(err, &re) || re.Check != CheckExists {
		t.Errorf("another binary as version 2: %v", err)
	}
	if _, err := mgr.Push(ctx, PushRequest{Name: "greedy", Wasm: v1, Version: 7}); !errors.As(err, &re) || re.Check != CheckExists {
		t.Errorf("the same binary as another version: %v", err)
	}
	if _, err := mgr.Push(ctx, PushRequest{Name: "greedy", Wasm: v1, Kind: abi.KindScoring}); !errors.As(err, &re) || re.Check != CheckKind {
		t.Errorf("kind mismatch: %v", err)
	}
	if _, err := mgr.Push(ctx, PushRequest{Name: "Bad Name", Wasm: v1}); !errors.As(err, &re) || re.Check != CheckName {
		t.Errorf("bad name: %v", err)
	}
	if mgr.Active(abi.KindPlacement) != nil {
		t.Fatal("active before any activation")
	}

	m, req, occ := containedProblem(t)
	if err := mgr.Warm(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Activate(ctx, "greedy", 1); err != nil {
		t.Fatal(err)
	}
	if a := mgr.Active(abi.KindPlacement); a == nil || a.Version() != 1 || a.Stats().Instances == 0 {
		t.Fatalf("active after activation: %v (warmed instances expected)", a)
	}
	if _, err := mgr.Activate(ctx, "greedy", 2); err != nil {
		t.Fatal(err)
	}
	if st.active["greedy"] != 2 {
		t.Errorf("store's active version %d", st.active["greedy"])
	}
	if v := counterValue(t, metrics.Active); v != 2 {
		t.Errorf("active version gauge %v", v)
	}
	list, _, err := mgr.List()
	if err != nil || len(list) != 2 || list[0].Active || !list[1].Active || list[1].Stats == nil {
		t.Errorf("list: %+v %v", list, err)
	}
	if _, err := mgr.Active(abi.KindPlacement).Place(ctx, m, req, occ, nil); err != nil {
		t.Fatal(err)
	}
	info, err := mgr.Rollback(ctx, "greedy")
	if err != nil || info.Version != 1 || !info.Active {
		t.Fatalf("rollback: %+v %v", info, err)
	}
	if s, _ := st.GetModule("greedy", 2); s.State != StateRolledBack {
		t.Errorf("version 2 state %q after rollback", s.State)
	}
	if _, err := mgr.Rollback(ctx, "greedy"); err == nil {
		t.Error("rolled back below the first version")
	}
	if err := mgr.Deactivate(ctx, abi.KindPlacement); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.active["greedy"]; ok || mgr.Active(abi.KindPlacement) != nil || counterValue(t, metrics.Active) != 0 {
		t.Error("still active after Deactivate")
	}
	if _, err := mgr.Place(ctx, m, req, occ, nil); !errors.Is(err, ErrNoModule) {
		t.Errorf("place without modules: %v", err)
	}
	for k, n := range map[EventKind]int{EventPushed: 2, EventActivated: 2, EventRolledBack: 1, EventDeactivated: 1, EventRejected: 4} {
		if got := log.count(k); got != n {
			t.Errorf("%d %s events, want %d", got, k, n)
		}
	}
	if v := counterValue(t, metrics.Pushes); v != 7 {
		t.Errorf("%v pushes counted, want 7", v)
	}
}

// TestManagerRestart: a new manager on the same store and cache serves the
// active module again.
func TestManagerRestart(t *testing.T) {
	cache := t.TempDir()
	st := newMemStore()
	ctx := context.Background()
	m, req, occ := containedProblem(t)
	{
		h := newHost(t, Config{CacheDir: cache})
		mgr := newManager(t, h, st, ManagerConfig{Problems: noneProblems(t)})
		if _, err := mgr.Push(ctx, PushRequest{Name: "greedy", Wasm: wat(t, goodWAT.String())}); err != nil {
			t.Fatal(err)
		}
		if _, err := mgr.Activate(ctx, "greedy", 1); err != nil {
			t.Fatal(err)
		}
		mgr.Close(ctx)
		h.Close(ctx)
	}
	// A stored active version that no longer loads is reported, not fatal.
	st.PutModule(storeModule("broken", 1, "placement", []byte("\x00asm\x01\x00\x00\x00junk")))
	st.SetActiveModule("broken", 1)
	log := &eventLog{}
	h := newHost(t, Config{CacheDir: cache, OnEvent: log.add})
	mgr := newManager(t, h, st, ManagerConfig{Problems: noneProblems(t)})
	a := mgr.Active(abi.KindPlacement)
	if a == nil || a.Name() != "greedy" {
		t.Fatalf("after restart: active %v", a)
	}
	if _, err := a.Place(ctx, m, req, occ, nil); err != nil {
		t.Fatal(err)
	}
	if log.count(EventLoadFailed) != 1 {
		t.Errorf("%d load failures reported, want 1", log.count(EventLoadFailed))
	}
}

// TestAtomicSwap: a call in flight finishes on the version it started on;
// calls after the swap use the new one; the old one is closed after.
func TestAtomicSwap(t *testing.T) {
	h := newHost(t, Config{CallTimeout: 10 * time.Second})
	st := newMemStore()
	mgr := newManager(t, h, st, ManagerConfig{Problems: noneProblems(t)})
	ctx := context.Background()
	m, req, occ := containedProblem(t)
	if _, err := mgr.Push(ctx, PushRequest{Name: "slow", Wasm: wat(t, busyWAT(100_000_000).String())}); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Push(ctx, PushRequest{Name: "slow", Wasm: wat(t, goodWAT.String())}); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Activate(ctx, "slow", 1); err != nil {
		t.Fatal(err)
	}
	old := mgr.Active(abi.KindPlacement)
	old.Warm(ctx, m)
	done := make(chan error, 1)
	go func() {
		_, err := old.Place(ctx, m, req, occ, nil)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // in flight
	if _, err := mgr.Activate(ctx, "slow", 2); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("the slow call ended (%v) before the swap: the test proves nothing", err)
	default:
	}
	if cur := mgr.Active(abi.KindPlacement); cur.Version() != 2 {
		t.Fatalf("active version %d after the swap", cur.Version())
	}
	if _, err := mgr.Active(abi.KindPlacement).Place(ctx, m, req, occ, nil); err != nil {
		t.Errorf("new version: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("the call in flight on the old version: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := old.Place(ctx, m, req, occ, nil)
		if errors.Is(err, ErrClosed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old version not closed after its calls: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSignatures(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, otherPriv, _ := ed25519.GenerateKey(nil)
	h := newHost(t, testHostConfig)
	st := newMemStore()
	mgr := newManager(t, h, st, ManagerConfig{Problems: noneProblems(t), TrustedKeys: []ed25519.PublicKey{pub}})
	ctx := context.Background()
	wasm := wat(t, goodWAT.String())
	var re *RejectError
	for name, sig := range map[string][]byte{"unsigned": nil, "untrusted key": ed25519.Sign(otherPriv, wasm),
		"another binary": ed25519.Sign(priv, append([]byte{0}, wasm...)), "truncated": ed25519.Sign(priv, wasm)[:40]} {
		if _, err := mgr.Push(ctx, PushRequest{Name: "signed", Wasm: wasm, Signature: sig}); !errors.As(err, &re) || re.Check != CheckSignature {
			t.Errorf("%s: %v", name, err)
		}
	}
	if st.writeCount() != 0 {
		t.Error("refused pushes were stored")
	}
	if _, err := mgr.Push(ctx, PushRequest{Name: "signed", Wasm: wasm, Signature: ed25519.Sign(priv, wasm)}); err != nil {
		t.Fatal(err)
	}
	// A manager trusting another key will not load it.
	mgr2 := newManager(t, h, st, ManagerConfig{Problems: noneProblems(t), TrustedKeys: []ed25519.PublicKey{otherPub}})
	if _, err := mgr2.Activate(ctx, "signed", 1); !errors.As(err, &re) || re.Check != CheckSignature {
		t.Errorf("activation under another key: %v", err)
	}
	if _, err := mgr.Activate(ctx, "signed", 1); err != nil {
		t.Errorf("activation under the signing key: %v", err)
	}

	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	for _, s := range []string{pemKey, hex.EncodeToString(pub), base64.StdEncoding.EncodeToString(pub)} {
		if k, err := ParsePublicKey(s); err != nil || !k.Equal(pub) {
			t.Errorf("ParsePublicKey(%.20q...): %v", s, err)
		}
	}
	if _, err := ParsePublicKey("not a key"); err == nil {
		t.Error("bad key accepted")
	}
	sig := ed25519.Sign(priv, wasm)
	for _, b := range [][]byte{sig, []byte(hex.EncodeToString(sig) + "\n"), []byte(base64.StdEncoding.EncodeToString(sig))} {
		if got, err := ParseSignature(b); err != nil || !reflect.DeepEqual(got, sig) {
			t.Errorf("ParseSignature: %v", err)
		}
	}
	if _, err := ParseSignature([]byte("short")); err == nil {
		t.Error("bad signature accepted")
	}
}

func TestSizeLimit(t *testing.T) {
	h := newHost(t, testHostConfig)
	mgr := newManager(t, h, newMemStore(), ManagerConfig{Problems: noneProblems(t), MaxModuleSize: 100})
	var re *RejectError
	if _, err := mgr.Push(context.Background(), PushRequest{Name: "big", Wasm: wat(t, goodWAT.String())}); !errors.As(err, &re) || re.Check != CheckSize {
		t.Errorf("oversized module: %v", err)
	}
}

func TestWatchDir(t *testing.T) {
	dir := t.TempDir()
	log := &eventLog{}
	cfg := testHostConfig
	cfg.OnEvent = log.add
	h := newHost(t, cfg)
	st := newMemStore()
	mgr := newManager(t, h, st, ManagerConfig{Problems: noneProblems(t)})
	ctx := context.Background()
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("greedy.wasm", wat(t, goodWAT.String()))
	write("pinned@5.wasm", wat(t, busyWAT(3).String()))
	write("junk.wasm", []byte("not wasm"))
	write("README.txt", []byte("ignored"))
	if r := mgr.ScanDir(ctx, dir, true); len(r) != 0 {
		t.Fatalf("first scan processed %+v; files must settle first", r)
	}
	r := mgr.ScanDir(ctx, dir, true)
	if len(r) != 3 {
		t.Fatalf("second scan: %+v", r)
	}
	byFile := map[string]WatchResult{}
	for _, x := range r {
		byFile[x.File] = x
	}
	if g := byFile["greedy.wasm"]; !g.Pushed || g.Version != 1 || !g.Activated || g.Err != nil {
		t.Errorf("greedy: %+v", g)
	}
	if p := byFile["pinned@5.wasm"]; !p.Pushed || p.Version != 5 || p.Err != nil {
		t.Errorf("pinned: %+v", p)
	}
	if j := byFile["junk.wasm"]; !errors.Is(j.Err, ErrRejected) {
		t.Errorf("junk: %+v", j)
	}
	if r := mgr.ScanDir(ctx, dir, true); len(r) != 0 {
		t.Errorf("unchanged files processed again: %+v", r)
	}
	// A changed file becomes a new version once it settles.
	time.Sleep(10 * time.Millisecond)
	write("greedy.wasm", wat(t, busyWAT(7).String()))
	mgr.ScanDir(ctx, dir, true)
	r = mgr.ScanDir(ctx, dir, true)
	if len(r) != 1 || !r[0].Pushed || r[0].Version != 2 || !r[0].Activated {
		t.Errorf("changed file: %+v", r)
	}
	if a := mgr.Active(abi.KindPlacement); a == nil || a.Name() != "greedy" || a.Version() != 2 {
		t.Errorf("active %v", a)
	}
	// A manager restarted on the same store and directory pushes nothing new.
	writes := st.writeCount()
	mgr2 := newManager(t, h, st, ManagerConfig{Problems: noneProblems(t)})
	mgr2.ScanDir(ctx, dir, false)
	for _, x := range mgr2.ScanDir(ctx, dir, false) {
		if x.Pushed {
			t.Errorf("after restart: %+v pushed again", x)
		}
	}
	if st.writeCount() != writes {
		t.Error("rescanning after a restart wrote to the store")
	}
	// The Watch loop stops with its context.
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := mgr.Watch(wctx, WatchConfig{Dir: dir, Interval: 10 * time.Millisecond}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("watch returned %v", err)
	}
	if r := mgr.ScanDir(ctx, filepath.Join(dir, "missing"), false); len(r) != 1 || r[0].Err == nil || log.count(EventWatchError) == 0 {
		t.Errorf("missing directory: %+v", r)
	}
}

// TestBuiltinThroughManager: the built-in modules pushed (with the default
// golden problems), activated and serving through the Manager give the
// native engine's placements; a scoring module in shadow that disagrees is
// reported, one that agrees is not.
func TestBuiltinThroughManager(t *testing.T) {
	pw, sw := builtinWasm(t)
	log := &eventLog{}
	metrics := NewMetrics()
	h := newHost(t, Config{Metrics: metrics, OnEvent: log.add, CallTimeout: time.Second})
	st := newMemStore()
	mgr := newManager(t, h, st, ManagerConfig{})
	ctx := context.Background()
	for name, w := range map[string][]byte{"builtin-placement": pw, "builtin-scoring": sw, "scoring-twin": sw} {
		if _, err := mgr.Push(ctx, PushRequest{Name: name, Wasm: w}); err != nil {
			t.Fatalf("push %s: %v", name, err)
		}
	}
	constant := watModule{Kind: "(i32.const 2)", Score: `(i32.store (i32.const 1024) (i32.load offset=108 (local.get $p)))
	  (f64.store (i32.const 1032) (f64.const 0.5)) (f64.store (i32.const 1040) (f64.const 0)) (i32.store (i32.const 1048) (i32.const 0))
	  (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 28))`}
	if _, err := mgr.Push(ctx, PushRequest{Name: "half", Wasm: wat(t, constant.String())}); err != nil {
		t.Fatalf("push constant scorer: %v", err)
	}
	for _, name := range []string{"builtin-placement", "builtin-scoring"} {
		if _, err := mgr.Activate(ctx, name, 1); err != nil {
			t.Fatal(err)
		}
	}
	m := device(t, "heavyhex-127")
	eng, err := alloc.NewEngine(m, alloc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	occ := alloc.NewOccupancy(m.Topology)
	check := func(what string) {
		for i, req := range []alloc.Request{
			{Qubits: 5, Shape: alloc.Shape{Kind: alloc.ShapeLinear}, Buffer: 1},
			{Qubits: 6, Shape: alloc.Shape{Kind: alloc.ShapeRing}},
			{Qubits: 4, Shape: alloc.Shape{Kind: alloc.ShapeStar}, FragWeight: 0.1},
		} {
			want, err := eng.Place(ctx, &req, occ, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := mgr.Place(ctx, m, &req, occ, nil)
			if err != nil {
				t.Fatalf("%s: %s: %v", what, req.Shape, err)
			}
			if !reflect.DeepEqual(got.Mapping, want.Mapping) || !near(got.ESP, want.ESP) || got.Swaps != want.Swaps || got.Frag != want.Frag {
				t.Errorf("%s: %s: module %+v, native %+v", what, req.Shape, got, want)
			}
			if err := occ.Commit(got.Holding(what + string(rune('a'+i)))); err != nil {
				t.Fatal(err)
			}
		}
	}
	check("plain")
	if _, err := mgr.SetShadow(ctx, "scoring-twin", 1); err != nil {
		t.Fatal(err)
	}
	check("twin")
	waitShadow(t, metrics, 3)
	if d := counterValue(t, metrics.ShadowDiffs); d != 0 {
		t.Errorf("the twin scorer differed %v times", d)
	}
	if _, err := mgr.SetShadow(ctx, "half", 1); err != nil {
		t.Fatal(err)
	}
	check("half")
	waitShadow(t, metrics, 6)
	if d := counterValue(t, metrics.ShadowDiffs); d != 3 || log.count(EventShadowDiff) != 3 {
		t.Errorf("constant scorer: %v differences, %d events; want 3", d, log.count(EventShadowDiff))
	}
	mgr.ClearShadow(ctx, abi.KindScoring)
	if mgr.Shadow(abi.KindScoring) != nil {
		t.Error("shadow not cleared")
	}
	if c := counterValue(t, metrics.Calls); c < 18 {
		t.Errorf("%v calls counted", c)
	}
}

func near(a, b float64) bool { return a == b || (a-b)/b < 1e-12 && (b-a)/b < 1e-12 }

func waitShadow(t *testing.T, metrics *Metrics, n float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for counterValue(t, metrics.ShadowCalls) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%v shadow calls, want %v", counterValue(t, metrics.ShadowCalls), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The comparison follows the call.
	time.Sleep(20 * time.Millisecond)
}
