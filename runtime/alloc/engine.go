package alloc

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eigen-os/rm/hal"
)

// Strategies reported in Placement.Strategy.
const (
	// StrategyExact: a subgraph embedding found by branch and bound (optimal
	// when Placement.Optimal).
	StrategyExact = "exact"
	// StrategyRouted: the request does not embed; a connected placement with
	// the SWAP estimate of score.go (optimal under that model when
	// Placement.Optimal).
	StrategyRouted = "routed"
	// StrategyReadout: no interactions; the best readout qubits.
	StrategyReadout = "readout"
)

// Options configure an Engine. The zero value is usable.
type Options struct {
	// DefaultBudget is the search budget, in nodes per phase (embedding,
	// then routing), of requests that give none. Default 100000: a node is
	// some tens of nanoseconds, so a phase that spends it all takes a few
	// milliseconds; small tasks need hundreds of nodes.
	DefaultBudget int
	// MaxTime is a wall-clock safety net per Place call (default 250 ms;
	// negative: none). Budgets, not this, decide results: a call cut by
	// MaxTime returns its best so far and is not cached, since it may not
	// be reproducible.
	MaxTime time.Duration
	// CacheSize is the number of cached placements (default 4096;
	// negative: no cache).
	CacheSize int
	// CacheTTL bounds the age of a cached placement (0: entries live until
	// evicted or the calibration epoch changes; allocation.cache_ttl).
	CacheTTL time.Duration
	// Candidates is how many of the best placements the native source keeps
	// for the Scorer to rank (default 1: the native ranking is the ESP, so
	// one is enough; raise it when Scorer is not the native one).
	Candidates int
	// Sources are extra candidate sources (e.g. a placement module), asked
	// after the native one; their candidates compete on the Scorer's figure.
	Sources []CandidateSource
	// Filters run after the host's Validate on every candidate.
	Filters []Filter
	// Scorer replaces the native ESP scorer when set.
	Scorer Scorer
	// Proposer says that the engine's placements are proposals that a
	// later stage validates and scores: a placement module, whose every
	// answer the host validates and the scoring module scores. Candidates
	// of the built-in source are then taken as found: not validated again
	// (they are valid by construction) and not scored again (Placement's
	// Cost and ESP are the search's, equal to the scorer's but for the
	// order of the sums; Swaps is 1 for a routed placement); an
	// infeasible request fails without InfeasibleError's diagnostics
	// (Free and Largest -1, no Detail). A guest saves a third of a call.
	Proposer bool
}

func (o Options) withDefaults() Options {
	if o.DefaultBudget <= 0 {
		o.DefaultBudget = 100000
	}
	if o.MaxTime == 0 {
		o.MaxTime = 250 * time.Millisecond
	}
	if o.CacheSize == 0 {
		o.CacheSize = 4096
	}
	if o.Candidates <= 0 {
		o.Candidates = 1
	}
	if o.Scorer == nil {
		o.Scorer = espScorer{}
	}
	return o
}

// Placement is the answer to a request.
type Placement struct {
	// Mapping is the device qubit of each logical qubit, in logical order.
	Mapping []int `json:"mapping"`
	// ESP is the estimated success probability, SWAPs included.
	ESP float64 `json:"esp"`
	// Cost is -ln(ESP).
	Cost float64 `json:"cost"`
	// Swaps is the estimated number of SWAPs (0 when embedded).
	Swaps int `json:"swaps"`
	// Strategy says how it was found (StrategyExact, ...).
	Strategy string `json:"strategy"`
	// Optimal is set when the search proved that no placement has a better
	// objective (for routed placements: under the SWAP model).
	Optimal bool `json:"optimal"`
	// Frag is the fragmentation penalty (see Request.FragWeight).
	Frag float64 `json:"frag"`
	// Buffer is the isolation distance it was placed with.
	Buffer int `json:"buffer"`
	// Epoch is the calibration epoch it was computed on.
	Epoch uint64 `json:"epoch"`
	// Nodes is the number of search nodes spent.
	Nodes int `json:"nodes"`
	// FromCache is set when the placement came from the cache.
	FromCache bool `json:"from_cache"`
}

// Holding is what task holds once this placement is committed.
func (p *Placement) Holding(task string) Holding {
	return Holding{Task: task, Qubits: append([]int(nil), p.Mapping...), Buffer: p.Buffer}
}

// Stats are an engine's counters since it was made.
type Stats struct {
	Places      uint64  `json:"places"`
	CacheHits   uint64  `json:"cache_hits"`
	CacheMisses uint64  `json:"cache_misses"`
	HitRate     float64 `json:"cache_hit_rate"`
	Rejected    uint64  `json:"rejected_candidates"` // candidates dropped by filters
}

// Engine places requests on one device. Make one per device with
// NewEngine; swap calibrations with SetModel.
//
// Thread-safety: Place, SetModel, Model and Stats are safe for concurrent
// use. Place only reads the Occupancy it is given: hold the caller's read
// lock on it during Place, and the write lock for Commit and Release. The
// usual flow is Place (under the read lock), persist the placement, then
// Commit it (under the write lock); Commit re-checks the placement, so a
// placement raced by another commit fails with ErrConflict and is placed
// again.
type Engine struct {
	opts  Options
	cur   atomic.Pointer[engineView]
	patMu sync.Mutex
	pats  map[patKey]*pattern
	cache *placementCache

	places, hits, misses, rejected atomic.Uint64
}

type engineView struct {
	v    *view
	runs sync.Pool
}

// NewEngine returns an engine for the device model m.
func NewEngine(m *hal.Model, opts Options) (*Engine, error) {
	e := &Engine{opts: opts.withDefaults(), pats: map[patKey]*pattern{}}
	if e.opts.CacheSize > 0 {
		e.cache = newPlacementCache(e.opts.CacheSize, e.opts.CacheTTL)
	}
	if err := e.SetModel(m); err != nil {
		return nil, err
	}
	return e, nil
}

// SetModel switches the engine to a new calibration of the same device
// (same number of qubits). Calls in flight finish on the old one; cached
// placements of other epochs are dropped.
func (e *Engine) SetModel(m *hal.Model) error {
	v, err := newView(m)
	if err != nil {
		return err
	}
	if old := e.cur.Load(); old != nil && (old.v.n != v.n || len(old.v.m.Couplers) != len(m.Couplers)) {
		return fmt.Errorf("%w: device %q has %d qubits and %d couplers, the engine's %d and %d", ErrModel, m.Name,
			v.n, len(m.Couplers), old.v.n, len(old.v.m.Couplers))
	}
	ev := &engineView{v: v}
	ev.runs.New = func() any { return newRun(v) }
	e.cur.Store(ev)
	if e.cache != nil {
		e.cache.keepEpoch(v.epoch)
	}
	return nil
}

// Model returns the current device model.
func (e *Engine) Model() *hal.Model { return e.cur.Load().v.m }

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	s := Stats{Places: e.places.Load(), CacheHits: e.hits.Load(), CacheMisses: e.misses.Load(), Rejected: e.rejected.Load()}
	if t := s.CacheHits + s.CacheMisses; t > 0 {
		s.HitRate = float64(s.CacheHits) / float64(t)
	}
	return s
}

// patKey identifies a request's logical part.
type patKey struct {
	h uint64
	k int
}

func (e *Engine) pattern(req *Request) *pattern {
	key := patKey{logicalKey(req), req.Qubits}
	e.patMu.Lock()
	p := e.pats[key]
	e.patMu.Unlock()
	if p != nil {
		return p
	}
	p = compilePattern(req)
	e.patMu.Lock()
	if len(e.pats) >= 1024 {
		clear(e.pats)
	}
	e.pats[key] = p
	e.patMu.Unlock()
	return p
}

// Place chooses qubits for req on the current model, given the occupancy
// (nil: empty device) and the qubits reserved away from this request
// (treated as held by another task: excluded, and kept at req.Buffer+1
// hops). It does not change the occupancy.
//
// Errors: *RequestError (ErrBadRequest) for a malformed request,
// *InfeasibleError (ErrTooFewQubits, ErrNoRegion, ErrFloor) when it cannot
// be placed now, or ctx's error.
func (e *Engine) Place(ctx context.Context, req *Request, occ *Occupancy, reserved []int) (*Placement, error) {
	ev := e.cur.Load()
	v := ev.v
	if err := req.Validate(v.n); err != nil {
		return nil, err
	}
	if occ != nil && occ.N() != v.n {
		return nil, fmt.Errorf("%w: occupancy is for %d qubits, device %q has %d", ErrBadRequest, occ.N(), v.m.Name, v.n)
	}
	for i, q := range reserved {
		if q < 0 || q >= v.n {
			return nil, badRequest(fmt.Sprintf("reserved[%d]", i), "qubit %d outside 0..%d", q, v.n-1)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.places.Add(1)
	p := e.pattern(req)
	r := ev.runs.Get().(*run)
	defer ev.runs.Put(r)
	budget := req.Budget
	if budget == 0 {
		budget = e.opts.DefaultBudget
	}
	var deadline time.Time
	if e.opts.MaxTime > 0 {
		deadline = time.Now().Add(e.opts.MaxTime)
	}
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}
	resHash := r.reset(p, req, occ, reserved, budget, deadline)
	r.done = ctx.Done()
	defer func() { r.done = nil }()

	var key cacheKey
	if e.cache != nil {
		key = makeCacheKey(req, p, occ, resHash, v.epoch)
		if ent, ok := e.cache.get(key); ok {
			if ent.err != nil {
				e.hits.Add(1)
				return nil, copyErr(ent.err)
			}
			if r.validate(ent.m32) == nil {
				e.hits.Add(1)
				pl := *ent.pl
				pl.Mapping = append([]int(nil), ent.pl.Mapping...)
				pl.FromCache = true
				return &pl, nil
			}
			e.cache.drop(key)
		}
		e.misses.Add(1)
	}
	pl, err := e.place(ctx, r, req, occ, reserved)
	if cerr := ctx.Err(); cerr != nil {
		return nil, cerr
	}
	if d, ok := ctx.Deadline(); ok && r.late && !time.Now().Before(d) {
		return nil, context.DeadlineExceeded // our clock saw it before the context's timer
	}
	if e.cache == nil {
		return pl, err // nobody else holds pl
	}
	if !r.late {
		e.cache.put(key, pl, err)
	}
	if pl != nil {
		cp := *pl
		cp.Mapping = append([]int(nil), pl.Mapping...)
		return &cp, nil
	}
	return nil, err
}

// copyErr gives each caller its own copy of a cached failure.
func copyErr(err error) error {
	ie, ok := err.(*InfeasibleError)
	if !ok {
		return err
	}
	c := *ie
	if c.Best != nil {
		b := *c.Best
		b.Mapping = append([]int(nil), b.Mapping...)
		c.Best = &b
	}
	return &c
}

func (e *Engine) place(ctx context.Context, r *run, req *Request, occ *Occupancy, reserved []int) (*Placement, error) {
	v, p := r.v, r.p
	k := req.Qubits
	// Quick count: held and reserved qubits are never available.
	if occ != nil && v.n-occ.used < k {
		return nil, &InfeasibleError{Reason: ErrTooFewQubits, Need: k, Free: r.countAllowed(), Largest: -1}
	}
	cy := &r.cycle // the run's: no allocation per call
	*cy = Cycle{Model: v.m, Request: req, Occupancy: occ, Reserved: reserved, run: r}
	set := &r.cset
	// Each source fills its own set (so that no source can push another's
	// candidates out); every candidate is validated, filtered and scored,
	// and the best objective wins (ties: lowest mapping).
	sel := selection{mapping: r.selMap[:0]}
	set.Reset(k, e.opts.Candidates)
	if err := (nativeSource{}).Candidates(ctx, cy, set); err != nil {
		return nil, err
	}
	nodes := r.nodesTotal
	e.evaluate(cy, set, &sel, e.opts.Proposer)
	for _, src := range e.opts.Sources {
		set.Reset(k, e.opts.Candidates)
		if err := src.Candidates(ctx, cy, set); err != nil {
			return nil, fmt.Errorf("candidate source %s: %w", src.Name(), err)
		}
		e.evaluate(cy, set, &sel, false)
	}
	r.selMap = sel.mapping
	if !sel.found && e.opts.Proposer {
		return nil, &InfeasibleError{Reason: ErrNoRegion, Need: k, Free: -1, Largest: -1}
	}
	if !sel.found {
		free := r.countAllowed()
		if free < k {
			return nil, &InfeasibleError{Reason: ErrTooFewQubits, Need: k, Free: free, Largest: -1}
		}
		ie := &InfeasibleError{Reason: ErrNoRegion, Need: k, Free: free, Largest: r.largestRegion()}
		switch {
		case req.NoRouting && ie.Largest >= len(p.order):
			ie.Detail = fmt.Sprintf("%s does not embed in the free couplers and routing is disabled", describe(req))
		case ie.Largest < len(p.order):
			ie.Detail = fmt.Sprintf("%s needs a connected region of %d qubits", describe(req), len(p.order))
		case r.stopped:
			ie.Detail = fmt.Sprintf("search budget of %d nodes spent before a placement was found", r.budget)
		}
		return nil, ie
	}
	sc := sel.score
	pl := &Placement{Mapping: make([]int, k), ESP: sc.ESP, Cost: sc.Cost, Swaps: sc.Swaps,
		Strategy: sel.strategy, Optimal: sel.optimal, Frag: sc.Frag, Buffer: req.Buffer, Epoch: v.epoch, Nodes: nodes}
	for i, q := range sel.mapping {
		pl.Mapping[i] = int(q)
	}
	if pl.ESP < req.Floor {
		if req.FragWeight > 0 {
			// The objective traded ESP for fragmentation: the floor is about
			// ESP alone, so look for the best ESP.
			pure := *req
			pure.FragWeight = 0
			r.reset(p, &pure, occ, reserved, r.budget, r.deadline)
			if alt, err := e.place(ctx, r, &pure, occ, reserved); err == nil {
				alt.Nodes += nodes
				return alt, nil
			} else if ie, ok := err.(*InfeasibleError); ok && ie.Best != nil {
				pl = ie.Best
			}
		}
		return nil, &InfeasibleError{Reason: ErrFloor, Need: k, Free: -1, Largest: -1, BestESP: pl.ESP, Floor: req.Floor, Best: pl}
	}
	return pl, nil
}

// selection is the best candidate so far of one Place call.
type selection struct {
	found    bool
	obj      float64
	score    Score
	mapping  []int32
	strategy string
	optimal  bool
}

// evaluate validates, filters and scores the candidates of set and keeps
// the best in sel. Trusted candidates (the built-in source's, for a
// Proposer) are neither validated nor scored again: their score is the
// source's own figures.
func (e *Engine) evaluate(cy *Cycle, set *CandidateSet, sel *selection, trusted bool) {
	r := cy.run
	for i := 0; i < set.Len(); i++ {
		c := set.At(i)
		if trusted {
			c.err = nil
		} else {
			c.err = r.validate(c.Mapping)
		}
		for _, f := range e.opts.Filters {
			if c.err != nil {
				break
			}
			c.err = f.Filter(cy, c)
		}
		switch {
		case c.err != nil:
		case trusted && len(e.opts.Filters) == 0:
			// The source's cost includes the weighted fragmentation count.
			sc := Score{Cost: c.Cost}
			if fw := cy.Request.FragWeight; fw > 0 {
				sc.Frag = r.fragCount(c.Mapping)
				sc.Cost = c.Cost - fw*sc.Frag
			}
			sc.ESP = math.Exp(-sc.Cost)
			if c.Routed {
				sc.Swaps = 1
			}
			c.score = sc
		default:
			c.score, c.err = e.opts.Scorer.Score(cy, c)
		}
		if c.err != nil {
			e.rejected.Add(1)
			continue
		}
		obj := c.score.Cost + cy.Request.FragWeight*c.score.Frag
		if !sel.found || obj < sel.obj || (obj == sel.obj && lexLess(c.Mapping, sel.mapping)) {
			sel.found, sel.obj, sel.score = true, obj, c.score
			sel.mapping = append(sel.mapping[:0], c.Mapping...)
			sel.strategy, sel.optimal = c.Strategy, c.Optimal
		}
	}
}

func lexLess(a, b []int32) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func describe(req *Request) string {
	if req.Graph != nil {
		return fmt.Sprintf("the interaction graph (%d qubits, %d pairs)", req.Qubits, len(req.Graph.Pairs))
	}
	return fmt.Sprintf("%s of %d qubits", req.Shape, req.Qubits)
}

// nativeSource is the built-in candidate source: exact embedding search,
// then routed search.
type nativeSource struct{}

func (nativeSource) Name() string { return "native" }

func (nativeSource) Candidates(ctx context.Context, cy *Cycle, set *CandidateSet) error {
	r := cy.run
	p := r.p
	r.set = set
	r.nodesTotal = 0
	if len(p.order) == 0 {
		m := r.logicalMapping(nil)
		if r.placeIsolated(m) {
			cost, _ := r.scoreMapping(m)
			set.Add(m, cost, false, StrategyReadout, r.req.FragWeight == 0 && isolatedExact(p))
		}
		return nil
	}
	start := set.Len()
	var tab *embTable
	if useTables {
		tab = r.v.table(p)
	}
	if tab != nil || (r.embedPossible() && r.computeBounds()) {
		var exhausted bool
		if tab != nil {
			exhausted = r.scanTable(tab, set, false)
		} else {
			exhausted = r.searchExact(set)
		}
		r.nodesTotal += r.nodes
		if set.Len() > start {
			if exhausted {
				set.At(0).Optimal = true
			}
			finishIsolated(r, set, start)
			return nil
		}
		r.noEmbed = exhausted
	} else {
		r.noEmbed = true
	}
	if r.req.NoRouting || r.late {
		return ctx.Err()
	}
	// The routing phase has its own budget.
	r.nodes, r.stopped, r.nextCheck = 0, false, 1024
	var rt *embTable
	useRegions := tab != nil && r.noEmbed
	if useRegions {
		// Nothing embeds in the allowed qubits: the region table holds
		// every region that can hold it (see regionBuild).
		rt = r.v.regionTable(p, false)
	}
	var complete bool
	if rt != nil {
		complete = r.scanTable(rt, set, true)
	} else {
		complete = r.searchRouted(set)
		if useRegions && !r.late {
			r.v.regionTable(p, true) // a part of the table, after the answer
		}
	}
	r.nodesTotal += r.nodes
	if set.Len() > start && complete && r.noEmbed {
		set.At(0).Optimal = true
	}
	finishIsolated(r, set, start)
	return nil
}

// finishIsolated places the isolated logical qubits of each new candidate.
func finishIsolated(r *run, set *CandidateSet, start int) {
	if len(r.p.isolated) == 0 {
		return
	}
	for i := start; i < set.Len(); i++ {
		c := set.At(i)
		if !r.placeIsolated(c.Mapping) {
			c.Optimal = false // leaves -1 entries: Validate drops it
		}
		// The core was optimised without the isolated qubits, which only
		// take what it leaves: the whole is not proven optimal.
		c.Optimal = false
	}
}

// isolatedExact reports whether the greedy placement of isolated qubits is
// optimal: they all weigh the same and have no single-qubit term, so the
// best remaining readouts are the best choice.
func isolatedExact(p *pattern) bool {
	for _, lv := range p.isolated {
		if p.oneq[lv] != 0 || p.meas[lv] != p.meas[p.isolated[0]] {
			return false
		}
	}
	return true
}
