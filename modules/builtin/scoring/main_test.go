package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/hal/synth"
	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/modules/bridge/bridgetest"
	"github.com/eigen-os/rm/modules/sdk"
	"github.com/eigen-os/rm/runtime/alloc"
)

func model(t testing.TB, spec string) *hal.Model {
	t.Helper()
	m, err := synth.ByName(spec)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSameAsNative drives the module's code natively through the bytes the
// host sends: the score of the native engine's placement is the engine's
// own (ESP, SWAPs, fragmentation), and a placement that breaks a rule
// scores 0.
func TestSameAsNative(t *testing.T) {
	mod := sdk.Registered()
	if mod == nil || mod.Kind() != abi.KindScoring {
		t.Fatalf("registered module: %v", mod)
	}
	g := &alloc.Graph{Pairs: []alloc.Pair{{A: 0, B: 1, Count: 5}, {A: 1, B: 2, Count: 1}, {A: 2, B: 3, Count: 3}, {A: 3, B: 0, Count: 2}},
		OneQ: []int{3, 0, 1, 7}, Measured: []int{0, 2}}
	scored := 0
	for _, spec := range []string{"heavyhex-127", "grid-6x6@3", "octagons-3@2"} {
		m := model(t, spec)
		if err := mod.LoadDevice(bridgetest.View(m)); err != nil {
			t.Fatal(err)
		}
		eng, err := alloc.NewEngine(m, alloc.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i, frac := range []float64{0, 0.4} {
			occ := bridgetest.Occupy(m, uint64(i+3), frac, 1)
			for _, req := range []alloc.Request{
				{Qubits: 5, Shape: alloc.Shape{Kind: alloc.ShapeLinear}, Buffer: 1},
				{Qubits: 6, Shape: alloc.Shape{Kind: alloc.ShapeRing}},
				{Qubits: 4, Shape: alloc.Shape{Kind: alloc.ShapeStar}, FragWeight: 0.2},
				{Qubits: 4, Graph: g},
				{Qubits: 3, Shape: alloc.Shape{Kind: alloc.ShapeNone}, Floor: 0.99},
			} {
				want, err := eng.Place(context.Background(), &req, occ, nil)
				var ie *alloc.InfeasibleError
				if errors.As(err, &ie) && ie.Best != nil {
					want, err = ie.Best, nil
				}
				if err != nil {
					continue
				}
				bad := append([]int(nil), want.Mapping...)
				bad[0] = bad[len(bad)-1] // a duplicate
				in, err := bridgetest.Call(m, &req, occ, nil, 0, [][]int{want.Mapping, bad})
				if err != nil {
					t.Fatal(err)
				}
				answer, err := mod.Score(in)
				if err != nil {
					t.Fatalf("%s %s: %v", spec, req.Shape, err)
				}
				got, err := abi.DecodeScores(answer, 2, nil)
				if err != nil {
					t.Fatal(err)
				}
				what := fmt.Sprintf("%s %s occ %.1f", spec, req.Shape, frac)
				if math.Abs(got[0].ESP-want.ESP) > 1e-12*want.ESP || got[0].Swaps != want.Swaps || got[0].Frag != want.Frag {
					t.Errorf("%s: scored %+v, native ESP %v swaps %d frag %v", what, got[0], want.ESP, want.Swaps, want.Frag)
				}
				if got[1].ESP != 0 {
					t.Errorf("%s: a placement with a duplicate qubit scored %+v", what, got[1])
				}
				scored++
			}
		}
	}
	if scored < 20 {
		t.Errorf("only %d placements scored", scored)
	}
}

// BenchmarkGuestNative runs the module's code natively on the bytes the
// host sends (127 qubits, a 5-qubit linear placement, half the device
// held): the cost of the guest's own work, without WebAssembly.
func BenchmarkGuestNative(b *testing.B) {
	m := model(b, "heavyhex-127")
	mod := sdk.Registered()
	if err := mod.LoadDevice(bridgetest.View(m)); err != nil {
		b.Fatal(err)
	}
	req := alloc.Request{Qubits: 5, Shape: alloc.Shape{Kind: alloc.ShapeLinear}}
	occ := bridgetest.Occupy(m, 1, 0.5, 0)
	eng, _ := alloc.NewEngine(m, alloc.Options{})
	pl, err := eng.Place(context.Background(), &req, occ, nil)
	if err != nil {
		b.Fatal(err)
	}
	in, err := bridgetest.Call(m, &req, occ, nil, 0, [][]int{pl.Mapping})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := mod.Score(in); err != nil {
			b.Fatal(err)
		}
	}
}
