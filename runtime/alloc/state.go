package alloc

import "time"

// run is the per-request state of one Place call: which qubits the request
// may use (computed lazily and memoized), the partial mapping and the best
// placement so far. Runs are pooled per view; one run serves one call at a
// time. Arrays are "cleared" by bumping gen.
type run struct {
	v   *view
	p   *pattern
	occ *Occupancy
	req *Request

	gen      uint32
	amark    []uint32 // allowed memo stamp
	aval     []bool   // allowed memo value
	rmark    []uint32 // reserved stamp
	resList  []int32  // the reserved qubits, once each
	used     []bool   // qubit used by the partial mapping
	dead     []uint32 // qubit in a small region whose size is known (stamp)
	deadSize []int32
	cmark    []uint32 // viability BFS stamp
	cgen     uint32
	bfs      bfsScratch

	radius   int  // request buffer
	R        int  // largest radius that can block a qubit
	checkBuf bool // some qubit may be blocked by a buffer
	anyRes   bool

	phi []int32 // physical qubit per search position

	lb      []float64 // lower bound of back edges and roots still to pay, per position
	tb      *treeBound
	scratch []float64

	set        *CandidateSet
	cset       CandidateSet
	cycle      Cycle // the pipeline's state of this call (Engine.place)
	selMap     []int32
	nodesTotal int
	noEmbed    bool // the core was proven not to embed in the allowed couplers
	tmap       []int32
	emap       []int32 // the mapping being evaluated (Engine.Evaluate)
	iso        []int32
	queue      []int32

	rs          routedState
	compsGen    uint32 // gen of the request rs.comp was labelled for
	scoreRegion region
	moveRegion  region
	fmark       []uint32 // frontier stamp
	fgen        uint32
	fb          bfsScratch // fragmentation BFS

	// Incremental fragmentation count of the exact search (fragOn): fcover
	// counts, per qubit, the placed qubits within fdepth hops; fcount is the
	// number of allowed, unplaced qubits with fcover > 0 — frag of the
	// partial placement (see fragPlace).
	fragOn bool
	fdepth uint8
	fcover []int32
	fcount int32
	froots []rootKey // roots by their bound, a heap of the first fheap (rootsByFrag)
	fheap  int
	// The allowed qubits within fdepth hops of each qubit, listed on first
	// use in the request (allowedBall): fball[foff[q]:foff[q]+flen[q]]
	// when fbmark[q] == gen.
	fball    []int32
	foff     []int32
	flen     []int32
	fbmark   []uint32
	scratch2 []float64

	// The allowed qubits as a bit set (allowedMask), valid when maskGen
	// == gen.
	mask    []uint64
	maskGen uint32
	facc    []uint64 // fragCount's scratch
	fballs  []uint64 // the view's ballBits(fballsD), for fragCount
	fballsD int

	nodes     int
	nextCheck int
	budget    int
	stopped   bool // budget or deadline reached
	deadline  time.Time
	done      <-chan struct{} // the caller's context, checked with the deadline
	late      bool            // stopped by the deadline or the context (result not cached)
}

// fragIncremental lets the exact search keep the fragmentation count as
// it goes (off only in tests, to compare with a BFS per leaf).
var fragIncremental = true

func newRun(v *view) *run {
	n := v.n
	return &run{v: v, amark: make([]uint32, n), aval: make([]bool, n), rmark: make([]uint32, n), used: make([]bool, n),
		dead: make([]uint32, n), deadSize: make([]int32, n), cmark: make([]uint32, n)}
}

// reset prepares the run for a request.
// It returns a hash of the set of reserved qubits.
func (r *run) reset(p *pattern, req *Request, occ *Occupancy, reserved []int, budget int, deadline time.Time) uint64 {
	r.p, r.req, r.occ = p, req, occ
	r.gen++
	if r.gen == 0 {
		clear(r.amark)
		clear(r.rmark)
		clear(r.dead)
		clear(r.fbmark)
		r.compsGen, r.maskGen = 0, 0
		r.gen = 1
	}
	r.anyRes = false
	r.resList = r.resList[:0]
	var rh uint64
	for _, q := range reserved {
		if q >= 0 && q < r.v.n && r.rmark[q] != r.gen {
			r.rmark[q] = r.gen
			r.anyRes = true
			r.resList = append(r.resList, int32(q))
			rh ^= zobrist(uint64(q), 0x5851f42d4c957f2d)
		}
	}
	r.radius = req.Buffer
	r.R = req.Buffer
	if occ != nil && occ.used > 0 {
		r.R = max(r.R, occ.maxBuffer())
	}
	r.checkBuf = r.R > 0 && ((occ != nil && occ.used > 0) || r.anyRes)
	r.fragOn = fragIncremental && req.FragWeight > 0 && req.Buffer+1 <= ballRadius
	if r.fragOn {
		if len(r.fcover) != r.v.n {
			r.fcover = make([]int32, r.v.n)
		}
		clear(r.fcover)
		if len(r.foff) != r.v.n {
			r.foff, r.flen, r.fbmark = make([]int32, r.v.n), make([]int32, r.v.n), make([]uint32, r.v.n)
		}
		r.fball = r.fball[:0]
		r.fdepth, r.fcount = uint8(req.Buffer+1), 0
	}
	kc := len(p.order)
	r.phi = grow32(r.phi, kc)
	r.noEmbed = false
	r.nodesTotal = 0
	r.nodes, r.budget, r.stopped, r.late, r.deadline = 0, budget, false, false, deadline
	r.nextCheck = 1024
	return rh
}

func grow32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

// allowed reports whether the request may use qubit q: usable, not held,
// not reserved, and outside the isolation distance of every other task
// (the larger of the two buffers) and of reserved qubits (the request's).
func (r *run) allowed(q int32) bool {
	if r.amark[q] == r.gen { // small enough to inline: the memo's hit
		return r.aval[q]
	}
	return r.allowedSlow(q)
}

func (r *run) allowedSlow(q int32) bool {
	ok := r.v.usable[q] && r.rmark[q] != r.gen && (r.occ == nil || r.occ.owner[q] < 0)
	if ok && r.checkBuf {
		ok = !r.blocked(q)
	}
	r.amark[q] = r.gen
	r.aval[q] = ok
	return ok
}

// blocked reports whether a held or reserved qubit is too close to q.
func (r *run) blocked(q int32) bool {
	v := r.v
	if r.R <= ballRadius {
		for i := v.boff[q]; i < v.boff[q+1]; i++ {
			d := int(v.bd[i])
			if d > r.R {
				break
			}
			if r.blocks(v.bq[i], d) {
				return true
			}
		}
		return false
	}
	x, _ := r.bfs.nearestViolation(v.m.Topology, int(q), r.R, r.blocks)
	return x >= 0
}

// blocks reports whether qubit x at distance d keeps the request away.
func (r *run) blocks(x int32, d int) bool {
	if r.occ != nil {
		if s := r.occ.owner[x]; s >= 0 && d <= max(r.radius, r.occ.slots[s].buffer) {
			return true
		}
	}
	return d <= r.radius && r.rmark[x] == r.gen
}

// countAllowed counts the qubits the request may use (O(n) with memo).
func (r *run) countAllowed() int {
	c := 0
	for q := 0; q < r.v.n; q++ {
		if r.allowed(int32(q)) {
			c++
		}
	}
	return c
}

// largestRegion is the size of the largest connected set of allowed
// qubits over usable couplers.
func (r *run) largestRegion() int {
	r.rs.ensure(r.v.n)
	r.components()
	best := 0
	for _, c := range r.rs.compSize {
		best = max(best, int(c))
	}
	return best
}

func (r *run) cancelled() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// spend counts n nodes of work (a node is about the work of one step of
// the exact search, some tens of nanoseconds) and reports whether the
// search must stop: budget spent, or the wall-clock safety net passed
// (checked every 1024 nodes). It is small enough to inline into the
// search loops (a call per node costs as much as the node inside a
// WebAssembly guest).
func (r *run) spend(n int) bool {
	r.nodes += n
	if r.nodes > r.budget || r.nodes >= r.nextCheck {
		return r.spendSlow()
	}
	return r.stopped
}

// spendSlow is spend past the budget or at a clock check.
func (r *run) spendSlow() bool {
	if r.nodes > r.budget {
		r.stopped = true
		return true
	}
	if r.nodes >= r.nextCheck {
		r.nextCheck = r.nodes + 1024
		if (!r.deadline.IsZero() && time.Now().After(r.deadline)) || (r.done != nil && r.cancelled()) {
			r.stopped, r.late = true, true
			return true
		}
	}
	return r.stopped
}
