package alloc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// TestTablesMatchSearch: with the embedding and region tables, the engine
// answers as the search does, on real devices, every shape (and weighted
// interaction graphs, one with an idle qubit), with and without a
// fragmentation weight, buffers 0..2, occupancies from empty to dense and
// reserved qubits: embedded placements without a fragmentation weight are
// the same to the bit (the tables keep the search's order for ties); the
// others have the same objective (ties may go either way); all have the
// same proof of optimality.
func TestTablesMatchSearch(t *testing.T) {
	defer func() { useTables = true }()
	devs := []string{"ibm/sherbrooke", "ibm/torino", "google/weber", "rigetti/aspen-8"}
	g := &Graph{Pairs: []Pair{{A: 0, B: 1, Count: 5}, {A: 1, B: 2, Count: 1}, {A: 2, B: 3, Count: 3}, {A: 3, B: 0, Count: 2}},
		OneQ: []int{3, 0, 1, 7, 2}, Measured: []int{0, 2, 4}}
	tree := &Graph{Pairs: []Pair{{A: 0, B: 1, Count: 2}, {A: 1, B: 2, Count: 7}, {A: 1, B: 3, Count: 1}, {A: 3, B: 4, Count: 4}}}
	reqs := []Request{
		{Qubits: 2, Shape: Shape{Kind: ShapeLinear}},
		{Qubits: 3, Shape: Shape{Kind: ShapeLinear}},
		{Qubits: 5, Shape: Shape{Kind: ShapeLinear}},
		{Qubits: 8, Shape: Shape{Kind: ShapeLinear}},
		{Qubits: 4, Shape: Shape{Kind: ShapeRing}},
		{Qubits: 6, Shape: Shape{Kind: ShapeRing}},
		{Qubits: 4, Shape: Shape{Kind: ShapeStar}},
		{Qubits: 5, Shape: Shape{Kind: ShapeStar}},
		{Qubits: 6, Shape: Shape{Kind: ShapeGrid, Rows: 2, Cols: 3}},
		{Qubits: 5, Graph: g},
		{Qubits: 5, Graph: tree},
		{Qubits: 5, Shape: Shape{Kind: ShapeLinear}, FragWeight: 0.05},
		{Qubits: 4, Shape: Shape{Kind: ShapeStar}, FragWeight: 0.3},
		{Qubits: 4, Shape: Shape{Kind: ShapeLinear}, FragWeight: 0.01},
		{Qubits: 6, Shape: Shape{Kind: ShapeRing}, FragWeight: 0.05},
	}
	cases, exact, routed := 0, 0, 0
	for _, name := range devs {
		m := device(t, name)
		e, err := NewEngine(m, Options{CacheSize: -1})
		if err != nil {
			t.Fatal(err)
		}
		for ri := range reqs {
			for buffer := 0; buffer <= 2; buffer++ {
				for seed := uint64(1); seed <= 8; seed++ {
					frac := []float64{0, 0.25, 0.45, 0.6}[seed%4]
					occ := randomOccupancy(t, m, frac, int(seed%3)*buffer/2, seed)
					req := reqs[ri]
					req.Buffer = buffer
					if req.Validate(m.N()) != nil {
						continue
					}
					var reserved []int
					if seed%3 == 0 {
						reserved = []int{int(seed*7) % m.N(), int(seed*13) % m.N()}
					}
					place := func(tables bool) (*Placement, error) {
						useTables = tables
						return e.Place(context.Background(), &req, occ, reserved)
					}
					want, werr := place(false)
					got, gerr := place(true)
					what := fmt.Sprintf("%s %s buffer %d seed %d", name, describe(&req), buffer, seed)
					cases++
					var wi, gi *InfeasibleError
					switch {
					case werr != nil || gerr != nil:
						if !errors.As(werr, &wi) || !errors.As(gerr, &gi) || wi.Reason != gi.Reason {
							t.Errorf("%s: errors differ: search %v, tables %v", what, werr, gerr)
						}
					case want.Strategy != got.Strategy || want.Optimal != got.Optimal:
						t.Errorf("%s: search %s (optimal %v), tables %s (optimal %v)", what, want.Strategy, want.Optimal, got.Strategy, got.Optimal)
					case want.Strategy == StrategyRouted || req.FragWeight > 0:
						// Equal objectives; ties between placements may go
						// either way.
						if want.Strategy == StrategyRouted {
							routed++
						} else {
							exact++
						}
						wo, go_ := want.Cost+req.FragWeight*want.Frag, got.Cost+req.FragWeight*got.Frag
						if math.Abs(wo-go_) > 1e-9 {
							t.Errorf("%s: search %v (cost %v frag %v), tables %v (cost %v frag %v)", what, want.Mapping, want.Cost, want.Frag,
								got.Mapping, got.Cost, got.Frag)
						}
					default:
						exact++
						if fmt.Sprint(want.Mapping) != fmt.Sprint(got.Mapping) || want.Cost != got.Cost {
							t.Errorf("%s: search %v (cost %v), tables %v (cost %v)", what, want.Mapping, want.Cost, got.Mapping, got.Cost)
						}
					}
				}
			}
		}
	}
	t.Logf("%d cases: %d embedded, %d routed", cases, exact, routed)
	if exact < 300 || routed < 100 {
		t.Fatalf("too few cases: %d embedded, %d routed", exact, routed)
	}
}

// TestTableLimits: small cores get a table that lists each embedding once,
// sorted by cost; cores past tableMaxCore, or whose space is larger than
// tableMaxEntries, keep the search, and still place.
func TestTableLimits(t *testing.T) {
	m := device(t, "ibm/sherbrooke")
	v, err := newView(m)
	if err != nil {
		t.Fatal(err)
	}
	lin5 := compilePattern(&Request{Qubits: 5, Shape: Shape{Kind: ShapeLinear}})
	et := v.table(lin5)
	if et == nil || et.len() < 200 {
		t.Fatalf("5-qubit chain on %s: table %v", m.Name, et)
	}
	if v.table(lin5) != et {
		t.Fatal("the table is listed again")
	}
	seen := map[string]bool{}
	for i := range et.len() {
		if i > 0 && et.cost[i] < et.cost[i-1] {
			t.Fatalf("table not sorted at %d", i)
		}
		phi := et.phi[i*et.kc : (i+1)*et.kc]
		// A chain and its reverse are one placement: listed once.
		key, rev := fmt.Sprint(phi), fmt.Sprint([]int32{phi[4], phi[3], phi[2], phi[1], phi[0]})
		if seen[key] || seen[rev] {
			t.Fatalf("chain %v listed twice", phi)
		}
		seen[key] = true
	}
	// The region table: the connected sets of 5 qubits that hold no chain
	// (branched trees), each with its best routed cost: the exhaustive
	// optimum over assignments (bruteRouted, on that set alone).
	// It is made a part per request: the first requests route with the
	// search.
	var rt *embTable
	calls := 0
	for rt == nil && calls < 100 {
		rt = v.regionTable(lin5, true)
		calls++
	}
	if rt == nil || rt.len() < 50 || calls < 3 {
		t.Fatalf("5-qubit chain on %s: region table %v after %d requests", m.Name, rt, calls)
	}
	if v.regionTable(lin5, false) != rt {
		t.Fatal("the region table is made again")
	}
	chains := map[string]bool{}
	for i := range et.len() {
		set := append([]int32(nil), et.phi[i*5:(i+1)*5]...)
		slices.Sort(set)
		chains[fmt.Sprint(set)] = true
	}
	req5 := &Request{Qubits: 5, Shape: Shape{Kind: ShapeLinear}}
	for i := range rt.len() {
		if i > 0 && rt.cost[i] < rt.cost[i-1] {
			t.Fatalf("region table not sorted at %d", i)
		}
		set := append([]int32(nil), rt.phi[i*5:(i+1)*5]...)
		slices.Sort(set)
		if chains[fmt.Sprint(set)] {
			t.Fatalf("region %v holds a chain", set)
		}
		if i%10 != 0 {
			continue // the exhaustive check of every tenth is enough
		}
		allowed := make([]bool, m.N())
		for _, q := range set {
			allowed[q] = true
		}
		esp, _ := bruteRouted(m, req5, allowed)
		if want := -math.Log(esp); math.Abs(want-rt.cost[i]) > 1e-9 {
			t.Fatalf("region %v: cost %v, exhaustive %v", set, rt.cost[i], want)
		}
	}
	if v.table(compilePattern(&Request{Qubits: 9, Shape: Shape{Kind: ShapeLinear}})) != nil {
		t.Fatal("9-qubit chain got a table")
	}
	// A ring of 6 does not embed in heavy-hex: an empty table.
	if rt := v.table(compilePattern(&Request{Qubits: 6, Shape: Shape{Kind: ShapeRing}})); rt == nil || rt.len() != 0 {
		t.Fatalf("6-ring on heavy-hex: %v", rt)
	}
	w := device(t, "google/willow_pink")
	wv, err := newView(w)
	if err != nil {
		t.Fatal(err)
	}
	lin8 := &Request{Qubits: 8, Shape: Shape{Kind: ShapeLinear}}
	if wv.table(compilePattern(lin8)) != nil {
		t.Fatal("8-qubit chain on a grid got a table")
	}
	// On a grid most connected sets of 4 qubits do not hold a star of 4:
	// too many to solve while listing.
	star5 := compilePattern(&Request{Qubits: 5, Shape: Shape{Kind: ShapeStar}})
	for range 100 {
		if wv.regionTable(star5, true) != nil {
			t.Fatal("5-qubit star on a grid got a region table")
		}
	}
	if b := wv.tables.builds[star5]; b == nil || !b.dropped {
		t.Fatal("5-qubit star on a grid: the region table was not given up")
	}
	e, err := NewEngine(w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := e.Place(context.Background(), lin8, randomOccupancy(t, w, 0.3, 0, 1), nil)
	if err != nil || pl.Strategy != StrategyExact {
		t.Fatalf("8-qubit chain on %s: %v %v", w.Name, pl, err)
	}
}

// BenchmarkTableBuild is the listing of the largest tables kept and of
// one given up (each must stay well within a module call's deadline, 20
// times slower in a WebAssembly guest).
func BenchmarkTableBuild(b *testing.B) {
	for _, c := range []struct {
		dev string
		req Request
	}{
		{"ibm/sherbrooke", Request{Qubits: 5, Shape: Shape{Kind: ShapeLinear}}},
		{"google/weber", Request{Qubits: 5, Shape: Shape{Kind: ShapeLinear}}},
		{"google/weber", Request{Qubits: 6, Shape: Shape{Kind: ShapeLinear}}},
		{"google/willow_pink", Request{Qubits: 8, Shape: Shape{Kind: ShapeLinear}}},
	} {
		m := device(b, c.dev)
		v, err := newView(m)
		if err != nil {
			b.Fatal(err)
		}
		p := compilePattern(&c.req)
		v.treeBound(p)
		b.Run(fmt.Sprintf("%s-%s", m.Name, describe(&c.req)), func(b *testing.B) {
			entries := -1
			for range b.N {
				if t := buildTable(v, p); t != nil {
					entries = t.len()
				}
			}
			b.ReportMetric(float64(entries), "entries")
		})
	}
}

// TestTreePathsMatchDijkstra: on tree regions (every connected set of up to
// 8 qubits on heavy-hex) the walk of setRegion gives the most reliable
// paths exactly as Dijkstra does, to the bit.
func TestTreePathsMatchDijkstra(t *testing.T) {
	m := device(t, "ibm/sherbrooke")
	v, err := newView(m)
	if err != nil {
		t.Fatal(err)
	}
	r := newRun(v)
	allowed := make([]bool, m.N())
	for q := range allowed {
		allowed[q] = q < 40 // a corner keeps the enumeration short
	}
	trees := 0
	for k := 2; k <= 8; k++ {
		connectedSubsets(m, allowed, k, func(set []int) {
			q := make([]int32, k)
			for i, x := range set {
				q[i] = int32(x)
			}
			g := &region{}
			r.setRegion(g, q)
			if len(g.nbr) != 2*(k-1) {
				return
			}
			trees++
			walk := fmt.Sprint(g.C, g.H, g.Cmin, g.Cmax)
			for s := 0; s < k; s++ {
				g.dijkstra(s)
			}
			if dj := fmt.Sprint(g.C, g.H, g.Cmin, g.Cmax); dj != walk {
				t.Fatalf("region %v: walk %s, Dijkstra %s", set, walk, dj)
			}
		})
	}
	if trees < 100 {
		t.Fatalf("only %d tree regions", trees)
	}
	t.Logf("%d tree regions", trees)
}

// TestProposer: an engine whose placements are proposals (a placement
// module's) makes the same placements, with the search's own cost, and
// fails without diagnostics when nothing fits.
func TestProposer(t *testing.T) {
	m := device(t, "ibm/sherbrooke")
	full, err := NewEngine(m, Options{CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	prop, err := NewEngine(m, Options{CacheSize: -1, Proposer: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	placed, failed := 0, 0
	for seed := uint64(1); seed <= 60; seed++ {
		occ := randomOccupancy(t, m, 0.5, 0, seed)
		for _, req := range []Request{
			{Qubits: 5, Shape: Shape{Kind: ShapeLinear}},
			{Qubits: 4, Shape: Shape{Kind: ShapeStar}, Buffer: 1},
			{Qubits: 3, Shape: Shape{Kind: ShapeLinear}, FragWeight: 0.05},
		} {
			want, werr := full.Place(ctx, &req, occ, nil)
			got, gerr := prop.Place(ctx, &req, occ, nil)
			var ie *InfeasibleError
			switch {
			case werr != nil:
				if !errors.As(gerr, &ie) || ie.Free != -1 || ie.Largest != -1 || ie.Detail != "" {
					t.Fatalf("seed %d %s: %v; proposer: %v", seed, describe(&req), werr, gerr)
				}
				failed++
			case gerr != nil:
				t.Fatalf("seed %d %s: proposer: %v", seed, describe(&req), gerr)
			default:
				placed++
				if fmt.Sprint(got.Mapping) != fmt.Sprint(want.Mapping) || math.Abs(got.Cost-want.Cost) > 1e-12 ||
					(got.Swaps > 0) != (want.Swaps > 0) || got.Strategy != want.Strategy {
					t.Fatalf("seed %d %s: %+v, proposer %+v", seed, describe(&req), want, got)
				}
			}
		}
	}
	if placed < 100 || failed < 5 {
		t.Fatalf("%d placed, %d failed", placed, failed)
	}
}

// TestAllowedMask: the allowed qubits as a bit set, made from the
// neighbourhoods of held and reserved qubits, are those allowed says, on
// real devices with tasks of isolation distances 0..3, requests of 0..3 and
// reserved qubits.
func TestAllowedMask(t *testing.T) {
	for _, name := range []string{"ibm/sherbrooke", "google/weber", "rigetti/aspen-8"} {
		m := device(t, name)
		v, err := newView(m)
		if err != nil {
			t.Fatal(err)
		}
		r := newRun(v)
		p := compilePattern(&Request{Qubits: 3, Shape: Shape{Kind: ShapeLinear}})
		for seed := uint64(1); seed <= 24; seed++ {
			occ := randomOccupancy(t, m, []float64{0, 0.1, 0.3}[seed%3], int(seed%4), seed)
			req := &Request{Qubits: 3, Shape: Shape{Kind: ShapeLinear}, Buffer: int(seed/3) % 4}
			var reserved []int
			if seed%2 == 0 {
				reserved = []int{int(seed*5) % m.N(), int(seed*11) % m.N()}
			}
			r.reset(p, req, occ, reserved, 1000, time.Time{})
			mask := append([]uint64(nil), r.allowedMask()...)
			for q := 0; q < m.N(); q++ {
				if got, want := mask[q>>6]&(1<<(q&63)) != 0, r.allowed(int32(q)); got != want {
					t.Fatalf("%s seed %d buffer %d: qubit %d: mask %v, allowed %v", name, seed, req.Buffer, q, got, want)
				}
			}
		}
	}
}

// TestTablesConcurrent: requests in parallel list, build (a part each)
// and read the tables of one engine, and place as one request at a time
// does (go test -race checks the sharing).
func TestTablesConcurrent(t *testing.T) {
	m := device(t, "ibm/sherbrooke")
	e, err := NewEngine(m, Options{CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := NewEngine(m, Options{CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Qubits: 5, Shape: Shape{Kind: ShapeLinear}}
	var occs []*Occupancy
	for seed := uint64(1); seed <= 40; seed++ {
		occs = append(occs, randomOccupancy(t, m, 0.55, 0, seed))
	}
	want := make([]float64, len(occs))
	for i, occ := range occs {
		if pl, err := ref.Place(context.Background(), &req, occ, nil); err == nil {
			want[i] = pl.Cost
		}
	}
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for j := range occs {
				i := (j + 10*g) % len(occs)
				pl, err := e.Place(context.Background(), &req, occs[i], nil)
				got := 0.0
				if err == nil {
					got = pl.Cost
				}
				if math.Abs(got-want[i]) > 1e-9 {
					errs <- fmt.Errorf("occupancy %d: cost %v, alone %v", i, got, want[i])
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestTableCacheBounded: however many request shapes come, the tables a
// view keeps stay within their bounds (a guest has a memory limit).
func TestTableCacheBounded(t *testing.T) {
	m := device(t, "ibm/sherbrooke")
	e, err := NewEngine(m, Options{CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	occ := randomOccupancy(t, m, 0.6, 0, 3)
	v := e.cur.Load().v
	for i := 0; i < 300; i++ {
		// Chains of 4-6 qubits with distinct gate counts: distinct patterns.
		k := 4 + i%3
		g := &Graph{}
		for a := 0; a+1 < k; a++ {
			g.Pairs = append(g.Pairs, Pair{A: a, B: a + 1, Count: 1 + (i+a)%7 + i/21})
		}
		if _, err := e.Place(context.Background(), &Request{Qubits: k, Graph: g}, occ, nil); err != nil {
			var ie *InfeasibleError
			if !errors.As(err, &ie) {
				t.Fatal(err)
			}
		}
		v.tables.mu.Lock()
		entries, builds := v.tables.entries, len(v.tables.builds)
		v.tables.mu.Unlock()
		if entries > tableCacheEntries || builds > regionTables {
			t.Fatalf("after %d shapes: %d table entries (bound %d), %d region tables (bound %d)", i+1, entries, tableCacheEntries, builds, regionTables)
		}
	}
}
