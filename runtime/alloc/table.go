package alloc

import (
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Embedding tables. The exact search's space for a small core on a device
// is small: a 5-qubit chain has 291 embeddings on the 127-qubit heavy-hex
// ibm_sherbrooke (its reverse is the same placement), whatever the
// occupancy. So for such a core the space is listed once per (pattern,
// calibration epoch), in the order the search visits it (roots by their
// tree bound, neighbours cheapest first, the shape's symmetric duplicates
// cut by the same constraints), each embedding with its cost computed as
// the search computes it, and sorted by cost, stably. A request scans the
// list: the first embedding whose qubits it may all use is the search's
// answer (least cost, ties to the search order), and the scan proves it as
// the search would, by reaching the set's bound or the end. A request on
// half-occupied devices looks at a few tens of entries instead of opening
// a hundred search nodes (5-qubit chains on half-held ibm_sherbrooke: 10 ->
// 3.7 us natively); one that does not embed reads the list to its end
// instead of exhausting the search, and then reads the region table
// (regionBuild) instead of enumerating regions.
//
// With a fragmentation weight (which depends on the occupancy, so the
// order cannot include it) the scan weighs each embedding it may use, from
// bit sets, and stops at the first cost that alone reaches the best
// objective. A core whose space is larger than tableMaxEntries embeddings,
// or takes more than tableBuildNodes steps to list, keeps the search; so
// do cores of more than tableMaxCore qubits.

const (
	// tableMaxCore is the largest core listed.
	tableMaxCore = 8
	// tableMaxEntries bounds the embeddings of one table.
	tableMaxEntries = 2048
	// tableBuildNodes bounds the steps of listing one table (a table that
	// needs more is given up). Listing is done once per pattern and epoch,
	// inside the request that first needs it, so it must stay well within
	// a module call's deadline: at most about 0.5 ms natively, 20 times
	// that in a WebAssembly guest (BenchmarkTableBuild).
	tableBuildNodes = 1 << 14
	// tableCacheEntries bounds the embeddings kept in the tables of one
	// view (one epoch): the cache is emptied past it. An entry takes up to
	// about 170 bytes with its bit sets, so the tables of a view stay
	// within a few megabytes, well inside a guest's memory limit.
	tableCacheEntries = 1 << 15
	// regionTables bounds the region tables kept (made or being made) per
	// view, for as many request shapes: at most 2,048 regions each.
	regionTables = 16
)

// useTables lets the exact phase use embedding tables (off only in tests,
// to compare with the search).
var useTables = true

// embTable lists the embeddings of a pattern's core on a view.
type embTable struct {
	kc   int
	cost []float64 // ascending; ties in search order
	phi  []int32   // kc qubits per entry, by search position
	// On small devices: words per bit set, each entry's qubits (emask)
	// and, per radius, its neighbourhoods (fragBalls).
	words  int
	emask  []uint64
	fballs [ballRadius + 1]atomic.Pointer[[]uint64]
}

func (t *embTable) len() int { return len(t.cost) }

// tableCache holds the tables of the patterns seen on one view; a nil
// table records a pattern whose space is too large to list.
type tableCache struct {
	mu      sync.Mutex
	m       map[*pattern]*embTable
	entries int
	builds  map[*pattern]*regionBuild // region tables, made a part per request
}

// table returns the embedding table of p on v, listing it on first use,
// or nil when p's core is not listed.
func (v *view) table(p *pattern) *embTable {
	kc := len(p.order)
	if kc == 0 || kc > tableMaxCore {
		return nil
	}
	return v.cachedTable(p, func() *embTable { return buildTable(v, p) })
}

// regionTable returns the routed-region table of p on v (regionBuild):
// nil until it is made, and when p's core is not listed. With work, it
// first works on it a part (the request has its answer already: the work
// must not eat into its time).
func (v *view) regionTable(p *pattern, work bool) *embTable {
	kc := len(p.order)
	if kc < 2 || kc > exactRoutedMax {
		return nil
	}
	for t := 1; t < kc; t++ {
		if p.parent[t] < 0 {
			return nil // a disconnected core is routed by the search
		}
	}
	et := v.table(p)
	if et == nil {
		return nil
	}
	v.tables.mu.Lock()
	if v.tables.builds == nil {
		v.tables.builds = map[*pattern]*regionBuild{}
	}
	b := v.tables.builds[p]
	if b == nil {
		if len(v.tables.builds) >= regionTables {
			clear(v.tables.builds)
		}
		b = newRegionBuild(v, p, et)
		v.tables.builds[p] = b
	}
	v.tables.mu.Unlock()
	return b.advance(work)
}

func (v *view) cachedTable(key *pattern, build func() *embTable) *embTable {
	v.tables.mu.Lock()
	t, ok := v.tables.m[key]
	v.tables.mu.Unlock()
	if ok {
		return t
	}
	t = build()
	v.tables.mu.Lock()
	size := 1
	if t != nil {
		size += t.len()
	}
	if v.tables.m == nil || v.tables.entries+size > tableCacheEntries || len(v.tables.m) >= 1024 {
		v.tables.m, v.tables.entries = map[*pattern]*embTable{}, 0
	}
	v.tables.m[key] = t
	v.tables.entries += size
	v.tables.mu.Unlock()
	return t
}

// tableBuilder lists a core's embeddings into the usable couplers (every
// qubit taken as allowed) in the exact search's order.
type tableBuilder struct {
	v     *view
	p     *pattern
	tb    *treeBound
	phi   []int32
	used  []bool
	cost  []float64
	flat  []int32
	nodes int
	over  bool
}

func buildTable(v *view, p *pattern) *embTable {
	kc := len(p.order)
	if p.maxDeg > v.maxDeg || (p.girth > 0 && (v.girth == 0 || p.girth < v.girth)) {
		return &embTable{kc: kc} // nothing embeds (embedPossible)
	}
	b := &tableBuilder{v: v, p: p, tb: v.treeBound(p), phi: make([]int32, kc), used: make([]bool, v.n)}
	b.dfs(0, 0)
	if b.over {
		return nil
	}
	return sortedTable(v, kc, b.cost, b.flat)
}

// sortedTable makes a table of the entries (cost[i], flat[i*kc:(i+1)*kc])
// sorted by cost, stably: equal costs keep the listing order.
// On devices of up to maskCheapQubits qubits each entry also gets its
// qubits as a bit set, checked against the allowed set a word at a time.
func sortedTable(v *view, kc int, cost []float64, flat []int32) *embTable {
	idx := make([]int32, len(cost))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortStableFunc(idx, func(i, j int32) int {
		switch ci, cj := cost[i], cost[j]; {
		case ci < cj:
			return -1
		case ci > cj:
			return 1
		}
		return 0
	})
	t := &embTable{kc: kc, cost: make([]float64, len(idx)), phi: make([]int32, len(idx)*kc)}
	for i, j := range idx {
		t.cost[i] = cost[j]
		copy(t.phi[i*kc:(i+1)*kc], flat[int(j)*kc:(int(j)+1)*kc])
	}
	if v.n <= maskCheapQubits {
		t.words = (v.n + 63) / 64
		t.emask = make([]uint64, len(idx)*t.words)
		for i := range idx {
			row := t.emask[i*t.words : (i+1)*t.words]
			for _, q := range t.phi[i*kc : (i+1)*kc] {
				row[q>>6] |= 1 << (q & 63)
			}
		}
	}
	return t
}

// fragBalls returns, for isolation distance d-1, each entry's
// neighbourhood of radius d less its own qubits as bit sets (what
// fragCount ORs together for it), made on first use; nil when the table
// has no bit sets or d has no neighbourhood bit sets.
func (t *embTable) fragBalls(v *view, d int) []uint64 {
	if t.emask == nil || d < 1 || d > ballRadius {
		return nil
	}
	if fb := t.fballs[d].Load(); fb != nil {
		return *fb
	}
	balls := v.ballBits(d)
	if balls == nil {
		return nil
	}
	words, kc := t.words, t.kc
	fb := make([]uint64, len(t.emask))
	for i := range t.cost {
		row := fb[i*words : (i+1)*words]
		for _, q := range t.phi[i*kc : (i+1)*kc] {
			b := balls[int(q)*words : (int(q)+1)*words]
			for w := range row {
				row[w] |= b[w]
			}
		}
		for w := range row {
			row[w] &^= t.emask[i*words+w]
		}
	}
	t.fballs[d].Store(&fb)
	return fb
}

// dfs lists the placements of positions t.. given those before, with the
// cost sums of run.dfs and run.try (the same expressions in the same
// order, so that costs are equal to the bit).
func (b *tableBuilder) dfs(t int, cost float64) {
	p, v := b.p, b.v
	if t == len(p.order) {
		if len(b.cost) == tableMaxEntries {
			b.over = true
			return
		}
		b.cost = append(b.cost, cost)
		b.flat = append(b.flat, b.phi...)
		return
	}
	if b.nodes++; b.nodes > tableBuildNodes {
		b.over = true
		return
	}
	lv := p.order[t]
	mw, gw := p.meas[lv], p.oneq[lv]
	if par := p.parent[t]; par >= 0 {
		x := b.phi[par]
		pw := p.parentW[t]
		for i := v.uoff[x]; i < v.uoff[x+1] && !b.over; i++ {
			ec := cost + pw*v.ucost[i]
			y := v.unbr[i]
			nc := ec + mw*v.ro[y] + gw*v.e1[y]
			b.try(t, y, nc)
		}
		return
	}
	for _, y := range b.tb.rootOrder[t] {
		if b.over {
			return
		}
		nc := cost + mw*v.ro[y] + gw*v.e1[y]
		b.try(t, y, nc)
	}
}

func (b *tableBuilder) try(t int, y int32, nc float64) {
	if b.used[y] || !b.v.usable[y] {
		return
	}
	nc, ok := b.p.extend(b.v, b.phi, t, y, nc)
	if !ok {
		return
	}
	b.phi[t] = y
	b.used[y] = true
	b.dfs(t+1, nc)
	b.used[y] = false
}

// scanTable offers, in the table's order, every entry the request may
// use (all its qubits allowed) that beats the set's bound: embeddings, or
// with routed the best assignments of a region table (as routed
// placements). It reports whether it reached the bound or the end (the
// set's best is then the optimum, or no entry fits). With a fragmentation
// weight an entry's objective is its cost plus the weighted count
// (fragCount), and the scan stops at the first cost that reaches the bound
// (the count is never negative). An entry examined counts as a search node.
func (r *run) scanTable(t *embTable, set *CandidateSet, routed bool) bool {
	kc := t.kc
	mask := r.allowedMask()
	fw := r.req.FragWeight
	strategy := StrategyExact
	if routed {
		strategy = StrategyRouted
	}
	words := t.words // 0: no bit sets per entry (a large device)
	var fb []uint64
	if fw > 0 {
		fb = t.fragBalls(r.v, r.radius+1)
	}
	for i, c := range t.cost {
		if c >= set.Bound() {
			return true
		}
		if r.spend(1) {
			return false
		}
		phi := t.phi[i*kc : (i+1)*kc : (i+1)*kc]
		ok := true
		if words > 0 {
			em := t.emask[i*words : (i+1)*words : (i+1)*words]
			for w, x := range em {
				if x&^mask[w] != 0 {
					ok = false
					break
				}
			}
		} else {
			for _, q := range phi {
				if mask[q>>6]&(1<<(q&63)) == 0 {
					ok = false
					break
				}
			}
		}
		if !ok {
			continue
		}
		obj := c
		if fw > 0 {
			var frag float64
			if fb != nil {
				n := 0
				for w, x := range fb[i*words : (i+1)*words : (i+1)*words] {
					n += bits.OnesCount64(x & mask[w])
				}
				frag = float64(n)
			} else {
				frag = r.fragCount(r.logicalMapping(phi))
			}
			if obj += fw * frag; obj >= set.Bound() {
				continue
			}
		}
		set.Add(r.logicalMapping(phi), obj, routed, strategy, false)
	}
	return true
}

// fragCount is frag(m) from bit sets when the isolation distance and the
// device's size allow (the qubits within Buffer+1 hops of each qubit of m,
// over all couplers, OR-ed, less m, against the allowed qubits): a few word
// operations per qubit instead of a BFS.
func (r *run) fragCount(m []int32) float64 {
	d := r.radius + 1
	if r.fballs == nil || r.fballsD != d {
		r.fballs, r.fballsD = r.v.ballBits(d), d
	}
	balls := r.fballs
	var mask []uint64
	if balls != nil {
		mask = r.maskIfCheap()
	}
	if mask == nil {
		return r.frag(m)
	}
	words := len(mask)
	acc := grow64(r.facc, words)
	clear(acc)
	for _, q := range m {
		if q >= 0 {
			b := balls[int(q)*words : (int(q)+1)*words : (int(q)+1)*words]
			for w := range acc {
				acc[w] |= b[w]
			}
		}
	}
	for _, q := range m {
		if q >= 0 {
			acc[q>>6] &^= 1 << (q & 63)
		}
	}
	count := 0
	for w := range acc {
		count += bits.OnesCount64(acc[w] & mask[w])
	}
	r.facc = acc
	return float64(count)
}

func grow64(s []uint64, n int) []uint64 {
	if cap(s) < n {
		return make([]uint64, n)
	}
	return s[:n]
}

// ballBits returns, for d in 1..ballRadius on devices of up to
// ballBitsMaxQubits qubits, each qubit's neighbourhood of radius d (over
// all couplers, the qubit left out) as bit sets of (n+63)/64 words, qubit q
// at [q*words, (q+1)*words); nil otherwise. Made on first use.
func (v *view) ballBits(d int) []uint64 {
	if d < 1 || d > ballRadius || v.n > ballBitsMaxQubits {
		return nil
	}
	v.ballsOnce[d].Do(func() {
		words := (v.n + 63) / 64
		b := make([]uint64, v.n*words)
		for q := 0; q < v.n; q++ {
			row := b[q*words : (q+1)*words]
			for i := v.boff[q]; i < v.boff[q+1]; i++ {
				if int(v.bd[i]) > d {
					break
				}
				x := v.bq[i]
				row[x>>6] |= 1 << (x & 63)
			}
		}
		v.balls[d] = b
	})
	return v.balls[d]
}

// ballBitsMaxQubits bounds the devices whose neighbourhoods are kept as bit
// sets (1,152 qubits: 166 KB per radius).
const ballBitsMaxQubits = 1152

// allowedMask returns the qubits the request may use as a bit set (bit q
// of word q/64), computed once per request from the occupancy: usable,
// free and not reserved qubits, less the neighbourhoods (ballBits) that
// each held qubit's isolation distance (the larger of its task's and the
// request's) and each reserved qubit's (the request's) keep away. It is
// allowed for every qubit; when a distance is past ballRadius or the
// device too large for bit sets, it is made qubit by qubit.
func (r *run) allowedMask() []uint64 {
	if r.maskGen == r.gen {
		return r.mask
	}
	v := r.v
	words := (v.n + 63) / 64
	if len(r.mask) != words {
		r.mask = make([]uint64, words)
	}
	clear(r.mask)
	var owner []int32
	if r.occ != nil {
		owner = r.occ.owner
	}
	for q, ok := range v.usable {
		if ok && (owner == nil || owner[q] < 0) && r.rmark[q] != r.gen {
			r.mask[q>>6] |= 1 << (q & 63)
		}
	}
	if r.checkBuf && !r.clearBuffers() {
		clear(r.mask)
		for q := 0; q < v.n; q++ {
			if r.allowed(int32(q)) {
				r.mask[q>>6] |= 1 << (q & 63)
			}
		}
	}
	r.maskGen = r.gen
	return r.mask
}

// maskIfCheap returns allowedMask when it is made already or cheap to make
// (devices of up to maskCheapQubits qubits), else nil: a caller with a
// handful of qubits to check on a large device does better qubit by qubit.
func (r *run) maskIfCheap() []uint64 {
	if r.maskGen == r.gen || r.v.n <= maskCheapQubits {
		return r.allowedMask()
	}
	return nil
}

// maskCheapQubits: up to this many qubits, making allowedMask costs less
// than checking a placement's qubits one by one.
const maskCheapQubits = 256

// clearBuffers takes the isolation neighbourhoods of held and reserved
// qubits out of r.mask; false when some needs a radius without bit sets.
func (r *run) clearBuffers() bool {
	v, mask := r.v, r.mask
	words := len(mask)
	var byRadius [ballRadius + 1][]uint64
	cut := func(q int32, d int) bool {
		if d == 0 {
			return true
		}
		if d > ballRadius {
			return false
		}
		balls := byRadius[d]
		if balls == nil {
			if balls = v.ballBits(d); balls == nil {
				return false
			}
			byRadius[d] = balls
		}
		b := balls[int(q)*words : (int(q)+1)*words : (int(q)+1)*words]
		for w := range mask {
			mask[w] &^= b[w]
		}
		return true
	}
	if occ := r.occ; occ != nil && occ.used > 0 {
		for q, s := range occ.owner {
			if s >= 0 && !cut(int32(q), max(r.radius, occ.slots[s].buffer)) {
				return false
			}
		}
	}
	for _, q := range r.resList {
		if !cut(q, r.radius) {
			return false
		}
	}
	return true
}

// regionBuild makes a pattern's region table: for a connected core of at
// most exactRoutedMax qubits, every connected set of as many usable qubits
// in which the core does not embed (every qubit taken as allowed; the sets
// where it embeds are those of the embedding table, and a routed request
// never has all of one to itself: it would have embedded), each with the
// best assignment of the core to it under the SWAP model of score.go,
// found by the routed search's own branch and bound (solveSubset), sorted
// by cost. A routed request then takes the first region whose qubits it
// may all use: the routed search's exact enumeration, done once per
// (pattern, epoch). On heavy-hex few connected sets are not chains (91 of
// 382 for 5 qubits on ibm_sherbrooke, listed and solved in 7,400 steps,
// 0.8 ms natively), so few are solved.
//
// The work is spread over the requests that need it, regionStepsPerCall
// steps (ESU steps and search nodes) at a time, a root qubit's sets at
// once, each after the request's own search, so that no request (in a
// WebAssembly guest, no module call) pays for all of it and none is
// answered later; until it is done they route with the search, whose
// answers cost the same. Past tableMaxEntries regions or regionBuildNodes
// steps in all it is given up, and the search routes.
type regionBuild struct {
	mu      sync.Mutex
	v       *view
	p       *pattern
	embeds  map[[exactRoutedMax]int32]bool
	r       *run
	next    int32 // the next root qubit
	steps   int
	cost    []float64
	flat    []int32
	set     CandidateSet
	ext     []int32
	table   *embTable
	dropped bool
}

const (
	// regionBuildNodes bounds the steps of a whole region table.
	regionBuildNodes = 1 << 13
	// regionStepsPerCall bounds the steps one request spends on it: about
	// 0.3 ms natively, 5 ms in a WebAssembly guest.
	regionStepsPerCall = 2048
)

func newRegionBuild(v *view, p *pattern, et *embTable) *regionBuild {
	kc := len(p.order)
	b := &regionBuild{v: v, p: p, embeds: make(map[[exactRoutedMax]int32]bool, et.len())}
	for i := range et.len() {
		b.embeds[regionKey(et.phi[i*kc:(i+1)*kc])] = true
	}
	b.r = newRun(v)
	b.r.reset(p, &Request{Qubits: p.k}, nil, nil, math.MaxInt, time.Time{})
	rs := &b.r.rs
	rs.ensure(v.n)
	rs.sub = grow32(rs.sub, kc)[:0]
	rs.luse = make([]bool, kc)
	rs.asg = grow32(rs.asg, kc)
	rs.cur = grow32(rs.cur, kc)
	return b
}

// regionKey names a set of qubits whatever their order.
func regionKey(set []int32) [exactRoutedMax]int32 {
	var k [exactRoutedMax]int32
	copy(k[:], set)
	slices.Sort(k[:len(set)])
	return k
}

// advance returns the table once made, else nil; with work, it first
// works on it for up to regionStepsPerCall steps (unless another request
// is at it).
func (b *regionBuild) advance(work bool) *embTable {
	if !b.mu.TryLock() {
		return nil
	}
	defer b.mu.Unlock()
	if b.table != nil || b.dropped || !work {
		return b.table
	}
	v := b.v
	budget := b.steps + regionStepsPerCall
	for ; b.next < int32(v.n); b.next++ {
		if b.steps >= budget {
			return nil // the next request goes on
		}
		s := b.next
		if !v.usable[s] {
			continue
		}
		b.r.esuAdd(s)
		b.ext = b.ext[:0]
		for i := v.uoff[s]; i < v.uoff[s+1]; i++ {
			if u := v.unbr[i]; u > s && v.usable[u] {
				b.ext = append(b.ext, u)
			}
		}
		ok := b.esu(s, 0, len(b.ext))
		b.r.esuRemove(s)
		if !ok {
			b.dropped, b.cost, b.flat, b.embeds = true, nil, nil, nil
			return nil
		}
	}
	b.table = sortedTable(v, len(b.p.order), b.cost, b.flat)
	b.cost, b.flat, b.embeds, b.r = nil, nil, nil, nil
	return b.table
}

// esu lists the connected sets grown from the current one with the
// extension b.ext[lo:hi] (Wernicke's ESU, each set once: the routed
// search's esuAdd and esuRemove keep the set and its neighbourhood counts),
// solving those where the core does not embed; false past the table's
// bounds.
func (b *regionBuild) esu(root int32, lo, hi int) bool {
	v, p, r := b.v, b.p, b.r
	rs := &r.rs
	kc := len(p.order)
	if len(rs.sub) == kc {
		if b.embeds[regionKey(rs.sub)] {
			return true
		}
		if len(b.cost) == tableMaxEntries {
			return false
		}
		// No embedding: every assignment pays a SWAP (solveSubset's bound
		// may count it).
		before := r.nodes
		b.set.Reset(p.k, 1)
		r.set, r.noEmbed = &b.set, true
		r.solveSubset()
		b.steps += r.nodes - before
		if b.set.Len() == 0 {
			return true
		}
		c := b.set.At(0)
		b.cost = append(b.cost, c.Cost)
		for _, lv := range p.order {
			b.flat = append(b.flat, c.Mapping[lv])
		}
		return b.steps <= regionBuildNodes
	}
	for i := hi - 1; i >= lo; i-- {
		if b.steps++; b.steps > regionBuildNodes {
			return false
		}
		w := b.ext[i]
		start := len(b.ext)
		b.ext = append(b.ext, b.ext[lo:i]...)
		for j := v.uoff[w]; j < v.uoff[w+1]; j++ {
			if u := v.unbr[j]; u > root && rs.nb[u] == 0 && v.usable[u] {
				b.ext = append(b.ext, u)
			}
		}
		end := len(b.ext)
		r.esuAdd(w)
		ok := b.esu(root, start, end)
		r.esuRemove(w)
		b.ext = b.ext[:start]
		if !ok {
			return false
		}
	}
	return true
}
