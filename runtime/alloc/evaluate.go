package alloc

import (
	"fmt"
	"math"
	"time"
)

// Evaluate scores a given placement of req with the native scorer, as
// Place scores its candidates: the ESP with the SWAP estimate of routed
// placements (score.go), its cost -ln(ESP), the SWAP count, and the
// fragmentation penalty that Request.FragWeight weighs. mapping[i] is the
// device qubit of logical qubit i; occ (nil: empty device) and reserved
// are as for Place. The placement is first checked as Validate checks it.
//
// The figures are exactly those Place reports for the same placement:
// Evaluate(req, occ, reserved, pl.Mapping) gives pl.ESP, pl.Cost, pl.Swaps
// and pl.Frag. req.Budget and req.Floor play no part (the floor is the
// caller's business). It neither searches nor changes the occupancy, uses
// pooled scratch (no allocation per call once warm, but for errors) and is
// safe for concurrent use like Place.
//
// Errors: *RequestError (ErrBadRequest) for a malformed request, occupancy
// or reserved list, *PlacementError (ErrInvalidPlacement) for a placement
// that breaks a rule.
func (e *Engine) Evaluate(req *Request, occ *Occupancy, reserved []int, mapping []int) (Score, error) {
	ev := e.cur.Load()
	v := ev.v
	if err := req.Validate(v.n); err != nil {
		return Score{}, err
	}
	if occ != nil && occ.N() != v.n {
		return Score{}, fmt.Errorf("%w: occupancy is for %d qubits, device %q has %d", ErrBadRequest, occ.N(), v.m.Name, v.n)
	}
	for i, q := range reserved {
		if q < 0 || q >= v.n {
			return Score{}, badRequest(fmt.Sprintf("reserved[%d]", i), "qubit %d outside 0..%d", q, v.n-1)
		}
	}
	if len(mapping) != req.Qubits {
		return Score{}, invalid(-1, -1, "%d qubits mapped, request has %d", len(mapping), req.Qubits)
	}
	for i, q := range mapping {
		if q < 0 || q >= v.n {
			return Score{}, invalid(i, q, "outside 0..%d", v.n-1)
		}
	}
	p := e.pattern(req)
	r := ev.runs.Get().(*run)
	defer ev.runs.Put(r)
	// The scorer's region computation counts nodes; no budget or deadline
	// applies to an evaluation.
	r.reset(p, req, occ, reserved, math.MaxInt, time.Time{})
	r.emap = grow32(r.emap, len(mapping))
	for i, q := range mapping {
		r.emap[i] = int32(q)
	}
	if err := r.validate(r.emap); err != nil {
		return Score{}, err
	}
	return espScorer{}.Score(&Cycle{Model: v.m, Request: req, Occupancy: occ, Reserved: reserved, run: r}, &Candidate{Mapping: r.emap})
}
