package alloc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/hal/synth"
)

// uniformModel is a device whose figures are all equal, so that only the
// fragmentation term tells placements apart.
func uniformModel(tb testing.TB, n int, edges [][2]int) *hal.Model {
	tb.Helper()
	qs := make([]hal.QubitInfo, n)
	for i := range qs {
		qs[i] = hal.QubitInfo{Index: i, Name: fmt.Sprint(i), Row: -1, Col: -1}
	}
	es := make([]hal.Edge, len(edges))
	for i, e := range edges {
		es[i] = hal.Edge{A: e[0], B: e[1]}
	}
	top, err := hal.NewTopology("uniform", "test", "toy", "cz", qs, es)
	if err != nil {
		tb.Fatal(err)
	}
	c := hal.NewCalibration(top)
	for i := range c.Qubits {
		c.Qubits[i].ReadoutError = 0.02
	}
	for i := range c.Couplers {
		c.Couplers[i].Gates = []hal.GateCal{{Gate: "cz", Dir: hal.DirSymmetric, Error: 0.01}}
	}
	m, err := hal.Finalize(top, c)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func mustEngine(tb testing.TB, m *hal.Model, o Options) *Engine {
	tb.Helper()
	e, err := NewEngine(m, o)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func TestPlaceErrors(t *testing.T) {
	m := toyModel(t, "line", 12, lineEdges(12), 2)
	e := mustEngine(t, m, Options{})
	ctx := context.Background()
	lin := Shape{Kind: ShapeLinear}

	// Bad requests.
	for _, c := range []struct {
		req      *Request
		reserved []int
	}{
		{&Request{Qubits: 13, Shape: lin}, nil},
		{&Request{Qubits: 0, Shape: lin}, nil},
		{&Request{Qubits: 3, Shape: lin}, []int{12}},
		{&Request{Qubits: 3, Shape: lin, Buffer: -2}, nil},
	} {
		if _, err := e.Place(ctx, c.req, nil, c.reserved); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%+v reserved %v: %v, want ErrBadRequest", c.req, c.reserved, err)
		}
	}
	other := toyModel(t, "other", 5, lineEdges(5), 1)
	if _, err := e.Place(ctx, &Request{Qubits: 2, Shape: lin}, NewOccupancy(other.Topology), nil); !errors.Is(err, ErrBadRequest) {
		t.Errorf("occupancy of another device: %v", err)
	}

	// Too few qubits: 9 held, 3 left, 5 wanted.
	occ, _ := RebuildOccupancy(m.Topology, []Holding{{Task: "x", Qubits: []int{0, 1, 2, 3, 4, 5, 6, 7, 8}}})
	_, err := e.Place(ctx, &Request{Qubits: 5, Shape: lin}, occ, nil)
	var ie *InfeasibleError
	if !errors.Is(err, ErrTooFewQubits) || !errors.As(err, &ie) || ie.Free != 3 || ie.Need != 5 {
		t.Errorf("too few: %v (%+v)", err, ie)
	}
	// Buffer: with buffer 1, qubit 9 is next to 8: only 10, 11 are left.
	_, err = e.Place(ctx, &Request{Qubits: 3, Shape: lin, Buffer: 1}, occ, nil)
	if !errors.Is(err, ErrTooFewQubits) || !errors.As(err, &ie) || ie.Free != 2 {
		t.Errorf("buffer: %v (%+v)", err, ie)
	}

	// No region: qubits 3 and 8 held split the line into 3 + 4 + 3.
	occ, _ = RebuildOccupancy(m.Topology, []Holding{{Task: "x", Qubits: []int{3, 8}}})
	_, err = e.Place(ctx, &Request{Qubits: 5, Shape: lin}, occ, nil)
	if !errors.Is(err, ErrNoRegion) || !errors.As(err, &ie) || ie.Largest != 4 || ie.Free != 10 {
		t.Errorf("no region: %v (%+v)", err, ie)
	}
	// A ring on a line: routed, or no region when routing is refused.
	pl, err := e.Place(ctx, &Request{Qubits: 4, Shape: Shape{Kind: ShapeRing}}, nil, nil)
	if err != nil || pl.Strategy != StrategyRouted || pl.Swaps != 2 {
		t.Errorf("ring on a line: %+v, %v", pl, err)
	}
	_, err = e.Place(ctx, &Request{Qubits: 4, Shape: Shape{Kind: ShapeRing}, NoRouting: true}, nil, nil)
	if !errors.Is(err, ErrNoRegion) {
		t.Errorf("ring on a line without routing: %v", err)
	}

	// Floor: the best ESP is reported.
	best, _ := e.Place(ctx, &Request{Qubits: 6, Shape: lin}, nil, nil)
	_, err = e.Place(ctx, &Request{Qubits: 6, Shape: lin, Floor: math.Nextafter(best.ESP, 1)}, nil, nil)
	if !errors.Is(err, ErrFloor) || !errors.As(err, &ie) || ie.BestESP != best.ESP || ie.Best == nil {
		t.Errorf("floor: %v (%+v)", err, ie)
	}
	if pl, err := e.Place(ctx, &Request{Qubits: 6, Shape: lin, Floor: best.ESP}, nil, nil); err != nil || pl.ESP != best.ESP {
		t.Errorf("floor equal to the best: %v", err)
	}
	if _, err := e.Place(ctx, &Request{Qubits: 6, Shape: lin, Floor: best.ESP, FragWeight: 1}, nil, nil); err != nil {
		t.Errorf("floor with frag weight: the best-ESP placement meets it: %v", err)
	}
	// Cancelled context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.Place(cctx, &Request{Qubits: 2, Shape: lin}, nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestPlaceReservedAndBuffers(t *testing.T) {
	m := device(t, "ibm/washington")
	e := mustEngine(t, m, Options{})
	occ := NewOccupancy(m.Topology)
	ctx := context.Background()
	// Fill the device with tasks of mixed buffers, each placement validated
	// and committed, then release half and fill again.
	reserved := []int{60, 61, 62}
	var tasks []string
	for round := 0; round < 2; round++ {
		for i := 0; ; i++ {
			req := &Request{Qubits: 3 + i%4, Shape: Shape{Kind: []ShapeKind{ShapeLinear, ShapeStar, ShapeRing}[i%3]}, Buffer: i % 3}
			pl, err := e.Place(ctx, req, occ, reserved)
			if err != nil {
				if !errors.Is(err, ErrTooFewQubits) && !errors.Is(err, ErrNoRegion) {
					t.Fatalf("round %d task %d: %v", round, i, err)
				}
				break
			}
			if err := Validate(m, req, occ, reserved, pl.Mapping); err != nil {
				t.Fatalf("round %d task %d: %v", round, i, err)
			}
			for _, q := range pl.Mapping {
				for _, r := range reserved {
					if m.Dist(q, r) <= req.Buffer {
						t.Fatalf("qubit %d within buffer %d of reserved %d", q, req.Buffer, r)
					}
				}
			}
			id := fmt.Sprintf("r%d-t%d", round, i)
			if err := occ.Commit(pl.Holding(id)); err != nil {
				t.Fatalf("commit %s: %v", id, err)
			}
			tasks = append(tasks, id)
		}
		for j := 0; j < len(tasks); j += 2 {
			occ.Release(tasks[j])
		}
	}
	if occ.Used() == 0 {
		t.Fatal("nothing placed")
	}
	// Every pair of tasks keeps its isolation distance.
	hs := occ.Holdings()
	for i, a := range hs {
		for _, b := range hs[i+1:] {
			for _, x := range a.Qubits {
				for _, y := range b.Qubits {
					if d := m.Dist(x, y); d <= max(a.Buffer, b.Buffer) {
						t.Errorf("%s and %s: qubits %d, %d at distance %d, buffers %d, %d", a.Task, b.Task, x, y, d, a.Buffer, b.Buffer)
					}
				}
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	m, err := synth.HeavyHex(127, 7)
	if err != nil {
		t.Fatal(err)
	}
	reqs := []*Request{
		{Qubits: 5, Shape: Shape{Kind: ShapeLinear}},
		{Qubits: 7, Shape: Shape{Kind: ShapeRing}, Buffer: 1},
		{Qubits: 6, Shape: Shape{Kind: ShapeStar}},
		{Qubits: 9, Shape: Shape{Kind: ShapeClique}, Budget: 20000},
		{Qubits: 4, Shape: Shape{Kind: ShapeNone}, FragWeight: 0.01},
	}
	run := func() [][]int {
		e := mustEngine(t, m, Options{CacheSize: -1})
		var out [][]int
		for s := uint64(0); s < 5; s++ {
			occ := randomOccupancy(t, m, 0.3, int(s%2), s)
			for _, r := range reqs {
				pl, err := e.Place(context.Background(), r, occ, []int{int(s)})
				if err != nil {
					out = append(out, nil)
					continue
				}
				out = append(out, pl.Mapping)
			}
		}
		return out
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a, b) {
		t.Errorf("two runs differ:\n%v\n%v", a, b)
	}
}

func TestCache(t *testing.T) {
	m := device(t, "ibm/kolkata")
	e := mustEngine(t, m, Options{})
	ctx := context.Background()
	occ := NewOccupancy(m.Topology)
	req := &Request{Qubits: 4, Shape: Shape{Kind: ShapeLinear}, Buffer: 1}
	a, err := e.Place(ctx, req, occ, nil)
	if err != nil || a.FromCache {
		t.Fatalf("first: %+v %v", a, err)
	}
	b, err := e.Place(ctx, req, occ, nil)
	if err != nil || !b.FromCache || !reflect.DeepEqual(a.Mapping, b.Mapping) || a.ESP != b.ESP {
		t.Fatalf("second: %+v %v", b, err)
	}
	b.Mapping[0] = -1 // callers own their copy
	if c, _ := e.Place(ctx, req, occ, nil); c.Mapping[0] != a.Mapping[0] {
		t.Fatal("cached mapping shared with a caller")
	}
	if s := e.Stats(); s.CacheHits != 2 || s.CacheMisses != 1 || math.Abs(s.HitRate-2.0/3) > 1e-12 {
		t.Errorf("stats %+v", s)
	}
	// Another occupancy, other reserved qubits, another request: misses.
	if err := occ.Commit(a.Holding("t1")); err != nil {
		t.Fatal(err)
	}
	c, _ := e.Place(ctx, req, occ, nil)
	d, _ := e.Place(ctx, req, occ, []int{c.Mapping[0]})
	if c.FromCache || d.FromCache || reflect.DeepEqual(c.Mapping, d.Mapping) {
		t.Errorf("after commit / with reserved: %+v %+v", c, d)
	}
	// Releasing restores the hash: the first answer is a hit again.
	occ.Release("t1")
	if f, _ := e.Place(ctx, req, occ, nil); !f.FromCache || !reflect.DeepEqual(f.Mapping, a.Mapping) {
		t.Errorf("after release: %+v", f)
	}
	// Failures are cached too.
	big := &Request{Qubits: 27, Shape: Shape{Kind: ShapeRing}, NoRouting: true}
	_, err1 := e.Place(ctx, big, occ, nil)
	h := e.Stats().CacheHits
	_, err2 := e.Place(ctx, big, occ, nil)
	if err1 == nil || err2 == nil || err1.Error() != err2.Error() || e.Stats().CacheHits != h+1 {
		t.Errorf("cached failure: %v / %v", err1, err2)
	}
	// A cached placement is validated before use: plant an invalid one.
	r := e.cur.Load().runs.Get().(*run)
	p := e.pattern(req)
	key := makeCacheKey(req, p, occ, r.reset(p, req, occ, nil, 1, time.Time{}), m.Cal.Epoch)
	e.cur.Load().runs.Put(r)
	e.cache.put(key, &Placement{Mapping: []int{0, 0, 1, 2}, Swaps: 0}, nil)
	if g, err := e.Place(ctx, req, occ, nil); err != nil || g.FromCache || !reflect.DeepEqual(g.Mapping, a.Mapping) {
		t.Errorf("planted invalid entry: %+v %v", g, err)
	}
	// A new calibration epoch: misses, and the new figures are used.
	cal := m.Cal.Clone()
	for i := range cal.Couplers {
		for j := range cal.Couplers[i].Gates {
			cal.Couplers[i].Gates[j].Error *= 0.5
		}
	}
	m2, err := hal.Finalize(m.Topology, cal)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetModel(m2); err != nil {
		t.Fatal(err)
	}
	g, err := e.Place(ctx, req, occ, nil)
	if err != nil || g.FromCache || g.Epoch != m2.Cal.Epoch || g.ESP <= a.ESP {
		t.Errorf("after recalibration: %+v %v", g, err)
	}
	if err := e.SetModel(device(t, "ibm/belem")); !errors.Is(err, ErrModel) {
		t.Errorf("SetModel with another device size: %v", err)
	}
}

func TestFragWeight(t *testing.T) {
	// All figures equal: ESP cannot tell placements apart; fragmentation
	// puts a 3-qubit task at an end of the line.
	m := uniformModel(t, 12, lineEdges(12))
	e := mustEngine(t, m, Options{})
	ctx := context.Background()
	occ, _ := RebuildOccupancy(m.Topology, []Holding{{Task: "x", Qubits: []int{6}}})
	pl, err := e.Place(ctx, &Request{Qubits: 3, Shape: Shape{Kind: ShapeLinear}, FragWeight: 0.01}, occ, nil)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := min(pl.Mapping[0], pl.Mapping[2]), max(pl.Mapping[0], pl.Mapping[2])
	if !(lo == 0 || hi == 11 || hi == 5 || lo == 7) || pl.Frag != 1 {
		t.Errorf("frag-aware placement %v frag %v: want one against an end or the held qubit", pl.Mapping, pl.Frag)
	}
	// With a buffer the halo counts too; the task hugs the held qubit.
	pl, err = e.Place(ctx, &Request{Qubits: 2, Shape: Shape{Kind: ShapeLinear}, Buffer: 1, FragWeight: 0.01}, occ, nil)
	if err != nil || pl.Frag != 2 {
		t.Errorf("with buffer: %+v %v", pl, err)
	}
}

func TestConcurrentPlace(t *testing.T) {
	m := device(t, "ibm/torino")
	e := mustEngine(t, m, Options{CacheSize: 64})
	occ := randomOccupancy(t, m, 0.3, 0, 9)
	var mu sync.RWMutex
	var wg sync.WaitGroup
	want := map[int][]int{}
	for k := 2; k <= 8; k++ {
		pl, err := e.Place(context.Background(), &Request{Qubits: k, Shape: Shape{Kind: ShapeLinear}}, occ, nil)
		if err == nil {
			want[k] = pl.Mapping
		}
	}
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				k := 2 + (g+i)%7
				mu.RLock()
				pl, err := e.Place(context.Background(), &Request{Qubits: k, Shape: Shape{Kind: ShapeLinear}}, occ, nil)
				mu.RUnlock()
				if (err == nil) != (want[k] != nil) || (err == nil && !reflect.DeepEqual(pl.Mapping, want[k])) {
					errs <- fmt.Errorf("goroutine %d: k=%d got %v %v want %v", g, k, pl, err, want[k])
					return
				}
				if i == 25 && g == 0 {
					m2 := *m
					if err := e.SetModel(&m2); err != nil {
						errs <- err
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// bestReadouts is the ESP of the k best allowed readouts.
func bestReadouts(m *hal.Model, allowed []bool, k int) float64 {
	var f []float64
	for q, ok := range allowed {
		if ok {
			f = append(f, 1-m.Cal.Qubits[q].ReadoutError)
		}
	}
	if len(f) < k {
		return 0
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(f)))
	esp := 1.0
	for _, x := range f[:k] {
		esp *= x
	}
	return esp
}

// TestOtherFamilies places shapes on Google grids, the Rigetti octagons
// and a synthetic all-to-all device, against brute force where small.
func TestOtherFamilies(t *testing.T) {
	var devs []*hal.Model
	for _, rel := range []string{"google/rainbow", "google/weber", "rigetti/aspen-8"} {
		devs = append(devs, device(t, rel))
	}
	ata, err := synth.AllToAll(9, 1)
	if err != nil {
		t.Fatal(err)
	}
	devs = append(devs, ata)
	ctx := context.Background()
	for _, m := range devs {
		e := mustEngine(t, m, Options{CacheSize: -1})
		for _, req := range []*Request{
			{Qubits: 4, Shape: Shape{Kind: ShapeGrid, Rows: 2, Cols: 2}},
			{Qubits: 6, Shape: Shape{Kind: ShapeGrid, Rows: 2, Cols: 3}},
			{Qubits: 6, Shape: Shape{Kind: ShapeRing}},
			{Qubits: 8, Shape: Shape{Kind: ShapeRing}},
			{Qubits: 5, Shape: Shape{Kind: ShapeStar}},
			{Qubits: 6, Shape: Shape{Kind: ShapeLinear}, Buffer: 1},
			{Qubits: 4, Shape: Shape{Kind: ShapeClique}},
			{Qubits: 5, Shape: Shape{Kind: ShapeNone}},
		} {
			name := fmt.Sprintf("%s/%s-%d", m.Name, req.Shape, req.Qubits)
			occ := randomOccupancy(t, m, 0.15, 0, 4)
			pl, err := e.Place(ctx, req, occ, nil)
			allowed := refAllowed(m, req, occ, nil)
			var want float64
			if req.Shape.Kind == ShapeNone {
				want = bestReadouts(m, allowed, req.Qubits)
			} else {
				want, _ = bruteEmbed(m, req, allowed)
			}
			if err != nil {
				if want > 0 {
					t.Errorf("%s: %v but an embedding exists", name, err)
				}
				continue
			}
			if verr := Validate(m, req, occ, nil, pl.Mapping); verr != nil {
				t.Errorf("%s: %v", name, verr)
			}
			if want > 0 && (!sameESP(pl.ESP, want) || pl.Swaps != 0) {
				t.Errorf("%s: ESP %.9f swaps %d, exhaustive %.9f", name, pl.ESP, pl.Swaps, want)
			}
		}
	}
}

func TestPlaceContextDeadline(t *testing.T) {
	m, err := synth.HeavyHex(433, 1)
	if err != nil {
		t.Fatal(err)
	}
	e := mustEngine(t, m, Options{MaxTime: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = e.Place(ctx, &Request{Qubits: 24, Shape: Shape{Kind: ShapeClique}, Budget: 1 << 40}, nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want the context's deadline (after %v)", err, time.Since(start))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v", d)
	}
	// Not cached: the same request with room to finish is searched again.
	if s := e.Stats(); s.CacheHits != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestCacheTTL(t *testing.T) {
	m, err := synth.ByName("heavyhex-27")
	if err != nil {
		t.Fatal(err)
	}
	e := mustEngine(t, m, Options{CacheTTL: 200 * time.Millisecond})
	ctx := context.Background()
	occ := NewOccupancy(m.Topology)
	req := &Request{Qubits: 4, Shape: Shape{Kind: ShapeLinear}}
	if a, err := e.Place(ctx, req, occ, nil); err != nil || a.FromCache {
		t.Fatalf("first: %+v %v", a, err)
	}
	if b, err := e.Place(ctx, req, occ, nil); err != nil || !b.FromCache {
		t.Fatalf("within the TTL: %+v %v", b, err)
	}
	time.Sleep(300 * time.Millisecond)
	if c, err := e.Place(ctx, req, occ, nil); err != nil || c.FromCache {
		t.Fatalf("after the TTL: %+v %v", c, err)
	}
}
