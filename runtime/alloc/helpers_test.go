package alloc

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/hal/load"
	"github.com/eigen-os/rm/internal/corpus"
)

// ibmDevices loads every IBM snapshot of the shared corpus (or skips).
func ibmDevices(tb testing.TB) []*hal.Model {
	tb.Helper()
	dir := filepath.Join(corpus.Devices(tb), "ibm")
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Skipf("no IBM devices: %v", err)
	}
	var out []*hal.Model
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		m, err := load.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatalf("load %s: %v", e.Name(), err)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		tb.Skip("no IBM devices in the corpus")
	}
	return out
}

// device loads one device folder of the corpus by vendor/name.
func device(tb testing.TB, rel string) *hal.Model {
	tb.Helper()
	m, err := load.Open(filepath.Join(corpus.Devices(tb), rel))
	if err != nil {
		tb.Fatalf("load %s: %v", rel, err)
	}
	return m
}

// toyModel builds a model from an edge list with seeded figures; readout
// errors are quantised (as IBM's are) so that ties occur.
func toyModel(tb testing.TB, name string, n int, edges [][2]int, seed uint64) *hal.Model {
	tb.Helper()
	qs := make([]hal.QubitInfo, n)
	for i := range qs {
		qs[i] = hal.QubitInfo{Index: i, Name: string(rune('a' + i%26)), Row: -1, Col: -1}
	}
	es := make([]hal.Edge, len(edges))
	for i, e := range edges {
		es[i] = hal.Edge{A: e[0], B: e[1]}
	}
	t, err := hal.NewTopology(name, "test", "toy", "cx", qs, es)
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	c := hal.NewCalibration(t)
	for i := range c.Qubits {
		c.Qubits[i].ReadoutError = float64(20+rng.IntN(200)) / 4096
		c.Qubits[i].Error1Q = 1e-4 + rng.Float64()*1e-3
	}
	for i := range c.Couplers {
		c.Couplers[i].Gates = []hal.GateCal{{Gate: "cx", Dir: hal.DirAB, Error: 0.003 + rng.Float64()*0.03}}
	}
	m, err := hal.Finalize(t, c)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func lineEdges(n int) [][2]int {
	var e [][2]int
	for i := 0; i+1 < n; i++ {
		e = append(e, [2]int{i, i + 1})
	}
	return e
}

func gridEdges(R, C int) [][2]int {
	var e [][2]int
	for i := 0; i < R; i++ {
		for j := 0; j < C; j++ {
			q := i*C + j
			if j+1 < C {
				e = append(e, [2]int{q, q + 1})
			}
			if i+1 < R {
				e = append(e, [2]int{q, q + C})
			}
		}
	}
	return e
}

// refAllowed is the independent definition of the qubits a request may use.
func refAllowed(m *hal.Model, req *Request, occ *Occupancy, reserved []int) []bool {
	n := m.N()
	ok := make([]bool, n)
	res := map[int]bool{}
	for _, q := range reserved {
		res[q] = true
	}
	for q := 0; q < n; q++ {
		if !m.QubitUsable(q) || res[q] {
			continue
		}
		if _, held := occ.Owner(q); held {
			continue
		}
		good := true
		for x := 0; x < n && good; x++ {
			d := m.Dist(q, x)
			if t, held := occ.Owner(x); held {
				h, _ := occ.Holding(t)
				if d <= max(req.Buffer, h.Buffer) {
					good = false
				}
			}
			if res[x] && d <= req.Buffer {
				good = false
			}
		}
		ok[q] = good
	}
	return ok
}

// refESP is the ESP of a placement computed in probability space,
// independently of the engine's cost code, for embedded placements. ok is
// false when some pair is not coupled.
func refESP(m *hal.Model, req *Request, mapping []int) (float64, bool) {
	return refESPGraph(m, refGraphOf(req), mapping)
}

func refESPGraph(m *hal.Model, g refGraph, mapping []int) (float64, bool) {
	edges, meas, oneq := g.edges, g.meas, g.oneq
	esp := 1.0
	for _, e := range edges {
		err := m.Error2Q(mapping[e.a], mapping[e.b])
		if !hal.Known(err) {
			return 0, false
		}
		esp *= math.Pow(1-err, e.w)
	}
	for i, q := range mapping {
		if meas[i] > 0 {
			esp *= 1 - m.Cal.Qubits[q].ReadoutError
		}
		if e1 := m.Cal.Qubits[q].Error1Q; oneq[i] > 0 && hal.Known(e1) {
			esp *= math.Pow(1-e1, oneq[i])
		}
	}
	return esp, true
}

// bruteEmbed enumerates every embedding of req on the allowed qubits and
// returns the best ESP (0 when none) and the number of embeddings.
func bruteEmbed(m *hal.Model, req *Request, allowed []bool) (float64, int) {
	g := refGraphOf(req)
	edges := g.edges
	k := req.Qubits
	adj := make([][]int, k)
	for _, e := range edges {
		adj[e.a] = append(adj[e.a], int(e.b))
		adj[e.b] = append(adj[e.b], int(e.a))
	}
	mp := make([]int, k)
	used := make([]bool, m.N())
	best, count := 0.0, 0
	var rec func(i int)
	rec = func(i int) {
		if i == k {
			if esp, ok := refESPGraph(m, g, mp); ok {
				count++
				best = max(best, esp)
			}
			return
		}
		cands := []int{}
		anchor := -1
		for _, j := range adj[i] {
			if j < i {
				anchor = j
				break
			}
		}
		if anchor >= 0 {
			for _, x := range m.Neighbors(mp[anchor]) {
				cands = append(cands, int(x))
			}
		} else {
			for q := range allowed {
				cands = append(cands, q)
			}
		}
		for _, q := range cands {
			if !allowed[q] || used[q] {
				continue
			}
			good := true
			for _, j := range adj[i] {
				if j < i && !hal.Known(m.Error2Q(mp[j], q)) {
					good = false
					break
				}
			}
			if !good {
				continue
			}
			mp[i] = q
			used[q] = true
			rec(i + 1)
			used[q] = false
		}
	}
	rec(0)
	return best, count
}

// connectedSubsets enumerates the connected k-sets of allowed qubits over
// usable couplers (each once, as sorted slices).
func connectedSubsets(m *hal.Model, allowed []bool, k int, visit func([]int)) {
	seen := map[string]bool{}
	var rec func(set []int)
	key := func(s []int) string {
		c := append([]int(nil), s...)
		sort.Ints(c)
		b := make([]byte, 0, 2*len(c))
		for _, x := range c {
			b = append(b, byte(x>>8), byte(x))
		}
		return string(b)
	}
	rec = func(set []int) {
		kk := key(set)
		if seen[kk] {
			return
		}
		seen[kk] = true
		if len(set) == k {
			c := append([]int(nil), set...)
			sort.Ints(c)
			visit(c)
			return
		}
		in := map[int]bool{}
		for _, q := range set {
			in[q] = true
		}
		for _, q := range set {
			for _, x := range m.Neighbors(q) {
				w := int(x)
				if !in[w] && allowed[w] && hal.Known(m.Error2Q(q, w)) {
					rec(append(set, w))
				}
			}
		}
	}
	for q := range allowed {
		if allowed[q] {
			rec([]int{q})
		}
	}
}

// permutations calls f with every permutation of 0..k-1.
func permutations(k int, f func([]int)) {
	p := make([]int, k)
	for i := range p {
		p[i] = i
	}
	var rec func(i int)
	rec = func(i int) {
		if i == k {
			f(p)
			return
		}
		for j := i; j < k; j++ {
			p[i], p[j] = p[j], p[i]
			rec(i + 1)
			p[i], p[j] = p[j], p[i]
		}
	}
	rec(0)
}

// bruteRouted is the best routed ESP over every connected k-set of
// allowed qubits and every assignment of the shape to it, up to the
// shape's own symmetry (fixed by hand here, independently of the engine's
// constraints): a path and its reverse, a ring's rotations and
// reflections, a star's leaves. It returns 0 when no connected k-set
// exists, and the number of sets.
func bruteRouted(m *hal.Model, req *Request, allowed []bool) (float64, int) {
	k := req.Qubits
	best := math.Inf(1)
	mp := make([]int, k)
	sets := 0
	g := refGraphOf(req)
	connectedSubsets(m, allowed, k, func(set []int) {
		sets++
		pm := newPairMatrix(m, set)
		switch req.Shape.Kind {
		case ShapeStar:
			for c := 0; c < k; c++ {
				mp[0] = c
				j := 1
				for i := range set {
					if i != c {
						mp[j] = i
						j++
					}
				}
				best = min(best, pm.cost(m, g, set, mp))
			}
		case ShapeRing:
			// Logical 0 on the set's first qubit (rotations), and
			// phi(1) < phi(k-1) (reflection).
			permutations(k-1, func(p []int) {
				mp[0] = 0
				for i, x := range p {
					mp[i+1] = x + 1
				}
				if k >= 3 && mp[1] > mp[k-1] {
					return
				}
				best = min(best, pm.cost(m, g, set, mp))
			})
		default:
			permutations(k, func(p []int) {
				if req.Shape.Kind == ShapeLinear && p[0] > p[k-1] {
					return
				}
				best = min(best, pm.cost(m, g, set, p))
			})
		}
	})
	if sets == 0 {
		return 0, 0
	}
	return math.Exp(-best), sets
}

// refGraph is a request's logical graph, computed once.
type refGraph struct {
	edges      []wedge
	meas, oneq []float64
}

func refGraphOf(req *Request) refGraph {
	e, m, o := req.logicalGraph()
	return refGraph{e, m, o}
}

// pairMatrix is the reference's most reliable paths within a set
// (Floyd-Warshall over the set's usable couplers).
type pairMatrix struct {
	k             int
	node          [][]float64 // node[logical][set index]: readout and 1q cost
	C, mn, mx, c1 [][]float64 // c1: direct coupler cost or NaN
	H             [][]int
}

func newPairMatrix(m *hal.Model, set []int) *pairMatrix {
	k := len(set)
	const inf = 1e300
	pm := &pairMatrix{k: k}
	mk := func() [][]float64 {
		x := make([][]float64, k)
		for i := range x {
			x[i] = make([]float64, k)
		}
		return x
	}
	pm.C, pm.mn, pm.mx, pm.c1 = mk(), mk(), mk(), mk()
	pm.H = make([][]int, k)
	for i := range set {
		pm.H[i] = make([]int, k)
		for j := range set {
			pm.C[i][j], pm.c1[i][j] = inf, math.NaN()
			if i == j {
				pm.C[i][j] = 0
			}
			if e := m.Error2Q(set[i], set[j]); i != j && hal.Known(e) {
				c := -math.Log(1 - e)
				pm.C[i][j], pm.H[i][j], pm.mn[i][j], pm.mx[i][j], pm.c1[i][j] = c, 1, c, c, c
			}
		}
	}
	for via := 0; via < k; via++ {
		for i := 0; i < k; i++ {
			for j := 0; j < k; j++ {
				if c := pm.C[i][via] + pm.C[via][j]; c < pm.C[i][j]-1e-15 {
					pm.C[i][j], pm.H[i][j] = c, pm.H[i][via]+pm.H[via][j]
					pm.mn[i][j], pm.mx[i][j] = min(pm.mn[i][via], pm.mn[via][j]), max(pm.mx[i][via], pm.mx[via][j])
				}
			}
		}
	}
	return pm
}

// cost of logical i on set[p[i]], in -ln space; +Inf when a pair is cut.
func (pm *pairMatrix) cost(m *hal.Model, g refGraph, set []int, p []int) float64 {
	edges := g.edges
	if pm.node == nil {
		pm.node = make([][]float64, len(p))
		for i := range p {
			pm.node[i] = make([]float64, len(set))
			for j, q := range set {
				c := g.meas[i] * -math.Log(1-m.Cal.Qubits[q].ReadoutError)
				if e1 := m.Cal.Qubits[q].Error1Q; hal.Known(e1) {
					c += g.oneq[i] * -math.Log(1-e1)
				}
				pm.node[i][j] = c
			}
		}
	}
	cost := 0.0
	for i := range p {
		cost += pm.node[i][p[i]]
	}
	for _, e := range edges {
		i, j := p[e.a], p[e.b]
		if c := pm.c1[i][j]; !math.IsNaN(c) {
			cost += e.w * c
			continue
		}
		if pm.C[i][j] >= 1e300 {
			return math.Inf(1)
		}
		cg := pm.mx[i][j]
		if e.w >= 3 {
			cg = pm.mn[i][j]
		}
		cost += 3*(pm.C[i][j]-cg) + e.w*cg
	}
	return cost
}

// refRoutedCost is the reference cost of one placement.
func refRoutedCost(m *hal.Model, req *Request, mapping []int) float64 {
	p := make([]int, len(mapping))
	for i := range p {
		p[i] = i
	}
	return newPairMatrix(m, mapping).cost(m, refGraphOf(req), mapping, p)
}

// randomOccupancy holds a fraction of the qubits as one-qubit tasks.
func randomOccupancy(tb testing.TB, m *hal.Model, frac float64, buffer int, seed uint64) *Occupancy {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 11))
	occ := NewOccupancy(m.Topology)
	perm := rng.Perm(m.N())
	for i := 0; i < int(frac*float64(m.N())); i++ {
		h := Holding{Task: "t" + itoa(perm[i]), Qubits: []int{perm[i]}, Buffer: buffer}
		if occ.check(h, false) == nil {
			occ.add(h)
		}
	}
	return occ
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for i > 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }
