package alloc

// Symmetry breaking (Grochow and Kellis, "Network motif discovery using
// subgraph enumeration and symmetry-breaking", RECOMB 2007). Two placements
// that differ by an automorphism of the logical graph (a path and its
// reverse, a ring rotated or reflected, a star's leaves permuted, a grid
// flipped) have the same ESP and the same qubits, so the search only needs
// one of them. Walking the core vertices in search order, each vertex v
// whose orbit under the automorphisms fixing the earlier vertices is
// non-trivial gets the constraints phi(v) < phi(u) for every other u in
// that orbit; then v is fixed. Exactly one placement of each equivalence
// class satisfies all constraints.
//
// Automorphisms must preserve everything the ESP depends on: edge weights
// (gate counts), readout weights and single-qubit counts. Orbits are found
// by a bounded backtracking search; when a search gives up, the pair is
// left unconstrained, which only weakens the pruning (never loses a
// placement).

// autSearchLimit bounds the nodes of one automorphism search.
const autSearchLimit = 20000

type vcolor struct {
	deg  int
	meas float64
	oneq float64
	wd   float64
}

func symmetryBreaking(p *pattern) ([][2]int32, float64) {
	k := p.k
	kc := len(p.order)
	if kc < 2 {
		return nil, 1
	}
	W := make([]float64, k*k)
	for _, e := range p.edges {
		W[int(e.a)*k+int(e.b)] = e.w
		W[int(e.b)*k+int(e.a)] = e.w
	}
	col := make([]vcolor, k)
	for v := 0; v < k; v++ {
		col[v] = vcolor{p.deg[v], p.meas[v], p.oneq[v], p.weightedDegree(v)}
	}
	s := &autSearch{p: p, W: W, col: col, k: k,
		fixed: make([]bool, k), sigma: make([]int32, k), taken: make([]bool, k)}
	var pairs [][2]int32
	size := 1.0
	for _, v := range p.order {
		var orbit []int32
		for _, u := range p.order {
			if u == v || s.fixed[u] || col[u] != col[v] {
				continue
			}
			if s.exists(v, u) {
				orbit = append(orbit, u)
			}
		}
		for _, u := range orbit {
			pairs = append(pairs, [2]int32{v, u})
		}
		size *= float64(len(orbit) + 1)
		s.fixed[v] = true
	}
	return pairs, size
}

type autSearch struct {
	p     *pattern
	W     []float64
	col   []vcolor
	k     int
	fixed []bool
	sigma []int32 // image of each core vertex in the current partial map, by position
	taken []bool
	nodes int
}

// exists reports whether an automorphism fixes every fixed vertex and maps
// v to u (false also when the search gives up).
func (s *autSearch) exists(v, u int32) bool {
	for i := range s.taken {
		s.taken[i] = false
	}
	s.nodes = 0
	return s.extend(0, v, u)
}

func (s *autSearch) extend(t int, v, u int32) bool {
	order := s.p.order
	if t == len(order) {
		return true
	}
	s.nodes++
	if s.nodes > autSearchLimit {
		return false
	}
	x := order[t]
	try := func(y int32) bool {
		if s.taken[y] || s.col[y] != s.col[x] {
			return false
		}
		k := s.k
		for i := 0; i < t; i++ {
			z := order[i]
			if s.W[int(x)*k+int(z)] != s.W[int(y)*k+int(s.sigma[i])] {
				return false
			}
		}
		s.sigma[t] = y
		s.taken[y] = true
		if s.extend(t+1, v, u) {
			return true
		}
		s.taken[y] = false
		return false
	}
	switch {
	case x == v:
		return try(u)
	case s.fixed[x]:
		return try(x)
	}
	// Candidates: neighbours of the parent's image when x has a parent
	// (images of adjacent vertices are adjacent), else every core vertex.
	if par := s.p.parent[t]; par >= 0 {
		for _, nb := range s.p.adj[s.sigma[par]] {
			if s.fixed[nb.to] && nb.to != x {
				continue
			}
			if nb.to == u && x != v {
				continue
			}
			if try(nb.to) {
				return true
			}
			if s.nodes > autSearchLimit {
				return false
			}
		}
		return false
	}
	for _, y := range order {
		if (s.fixed[y] && y != x) || (y == u && x != v) {
			continue
		}
		if try(y) {
			return true
		}
		if s.nodes > autSearchLimit {
			return false
		}
	}
	return false
}
