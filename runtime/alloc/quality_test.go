package alloc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/eigen-os/rm/hal"
)

// scenario is an occupancy situation of the quality test.
type scenario struct {
	name     string
	buffer   int // the request's isolation distance
	occ      func(tb testing.TB, m *hal.Model) *Occupancy
	reserved func(m *hal.Model) []int
}

func qualityScenarios() []scenario {
	return []scenario{
		{name: "empty", occ: func(testing.TB, *hal.Model) *Occupancy { return nil }},
		{name: "random50-b0", occ: func(tb testing.TB, m *hal.Model) *Occupancy { return randomOccupancy(tb, m, 0.5, 0, 3) }},
		{name: "random15-b1", buffer: 1, occ: func(tb testing.TB, m *hal.Model) *Occupancy { return randomOccupancy(tb, m, 0.15, 0, 5) }},
		{name: "tasks-b2+reserved", buffer: 2, occ: tasksOccupancy,
			reserved: func(m *hal.Model) []int { return []int{m.N() / 2, m.N()/2 + 1} }},
	}
}

// tasksOccupancy places two other tasks (linear 4, buffer 1; star 3,
// buffer 2) with the engine itself, as a daemon would.
func tasksOccupancy(tb testing.TB, m *hal.Model) *Occupancy {
	e, err := NewEngine(m, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	occ := NewOccupancy(m.Topology)
	for i, req := range []*Request{
		{Qubits: min(4, m.N()), Shape: Shape{Kind: ShapeLinear}, Buffer: 1},
		{Qubits: min(3, m.N()), Shape: Shape{Kind: ShapeStar}, Buffer: 2},
	} {
		pl, err := e.Place(context.Background(), req, occ, nil)
		if err != nil {
			continue // small devices fill up
		}
		if err := occ.Commit(pl.Holding(fmt.Sprintf("other%d", i))); err != nil {
			tb.Fatalf("commit: %v", err)
		}
	}
	return occ
}

func sameESP(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(a, b) }

// TestQualityIBM compares the engine with exhaustive enumeration for
// linear, star and ring shapes of 2-10 qubits on every IBM device, with and
// without occupancy, buffers and reserved qubits. Embeddable requests must
// return exactly the best embedding; non-embeddable ones the best routed
// placement (brute force over connected sets where feasible, else a search
// with a 100x budget).
func TestQualityIBM(t *testing.T) {
	devs := ibmDevices(t)
	maxK := 10
	if testing.Short() {
		maxK = 7
	}
	ctx := context.Background()
	var cases, embedded, routedBrute, routedLong, infeasible int
	start := time.Now()
	for _, m := range devs {
		e, err := NewEngine(m, Options{CacheSize: -1})
		if err != nil {
			t.Fatal(err)
		}
		for _, sc := range qualityScenarios() {
			occ := sc.occ(t, m)
			var reserved []int
			if sc.reserved != nil {
				reserved = sc.reserved(m)
			}
			for _, kind := range []ShapeKind{ShapeLinear, ShapeStar, ShapeRing} {
				for k := 2; k <= min(maxK, m.N()); k++ {
					cases++
					req := &Request{Qubits: k, Shape: Shape{Kind: kind}, Buffer: sc.buffer}
					name := fmt.Sprintf("%s/%s/%s-%d", m.Name, sc.name, req.Shape, k)
					pl, err := e.Place(ctx, req, occ, reserved)
					allowed := refAllowed(m, req, occ, reserved)
					if pl != nil {
						mp := make([]int, k)
						copy(mp, pl.Mapping)
						if verr := Validate(m, req, occ, reserved, mp); verr != nil {
							t.Errorf("%s: invalid placement %v: %v", name, pl.Mapping, verr)
							continue
						}
					}
					bestEmbed, _ := bruteEmbed(m, req, allowed)
					if bestEmbed > 0 {
						embedded++
						if err != nil {
							t.Errorf("%s: embedding exists (ESP %.6f) but engine failed: %v", name, bestEmbed, err)
							continue
						}
						if pl.Strategy != StrategyExact || !pl.Optimal || pl.Swaps != 0 {
							t.Errorf("%s: strategy %s optimal %v swaps %d, want proven exact embedding", name, pl.Strategy, pl.Optimal, pl.Swaps)
						}
						if got, ok := refESP(m, req, pl.Mapping); !ok || !sameESP(got, pl.ESP) {
							t.Errorf("%s: reported ESP %.9f, reference %.9f", name, pl.ESP, got)
						}
						if !sameESP(pl.ESP, bestEmbed) {
							t.Errorf("%s: ESP %.9f, exhaustive optimum %.9f", name, pl.ESP, bestEmbed)
						}
						continue
					}
					// Not embeddable: routed.
					feasible := kind == ShapeStar || k <= 7 || (!testing.Short() && k <= 8)
					if feasible {
						best, sets := bruteRouted(m, req, allowed)
						if sets == 0 {
							infeasible++
							if err == nil {
								t.Errorf("%s: no connected region of %d exists but engine placed %v", name, k, pl.Mapping)
							} else if !errors.Is(err, ErrNoRegion) && !errors.Is(err, ErrTooFewQubits) {
								t.Errorf("%s: error %v, want no region / too few qubits", name, err)
							}
							continue
						}
						routedBrute++
						if err != nil {
							t.Errorf("%s: routed placement exists (ESP %.6f) but engine failed: %v", name, best, err)
							continue
						}
						if got := math.Exp(-refRoutedCost(m, req, pl.Mapping)); !sameESP(got, pl.ESP) {
							t.Errorf("%s: reported routed ESP %.9f, reference %.9f", name, pl.ESP, got)
						}
						if !sameESP(pl.ESP, best) {
							t.Errorf("%s: routed ESP %.9f (strategy %s, optimal %v), exhaustive optimum %.9f", name, pl.ESP, pl.Strategy, pl.Optimal, best)
						}
						continue
					}
					routedLong++
					long := *req
					long.Budget = 100 * e.opts.DefaultBudget
					lp, lerr := e.Place(ctx, &long, occ, reserved)
					if (err == nil) != (lerr == nil) {
						t.Errorf("%s: default budget err %v, long budget err %v", name, err, lerr)
						continue
					}
					if err != nil {
						infeasible++
						continue
					}
					if pl.ESP < lp.ESP*(1-1e-9) {
						t.Logf("%s: routed ESP %.6f vs long budget %.6f (%.3f%%)", name, pl.ESP, lp.ESP, 100*(lp.ESP-pl.ESP)/lp.ESP)
					}
				}
			}
		}
	}
	t.Logf("%d cases on %d devices in %v: %d embedded (exhaustive), %d routed (exhaustive), %d routed (long budget), %d infeasible",
		cases, len(devs), time.Since(start).Round(time.Millisecond), embedded, routedBrute, routedLong, infeasible)
}
