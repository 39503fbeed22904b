package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/hal/synth"
	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/runtime/alloc"
)

// Problem is a golden problem of the conformance run a module must pass at
// push: a device, an occupancy, reserved qubits and a request.
type Problem struct {
	Name      string
	Model     *hal.Model
	Request   alloc.Request
	Occupancy *alloc.Occupancy // nil: empty device
	Reserved  []int
}

// DefaultProblems are the golden problems used when the configuration
// gives none: shapes that embed and shapes that need routing, a weighted
// interaction graph with single-qubit counts and unmeasured qubits, buffers
// around held qubits, reserved qubits, a request without interactions and
// one that cannot be placed (a triangle without routing on heavy-hex), on
// IBM-, Google- and Rigetti-like synthetic devices.
func DefaultProblems() ([]Problem, error) {
	hh, err := synth.ByName("heavyhex-27@3")
	if err != nil {
		return nil, err
	}
	grid, err := synth.ByName("grid-4x5@2")
	if err != nil {
		return nil, err
	}
	oct, err := synth.ByName("octagons-2@4")
	if err != nil {
		return nil, err
	}
	busy, err := occupied(hh, []alloc.Request{
		{Qubits: 3, Shape: alloc.Shape{Kind: alloc.ShapeLinear}, Buffer: 1},
		{Qubits: 4, Shape: alloc.Shape{Kind: alloc.ShapeStar}, Buffer: 0},
	})
	if err != nil {
		return nil, err
	}
	busyGrid, err := occupied(grid, []alloc.Request{{Qubits: 4, Shape: alloc.Shape{Kind: alloc.ShapeGrid, Rows: 2, Cols: 2}, Buffer: 1}})
	if err != nil {
		return nil, err
	}
	g := &alloc.Graph{Pairs: []alloc.Pair{{A: 0, B: 1, Count: 4}, {A: 1, B: 2, Count: 2}, {A: 2, B: 3, Count: 1}, {A: 0, B: 3, Count: 1}, {A: 1, B: 3, Count: 3}},
		OneQ: []int{2, 0, 5, 1}, Measured: []int{0, 3}}
	return []Problem{
		{Name: "heavyhex-27 linear 4, empty", Model: hh, Request: alloc.Request{Qubits: 4, Shape: alloc.Shape{Kind: alloc.ShapeLinear}}},
		{Name: "heavyhex-27 linear 5, busy, buffer 1", Model: hh, Occupancy: busy,
			Request: alloc.Request{Qubits: 5, Shape: alloc.Shape{Kind: alloc.ShapeLinear}, Buffer: 1}},
		{Name: "heavyhex-27 ring 5 (routed), busy", Model: hh, Occupancy: busy, Reserved: []int{0, 1},
			Request: alloc.Request{Qubits: 5, Shape: alloc.Shape{Kind: alloc.ShapeRing}}},
		{Name: "grid-4x5 graph, busy, reserved", Model: grid, Occupancy: busyGrid, Reserved: []int{19},
			Request: alloc.Request{Qubits: 4, Graph: g, FragWeight: 0.1}},
		{Name: "octagons-2 none 3", Model: oct, Request: alloc.Request{Qubits: 3, Shape: alloc.Shape{Kind: alloc.ShapeNone}}},
		{Name: "octagons-2 star 3, buffer 2", Model: oct, Request: alloc.Request{Qubits: 3, Shape: alloc.Shape{Kind: alloc.ShapeStar}, Buffer: 2}},
		{Name: "heavyhex-27 clique 3 without routing (infeasible)", Model: hh,
			Request: alloc.Request{Qubits: 3, Shape: alloc.Shape{Kind: alloc.ShapeClique}, NoRouting: true}},
	}, nil
}

// occupied places and commits the requests in order with the native engine.
func occupied(m *hal.Model, reqs []alloc.Request) (*alloc.Occupancy, error) {
	eng, err := alloc.NewEngine(m, alloc.Options{CacheSize: -1})
	if err != nil {
		return nil, err
	}
	occ := alloc.NewOccupancy(m.Topology)
	for i := range reqs {
		pl, err := eng.Place(context.Background(), &reqs[i], occ, nil)
		if err != nil {
			return nil, fmt.Errorf("golden occupancy of %s: %w", m.Name, err)
		}
		if err := occ.Commit(pl.Holding(fmt.Sprintf("golden-%d", i))); err != nil {
			return nil, err
		}
	}
	return occ, nil
}

// conform runs a module on the golden problems: every call must succeed,
// every answer be valid (the host checks placements and scores on every
// call), a placement module must propose at least one candidate over the
// problems, and the first problem must give the same answer twice (a
// module is a pure function of its input).
func conform(ctx context.Context, mod *Module, problems []Problem) error {
	if len(problems) == 0 {
		return nil
	}
	switch mod.Kind() {
	case abi.KindPlacement:
		proposed := 0
		var first []Candidate
		for i, p := range problems {
			c, err := mod.Place(ctx, p.Model, &p.Request, p.Occupancy, p.Reserved)
			if err != nil {
				return fmt.Errorf("golden problem %q: %w", p.Name, err)
			}
			proposed += len(c)
			if i == 0 {
				first = c
			}
		}
		if proposed == 0 {
			return fmt.Errorf("no candidate for any of the %d golden problems", len(problems))
		}
		p := problems[0]
		again, err := mod.Place(ctx, p.Model, &p.Request, p.Occupancy, p.Reserved)
		if err != nil {
			return fmt.Errorf("golden problem %q, second time: %w", p.Name, err)
		}
		if !sameCandidates(first, again) {
			return fmt.Errorf("golden problem %q: two calls gave different answers (%v, then %v): a module must be a pure function of its input",
				p.Name, first, again)
		}
	case abi.KindScoring:
		var first []abi.Score
		scored := false
		for _, p := range problems {
			eng, err := alloc.NewEngine(p.Model, alloc.Options{CacheSize: -1})
			if err != nil {
				return err
			}
			pl, err := eng.Place(ctx, &p.Request, p.Occupancy, p.Reserved)
			var ie *alloc.InfeasibleError
			if errors.As(err, &ie) {
				continue
			}
			if err != nil {
				return fmt.Errorf("golden problem %q: native placement: %w", p.Name, err)
			}
			s, err := mod.Score(ctx, p.Model, &p.Request, p.Occupancy, p.Reserved, [][]int{pl.Mapping})
			if err != nil {
				return fmt.Errorf("golden problem %q: %w", p.Name, err)
			}
			if !scored {
				scored = true
				first = s
				again, err := mod.Score(ctx, p.Model, &p.Request, p.Occupancy, p.Reserved, [][]int{pl.Mapping})
				if err != nil {
					return fmt.Errorf("golden problem %q, second time: %w", p.Name, err)
				}
				if !reflect.DeepEqual(first, again) {
					return fmt.Errorf("golden problem %q: two calls gave different scores (%v, then %v): a module must be a pure function of its input",
						p.Name, first, again)
				}
			}
		}
	default:
		return fmt.Errorf("unknown kind %d", mod.Kind())
	}
	return nil
}

func sameCandidates(a, b []Candidate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !reflect.DeepEqual(a[i].Mapping, b[i].Mapping) || a[i].Routed != b[i].Routed ||
			!(a[i].Cost == b[i].Cost || (math.IsNaN(a[i].Cost) && math.IsNaN(b[i].Cost))) {
			return false
		}
	}
	return true
}
