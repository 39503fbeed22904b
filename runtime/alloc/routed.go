package alloc

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Routed search, for requests whose core does not embed in the allowed
// couplers (a ring on heavy-hex, a star with more leaves than any qubit
// has neighbours, a clique, a dense circuit, or a fragmented device).
// A routed placement puts the core on a connected set of allowed qubits and
// pays the SWAP estimate of score.go for every interacting pair that is not
// coupled directly.
//
// The search is anytime (every placement found is offered at once, the best
// is kept) and runs within the request's budget:
//
//  1. Greedy growth. From seed qubits in promise order (readout plus
//     cheapest coupler), the core's vertices are placed in the pattern
//     order, each on the frontier qubit that adds the least estimated cost,
//     so heavy pairs land on good couplers and the region stays compact.
//     Seeds are grown in batches; the best of each batch by the greedy's
//     estimate get the local search: exchanges of two logical qubits'
//     places and moves of one to a frontier qubit, while the cost drops.
//  2. Cores of at most exactRoutedMax qubits then go to an exact
//     enumeration: every connected set of allowed qubits of the core's size
//     (ESU, Wernicke 2006: each set once, in promise order), pruned by node
//     and cut bounds, and in each set the best assignment by branch and
//     bound under the symmetry constraints. When it completes, the result
//     is optimal for the SWAP model (Placement.Optimal).
//  3. Larger cores get the local search on the other grown regions, then an
//     iterated local search from the best (seeded kicks: a few exchanges and
//     one move), which stops after a number of kicks without improvement
//     that grows with the budget.

// exactRoutedMax is the largest core the exact routed search tries.
const exactRoutedMax = 8

// routedState holds the routed searches' scratch.
type routedState struct {
	comp     []int32 // component label per qubit (-1: not allowed)
	compSize []int32
	cur      []int32 // physical qubit per position
	reg      region
	seen     map[uint64]bool
	cref     float64 // typical coupler cost, for estimates
	// ESU scratch
	sub      []int32
	ext      []int32
	nb       []int32 // closed-neighbourhood count of the current subset
	rank     []int32
	asg      []int32 // assignment: local index per position
	pool     []int32 // grown regions, kc qubits each
	est      []seedEst
	ctb      []float64
	treeMode bool // every connected set of kc allowed qubits is a tree
	// Assignment search: node terms when fixed, cheapest pair per qubit.
	nodesFixed bool
	nodeConst  float64
	minPair    []float64
	bestCur    []int32 // best placement of the heuristic (by position)
	bestCost   float64
	luse       []bool
}

// ensure sizes the per-qubit arrays for a device of n qubits.
func (rs *routedState) ensure(n int) {
	if len(rs.comp) != n {
		rs.comp = make([]int32, n)
		rs.nb = make([]int32, n)
		rs.rank = make([]int32, n)
	}
}

type seedEst struct {
	c    float64 // the greedy's estimated cost
	i    int32   // index in rs.pool
	done bool    // local search run
}

// searchRouted runs the routed searches; it reports whether the exact one
// completed (the set's best is optimal under the SWAP model).
func (r *run) searchRouted(set *CandidateSet) bool {
	p, v := r.p, r.v
	kc := len(p.order)
	if kc == 0 {
		return true
	}
	r.set = set
	rs := &r.rs
	rs.ensure(v.n)
	for i, q := range v.promise {
		rs.rank[q] = int32(i)
	}
	r.components()
	room := 0 // qubits in the regions that can hold the core
	for _, c := range rs.compSize {
		if int(c) >= kc {
			room += int(c)
		}
	}
	if room == 0 {
		return true // no connected region can hold the core
	}
	rs.cref = medianCost(v)
	if rs.seen == nil {
		rs.seen = map[uint64]bool{}
	}
	clear(rs.seen)
	rs.cur = grow32(rs.cur, kc)

	// 1. Greedy growth from seeds, in batches: grow a batch of distinct
	// regions (cheap), then run the local search (dear) on the best ones by
	// the greedy's estimate (all of them for cores of up to 16 qubits).
	batch, keep := 16, 16
	if kc > 16 {
		batch, keep = 8, 1
	}
	if kc <= exactRoutedMax {
		batch, keep = 4, 1 // an incumbent for the exact search's pruning
	}
	rs.pool = rs.pool[:0]
	rs.est = rs.est[:0]
	rs.bestCur = grow32(rs.bestCur, kc)
	rs.bestCost = math.Inf(1)
	seeds := v.promise
	if kc <= exactRoutedMax && room <= smallRoom*kc && r.coreConnected() {
		// Regions this small are enumerated at once: an incumbent from
		// the greedy growth and local search costs more than it prunes
		// (5-qubit chains on half-held heavy-hex: 41 -> 25 us).
		seeds = nil
	}
	for round := 0; len(seeds) > 0 && !r.stopped; round++ {
		first := len(rs.est)
		size := batch
		if round == 0 && kc > exactRoutedMax {
			size = 1 // a first answer fast: large cores grow slowly
		}
		for len(seeds) > 0 && len(rs.est)-first < size && !r.stopped {
			s := seeds[0]
			seeds = seeds[1:]
			if !r.allowed(s) || rs.compSize[rs.comp[s]] < int32(kc) {
				continue
			}
			est, ok := r.grow(s)
			if !ok {
				continue
			}
			h := regionHash(rs.cur)
			if rs.seen[h] {
				continue
			}
			rs.seen[h] = true
			rs.est = append(rs.est, seedEst{est, int32(len(rs.est)), false})
			rs.pool = append(rs.pool, rs.cur...)
		}
		b := rs.est[first:]
		sortEst(b)
		for i := 0; i < min(keep, len(b)) && !r.stopped; i++ {
			r.improveSeed(&b[i])
		}
		if kc <= exactRoutedMax {
			break // the exact search takes over
		}
	}
	if kc <= exactRoutedMax && r.coreConnected() {
		// 2. Exact enumeration of connected sets.
		return r.enumerate()
	}
	// 3. With budget left: the other grown regions, best estimate first
	// (up to 16 more).
	sortEst(rs.est)
	for i := range rs.est[:min(len(rs.est), 16+keep)] {
		if r.stopped {
			return false
		}
		if !rs.est[i].done {
			r.improveSeed(&rs.est[i])
		}
	}
	// 4. Then iterated local search from the best: kick (random exchanges
	// and a move, from a fixed-seed generator), improve, keep if better;
	// stop after max(3, kc/4) kicks in a row that found nothing better
	// (times the budget in units of 100000 nodes: longer budgets search
	// longer).
	if math.IsInf(rs.bestCost, 1) {
		return false
	}
	rng := rand.New(rand.NewPCG(uint64(kc), 0x853c49e6748fea9b))
	patience := max(3, kc/4) * max(1, r.budget/100000)
	for stale := 0; stale < patience && !r.stopped; stale++ {
		copy(rs.cur, rs.bestCur)
		for j := 0; j < 2+rng.IntN(3); j++ {
			a, b := rng.IntN(kc), rng.IntN(kc)
			rs.cur[a], rs.cur[b] = rs.cur[b], rs.cur[a]
		}
		r.kickMove(rng)
		if r.spend(kc) {
			break
		}
		cost := r.improve()
		r.offerRouted(rs.cur, cost, false)
		if cost < rs.bestCost-1e-12 {
			rs.bestCost = cost
			copy(rs.bestCur, rs.cur)
			stale = -1
		}
	}
	return false
}

// smallRoom: with at most smallRoom qubits per core qubit in the regions
// that can hold the core, the routed search enumerates them without first
// growing an incumbent.
const smallRoom = 3

func sortEst(e []seedEst) {
	sort.Slice(e, func(i, j int) bool {
		if e[i].c != e[j].c {
			return e[i].c < e[j].c
		}
		return e[i].i < e[j].i
	})
}

// improveSeed runs the local search on a grown region and offers it.
func (r *run) improveSeed(se *seedEst) {
	rs := &r.rs
	kc := len(r.p.order)
	se.done = true
	copy(rs.cur, rs.pool[int(se.i)*kc:(int(se.i)+1)*kc])
	cost := r.improve()
	r.offerRouted(rs.cur, cost, false)
	if cost < rs.bestCost-1e-12 {
		rs.bestCost = cost
		copy(rs.bestCur, rs.cur)
	}
}

// kickMove moves one random position of rs.cur to a random allowed qubit
// next to the placement (if any).
func (r *run) kickMove(rng *rand.Rand) {
	v, rs := r.v, &r.rs
	kc := len(r.p.order)
	for _, q := range rs.cur {
		r.used[q] = true
	}
	r.queue = r.queue[:0]
	r.fgen++
	for _, x := range rs.cur {
		for i := v.uoff[x]; i < v.uoff[x+1]; i++ {
			if y := v.unbr[i]; !r.used[y] && !r.fmk(y) && r.allowed(y) {
				r.queue = append(r.queue, y)
			}
		}
	}
	for _, q := range rs.cur {
		r.used[q] = false
	}
	if len(r.queue) > 0 {
		rs.cur[rng.IntN(kc)] = r.queue[rng.IntN(len(r.queue))]
	}
	r.queue = r.queue[:0]
}

func (r *run) offerRouted(cur []int32, cost float64, optimal bool) {
	m := r.logicalMapping(cur)
	obj := cost
	if r.req.FragWeight > 0 {
		obj += r.req.FragWeight * r.frag(m)
	}
	r.set.Add(m, obj, true, StrategyRouted, optimal)
}

// coreConnected reports whether the core is one connected component.
func (r *run) coreConnected() bool {
	for t := 1; t < len(r.p.order); t++ {
		if r.p.parent[t] < 0 {
			return false
		}
	}
	return true
}

// components labels the connected components of allowed qubits over usable
// couplers.
func (r *run) components() {
	v, rs := r.v, &r.rs
	if r.compsGen == r.gen {
		return // already labelled for this request
	}
	r.compsGen = r.gen
	for i := range rs.comp {
		rs.comp[i] = -1
	}
	rs.compSize = rs.compSize[:0]
	queue := r.queue[:0]
	for s := 0; s < v.n; s++ {
		if rs.comp[s] >= 0 || !r.allowed(int32(s)) {
			continue
		}
		id := int32(len(rs.compSize))
		rs.comp[s] = id
		queue = append(queue[:0], int32(s))
		for h := 0; h < len(queue); h++ {
			u := queue[h]
			for i := v.uoff[u]; i < v.uoff[u+1]; i++ {
				w := v.unbr[i]
				if rs.comp[w] < 0 && r.allowed(w) {
					rs.comp[w] = id
					queue = append(queue, w)
				}
			}
		}
		rs.compSize = append(rs.compSize, int32(len(queue)))
	}
	r.queue = queue
}

func medianCost(v *view) float64 {
	if len(v.sortedC) == 0 {
		return 0
	}
	return v.sortedC[len(v.sortedC)/2].c
}

func regionHash(q []int32) uint64 {
	var h uint64
	for _, x := range q {
		h ^= zobrist(uint64(x), 0x2545f4914f6cdd1d)
	}
	return h
}

// estimate is the greedy's guess of w gates between physical a and b.
func (r *run) estimate(a, b int32, w float64) float64 {
	if c, ok := r.v.coupler(a, b); ok {
		return w * c
	}
	d := r.v.m.Dist(int(a), int(b))
	if d == 0 || d >= 0xffff {
		return math.Inf(1)
	}
	return (3*float64(d-1) + w) * r.rs.cref
}

// grow places the core greedily from seed into rs.cur and returns its
// estimated cost.
func (r *run) grow(seed int32) (float64, bool) {
	p, v, rs := r.p, r.v, &r.rs
	kc := len(p.order)
	rs.cur[0] = seed
	r.used[seed] = true
	ok := true
	total := r.nodeCost(p.order[0], seed)
	t := 1
	for ; t < kc; t++ {
		lv := p.order[t]
		best, bestC := int32(-1), math.Inf(1)
		r.fgen++
		for s := 0; s < t; s++ {
			x := rs.cur[s]
			for i := v.uoff[x]; i < v.uoff[x+1]; i++ {
				y := v.unbr[i]
				if r.used[y] || r.fmk(y) || !r.allowed(y) {
					continue
				}
				if r.spend(1 + len(p.adj[lv])/2) {
					ok = false
					break
				}
				c := r.nodeCost(lv, y)
				for _, nb := range p.adj[lv] {
					if ps := p.pos[nb.to]; ps >= 0 && int(ps) < t {
						c += r.estimate(rs.cur[ps], y, nb.w)
					}
				}
				if c < bestC || (c == bestC && y < best) {
					best, bestC = y, c
				}
			}
		}
		if best < 0 || !ok {
			ok = false
			break
		}
		rs.cur[t] = best
		r.used[best] = true
		total += bestC
	}
	for s := 0; s < t && s < kc; s++ {
		r.used[rs.cur[s]] = false
	}
	return total, ok
}

// fmk marks y in the per-step frontier and reports whether it was marked.
func (r *run) fmk(y int32) bool {
	if len(r.fmark) != r.v.n {
		r.fmark = make([]uint32, r.v.n)
	}
	if r.fmark[y] == r.fgen {
		return true
	}
	r.fmark[y] = r.fgen
	return false
}

// assignCost is the cost of the current assignment rs.cur on region rs.reg.
func (r *run) assignCost(pos2loc []int32) float64 {
	p, g := r.p, &r.rs.reg
	cost := 0.0
	for t, lv := range p.order {
		cost += r.nodeCost(lv, g.q[pos2loc[t]])
	}
	for _, e := range p.edges {
		c, _ := r.pairCost(g, e.w, pos2loc[p.pos[e.a]], pos2loc[p.pos[e.b]])
		cost += c
	}
	return cost
}

// improve runs the local search on rs.cur and returns its cost:
// exchanges of two logical qubits' places (evaluated by the change of
// their pairs only) and moves of one logical qubit to a frontier qubit
// (screened by an estimate through the frontier qubit's neighbours, then
// evaluated in full), first improvement, until neither helps.
func (r *run) improve() float64 {
	p, rs := r.p, &r.rs
	kc := len(p.order)
	g := &rs.reg
	r.setRegion(g, rs.cur)
	asg := grow32(rs.asg, kc)
	for i := range asg {
		asg[i] = int32(i)
	}
	rs.asg = asg
	cost := r.assignCost(asg)
	ctb := growF(rs.ctb, kc) // contribution of each position
	rs.ctb = ctb
	for t := range ctb {
		ctb[t] = r.contrib(asg, t)
	}
	for round := 0; round < 4*kc && !r.stopped; round++ {
		improved := false
		for a := 0; a < kc && !r.stopped; a++ {
			for b := a + 1; b < kc; b++ {
				if r.spend(1 + len(p.adj[p.order[a]]) + len(p.adj[p.order[b]])) {
					break
				}
				asg[a], asg[b] = asg[b], asg[a]
				na, nb := r.contrib(asg, a), r.contrib(asg, b)
				d := na + nb - ctb[a] - ctb[b]
				if d < -1e-12 {
					cost, improved = cost+d, true
					r.refreshContrib(asg, ctb, a, b)
				} else {
					asg[a], asg[b] = asg[b], asg[a]
				}
			}
		}
		for t := 0; t < kc && !r.stopped; t++ {
			if r.tryMove(t, &cost) {
				improved = true
				for i := range ctb {
					ctb[i] = r.contrib(asg, i)
				}
			}
		}
		if !improved {
			break
		}
	}
	for i := range kc {
		rs.cur[i] = g.q[asg[i]]
	}
	return cost
}

// refreshContrib recomputes the contributions of positions a and b and of
// their pattern neighbours after an exchange.
func (r *run) refreshContrib(asg []int32, ctb []float64, a, b int) {
	p := r.p
	for _, t := range [2]int{a, b} {
		ctb[t] = r.contrib(asg, t)
		for _, nb := range p.adj[p.order[t]] {
			u := int(p.pos[nb.to])
			ctb[u] = r.contrib(asg, u)
		}
	}
}

// contrib is what position t costs on its local qubit: node terms and its
// pairs (each pair appears in both endpoints' contributions).
func (r *run) contrib(asg []int32, t int) float64 {
	p, g := r.p, &r.rs.reg
	lv := p.order[t]
	l := asg[t]
	c := r.nodeCost(lv, g.q[l])
	for _, nb := range p.adj[lv] {
		pc, _ := r.pairCost(g, nb.w, l, asg[p.pos[nb.to]])
		c += pc
	}
	return c
}

// tryMove moves position t to the frontier qubit that lowers the cost
// most, if any; it reports whether it moved.
func (r *run) tryMove(t int, cost *float64) bool {
	p, v, rs := r.p, r.v, &r.rs
	g := &rs.reg
	kc := len(p.order)
	asg := rs.asg
	lv := p.order[t]
	l := asg[t]
	old := r.contrib(asg, t)
	for i := range kc {
		rs.cur[i] = g.q[asg[i]]
		r.used[rs.cur[i]] = true
	}
	var bestQ int32 = -1
	bestC := *cost
	r.fgen++
	for s := 0; s < kc && !r.stopped; s++ {
		x := rs.cur[s]
		for i := v.uoff[x]; i < v.uoff[x+1]; i++ {
			y := v.unbr[i]
			if r.used[y] || r.fmk(y) || !r.allowed(y) {
				continue
			}
			if r.spend(2 + 2*len(p.adj[lv])) {
				break
			}
			// Estimate: y's pairs through its best neighbour in the region.
			est := r.nodeCost(lv, y)
			for _, nb := range p.adj[lv] {
				u := asg[p.pos[nb.to]]
				best := math.Inf(1)
				for j := v.uoff[y]; j < v.uoff[y+1]; j++ {
					z := v.unbr[j]
					if g.mark[z] != g.gen || g.idx[z] == l {
						continue
					}
					lz := g.idx[z]
					c := v.ucost[j]
					if lz == u {
						best = min(best, nb.w*c)
						continue
					}
					uz := int(lz)*g.k + int(u)
					if g.H[uz] < 0 {
						continue
					}
					C := c + g.C[uz]
					cg := max(c, g.Cmax[uz])
					if nb.w >= 3 {
						cg = min(c, g.Cmin[uz])
					}
					best = min(best, 3*(C-cg)+nb.w*cg)
				}
				est += best
			}
			if est >= old-1e-12 {
				continue
			}
			rs.cur[t] = y
			c, _ := r.scoreCore(rs.cur)
			rs.cur[t] = g.q[l]
			if c < bestC-1e-12 {
				bestQ, bestC = y, c
			}
		}
	}
	for i := range kc {
		r.used[rs.cur[i]] = false
	}
	if bestQ < 0 {
		return false
	}
	rs.cur[t] = bestQ
	r.setRegion(g, rs.cur)
	for i := range asg {
		asg[i] = int32(i)
	}
	*cost = bestC
	return true
}

// scoreCore is the routed cost of the core on cur (physical per position).
func (r *run) scoreCore(cur []int32) (float64, int) {
	p := r.p
	g := &r.moveRegion
	r.setRegion(g, cur)
	cost, swaps := 0.0, 0
	for t, lv := range p.order {
		cost += r.nodeCost(lv, cur[t])
	}
	for _, e := range p.edges {
		c, s := r.pairCost(g, e.w, p.pos[e.a], p.pos[e.b])
		cost += c
		swaps += s
	}
	return cost, swaps
}

// enumerate runs the exact routed search; it reports completion.
func (r *run) enumerate() bool {
	p, v, rs := r.p, r.v, &r.rs
	kc := len(p.order)
	for i := range rs.nb {
		rs.nb[i] = 0
	}
	rs.sub = grow32(rs.sub, kc)[:0]
	if cap(rs.luse) < kc {
		rs.luse = make([]bool, kc)
	}
	rs.luse = rs.luse[:kc]
	rs.asg = grow32(rs.asg, kc)
	// Global bounds: the cheapest allowed readout and coupler.
	roMin, cMin := math.Inf(1), math.Inf(1)
	for _, q := range v.roOrder {
		if r.allowed(q) {
			roMin = v.ro[q]
			break
		}
	}
	for _, c := range v.sortedC {
		if r.allowed(c.a) && r.allowed(c.b) {
			cMin = c.c
			break
		}
	}
	if math.IsInf(roMin, 1) || math.IsInf(cMin, 1) {
		return true
	}
	sumW, allMeas := 0.0, true
	for _, e := range p.edges {
		sumW += e.w
	}
	for _, lv := range p.order {
		if p.meas[lv] != 1 || p.oneq[lv] != 0 {
			allMeas = false
		}
	}
	rs.treeMode = p.cut != nil && (v.girth == 0 || v.girth > kc)
	// When the core does not embed, some pair needs a SWAP (3 gates).
	edgeLB := sumW * cMin
	if r.noEmbed {
		edgeLB += 3 * cMin
	}
	for _, s := range v.promise {
		if r.stopped {
			return false
		}
		if !r.allowed(s) || r.rs.compSize[r.rs.comp[s]] < int32(kc) {
			continue
		}
		if allMeas && v.ro[s]+float64(kc-1)*roMin+edgeLB >= r.set.Bound() {
			continue
		}
		r.esuAdd(s)
		ext := rs.ext[:0]
		for i := v.uoff[s]; i < v.uoff[s+1]; i++ {
			u := v.unbr[i]
			if rs.rank[u] > rs.rank[s] && r.allowed(u) {
				ext = append(ext, u)
			}
		}
		rs.ext = ext
		r.esu(s, 0, len(ext), v.ro[s], allMeas, roMin, edgeLB)
		r.esuRemove(s)
	}
	return !r.stopped
}

func (r *run) esuAdd(w int32) {
	v, rs := r.v, &r.rs
	rs.sub = append(rs.sub, w)
	rs.nb[w]++
	for i := v.uoff[w]; i < v.uoff[w+1]; i++ {
		rs.nb[v.unbr[i]]++
	}
}

func (r *run) esuRemove(w int32) {
	v, rs := r.v, &r.rs
	rs.sub = rs.sub[:len(rs.sub)-1]
	rs.nb[w]--
	for i := v.uoff[w]; i < v.uoff[w+1]; i++ {
		rs.nb[v.unbr[i]]--
	}
}

// esu extends the current subset with the extension set rs.ext[lo:hi].
func (r *run) esu(root int32, lo, hi int, roSum float64, allMeas bool, roMin, edgeLB float64) {
	v, rs := r.v, &r.rs
	kc := len(r.p.order)
	if len(rs.sub) == kc {
		r.solveSubset()
		return
	}
	if rs.treeMode && len(rs.sub) >= 2 {
		// Partial cut bound: every connected set of kc qubits is a tree
		// here, so each coupler inside the partial set stays a bridge; its
		// sides (a, b) can only grow to (s, kc-s) with s in [a, kc-b].
		lb := r.partialCut()
		if allMeas {
			lb += roSum + float64(kc-len(rs.sub))*roMin
		}
		if lb >= r.set.Bound() {
			return
		}
	}
	for i := hi - 1; i >= lo; i-- {
		if r.spend(1) {
			return
		}
		w := rs.ext[i]
		nr := roSum + v.ro[w]
		if allMeas && nr+float64(kc-len(rs.sub)-1)*roMin+edgeLB >= r.set.Bound() {
			continue
		}
		// New extension: the rest of this one plus w's exclusive neighbours.
		start := len(rs.ext)
		rs.ext = append(rs.ext, rs.ext[lo:i]...)
		for j := v.uoff[w]; j < v.uoff[w+1]; j++ {
			u := v.unbr[j]
			if rs.nb[u] == 0 && rs.rank[u] > rs.rank[root] && r.allowed(u) {
				rs.ext = append(rs.ext, u)
			}
		}
		end := len(rs.ext)
		r.esuAdd(w)
		r.esu(root, start, end, nr, allMeas, roMin, edgeLB)
		r.esuRemove(w)
		rs.ext = rs.ext[:start]
		if r.stopped {
			return
		}
	}
}

// partialCut is the cut bound of the current partial set (a tree).
func (r *run) partialCut() float64 {
	v, rs, p := r.v, &r.rs, r.p
	t := len(rs.sub)
	kc := len(p.order)
	// Tree edges by a DFS from the first qubit: parent of each.
	var par [exactRoutedMax]int8
	var pc [exactRoutedMax]float64
	var order [exactRoutedMax]int8
	var seen uint16 = 1
	order[0], par[0] = 0, -1
	n := 1
	for h := 0; h < n; h++ {
		x := order[h]
		for j := 0; j < t; j++ {
			if seen&(1<<j) != 0 {
				continue
			}
			if c, ok := v.coupler(rs.sub[x], rs.sub[j]); ok {
				seen |= 1 << j
				par[j], pc[j] = x, c
				order[n] = int8(j)
				n++
			}
		}
	}
	var size [exactRoutedMax]int
	lb := 0.0
	for h := n - 1; h > 0; h-- {
		x := order[h]
		size[x]++
		size[par[x]] += size[x]
		lb += pc[x] * p.cutMin[size[x]][kc-t]
	}
	return lb
}

// solveSubset finds the best assignment of the core to the subset rs.sub.
func (r *run) solveSubset() {
	p, v, rs := r.p, r.v, &r.rs
	kc := len(p.order)
	bound := r.set.Bound()
	// Node bound: the subset's readout costs against the measured count
	// (exact when every qubit is measured).
	ros := r.scratch2[:0]
	for _, q := range rs.sub {
		ros = append(ros, v.ro[q])
	}
	sort.Float64s(ros)
	r.scratch2 = ros
	nodeLB := 0.0
	for i := 0; i < int(p.remMeas[0]+0.5) && i < len(ros); i++ {
		nodeLB += ros[i]
	}
	// Edge bounds. (a) Every pair costs at least w times the cheapest
	// coupler inside, plus a SWAP when no embedding exists. (b) Cut bound:
	// every pattern pair split by a bridge of the subset routes over it,
	// and a pair routed over a path of cost C costs at least min(w, 3) C;
	// so a bridge whose removal leaves s qubits on one side carries at
	// least p.cut[s] (the least min(w,3)-weight of pattern pairs any split
	// of sizes s, kc-s cuts) times its cost.
	var adj [exactRoutedMax]uint16
	type bridge struct {
		i, j int
		c    float64
	}
	var edges [exactRoutedMax * 4]bridge
	ne := 0
	cMin := math.Inf(1)
	for i := 0; i < kc; i++ {
		for j := i + 1; j < kc; j++ {
			if c, ok := v.coupler(rs.sub[i], rs.sub[j]); ok {
				adj[i] |= 1 << j
				adj[j] |= 1 << i
				if ne < len(edges) {
					edges[ne] = bridge{i, j, c}
					ne++
				}
				cMin = min(cMin, c)
			}
		}
	}
	if math.IsInf(cMin, 1) {
		return
	}
	sumW := 0.0
	for _, e := range p.edges {
		sumW += e.w
	}
	edgeLB := sumW * cMin
	if r.noEmbed {
		edgeLB += 3 * cMin
	}
	if p.cut != nil {
		cut := 0.0
		for _, e := range edges[:ne] {
			// Is (i, j) a bridge? Flood from i without it.
			seen := uint16(1) << e.i
			frontier := seen
			for frontier != 0 {
				next := uint16(0)
				for x := 0; x < kc; x++ {
					if frontier&(1<<x) != 0 {
						a := adj[x]
						if x == e.i {
							a &^= 1 << e.j
						} else if x == e.j {
							a &^= 1 << e.i
						}
						next |= a
					}
				}
				frontier = next &^ seen
				seen |= next
			}
			if seen&(1<<e.j) == 0 {
				cut += p.cut[bitsCount(seen)] * e.c
			}
		}
		edgeLB = max(edgeLB, cut)
	}
	if nodeLB+edgeLB >= bound {
		return
	}
	g := &rs.reg
	r.setRegion(g, rs.sub)
	for i := range rs.luse {
		rs.luse[i] = false
	}
	// Node terms do not depend on the assignment when every qubit is
	// measured and there are no single-qubit terms.
	rs.nodesFixed, rs.nodeConst = true, 0
	for _, lv := range p.order {
		if p.meas[lv] != 1 || p.oneq[lv] != 0 {
			rs.nodesFixed = false
		}
	}
	if rs.nodesFixed {
		for _, q := range rs.sub {
			rs.nodeConst += v.ro[q]
		}
	}
	rs.minPair = growF(rs.minPair, kc)
	for x := int32(0); x < int32(kc); x++ {
		m := math.Inf(1)
		for y := int32(0); y < int32(kc); y++ {
			if y != x {
				c, _ := r.pairCost(g, 1, x, y)
				m = min(m, c)
			}
		}
		rs.minPair[x] = m
	}
	r.assign(0, 0, cMin)
}

func bitsCount(x uint16) int {
	c := 0
	for ; x != 0; x &= x - 1 {
		c++
	}
	return c
}

// assign is the branch and bound over assignments of positions to the
// subset's local qubits. Children are tried cheapest first. The bound of
// what is still to pay counts, for every pattern edge not yet paid, the
// cheapest pair from its placed endpoint's qubit (w-1 more gates at the
// subset's cheapest coupler: pairCost(w) >= pairCost(1) + (w-1) cMin), or
// w cMin when neither end is placed.
func (r *run) assign(t int, cost, cMin float64) {
	p, rs := r.p, &r.rs
	g := &rs.reg
	kc := len(p.order)
	if t == kc {
		for i := 0; i < kc; i++ {
			rs.cur[i] = g.q[rs.asg[i]]
		}
		r.offerRouted(rs.cur, cost+rs.nodeConst, false)
		return
	}
	lv := p.order[t]
	type cand struct {
		li int32
		c  float64
	}
	var cs [exactRoutedMax]cand
	nc := 0
	for li := int32(0); li < int32(kc); li++ {
		if rs.luse[li] {
			continue
		}
		q := g.q[li]
		ok := true
		for _, s := range p.symLT[t] {
			if g.q[rs.asg[s]] > q {
				ok = false
				break
			}
		}
		for _, s := range p.symGT[t] {
			if g.q[rs.asg[s]] < q {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		// Later positions constrained to lie above (below) this one each
		// need a distinct unused qubit above (below) it.
		if na, nb := p.symAbove[t], p.symBelow[t]; na > 0 || nb > 0 {
			above, below := 0, 0
			for lj := int32(0); lj < int32(kc); lj++ {
				if !rs.luse[lj] && lj != li {
					if g.q[lj] > q {
						above++
					} else {
						below++
					}
				}
			}
			if above < na || below < nb {
				continue
			}
		}
		c := cost
		if !rs.nodesFixed {
			c += r.nodeCost(lv, q)
		}
		if par := p.parent[t]; par >= 0 {
			pc, _ := r.pairCost(g, p.parentW[t], rs.asg[par], li)
			c += pc
		}
		for _, b := range p.back[t] {
			pc, _ := r.pairCost(g, b.w, rs.asg[b.pos], li)
			c += pc
		}
		j := nc
		for j > 0 && cs[j-1].c > c {
			cs[j] = cs[j-1]
			j--
		}
		cs[j] = cand{li, c}
		nc++
	}
	for _, x := range cs[:nc] {
		if x.c+rs.nodeConst >= r.set.Bound() {
			return // by cost: the rest are no better
		}
		rs.asg[t] = x.li
		rs.luse[x.li] = true
		lb := r.assignBound(t+1, cMin)
		if x.c+lb+rs.nodeConst < r.set.Bound() {
			if r.spend(1) {
				rs.luse[x.li] = false
				return
			}
			r.assign(t+1, x.c, cMin)
		}
		rs.luse[x.li] = false
		if r.stopped {
			return
		}
	}
}

// assignBound bounds the pairs not yet paid once positions < t are placed.
func (r *run) assignBound(t int, cMin float64) float64 {
	p, rs := r.p, &r.rs
	lb := 0.0
	for _, e := range p.edges {
		a, b := int(p.pos[e.a]), int(p.pos[e.b])
		switch {
		case a < t && b < t:
		case a < t:
			lb += rs.minPair[rs.asg[a]] + (e.w-1)*cMin
		case b < t:
			lb += rs.minPair[rs.asg[b]] + (e.w-1)*cMin
		default:
			lb += e.w * cMin
		}
	}
	return lb
}
