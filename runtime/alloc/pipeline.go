package alloc

import (
	"context"
	"math"

	"github.com/eigen-os/rm/hal"
)

// The allocation pipeline has the steps of DESIGN.md, each a small
// interface so that a strategy module (WebAssembly) can take one over:
//
//	candidates -> filter -> score -> select
//
// A CandidateSource proposes placements into a bounded CandidateSet; every
// candidate then passes the Filters (the host's Validate first: a module's
// answer is never trusted); a Scorer gives each survivor its ESP, SWAP
// estimate and fragmentation; the best objective wins (ties: lowest
// mapping). Reserve and bind come after Place, in the daemon (persist, then
// Occupancy.Commit).
//
// The native fast path allocates nothing per candidate: the set stores
// mappings in one flat array, candidates are passed by pointer into it, and
// the native source (the exact branch-and-bound search) prunes against the
// set's Bound, so with the default set size of 1 it offers only placements
// better than the best so far.

// Candidate is one proposed placement. Mapping[i] is the physical qubit of
// logical qubit i. Its slice belongs to the CandidateSet: do not keep it
// after the call that received it.
type Candidate struct {
	Mapping []int32
	// Cost is the source's ranking key: its own estimate of -ln(ESP), plus
	// Request.FragWeight times the fragmentation penalty when the source
	// weighs it (used to rank within the set; the Scorer's figures are
	// authoritative).
	Cost float64
	// Routed is set when the placement needs SWAPs (some interacting pair is
	// not coupled directly).
	Routed bool
	// Strategy names how the candidate was found ("exact", "routed", ...).
	Strategy string
	// Optimal is set when the source proved the candidate optimal.
	Optimal bool

	score Score
	err   error
}

// Score is what a Scorer says of a candidate.
type Score struct {
	ESP   float64 // estimated success probability, SWAPs included
	Cost  float64 // -ln(ESP)
	Swaps int     // estimated SWAPs (3 native 2-qubit gates each)
	Frag  float64 // fragmentation penalty (free qubits bordering the buffer)
}

// CandidateSet keeps the best Cap candidates offered, by cost (ties: the
// first offered). Mappings live in one flat array; Add copies.
type CandidateSet struct {
	k     int
	cap   int
	flat  []int32
	cands []Candidate
}

// Reset empties the set for placements of k logical qubits, keeping at
// most capacity of them (at least 1).
func (s *CandidateSet) Reset(k, capacity int) {
	capacity = max(capacity, 1)
	s.k, s.cap = k, capacity
	if cap(s.flat) < k*capacity {
		s.flat = make([]int32, k*capacity)
	}
	s.flat = s.flat[:k*capacity]
	s.cands = s.cands[:0]
}

// Len is the number of candidates held.
func (s *CandidateSet) Len() int { return len(s.cands) }

// At returns candidate i (0 <= i < Len). The pointer is valid until the
// next Add or Reset.
func (s *CandidateSet) At(i int) *Candidate { return &s.cands[i] }

// Bound is the cost a new candidate must beat to enter the set (+Inf while
// the set is not full). Sources prune their search with it.
func (s *CandidateSet) Bound() float64 {
	if len(s.cands) < s.cap {
		return math.Inf(1)
	}
	return s.cands[len(s.cands)-1].Cost
}

// Add offers a candidate; mapping is copied. It reports whether the
// candidate was kept. Mappings of the wrong length are refused.
func (s *CandidateSet) Add(mapping []int32, cost float64, routed bool, strategy string, optimal bool) bool {
	if len(mapping) != s.k || math.IsNaN(cost) || cost >= s.Bound() {
		return false
	}
	var slot []int32
	if len(s.cands) < s.cap {
		i := len(s.cands)
		slot = s.flat[i*s.k : (i+1)*s.k : (i+1)*s.k]
		s.cands = append(s.cands, Candidate{})
	} else {
		slot = s.cands[len(s.cands)-1].Mapping // recycle the worst
	}
	copy(slot, mapping)
	c := Candidate{Mapping: slot, Cost: cost, Routed: routed, Strategy: strategy, Optimal: optimal}
	// Insert in cost order (stable: equal costs keep offer order).
	i := len(s.cands) - 1
	for i > 0 && s.cands[i-1].Cost > cost {
		s.cands[i] = s.cands[i-1]
		i--
	}
	s.cands[i] = c
	return true
}

// Cycle is the state of one Place call shared by the pipeline's steps, as
// in the Kubernetes scheduler framework's CycleState. Everything in it is
// read-only for plugins.
type Cycle struct {
	Model     *hal.Model
	Request   *Request
	Occupancy *Occupancy // nil: empty device
	Reserved  []int
	run       *run
}

// Allowed reports whether the request may use physical qubit q: usable,
// free, not reserved, outside every isolation buffer.
func (c *Cycle) Allowed(q int) bool {
	return q >= 0 && q < c.run.v.n && c.run.allowed(int32(q))
}

// Budget is the request's search budget in nodes.
func (c *Cycle) Budget() int { return c.run.budget }

// CandidateSource proposes placements (extension point "candidates").
type CandidateSource interface {
	Name() string
	// Candidates adds proposals to set, pruning with set.Bound() when it
	// can. It returns an error only when it failed (not when it found
	// nothing).
	Candidates(ctx context.Context, cy *Cycle, set *CandidateSet) error
}

// Filter rejects candidates (extension point "filter"): a non-nil error
// drops the candidate and says why.
type Filter interface {
	Name() string
	Filter(cy *Cycle, c *Candidate) error
}

// Scorer scores candidates (extension point "score").
type Scorer interface {
	Name() string
	Score(cy *Cycle, c *Candidate) (Score, error)
}

// espScorer is the native scorer: the ESP contract of DESIGN.md with the
// SWAP estimate for routed placements.
type espScorer struct{}

func (espScorer) Name() string { return "esp" }

func (espScorer) Score(cy *Cycle, c *Candidate) (Score, error) {
	r := cy.run
	cost, swaps := r.scoreMapping(c.Mapping)
	if math.IsInf(cost, 1) {
		return Score{}, invalid(-1, -1, "some interacting pair is not connected within the placement")
	}
	return Score{ESP: math.Exp(-cost), Cost: cost, Swaps: swaps, Frag: r.fragCount(c.Mapping)}, nil
}
