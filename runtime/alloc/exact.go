package alloc

import "math"

// Exact search: subgraph embedding of the request's core (its vertices with
// an edge) into the usable couplers between allowed qubits, depth first in
// the pattern's order, branch and bound on the objective
//
//	cost = sum over edges w * c(coupler) + sum over vertices (meas * c_ro + oneq * c_1q)
//
// with c = -ln(1 - error). Candidates at each position are the neighbours
// of the parent's image, cheapest coupler first (ties: lowest qubit), so
// that good placements come first and prune the rest. The lower bound of
// what is still to pay pairs the remaining edge weights (descending) with
// the cheapest allowed couplers (ascending), and the remaining readouts and
// single-qubit terms likewise; it is admissible because distinct edges use
// distinct couplers and distinct vertices distinct qubits. Symmetric
// placements are cut by the constraints of symmetry.go.

// embedPossible rules out embeddings that cannot exist on the device at
// all, before any search: a vertex of higher degree than any qubit, or a
// cycle shorter than the device's shortest cycle.
func (r *run) embedPossible() bool {
	p, v := r.p, r.v
	if p.maxDeg > v.maxDeg {
		return false
	}
	if p.girth > 0 && (v.girth == 0 || p.girth < v.girth) {
		return false
	}
	return true
}

// computeBounds fills r.lb[t], the bound of what positions >= t cost
// beyond their tree terms: back edges paired with the cheapest allowed
// couplers (ascending against weights descending: distinct edges use
// distinct couplers) plus the roots still to place. It returns false when
// there are fewer allowed couplers or qubits than the core needs (no
// embedding can exist).
func (r *run) computeBounds() bool {
	p, v := r.p, r.v
	kc := len(p.order)
	needE := len(p.remW[0])
	r.scratch = r.scratch[:0]
	for _, c := range v.sortedC {
		if len(r.scratch) == needE {
			break
		}
		if r.allowed(c.a) && r.allowed(c.b) {
			r.scratch = append(r.scratch, c.c)
		}
	}
	if len(r.scratch) < needE {
		return false
	}
	free := 0
	for _, q := range v.roOrder {
		if r.allowed(q) {
			if free++; free == kc {
				break
			}
		}
	}
	if free < kc {
		return false
	}
	r.tb = v.treeBound(p)
	C := r.scratch
	if cap(r.lb) < kc+1 {
		r.lb = make([]float64, kc+1)
	}
	r.lb = r.lb[:kc+1]
	for t := 0; t <= kc; t++ {
		s := r.tb.rootSuffix[t]
		for i, w := range p.backW[t] {
			s += w * C[i]
		}
		r.lb[t] = s
	}
	return true
}

// searchExact runs the branch and bound, offering every placement better
// than the set's bound. It reports whether the search space was exhausted
// (so the set's best is optimal, or no embedding exists).
func (r *run) searchExact(set *CandidateSet) bool {
	if len(r.p.order) == 0 {
		return true
	}
	r.set = set
	r.dfs(0, 0, 0)
	return !r.stopped
}

// dfs places position t; cost is what the placed positions cost, pend the
// sum of the tree bounds of the subtrees hanging from placed positions.
func (r *run) dfs(t int, cost, pend float64) {
	p, v, tb := r.p, r.v, r.tb
	if t == len(p.order) {
		r.leaf(cost)
		return
	}
	extra := r.lb[t+1]
	if r.fragOn {
		extra += r.fragBound(t)
	}
	lv := p.order[t]
	mw, gw := p.meas[lv], p.oneq[lv]
	kids := p.children[t]
	if par := p.parent[t]; par >= 0 {
		x := r.phi[par]
		other := pend - tb.H[t][x]
		pw := p.parentW[t]
		for i := v.uoff[x]; i < v.uoff[x+1]; i++ {
			ec := cost + pw*v.ucost[i]
			if ec+other+extra >= r.set.Bound() {
				break // neighbours are by cost: the rest cost more
			}
			y := v.unbr[i]
			nc := ec + mw*v.ro[y] + gw*v.e1[y]
			np := other
			for _, c := range kids {
				np += tb.H[c][y]
			}
			if nc+np+extra >= r.set.Bound() {
				continue
			}
			r.try(t, y, nc, np, extra)
			if r.stopped {
				return
			}
		}
		return
	}
	h := tb.Hroot[t]
	// Roots by bound: the static order, or with a fragmentation weight the
	// first position's roots by their bound including it (rootsByFrag).
	roots, byFrag := tb.rootOrder[t], r.fragOn && t == 0
	n := len(roots)
	if byFrag {
		r.rootsByFrag(h)
		n = len(r.froots)
	}
	for i := 0; i < n; i++ {
		var y int32
		var key float64
		if byFrag {
			e := r.popRoot()
			y, key = e.q, e.key
		} else {
			y = roots[i]
			key = h[y]
		}
		if cost+pend+key+extra >= r.set.Bound() {
			return // roots are by bound: the rest are no better
		}
		if r.spend(1) {
			return
		}
		if !r.viable(y, p.compSize[lv]) {
			continue
		}
		nc := cost + mw*v.ro[y] + gw*v.e1[y]
		r.try(t, y, nc, pend+h[y]-(nc-cost), extra)
		if r.stopped {
			return
		}
	}
}

func (r *run) try(t int, y int32, nc, np, extra float64) {
	if r.used[y] || !r.allowed(y) {
		return
	}
	nc, ok := r.p.extend(r.v, r.phi, t, y, nc)
	if !ok || nc+np+extra >= r.set.Bound() {
		return
	}
	if r.spend(1) {
		return
	}
	r.phi[t] = y
	if r.fragOn {
		// extra holds the fragmentation bound before y: raise it to after,
		// reading the count y would make before paying for the update.
		before := r.fcount
		r.fcount += r.fragDelta(y)
		switch {
		case nc+np+r.lb[t+1]+r.fragBound(t+1) >= r.set.Bound():
		case t+1 == len(r.p.order):
			r.dfs(t+1, nc, np) // a leaf reads the count, not the cover
		default:
			r.fcount = before
			r.fragPlace(y)
			r.dfs(t+1, nc, np)
			r.fragUnplace(y)
		}
		r.fcount = before
		return
	}
	r.used[y] = true
	r.dfs(t+1, nc, np)
	r.used[y] = false
}

// extend checks that qubit y may take position t after the positions
// before it (phi): the symmetry constraints hold and every back edge is on
// a usable coupler, whose weighted costs it adds to nc (in the pattern's
// order: the search and the tables sum alike, to the bit).
func (p *pattern) extend(v *view, phi []int32, t int, y int32, nc float64) (float64, bool) {
	for _, s := range p.symLT[t] {
		if phi[s] > y {
			return nc, false
		}
	}
	for _, s := range p.symGT[t] {
		if phi[s] < y {
			return nc, false
		}
	}
	for _, b := range p.back[t] {
		c, ok := v.coupler(phi[b.pos], y)
		if !ok {
			return nc, false
		}
		nc += b.w * c
	}
	return nc, true
}

// rootsByFrag orders the first position's allowed roots by their bound
// with the fragmentation term: the tree bound h[y] plus the weighted count
// of allowed qubits within fdepth hops of y, less one for each other
// position (what fragBound gives once y is placed). The fragmentation
// term, not the cost, usually decides between placements (a few tenths
// against a few hundredths), so the roots tucked against the device's edge
// or other tasks come first and the bound stops the rest early.
func (r *run) rootsByFrag(h []float64) {
	fw := r.req.FragWeight
	rest := len(r.p.order) - 1
	r.froots = r.froots[:0]
	for _, y := range r.tb.rootOrder[0] {
		if !r.allowed(y) {
			continue
		}
		a := len(r.allowedBall(y))
		r.froots = append(r.froots, rootKey{q: y, pos: int32(len(r.froots)), key: h[y] + fw*float64(max(0, a-rest))})
	}
	// A heap, popped as the search goes (popRoot): the bound usually stops
	// it after a few roots, so most of a sort would be wasted.
	for i := len(r.froots)/2 - 1; i >= 0; i-- {
		r.siftRoot(i, len(r.froots))
	}
	r.fheap = len(r.froots)
}

// popRoot removes and returns the root of least bound (ties: the static
// order) from the heap rootsByFrag made.
func (r *run) popRoot() rootKey {
	f := r.froots
	top := f[0]
	r.fheap--
	f[0] = f[r.fheap]
	r.siftRoot(0, r.fheap)
	return top
}

// siftRoot moves froots[i] down to its place in the heap of the first n.
func (r *run) siftRoot(i, n int) {
	f := r.froots
	for {
		m := i
		if l := 2*i + 1; l < n && f[l].less(f[m]) {
			m = l
		}
		if c := 2*i + 2; c < n && f[c].less(f[m]) {
			m = c
		}
		if m == i {
			return
		}
		f[i], f[m] = f[m], f[i]
		i = m
	}
}

func (a rootKey) less(b rootKey) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	return a.pos < b.pos
}

// rootKey is a root, its place in the static order and its bound
// (rootsByFrag).
type rootKey struct {
	q, pos int32
	key    float64
}

// fragBound is a lower bound of the weighted fragmentation term of every
// completion of the positions before t: the placed qubits' count, less one
// for each position still to place (a later qubit can take at most one
// counted qubit out of the count; its neighbours only add to it).
func (r *run) fragBound(t int) float64 {
	c := int(r.fcount) - (len(r.p.order) - t)
	if c <= 0 {
		return 0
	}
	return r.req.FragWeight * float64(c)
}

// allowedBall lists the allowed qubits within fdepth hops of y (y left
// out), computed once per request: the fragmentation count only ever
// looks at those, and the search places and unplaces the same qubits many
// times.
func (r *run) allowedBall(y int32) []int32 {
	if r.fbmark[y] == r.gen {
		return r.fball[r.foff[y] : r.foff[y]+r.flen[y]]
	}
	v := r.v
	start := len(r.fball)
	for i := v.boff[y]; i < v.boff[y+1]; i++ {
		if v.bd[i] > r.fdepth {
			break
		}
		if x := v.bq[i]; r.allowed(x) {
			r.fball = append(r.fball, x)
		}
	}
	r.foff[y], r.flen[y], r.fbmark[y] = int32(start), int32(len(r.fball)-start), r.gen
	return r.fball[start:]
}

// fragDelta is the change fragPlace(y) would make to the count.
func (r *run) fragDelta(y int32) int32 {
	var d int32
	if r.fcover[y] > 0 {
		d--
	}
	for _, x := range r.allowedBall(y) {
		if r.fcover[x] == 0 && !r.used[x] {
			d++
		}
	}
	return d
}

// fragPlace marks y placed and updates the fragmentation count: y leaves
// it (it was counted if covered: it is allowed and was unplaced), and the
// allowed, unplaced qubits within fdepth hops that y covers first join it.
// Only allowed qubits' cover is kept (y is allowed: the others' cover
// never counts).
func (r *run) fragPlace(y int32) {
	if r.fcover[y] > 0 {
		r.fcount--
	}
	r.used[y] = true
	for _, x := range r.allowedBall(y) {
		if r.fcover[x] == 0 && !r.used[x] {
			r.fcount++
		}
		r.fcover[x]++
	}
}

// fragUnplace undoes fragPlace(y).
func (r *run) fragUnplace(y int32) {
	for _, x := range r.allowedBall(y) {
		if r.fcover[x]--; r.fcover[x] == 0 && !r.used[x] {
			r.fcount--
		}
	}
	r.used[y] = false
	if r.fcover[y] > 0 {
		r.fcount++
	}
}

// viable reports whether root y's connected region of allowed qubits
// (over usable couplers) holds at least need qubits: a BFS from y that
// stops as soon as it has seen enough. What it learns is remembered for
// every qubit it reached (a lower bound of the region's size, exact for a
// region found too small), so most roots are answered from the memo.
func (r *run) viable(y int32, need int) bool {
	if !r.allowed(y) {
		return false
	}
	if r.dead[y] == r.gen {
		// deadSize > 0: the region's exact size; < 0: at least -deadSize.
		if s := int(r.deadSize[y]); s > 0 || -s >= need {
			return s >= need || -s >= need
		}
	}
	if need <= 1 {
		return true
	}
	v := r.v
	r.cgen++
	if r.cgen == 0 {
		clear(r.cmark)
		r.cgen = 1
	}
	r.cmark[y] = r.cgen
	q := append(r.queue[:0], y)
	for h := 0; h < len(q); h++ {
		u := q[h]
		for i := v.uoff[u]; i < v.uoff[u+1]; i++ {
			w := v.unbr[i]
			if r.cmark[w] != r.cgen && r.allowed(w) {
				r.cmark[w] = r.cgen
				q = append(q, w)
				if len(q) >= need {
					// Everything reached shares the root's region.
					for _, u := range q {
						r.dead[u] = r.gen
						r.deadSize[u] = -int32(need)
					}
					r.queue = q
					return true
				}
			}
		}
	}
	for _, u := range q {
		r.dead[u] = r.gen
		r.deadSize[u] = int32(len(q))
	}
	r.queue = q
	return false
}

// leaf offers a complete core placement.
func (r *run) leaf(cost float64) {
	m := r.logicalMapping(r.phi)
	obj := cost
	if r.fragOn {
		obj += r.req.FragWeight * float64(r.fcount)
		if obj >= r.set.Bound() {
			return
		}
	} else if r.req.FragWeight > 0 {
		obj += r.req.FragWeight * r.frag(m)
		if obj >= r.set.Bound() {
			return
		}
	}
	r.set.Add(m, obj, false, StrategyExact, false)
}

// logicalMapping converts a mapping by search position into one by logical
// qubit (isolated vertices -1), in a scratch slice.
func (r *run) logicalMapping(phi []int32) []int32 {
	p := r.p
	r.tmap = grow32(r.tmap, p.k)
	for i := range r.tmap {
		r.tmap[i] = -1
	}
	for t, lv := range p.order {
		r.tmap[lv] = phi[t]
	}
	return r.tmap
}

// placeIsolated gives each isolated logical qubit (no interaction) the
// allowed, unused qubit of least node cost (plus fragmentation), heaviest
// qubits first. It reports false when qubits run out.
func (r *run) placeIsolated(m []int32) bool {
	p, v := r.p, r.v
	if len(p.isolated) == 0 {
		return true
	}
	for _, q := range m {
		if q >= 0 {
			r.used[q] = true
		}
	}
	defer func() {
		for _, q := range m {
			if q >= 0 {
				r.used[q] = false
			}
		}
	}()
	// Heaviest first: measured before unmeasured, then by 1q count, index.
	iso := append(r.iso[:0], p.isolated...)
	for i := 1; i < len(iso); i++ {
		for j := i; j > 0; j-- {
			a, b := iso[j], iso[j-1]
			wa, wb := p.meas[a]*1e6+p.oneq[a], p.meas[b]*1e6+p.oneq[b]
			if wa > wb {
				iso[j], iso[j-1] = b, a
			} else {
				break
			}
		}
	}
	r.iso = iso
	fw := r.req.FragWeight
	for _, lv := range iso {
		best, bestC := int32(-1), math.Inf(1)
		order := v.roOrder
		if p.meas[lv] == 0 {
			order = v.e1Order
		}
		for _, q := range order {
			if r.used[q] || !r.allowed(q) {
				continue
			}
			c := p.meas[lv]*v.ro[q] + p.oneq[lv]*v.e1[q]
			if fw == 0 && p.oneq[lv] == 0 {
				best = q // readout order: the first free one is the best
				break
			}
			if fw > 0 {
				c += fw * r.fragOne(q)
			}
			if c < bestC {
				best, bestC = q, c
			}
		}
		if best < 0 {
			return false
		}
		m[lv] = best
		r.used[best] = true
	}
	return true
}
