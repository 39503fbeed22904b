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

func model(t *testing.T, spec string) *hal.Model {
	t.Helper()
	m, err := synth.ByName(spec)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type problem struct {
	name     string
	req      alloc.Request
	occ      *alloc.Occupancy
	reserved []int
}

func problems(m *hal.Model) []problem {
	g := &alloc.Graph{Pairs: []alloc.Pair{{A: 0, B: 1, Count: 5}, {A: 1, B: 2, Count: 1}, {A: 2, B: 3, Count: 3}, {A: 3, B: 0, Count: 2}, {A: 1, B: 3, Count: 1}},
		OneQ: []int{3, 0, 1, 7}, Measured: []int{0, 2}}
	var ps []problem
	for i, frac := range []float64{0, 0.3, 0.5} {
		for _, buf := range []int{0, 1} {
			occ := bridgetest.Occupy(m, uint64(10+i), frac, buf)
			tag := fmt.Sprintf("occ%.0f%%-buf%d", frac*100, buf)
			ps = append(ps,
				problem{"linear5-" + tag, alloc.Request{Qubits: 5, Shape: alloc.Shape{Kind: alloc.ShapeLinear}, Buffer: buf}, occ, nil},
				problem{"ring6-" + tag, alloc.Request{Qubits: 6, Shape: alloc.Shape{Kind: alloc.ShapeRing}, Buffer: buf}, occ, nil},
				problem{"star4-" + tag, alloc.Request{Qubits: 4, Shape: alloc.Shape{Kind: alloc.ShapeStar}, Buffer: buf, FragWeight: 0.05}, occ, nil},
				problem{"graph-" + tag, alloc.Request{Qubits: 4, Graph: g, Buffer: buf}, occ, []int{3, 7, 11}},
				problem{"none3-" + tag, alloc.Request{Qubits: 3, Shape: alloc.Shape{Kind: alloc.ShapeNone}, Buffer: buf}, occ, nil},
				problem{"grid2x3-norouting-" + tag, alloc.Request{Qubits: 6, Shape: alloc.Shape{Kind: alloc.ShapeGrid, Rows: 2, Cols: 3}, NoRouting: true}, occ, nil},
			)
		}
	}
	return ps
}

// TestSameAsNative drives the module's code natively through the bytes the
// host sends and checks that it proposes exactly the native engine's
// placement (or nothing when the engine finds none).
func TestSameAsNative(t *testing.T) {
	mod := sdk.Registered()
	if mod == nil || mod.Kind() != abi.KindPlacement {
		t.Fatalf("registered module: %v", mod)
	}
	for _, spec := range []string{"heavyhex-127", "grid-6x6@3", "octagons-3@2"} {
		m := model(t, spec)
		if err := mod.LoadDevice(bridgetest.View(m)); err != nil {
			t.Fatal(err)
		}
		eng, err := alloc.NewEngine(m, alloc.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems(m) {
			want, werr := eng.Place(context.Background(), &p.req, p.occ, p.reserved)
			in, err := bridgetest.Call(m, &p.req, p.occ, p.reserved, 4, nil)
			if err != nil {
				t.Fatalf("%s %s: %v", spec, p.name, err)
			}
			answer, err := mod.Place(in)
			if err != nil {
				t.Fatalf("%s %s: module: %v", spec, p.name, err)
			}
			var got abi.Candidates
			if err := abi.DecodeCandidates(answer, p.req.Qubits, 4, m.N(), &got); err != nil {
				t.Fatalf("%s %s: %v", spec, p.name, err)
			}
			var ie *alloc.InfeasibleError
			switch {
			case werr == nil:
				if got.Len() != 1 {
					t.Fatalf("%s %s: %d candidates, native placed %v", spec, p.name, got.Len(), want.Mapping)
				}
				mp := got.AppendMapping(nil, 0)
				// The module's cost is the search's, summed in its own order; the
				// scoring module gives the figure that counts.
				if fmt.Sprint(mp) != fmt.Sprint(want.Mapping) || math.Abs(got.Cost(0)-want.Cost) > 1e-12 || got.Routed(0) != (want.Swaps > 0) {
					t.Errorf("%s %s: module %v cost %v routed %v, native %v cost %v swaps %d", spec, p.name,
						mp, got.Cost(0), got.Routed(0), want.Mapping, want.Cost, want.Swaps)
				}
				if err := alloc.Validate(m, &p.req, p.occ, p.reserved, mp); err != nil {
					t.Errorf("%s %s: %v", spec, p.name, err)
				}
			case errors.As(werr, &ie) && ie.Best == nil:
				if got.Len() != 0 {
					t.Errorf("%s %s: native: %v; module proposed %v", spec, p.name, werr, got.AppendMapping(nil, 0))
				}
			case errors.As(werr, &ie):
				if got.Len() != 1 || fmt.Sprint(got.AppendMapping(nil, 0)) != fmt.Sprint(ie.Best.Mapping) {
					t.Errorf("%s %s: native best below floor %v; module proposed %d", spec, p.name, ie.Best.Mapping, got.Len())
				}
			default:
				t.Fatalf("%s %s: native: %v", spec, p.name, werr)
			}
		}
	}
}

// TestCallErrors: calls the module cannot answer are refused with a
// status, not a panic.
func TestCallErrors(t *testing.T) {
	mod := sdk.NewPlacement((&strategy{}).place)
	m := model(t, "heavyhex-27")
	req := alloc.Request{Qubits: 3, Shape: alloc.Shape{Kind: alloc.ShapeLinear}}
	in, err := bridgetest.Call(m, &req, nil, nil, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mod.Place(in); sdk.StatusOf(err) != abi.StatusNoDevice {
		t.Errorf("call before any device: %v, want status %v", err, abi.StatusNoDevice)
	}
	s := &strategy{}
	mod = sdk.NewPlacement(s.place).OnLoad(s.load)
	if err := mod.LoadDevice(bridgetest.View(m)); err != nil {
		t.Fatal(err)
	}
	if _, err := mod.Place(in[:len(in)-8]); sdk.StatusOf(err) != abi.StatusBadInput {
		t.Errorf("truncated input: %v, want status %v", err, abi.StatusBadInput)
	}
	other := model(t, "heavyhex-27@5")
	in2, _ := bridgetest.Call(other, &req, nil, nil, 2, nil)
	if _, err := mod.Place(in2); sdk.StatusOf(err) != abi.StatusNoDevice {
		t.Errorf("call for another epoch: %v, want status %v", err, abi.StatusNoDevice)
	}
	if _, err := mod.Score(in); sdk.StatusOf(err) != abi.StatusUnsupported {
		t.Errorf("score on a placement module: %v, want status %v", err, abi.StatusUnsupported)
	}
	if _, err := mod.Place(in); err != nil {
		t.Errorf("good call after bad ones: %v", err)
	}
}

// BenchmarkGuestNative runs the module's code natively on the bytes the
// host sends (127 qubits, 5-qubit linear, half the device held): the cost
// of the guest's own work, without WebAssembly.
func BenchmarkGuestNative(b *testing.B) {
	m, err := synth.ByName("heavyhex-127")
	if err != nil {
		b.Fatal(err)
	}
	s := &strategy{}
	mod := sdk.NewPlacement(s.place).OnLoad(s.load)
	if err := mod.LoadDevice(bridgetest.View(m)); err != nil {
		b.Fatal(err)
	}
	req := alloc.Request{Qubits: 5, Shape: alloc.Shape{Kind: alloc.ShapeLinear}}
	var ins [][]byte
	for seed := uint64(1); seed <= 16; seed++ {
		in, err := bridgetest.Call(m, &req, bridgetest.Occupy(m, seed, 0.5, 0), nil, 16, nil)
		if err != nil {
			b.Fatal(err)
		}
		ins = append(ins, in)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := mod.Place(ins[i%len(ins)]); err != nil {
			b.Fatal(err)
		}
	}
}
