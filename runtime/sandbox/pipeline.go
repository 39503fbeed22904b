package sandbox

import (
	"context"
	"fmt"
	"math"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/runtime/alloc"
)

// Pipeline places a request entirely with modules, as the engine does with
// its built-in strategies: the placement module proposes candidates (each
// checked by alloc.Validate), the scoring module scores them, the best
// objective -ln(ESP) + FragWeight * Frag wins (ties: the lowest mapping),
// and the fidelity floor is applied.
type Pipeline struct {
	Placement *Module
	Scoring   *Module
}

// StrategyPrefix starts the Strategy of a placement made by modules:
// "module:NAME@VERSION".
const StrategyPrefix = "module:"

// Place places req on the device model given the occupancy (nil: empty)
// and the reserved qubits. Errors: the request's own (*alloc.RequestError);
// a module failure (*CallError: ErrTrap, ErrTimeout, ErrMemory,
// ErrInvalidAnswer, ErrQuarantined; fall back to the built-in strategy);
// *alloc.InfeasibleError with alloc.ErrNoRegion when the placement module
// proposes nothing, or alloc.ErrFloor when the best is below the floor.
func (p Pipeline) Place(ctx context.Context, model *hal.Model, req *alloc.Request, occ *alloc.Occupancy, reserved []int) (*alloc.Placement, error) {
	if p.Placement == nil || p.Scoring == nil {
		return nil, fmt.Errorf("sandbox: pipeline needs a placement and a scoring module: %w", ErrNoModule)
	}
	cands, err := p.Placement.Place(ctx, model, req, occ, reserved)
	if err != nil {
		return nil, err
	}
	if len(cands) == 0 {
		return nil, &alloc.InfeasibleError{Reason: alloc.ErrNoRegion, Need: req.Qubits, Free: -1, Largest: -1,
			Detail: "placement module " + p.Placement.String() + " proposed no candidate"}
	}
	maps := make([][]int, len(cands))
	for i, c := range cands {
		maps[i] = c.Mapping
	}
	scores, err := p.Scoring.Score(ctx, model, req, occ, reserved, maps)
	if err != nil {
		return nil, err
	}
	best, bestObj := -1, math.Inf(1)
	for i, s := range scores {
		obj := -math.Log(s.ESP) + req.FragWeight*s.Frag
		if best < 0 || obj < bestObj || (obj == bestObj && lexLessInt(maps[i], maps[best])) {
			best, bestObj = i, obj
		}
	}
	s := scores[best]
	pl := &alloc.Placement{Mapping: maps[best], ESP: s.ESP, Cost: -math.Log(s.ESP), Swaps: s.Swaps,
		Strategy: StrategyPrefix + p.Placement.String(), Frag: s.Frag, Buffer: req.Buffer, Epoch: model.Cal.Epoch}
	if pl.ESP < req.Floor {
		return nil, &alloc.InfeasibleError{Reason: alloc.ErrFloor, Need: req.Qubits, Free: -1, Largest: -1,
			BestESP: pl.ESP, Floor: req.Floor, Best: pl}
	}
	return pl, nil
}

func lexLessInt(a, b []int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}
