package alloc

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestFragIncremental: the exact search's incremental fragmentation count
// (with its bound) finds the same placements as a BFS per leaf, on real
// devices, every shape, buffers 0..2 and occupancies from empty to dense.
func TestFragIncremental(t *testing.T) {
	// The search, not the tables (which small cores use otherwise).
	useTables = false
	defer func() { fragIncremental, useTables = true, true }()
	devs := []string{"ibm/sherbrooke", "ibm/torino", "google/weber"}
	shapes := []Shape{{Kind: ShapeLinear}, {Kind: ShapeRing}, {Kind: ShapeStar}, {Kind: ShapeGrid, Rows: 2, Cols: 3}}
	cases, leavesSaved := 0, 0
	for _, name := range devs {
		m := device(t, name)
		for _, shape := range shapes {
			for _, k := range []int{2, 4, 6} {
				for buffer := 0; buffer <= 2; buffer++ {
					for seed := uint64(1); seed <= 6; seed++ {
						frac := []float64{0, 0.2, 0.4, 0.55}[seed%4]
						occ := randomOccupancy(t, m, frac, int(seed%3), seed)
						req := Request{Qubits: k, Shape: shape, Buffer: buffer, FragWeight: []float64{0.05, 0.01, 0.3}[seed%3]}
						if shape.Kind == ShapeGrid {
							req.Qubits = 6
						}
						if req.Validate(m.N()) != nil {
							continue
						}
						run := func(on bool) (*Placement, error) {
							fragIncremental = on
							e, err := NewEngine(m, Options{CacheSize: -1})
							if err != nil {
								t.Fatal(err)
							}
							return e.Place(context.Background(), &req, occ, nil)
						}
						want, werr := run(false)
						got, gerr := run(true)
						what := fmt.Sprintf("%s %v-%d buffer %d seed %d", name, shape.Kind, req.Qubits, buffer, seed)
						var wi, gi *InfeasibleError
						switch {
						case werr != nil || gerr != nil:
							if !errors.As(werr, &wi) || !errors.As(gerr, &gi) || wi.Reason != gi.Reason {
								t.Errorf("%s: errors differ: BFS %v, incremental %v", what, werr, gerr)
							}
						case fmt.Sprint(want.Mapping) != fmt.Sprint(got.Mapping) || want.Cost != got.Cost || want.Frag != got.Frag:
							t.Errorf("%s: BFS %v (cost %v frag %v), incremental %v (cost %v frag %v)", what,
								want.Mapping, want.Cost, want.Frag, got.Mapping, got.Cost, got.Frag)
						default:
							leavesSaved += want.Nodes - got.Nodes
						}
						cases++
					}
				}
			}
		}
	}
	t.Logf("%d cases; the bound saved %d search nodes in all", cases, leavesSaved)
	if cases < 300 {
		t.Fatalf("only %d cases ran", cases)
	}
}
