package alloc

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/hal/synth"
)

// TestEvaluateMatchesPlace checks that Evaluate of Place's mapping gives
// Place's figures exactly (ESP, cost, SWAPs, fragmentation), on embedded,
// routed and readout placements, with occupancy, buffers and reserved
// qubits, and that it refuses what Validate refuses.
func TestEvaluateMatchesPlace(t *testing.T) {
	heavy, err := synth.ByName("heavyhex-127")
	if err != nil {
		t.Fatal(err)
	}
	k4 := &Graph{Pairs: []Pair{{0, 1, 5}, {1, 2, 1}, {2, 3, 3}, {3, 0, 2}, {0, 2, 4}, {1, 3, 1}}, OneQ: []int{3, 0, 1, 7}, Measured: []int{0, 2}}
	sparse := &Graph{Pairs: []Pair{{0, 1, 2}, {1, 2, 1}}, OneQ: []int{1, 1, 1, 1, 1}}
	devices := []*hal.Model{
		toyModel(t, "grid", 36, gridEdges(6, 6), 3),
		toyModel(t, "line", 12, lineEdges(12), 5),
		heavy,
	}
	reqs := []Request{
		{Qubits: 5, Shape: Shape{Kind: ShapeLinear}, Buffer: 1},
		{Qubits: 5, Shape: Shape{Kind: ShapeRing}}, // odd ring: routed on bipartite devices
		{Qubits: 4, Shape: Shape{Kind: ShapeStar}, FragWeight: 0.2},
		{Qubits: 4, Graph: k4}, // routed everywhere
		{Qubits: 5, Graph: sparse, Buffer: 1, FragWeight: 0.05},
		{Qubits: 3, Shape: Shape{Kind: ShapeNone}},
		{Qubits: 4, Shape: Shape{Kind: ShapeLinear}, Floor: 0.9999}, // below the floor: Best
	}
	checked, routed, withOcc := 0, 0, 0
	for _, m := range devices {
		eng := mustEngine(t, m, Options{})
		for i, frac := range []float64{0, 0.3} {
			var occ *Occupancy
			if frac > 0 {
				occ = randomOccupancy(t, m, frac, i, uint64(7+i))
			}
			for _, reserved := range [][]int{nil, {m.N() / 2}} {
				for _, req := range reqs {
					pl, err := eng.Place(context.Background(), &req, occ, reserved)
					var ie *InfeasibleError
					if errors.As(err, &ie) && ie.Best != nil {
						pl, err = ie.Best, nil
					}
					if err != nil {
						continue
					}
					got, err := eng.Evaluate(&req, occ, reserved, pl.Mapping)
					if err != nil {
						t.Errorf("%s %s occ %.1f: Evaluate(%v): %v", m.Name, describe(&req), frac, pl.Mapping, err)
						continue
					}
					if got.ESP != pl.ESP || got.Cost != pl.Cost || got.Swaps != pl.Swaps || got.Frag != pl.Frag {
						t.Errorf("%s %s occ %.1f: Evaluate %+v, Place ESP %v cost %v swaps %d frag %v",
							m.Name, describe(&req), frac, got, pl.ESP, pl.Cost, pl.Swaps, pl.Frag)
					}
					if got.ESP != math.Exp(-got.Cost) {
						t.Errorf("%s: ESP %v is not exp(-%v)", m.Name, got.ESP, got.Cost)
					}
					checked++
					if pl.Swaps > 0 {
						routed++
					}
					if occ != nil {
						withOcc++
					}
					// What Validate refuses, Evaluate refuses.
					if len(pl.Mapping) > 1 {
						dup := append([]int(nil), pl.Mapping...)
						dup[0] = dup[1]
						if _, err := eng.Evaluate(&req, occ, reserved, dup); !errors.Is(err, ErrInvalidPlacement) {
							t.Errorf("%s: duplicate qubit: %v", m.Name, err)
						}
					}
					if _, err := eng.Evaluate(&req, occ, reserved, pl.Mapping[1:]); !errors.Is(err, ErrInvalidPlacement) {
						t.Errorf("%s: short mapping: %v", m.Name, err)
					}
					if len(reserved) > 0 {
						if _, err := eng.Evaluate(&req, occ, []int{pl.Mapping[0]}, pl.Mapping); !errors.Is(err, ErrInvalidPlacement) {
							t.Errorf("%s: reserved qubit accepted: %v", m.Name, err)
						}
					}
				}
			}
		}
	}
	if checked < 60 || routed < 15 || withOcc < 20 {
		t.Errorf("too little coverage: %d placements, %d routed, %d with occupancy", checked, routed, withOcc)
	}
}

// TestEvaluateErrors checks the refusals of malformed input.
func TestEvaluateErrors(t *testing.T) {
	m := toyModel(t, "grid", 16, gridEdges(4, 4), 1)
	eng := mustEngine(t, m, Options{})
	req := &Request{Qubits: 2, Shape: Shape{Kind: ShapeLinear}}
	occ := NewOccupancy(m.Topology)
	if err := occ.Commit(Holding{Task: "a", Qubits: []int{5}, Buffer: 1}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		req      *Request
		occ      *Occupancy
		reserved []int
		mapping  []int
		want     error
	}{
		{"bad request", &Request{Qubits: 0}, nil, nil, nil, ErrBadRequest},
		{"reserved out of range", req, nil, []int{16}, []int{0, 1}, ErrBadRequest},
		{"occupancy of another device", req, NewOccupancy(toyModel(t, "line", 3, lineEdges(3), 1).Topology), nil, []int{0, 1}, ErrBadRequest},
		{"qubit out of range", req, nil, nil, []int{0, 16}, ErrInvalidPlacement},
		{"negative qubit", req, nil, nil, []int{-1, 0}, ErrInvalidPlacement},
		{"held", req, occ, nil, []int{5, 6}, ErrInvalidPlacement},
		{"in the buffer", req, occ, nil, []int{6, 7}, ErrInvalidPlacement},
		{"not connected", req, nil, nil, []int{0, 15}, ErrInvalidPlacement},
		{"no routing", &Request{Qubits: 2, Shape: Shape{Kind: ShapeLinear}, NoRouting: true}, nil, nil, []int{0, 2}, ErrInvalidPlacement},
	}
	for _, c := range cases {
		if _, err := eng.Evaluate(c.req, c.occ, c.reserved, c.mapping); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// A routed pair within the placement is scored, with its SWAP.
	sc, err := eng.Evaluate(&Request{Qubits: 3, Graph: &Graph{Pairs: []Pair{{0, 2, 1}}}}, nil, nil, []int{0, 1, 2})
	if err != nil || sc.Swaps != 1 || !(sc.ESP > 0 && sc.ESP < 1) {
		t.Errorf("routed pair: %+v, %v", sc, err)
	}
}
