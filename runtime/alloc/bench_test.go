package alloc

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/eigen-os/rm/circuit"
	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/hal/synth"
	"github.com/eigen-os/rm/internal/corpus"
)

// benchPlace places req against pre-generated occupancies (random qubits
// at frac, buffer 0: the scenario), without the cache so that every
// iteration is a search, and reports p50/p99 latency, mean ESP, failures
// and nodes besides the mean time.
func benchPlace(b *testing.B, m *hal.Model, req *Request, frac float64) {
	e, err := NewEngine(m, Options{CacheSize: -1})
	if err != nil {
		b.Fatal(err)
	}
	occs := make([]*Occupancy, 256)
	for i := range occs {
		occs[i] = randomOccupancy(b, m, frac, 0, uint64(i+1))
	}
	ctx := context.Background()
	for _, o := range occs[:8] { // warm up: pattern, tree bound, pools
		_, _ = e.Place(ctx, req, o, nil)
	}
	lat := make([]float64, 0, b.N)
	fails, nodes, esp := 0, 0, 0.0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		pl, err := e.Place(ctx, req, occs[i%len(occs)], nil)
		lat = append(lat, float64(time.Since(t0).Nanoseconds())/1e3)
		if err != nil {
			fails++
			continue
		}
		nodes += pl.Nodes
		esp += pl.ESP
	}
	b.StopTimer()
	sort.Float64s(lat)
	b.ReportMetric(lat[len(lat)/2], "p50-us")
	b.ReportMetric(lat[min(len(lat)-1, len(lat)*99/100)], "p99-us")
	b.ReportMetric(float64(fails)/float64(b.N), "fail/op")
	if ok := b.N - fails; ok > 0 {
		b.ReportMetric(esp/float64(ok), "esp")
		b.ReportMetric(float64(nodes)/float64(ok), "nodes/op")
	}
}

// BenchmarkPlace: linear requests of 5 and 10 qubits on the 127/133-qubit
// IBM devices and a synthetic 1,121-qubit heavy-hex, empty and at 50%
// random occupancy.
func BenchmarkPlace(b *testing.B) {
	devs := map[string]*hal.Model{}
	for _, name := range []string{"ibm/sherbrooke", "ibm/washington", "ibm/torino"} {
		devs[name] = device(b, name)
	}
	big, err := synth.HeavyHex(1121, 1)
	if err != nil {
		b.Fatal(err)
	}
	devs["synthetic/heavyhex-1121"] = big
	for _, name := range []string{"ibm/sherbrooke", "ibm/washington", "ibm/torino", "synthetic/heavyhex-1121"} {
		for _, k := range []int{5, 10} {
			for _, frac := range []float64{0, 0.5} {
				req := &Request{Qubits: k, Shape: Shape{Kind: ShapeLinear}}
				b.Run(fmt.Sprintf("%s/linear-%d/occ-%.1f", name, k, frac), func(b *testing.B) {
					benchPlace(b, devs[name], req, frac)
				})
			}
		}
	}
}

// BenchmarkPlaceShapes: ring and star (routed on heavy-hex) of 5 and 8.
func BenchmarkPlaceShapes(b *testing.B) {
	m := device(b, "ibm/sherbrooke")
	for _, kind := range []ShapeKind{ShapeRing, ShapeStar} {
		for _, k := range []int{5, 8} {
			req := &Request{Qubits: k, Shape: Shape{Kind: kind}}
			b.Run(fmt.Sprintf("%s-%d/occ-0.3", req.Shape, k), func(b *testing.B) { benchPlace(b, m, req, 0.3) })
		}
	}
}

// BenchmarkCacheHit is a repeated request on an unchanged occupancy.
func BenchmarkCacheHit(b *testing.B) {
	m := device(b, "ibm/sherbrooke")
	e, err := NewEngine(m, Options{})
	if err != nil {
		b.Fatal(err)
	}
	occ := randomOccupancy(b, m, 0.5, 0, 1)
	req := &Request{Qubits: 5, Shape: Shape{Kind: ShapeLinear}}
	ctx := context.Background()
	_, _ = e.Place(ctx, req, occ, nil)
	before := e.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Place(ctx, req, occ, nil); err != nil {
			b.Fatal(err)
		}
	}
	if s := e.Stats(); s.CacheHits-before.CacheHits != uint64(b.N) {
		b.Fatalf("%d hits in %d calls", s.CacheHits-before.CacheHits, b.N)
	}
}

// circuitRequest reads a workload circuit into a request.
func circuitRequest(tb testing.TB, path string) *Request {
	tb.Helper()
	c, err := circuit.ParseFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	g := &Graph{OneQ: c.OneQ, Measured: []int{}}
	for _, p := range c.Pairs {
		g.Pairs = append(g.Pairs, Pair{A: p.A, B: p.B, Count: p.Count})
	}
	for q, m := range c.Measured {
		if m {
			g.Measured = append(g.Measured, q)
		}
	}
	return &Request{Qubits: c.Qubits, Graph: g}
}

// BenchmarkPlaceCircuit places workload circuits of 9-27 qubits on
// sherbrooke at 20% random occupancy with the default budget.
func BenchmarkPlaceCircuit(b *testing.B) {
	m := device(b, "ibm/sherbrooke")
	dir := filepath.Join(corpus.Workloads(b), "qasmbench")
	for _, name := range []string{"qpe_n9", "cc_n12", "seca_n11", "qec9xz_n17", "square_root_n18", "qft_n18", "wstate_n27"} {
		req := circuitRequest(b, filepath.Join(dir, name+".qasm"))
		b.Run(name, func(b *testing.B) { benchPlace(b, m, req, 0.2) })
	}
}
