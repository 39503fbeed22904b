package sandbox

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/modules/bridge/bridgetest"
	"github.com/eigen-os/rm/runtime/alloc"
)

type nativeProblem struct {
	name     string
	req      alloc.Request
	occ      *alloc.Occupancy
	reserved []int
}

func nativeProblems(m *hal.Model) []nativeProblem {
	g := &alloc.Graph{Pairs: []alloc.Pair{{A: 0, B: 1, Count: 5}, {A: 1, B: 2, Count: 1}, {A: 2, B: 3, Count: 3}, {A: 3, B: 0, Count: 2}, {A: 1, B: 3, Count: 1}},
		OneQ: []int{3, 0, 1, 7}, Measured: []int{0, 2}}
	var ps []nativeProblem
	for i, frac := range []float64{0, 0.3, 0.5} {
		for _, buf := range []int{0, 1} {
			occ := bridgetest.Occupy(m, uint64(20+i), frac, buf)
			tag := fmt.Sprintf("occ%.0f%%-buf%d", frac*100, buf)
			ps = append(ps,
				nativeProblem{"linear5-" + tag, alloc.Request{Qubits: 5, Shape: alloc.Shape{Kind: alloc.ShapeLinear}, Buffer: buf}, occ, nil},
				nativeProblem{"ring6-" + tag, alloc.Request{Qubits: 6, Shape: alloc.Shape{Kind: alloc.ShapeRing}, Buffer: buf}, occ, nil},
				nativeProblem{"star4-frag-" + tag, alloc.Request{Qubits: 4, Shape: alloc.Shape{Kind: alloc.ShapeStar}, Buffer: buf, FragWeight: 0.05}, occ, nil},
				nativeProblem{"graph-" + tag, alloc.Request{Qubits: 4, Graph: g, Buffer: buf}, occ, []int{3, 7, 11}},
				nativeProblem{"none3-" + tag, alloc.Request{Qubits: 3, Shape: alloc.Shape{Kind: alloc.ShapeNone}, Buffer: buf}, occ, nil},
				nativeProblem{"grid2x3-norouting-" + tag, alloc.Request{Qubits: 6, Shape: alloc.Shape{Kind: alloc.ShapeGrid, Rows: 2, Cols: 3}, NoRouting: true}, occ, nil},
				nativeProblem{"linear4-floor-" + tag, alloc.Request{Qubits: 4, Shape: alloc.Shape{Kind: alloc.ShapeLinear}, Floor: 0.999}, occ, nil},
			)
		}
	}
	return ps
}

// TestBuiltinSameAsNative: the built-in strategies as WebAssembly modules
// (placement, then scoring, answers checked by the host) place exactly as
// the native engine: same qubits, same SWAP
// estimate and fragmentation, the same ESP up to the last bits (the guest's
// math library is Go's portable one), the same verdict when a request
// cannot be placed.
func TestBuiltinSameAsNative(t *testing.T) {
	pw, sw := builtinWasm(t)
	ctx := context.Background()
	{
		guard := GuardFuel
		h := newHost(t, Config{Guard: guard, CallTimeout: time.Second})
		pipe := Pipeline{load(t, h, "placement", pw), load(t, h, "scoring", sw)}
		for _, spec := range []string{"heavyhex-127", "grid-6x6@3", "octagons-3@2"} {
			m := device(t, spec)
			eng, err := alloc.NewEngine(m, alloc.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			ps := nativeProblems(m)
			for _, p := range ps {
				what := fmt.Sprintf("%s %s %s", guard, spec, p.name)
				want, werr := eng.Place(ctx, &p.req, p.occ, p.reserved)
				got, gerr := pipe.Place(ctx, m, &p.req, p.occ, p.reserved)
				var wie, gie *alloc.InfeasibleError
				switch {
				case werr == nil && gerr == nil:
					if !reflect.DeepEqual(got.Mapping, want.Mapping) || !near(got.ESP, want.ESP) || got.Swaps != want.Swaps ||
						got.Frag != want.Frag || got.Buffer != want.Buffer || got.Epoch != want.Epoch {
						t.Errorf("%s: module %+v\nnative %+v", what, got, want)
					}
				case errors.As(werr, &wie) && errors.As(gerr, &gie):
					if (wie.Reason == alloc.ErrFloor) != (gie.Reason == alloc.ErrFloor) {
						t.Errorf("%s: module %v, native %v", what, gerr, werr)
					}
					if wie.Reason == alloc.ErrFloor && !reflect.DeepEqual(wie.Best.Mapping, gie.Best.Mapping) {
						t.Errorf("%s: best below the floor: module %v, native %v", what, gie.Best.Mapping, wie.Best.Mapping)
					}
				default:
					t.Errorf("%s: module %v, native %v", what, gerr, werr)
				}
			}
			t.Logf("%s %s: %d problems in %v", guard, spec, len(ps), time.Since(t0))
		}
	}
}

// TestEpochReload: an instance reloads the device view when the
// calibration changes, and answers on the new one.
func TestEpochReload(t *testing.T) {
	pw, _ := builtinWasm(t)
	h := newHost(t, Config{})
	mod := load(t, h, "placement", pw)
	ctx := context.Background()
	m1 := device(t, "heavyhex-27@1")
	req := alloc.Request{Qubits: 4, Shape: alloc.Shape{Kind: alloc.ShapeLinear}}
	for _, m := range []*hal.Model{m1, recalibrated(t, m1), m1} {
		eng, err := alloc.NewEngine(m, alloc.Options{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := eng.Place(ctx, &req, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := mod.Place(ctx, m, &req, nil, nil)
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0].Mapping, want.Mapping) {
			t.Errorf("epoch %d: %+v %v, want %v", m.Cal.Epoch, got, err, want.Mapping)
		}
	}
}

// recalibrated returns m with the best coupler broken: a new epoch whose
// best placement differs.
func recalibrated(t *testing.T, m *hal.Model) *hal.Model {
	cal := m.Cal.Clone()
	best := 0
	for c := range cal.Couplers {
		if cal.Couplers[c].Usable && cal.Couplers[c].Error < cal.Couplers[best].Error {
			best = c
		}
	}
	for i := range cal.Couplers {
		if i != best {
			continue
		}
		cal.Couplers[i].Broken = hal.ReasonInjectedFault
	}
	m2, err := hal.Finalize(m.Topology, cal)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Cal.Epoch == m.Cal.Epoch {
		t.Fatal("same epoch after a change")
	}
	return m2
}
