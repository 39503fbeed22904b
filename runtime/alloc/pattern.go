package alloc

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"sort"
)

// pattern is a compiled request: the logical graph, a search order with the
// checks to run at each position, symmetry-breaking constraints and the
// data for lower bounds. It depends only on the request's logical part, so
// the engine caches it.
type pattern struct {
	k      int
	shape  Shape
	edges  []wedge
	adj    [][]pnb // logical adjacency
	meas   []float64
	oneq   []float64
	deg    []int
	maxDeg int
	girth  int // shortest logical cycle, 0 when acyclic

	// The core (vertices with an edge) is searched in order; isolated
	// vertices are placed afterwards on the best remaining qubits.
	order    []int32 // position -> logical
	pos      []int32 // logical -> position, -1 for isolated
	isolated []int32
	parent   []int32   // position of an earlier neighbour, -1 for a component root
	parentW  []float64 // weight of the edge to the parent
	back     [][]pback // other edges to earlier positions
	symLT    [][]int32 // earlier positions s with phi[s] < phi[t] required
	symGT    [][]int32 // earlier positions s with phi[s] > phi[t] required
	// symAbove[t] (symBelow[t]) counts the later positions required to be
	// above (below) position t.
	symAbove []int
	symBelow []int

	// Per position t (0..len(order)): the weights of the edges whose later
	// endpoint is at a position >= t (descending), and the number of
	// measured vertices at positions >= t.
	remW    [][]float64
	remMeas []float64

	// children lists, per position, the positions whose parent it is (the
	// search order's spanning forest); backW, per position t, the weights
	// of the back edges (non-tree edges) whose later endpoint is at a
	// position >= t, descending.
	children [][]int32
	backW    [][]float64
	// compSize is the size of each logical qubit's connected component.
	compSize []int

	// cut[s] (cores of at most exactRoutedMax vertices, 0 < s < kc) is the
	// least sum of min(w, 3) over the core's edges cut by any split of the
	// core into s and kc-s vertices: the routed search's cut bound.
	cut []float64
	// cutMin[a][rem] is the least cut[s] for s in [a, a+rem].
	cutMin [][]float64

	// symPairs is the set of symmetry constraints in logical terms: phi(a) < phi(b).
	symPairs [][2]int32
	autoSize float64 // lower bound on the number of automorphisms found (1 when none)
	key      uint64  // fingerprint of the logical part
}

type pnb struct {
	to int32
	w  float64
}

type pback struct {
	pos int32
	w   float64
}

// symmetryLimit bounds the logical size for which automorphisms are
// computed (larger patterns are searched without symmetry breaking).
const symmetryLimit = 40

func compilePattern(r *Request) *pattern {
	edges, meas, oneq := r.logicalGraph()
	k := r.Qubits
	p := &pattern{k: k, shape: r.Shape, edges: edges, meas: meas, oneq: oneq}
	p.adj = make([][]pnb, k)
	p.deg = make([]int, k)
	for _, e := range edges {
		p.adj[e.a] = append(p.adj[e.a], pnb{e.b, e.w})
		p.adj[e.b] = append(p.adj[e.b], pnb{e.a, e.w})
		p.deg[e.a]++
		p.deg[e.b]++
	}
	for _, d := range p.deg {
		p.maxDeg = max(p.maxDeg, d)
	}
	p.girth = graphGirth(k, p.adj)
	p.key = patternKey(r, edges, meas, oneq)
	p.buildOrder()
	if k <= symmetryLimit {
		p.symPairs, p.autoSize = symmetryBreaking(p)
	} else {
		p.autoSize = 1
	}
	p.compSize = make([]int, k)
	for t := 0; t < len(p.order); {
		e := t + 1
		for e < len(p.order) && p.parent[e] >= 0 {
			e++
		}
		for _, lv := range p.order[t:e] {
			p.compSize[lv] = e - t
		}
		t = e
	}
	p.placeConstraints()
	p.buildBounds()
	p.buildCuts()
	return p
}

func (p *pattern) buildCuts() {
	kc := len(p.order)
	if kc < 2 || kc > exactRoutedMax {
		return
	}
	p.cut = make([]float64, kc+1)
	for i := range p.cut {
		p.cut[i] = math.Inf(1)
	}
	p.cut[0], p.cut[kc] = 0, 0
	for mask := 1; mask < 1<<kc-1; mask++ {
		c := 0.0
		for _, e := range p.edges {
			a, b := p.pos[e.a], p.pos[e.b]
			if (mask>>a)&1 != (mask>>b)&1 {
				c += min(e.w, 3)
			}
		}
		s := 0
		for x := mask; x != 0; x &= x - 1 {
			s++
		}
		p.cut[s] = min(p.cut[s], c)
	}
	p.cutMin = make([][]float64, kc+1)
	for a := 0; a <= kc; a++ {
		p.cutMin[a] = make([]float64, kc+1)
		for rem := 0; rem <= kc; rem++ {
			m := math.Inf(1)
			for s := a; s <= min(kc, a+rem); s++ {
				m = min(m, p.cut[s])
			}
			p.cutMin[a][rem] = m
		}
	}
}

// weightedDegree is the sum of a vertex's edge weights.
func (p *pattern) weightedDegree(v int) float64 {
	s := 0.0
	for _, x := range p.adj[v] {
		s += x.w
	}
	return s
}

// buildOrder orders the core vertices: each component starts at its
// vertex of largest degree (then weight, then lowest index) and then takes
// the vertex with the most edges to the ordered ones (ties: larger degree,
// larger weight, lower index), so that every vertex after a root has an
// earlier neighbour and constraints are checked as early as possible.
func (p *pattern) buildOrder() {
	k := p.k
	p.pos = make([]int32, k)
	for i := range p.pos {
		p.pos[i] = -1
	}
	conn := make([]int, k)
	connW := make([]float64, k)
	placed := make([]bool, k)
	wd := make([]float64, k)
	for v := 0; v < k; v++ {
		wd[v] = p.weightedDegree(v)
		if p.deg[v] == 0 {
			p.isolated = append(p.isolated, int32(v))
			placed[v] = true
		}
	}
	better := func(a, b int) bool { // is a a better next vertex than b
		if conn[a] != conn[b] {
			return conn[a] > conn[b]
		}
		if connW[a] != connW[b] {
			return connW[a] > connW[b]
		}
		if p.deg[a] != p.deg[b] {
			return p.deg[a] > p.deg[b]
		}
		if wd[a] != wd[b] {
			return wd[a] > wd[b]
		}
		return a < b
	}
	for {
		best := -1
		for v := 0; v < k; v++ {
			if !placed[v] && (best < 0 || better(v, best)) {
				best = v
			}
		}
		if best < 0 {
			break
		}
		t := int32(len(p.order))
		p.order = append(p.order, int32(best))
		p.pos[best] = t
		placed[best] = true
		par, parW := int32(-1), 0.0
		var back []pback
		for _, x := range p.adj[best] {
			if s := p.pos[x.to]; s >= 0 {
				if par < 0 || x.w > parW || (x.w == parW && s < par) {
					if par >= 0 {
						back = append(back, pback{par, parW})
					}
					par, parW = s, x.w
				} else {
					back = append(back, pback{s, x.w})
				}
			} else {
				conn[x.to]++
				connW[x.to] += x.w
			}
		}
		sort.Slice(back, func(i, j int) bool { return back[i].pos < back[j].pos })
		p.parent = append(p.parent, par)
		p.parentW = append(p.parentW, parW)
		p.back = append(p.back, back)
	}
}

func (p *pattern) placeConstraints() {
	kc := len(p.order)
	p.symLT = make([][]int32, kc)
	p.symGT = make([][]int32, kc)
	for _, c := range p.symPairs {
		a, b := p.pos[c[0]], p.pos[c[1]]
		if a < 0 || b < 0 {
			continue // isolated vertices are placed greedily, in index order
		}
		if a < b {
			p.symLT[b] = append(p.symLT[b], a) // phi[a] < phi[b], checked at b
		} else {
			p.symGT[a] = append(p.symGT[a], b) // phi[b] > phi[a], checked at a
		}
	}
	p.symAbove = make([]int, kc)
	p.symBelow = make([]int, kc)
	for u := 0; u < kc; u++ {
		for _, s := range p.symLT[u] {
			p.symAbove[s]++
		}
		for _, s := range p.symGT[u] {
			p.symBelow[s]++
		}
	}
}

func (p *pattern) buildBounds() {
	kc := len(p.order)
	p.children = make([][]int32, kc)
	for t := 1; t < kc; t++ {
		if par := p.parent[t]; par >= 0 {
			p.children[par] = append(p.children[par], int32(t))
		}
	}
	p.backW = make([][]float64, kc+1)
	for t := 0; t <= kc; t++ {
		var w []float64
		for s := max(t, 1); s < kc; s++ {
			for _, b := range p.back[s] {
				w = append(w, b.w)
			}
		}
		sort.Sort(sort.Reverse(sort.Float64Slice(w)))
		p.backW[t] = w
	}
	p.remW = make([][]float64, kc+1)
	p.remMeas = make([]float64, kc+1)
	for t := 0; t <= kc; t++ {
		var w []float64
		m := 0.0
		for _, e := range p.edges {
			if int(max(p.pos[e.a], p.pos[e.b])) >= t {
				w = append(w, e.w)
			}
		}
		for s := t; s < kc; s++ {
			v := p.order[s]
			m += p.meas[v]
		}
		sort.Sort(sort.Reverse(sort.Float64Slice(w)))
		p.remW[t], p.remMeas[t] = w, m
	}
}

// graphGirth is the length of the shortest cycle (0 when acyclic).
func graphGirth(k int, adj [][]pnb) int {
	best := math.MaxInt
	dist := make([]int, k)
	par := make([]int, k)
	for s := 0; s < k; s++ {
		for i := range dist {
			dist[i] = -1
		}
		dist[s], par[s] = 0, -1
		queue := []int{s}
		for h := 0; h < len(queue); h++ {
			u := queue[h]
			for _, x := range adj[u] {
				w := int(x.to)
				if dist[w] < 0 {
					dist[w], par[w] = dist[u]+1, u
					queue = append(queue, w)
				} else if par[u] != w {
					best = min(best, dist[u]+dist[w]+1)
				}
			}
		}
	}
	if best == math.MaxInt {
		return 0
	}
	return best
}

func patternKey(r *Request, edges []wedge, meas, oneq []float64) uint64 {
	h := fnv.New64a()
	var b [8]byte
	put := func(x uint64) {
		binary.LittleEndian.PutUint64(b[:], x)
		h.Write(b[:])
	}
	put(uint64(r.Qubits))
	put(uint64(r.Shape.Kind))
	put(uint64(r.Shape.Rows))
	put(uint64(r.Shape.Cols))
	put(uint64(len(edges)))
	for _, e := range edges {
		put(uint64(e.a)<<32 | uint64(e.b))
		put(math.Float64bits(e.w))
	}
	for i := range meas {
		put(math.Float64bits(meas[i]))
		put(math.Float64bits(oneq[i]))
	}
	return h.Sum64()
}
