package alloc

import "math"

// SWAP estimate (routed placements).
//
// A placement is routed when some interacting pair (a, b) with w gates is
// not on a usable coupler. The pair is brought together along the most
// reliable path P between its qubits through the task's own qubits (the
// path of least sum of c = -ln(1-e2) over usable couplers; ties: fewer
// hops, then lowest qubits), P having h >= 2 hops. The two qubits are
// swapped towards each other until they meet on one coupler g of P, where
// the w gates run: h-1 SWAPs of 3 native gates each on the other couplers,
// so
//
//	cost(a, b) = 3 * (C(P) - c_g) + w * c_g,   swaps(a, b) = h - 1,
//
// with g the coupler of P that minimises the cost (the cheapest one when
// w >= 3, the most expensive one when w < 3: a SWAP costs three gates, so
// one or two gates are better run on the worst coupler than swapped
// across it). Each pair is counted once: its qubits are assumed to stay
// together for all w gates, and SWAPs shared between pairs or needed to
// undo a move are not modelled. The estimate is thus optimistic for dense
// circuits; it is the figure a router cannot beat with this placement
// when pairs are routed one after another.
//
// ESP = exp(-(sum of node terms + sum over pairs of cost(a, b))).

// region indexes a set of physical qubits and holds the most reliable
// paths between all of them.
type region struct {
	k     int
	q     []int32 // local -> physical
	off   []int32 // local adjacency over usable couplers
	nbr   []int32
	cost  []float64
	C     []float64 // k*k: cost of the most reliable path
	H     []int32   // k*k: its hops, -1 when unreachable
	Cmin  []float64 // k*k: cheapest coupler on it
	Cmax  []float64 // k*k: dearest coupler on it
	D     []float64 // k*k: cost of the direct usable coupler, NaN when none
	heap  []hitem
	stack []int32
	done  []bool
	mark  []uint32 // physical qubit in the region when mark == gen
	idx   []int32  // its local index
	gen   uint32
}

type hitem struct {
	c float64
	h int32
	u int32
}

func (a hitem) less(b hitem) bool {
	if a.c != b.c {
		return a.c < b.c
	}
	if a.h != b.h {
		return a.h < b.h
	}
	return a.u < b.u
}

// setRegion indexes qubits (physical, distinct) and computes all pairs.
func (r *run) setRegion(g *region, qubits []int32) {
	v := r.v
	k := len(qubits)
	g.k = k
	g.q = append(g.q[:0], qubits...)
	g.gen++
	if g.gen == 0 {
		clear(g.mark)
		g.gen = 1
	}
	if len(g.mark) != v.n {
		g.mark = make([]uint32, v.n)
		g.idx = make([]int32, v.n)
		g.gen = 1
	}
	for i, q := range qubits {
		g.mark[q] = g.gen
		g.idx[q] = int32(i)
	}
	g.off = append(g.off[:0], 0)
	g.nbr, g.cost = g.nbr[:0], g.cost[:0]
	for _, q := range qubits {
		for i := v.uoff[q]; i < v.uoff[q+1]; i++ {
			w := v.unbr[i]
			if g.mark[w] == g.gen {
				g.nbr = append(g.nbr, g.idx[w])
				g.cost = append(g.cost, v.ucost[i])
			}
		}
		g.off = append(g.off, int32(len(g.nbr)))
	}
	kk := k * k
	g.D = growF(g.D, kk)
	for i := range g.D {
		g.D[i] = math.NaN()
	}
	for i := 0; i < k; i++ {
		for j := g.off[i]; j < g.off[i+1]; j++ {
			g.D[i*k+int(g.nbr[j])] = g.cost[j]
		}
	}
	g.C = growF(g.C, kk)
	g.Cmin = growF(g.Cmin, kk)
	g.Cmax = growF(g.Cmax, kk)
	if cap(g.H) < kk {
		g.H = make([]int32, kk)
	}
	g.H = g.H[:kk]
	if cap(g.done) < k {
		g.done = make([]bool, k)
	}
	g.done = g.done[:k]
	if len(g.nbr) == 2*(k-1) && g.treePaths(0) {
		// A tree (every connected set of at most 11 qubits on heavy-hex):
		// the one path between two qubits is the most reliable.
		for s := 1; s < k; s++ {
			g.treePaths(s)
		}
	} else {
		for s := 0; s < k; s++ {
			g.dijkstra(s)
		}
	}
	// Budget: a Dijkstra over k qubits costs about as much as k+edges
	// search nodes.
	r.spend(k * (k + len(g.nbr)) / 2)
}

func growF(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// dijkstra fills row s of the path matrices.
func (g *region) dijkstra(s int) {
	k := g.k
	C, H, mn, mx := g.C[s*k:(s+1)*k], g.H[s*k:(s+1)*k], g.Cmin[s*k:(s+1)*k], g.Cmax[s*k:(s+1)*k]
	for i := 0; i < k; i++ {
		C[i], H[i], g.done[i] = math.Inf(1), -1, false
	}
	C[s], H[s], mn[s], mx[s] = 0, 0, math.Inf(1), 0
	g.heap = append(g.heap[:0], hitem{0, 0, int32(s)})
	for len(g.heap) > 0 {
		it := g.pop()
		u := it.u
		if g.done[u] {
			continue
		}
		g.done[u] = true
		for i := g.off[u]; i < g.off[u+1]; i++ {
			w := g.nbr[i]
			if g.done[w] {
				continue
			}
			nc, nh := C[u]+g.cost[i], H[u]+1
			cand := hitem{nc, nh, u}
			cur := hitem{C[w], H[w], -1}
			if H[w] < 0 || cand.less(cur) {
				C[w], H[w] = nc, nh
				mn[w], mx[w] = min(mn[u], g.cost[i]), max(mx[u], g.cost[i])
				g.push(hitem{nc, nh, w})
			}
		}
	}
}

// treePaths fills row s of the path matrices by a walk from s, which is
// what dijkstra finds when the region is a tree (the sums are made in the
// same order, so the figures are equal to the bit). It reports whether the
// walk reached every qubit (with k-1 couplers: the region is a tree); when
// not, the row is left for dijkstra.
func (g *region) treePaths(s int) bool {
	k := g.k
	C, H, mn, mx := g.C[s*k:(s+1)*k], g.H[s*k:(s+1)*k], g.Cmin[s*k:(s+1)*k], g.Cmax[s*k:(s+1)*k]
	for i := range H {
		H[i] = -1
	}
	C[s], H[s], mn[s], mx[s] = 0, 0, math.Inf(1), 0
	stack := append(g.stack[:0], int32(s))
	reached := 1
	for len(stack) > 0 {
		u := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for i := g.off[u]; i < g.off[u+1]; i++ {
			w := g.nbr[i]
			if H[w] >= 0 {
				continue
			}
			C[w], H[w] = C[u]+g.cost[i], H[u]+1
			mn[w], mx[w] = min(mn[u], g.cost[i]), max(mx[u], g.cost[i])
			stack = append(stack, w)
			reached++
		}
	}
	g.stack = stack
	return reached == k // else not a tree: dijkstra fills every row again
}

func (g *region) push(x hitem) {
	g.heap = append(g.heap, x)
	i := len(g.heap) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !g.heap[i].less(g.heap[p]) {
			break
		}
		g.heap[i], g.heap[p] = g.heap[p], g.heap[i]
		i = p
	}
}

func (g *region) pop() hitem {
	h := g.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	i := 0
	for {
		l, rr, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].less(h[m]) {
			m = l
		}
		if rr < len(h) && h[rr].less(h[m]) {
			m = rr
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	g.heap = h
	return top
}

// pairCost is the cost and SWAP estimate of w gates between local qubits i
// and j of the region (+Inf when they are not connected).
func (r *run) pairCost(g *region, w float64, i, j int32) (float64, int) {
	ij := int(i)*g.k + int(j)
	if c := g.D[ij]; c == c {
		return w * c, 0
	}
	h := g.H[ij]
	if h < 0 {
		return math.Inf(1), 0
	}
	cg := g.Cmax[ij]
	if w >= 3 {
		cg = g.Cmin[ij]
	}
	return 3*(g.C[ij]-cg) + w*cg, int(h) - 1
}

// nodeCost is the readout and single-qubit cost of logical lv on qubit q.
func (r *run) nodeCost(lv, q int32) float64 {
	return r.p.meas[lv]*r.v.ro[q] + r.p.oneq[lv]*r.v.e1[q]
}

// scoreMapping is the cost (-ln ESP) and SWAP estimate of a complete
// mapping by logical qubit.
func (r *run) scoreMapping(m []int32) (float64, int) {
	p := r.p
	cost := 0.0
	for lv, q := range m {
		cost += r.nodeCost(int32(lv), q)
	}
	direct := true
	for _, e := range p.edges {
		c, ok := r.v.coupler(m[e.a], m[e.b])
		if !ok {
			direct = false
			break
		}
		cost += e.w * c
	}
	if direct {
		return cost, 0
	}
	cost = 0
	for lv, q := range m {
		cost += r.nodeCost(int32(lv), q)
	}
	g := &r.scoreRegion
	r.setRegion(g, m)
	swaps := 0
	for _, e := range p.edges {
		c, s := r.pairCost(g, e.w, e.a, e.b)
		cost += c
		swaps += s
	}
	return cost, swaps
}

// frag is the fragmentation penalty of a placement: the number of qubits
// the request could use (free, usable, outside other buffers) that are not
// in the placement but within Buffer+1 hops of it. A placement tucked
// against the device's edge, broken qubits or other tasks scores low and
// leaves larger free regions.
func (r *run) frag(m []int32) float64 {
	t := r.v.m.Topology
	b := &r.fb
	n := r.v.n
	if len(b.mark) != n {
		b.mark = make([]uint32, n)
		b.dist = make([]int32, n)
		b.gen = 0
	}
	b.gen++
	if b.gen == 0 {
		clear(b.mark)
		b.gen = 1
	}
	b.queue = b.queue[:0]
	for _, q := range m {
		if q >= 0 && b.mark[q] != b.gen {
			b.mark[q] = b.gen
			b.dist[q] = 0
			b.queue = append(b.queue, q)
		}
	}
	depth := int32(r.radius + 1)
	count := 0
	for h := 0; h < len(b.queue); h++ {
		u := b.queue[h]
		du := b.dist[u]
		if du > 0 && r.allowed(u) {
			count++
		}
		if du == depth {
			continue
		}
		for _, w := range t.Neighbors(int(u)) {
			if b.mark[w] != b.gen {
				b.mark[w] = b.gen
				b.dist[w] = du + 1
				b.queue = append(b.queue, w)
			}
		}
	}
	return float64(count)
}

// fragOne is frag of a single qubit.
func (r *run) fragOne(q int32) float64 {
	one := [1]int32{q}
	return r.frag(one[:])
}
