// Package alloc is the allocation engine of the Resource Manager: given a
// device model (topology and live calibration), the qubits other tasks hold
// and a request, it chooses the physical qubits of highest estimated success
// probability (ESP) that keep the isolation buffer from every other task.
//
// # Requests
//
// A Request asks for a number of logical qubits with a connectivity Shape
// (linear, ring, star, grid:RxC, clique, none) or an interaction Graph
// (pairs with 2-qubit gate counts, single-qubit gate counts, measured
// qubits, e.g. from an OpenQASM circuit), plus a fidelity floor, an
// isolation distance (Buffer), a search budget in nodes and a
// fragmentation weight.
//
// # ESP
//
// ESP follows DESIGN.md: the product over interacting pairs of (1 - e2)^w
// (e2 the coupler's error, w the number of gates; 1 for a shape), over
// measured qubits of (1 - readout error), and over qubits of (1 - e1)^n1
// when single-qubit counts are given (an unknown e1 counts as 0). The
// engine works in -ln space, where ESP is a sum of costs c = -ln(1-e).
// Placements that need SWAPs pay the estimate documented in score.go (3
// native gates per SWAP along the most reliable path through the task's
// own qubits).
//
// # Pipeline
//
// Place runs the steps of DESIGN.md, each an interface (pipeline.go):
// candidates (CandidateSource) -> filter (Filter; Validate always first) ->
// score (Scorer) -> select. The native candidate source is
//
//  1. an exact branch and bound over subgraph embeddings (exact.go), cheapest
//     couplers first, with an admissible tree bound computed once per
//     (request shape, calibration epoch) (bound.go) and the symmetry of the
//     shape broken by Grochow-Kellis constraints (symmetry.go): it returns
//     the maximum-ESP embedding, proven (Placement.Optimal) when the budget
//     allows;
//  2. when nothing embeds, a routed search (routed.go): greedy growth of
//     compact regions, local search and iterated local search, plus, for up
//     to 8 interacting qubits, an exact enumeration of connected regions with
//     a branch and bound over assignments, anytime within the budget.
//
// For small cores (at most 8 qubits, 2,048 embeddings) both steps are
// served from tables made once per (pattern, calibration epoch) (table.go):
// every embedding in the search's order with its cost, and every connected
// region where the core does not embed with its best routed assignment,
// each sorted by cost. A request scans them against a bit set of the qubits
// it may use (with the fragmentation count from neighbourhood bit sets)
// and gets the search's answer: the same placement for embeddings, the same
// cost for routed ones.
//
// Budgets are counted in search nodes (a node is some tens of nanoseconds),
// so equal inputs give equal placements (ties go to the search order:
// cheapest first, then lowest qubit index). Options.MaxTime is only a safety
// net.
//
// # Sharing a device
//
// An Occupancy maps qubits to the tasks holding them. Isolation distance d
// means hop distance >= d+1 (over all couplers) between qubits of different
// tasks, using the larger of the two tasks' distances; reserved qubits
// passed to Place are kept at the request's distance. The qubits a request
// may use are computed lazily with depth-limited neighbourhoods, never by
// scanning all pairs. A fragmentation term (Request.FragWeight) prefers
// placements whose buffer borders few free qubits, leaving larger free
// regions. Infeasible requests fail with an *InfeasibleError whose Reason is
// ErrTooFewQubits, ErrNoRegion or ErrFloor (with the best ESP found).
//
// # Cache
//
// The engine caches answers keyed on the request, Occupancy.Hash (an
// incremental Zobrist hash of held qubits and their buffers), the reserved
// qubits and the calibration epoch; a cached placement is validated before
// use. Stats reports the hit rate.
//
// # Use from a daemon
//
// Hold one Engine per device; call SetModel when the calibration epoch
// changes. For each request, under a read lock of the device's Occupancy,
// call Place with the tenant's reserved qubits; persist the placement; then,
// under the write lock, Occupancy.Commit(placement.Holding(taskID)), which
// re-checks it (a placement raced by another commit fails with ErrConflict
// and is placed again). Release frees a task's qubits by id; after a
// restart, RebuildOccupancy restores the occupancy from the stored
// holdings.
//
// Thread-safety: Engine methods are safe for concurrent use; an Occupancy
// is not (Place reads it, Commit and Release write it: use the caller's
// read-write lock).
package alloc
