package sdk

import (
	"errors"
	"strings"
	"testing"

	"github.com/eigen-os/rm/hal/synth"
	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/modules/bridge/bridgetest"
	"github.com/eigen-os/rm/runtime/alloc"
)

func inputs(t *testing.T) (view, place, score []byte) {
	m, err := synth.ByName("heavyhex-27")
	if err != nil {
		t.Fatal(err)
	}
	req := alloc.Request{Qubits: 2, Shape: alloc.Shape{Kind: alloc.ShapeNone}}
	place, err = bridgetest.Call(m, &req, nil, nil, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	score, err = bridgetest.Call(m, &req, nil, nil, 0, [][]int{{0, 1}, {2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	return bridgetest.View(m), place, score
}

func TestPlacementModule(t *testing.T) {
	view, in, sin := inputs(t)
	loads := 0
	mod := NewPlacement(func(d *abi.Device, o *abi.Occupancy, r *abi.Request, out *abi.Candidates) error {
		if d.N() != 27 || len(o.Status) != 27 || r.Qubits != 2 || out.Max() != 3 {
			return errors.New("unexpected arguments")
		}
		for i := 0; i < 5; i++ { // beyond Max: refused, not an error
			out.Add([]int{i, i + 1}, float64(i), false)
		}
		return nil
	}).OnLoad(func(*abi.Device) error { loads++; return nil })
	if mod.Kind() != abi.KindPlacement {
		t.Fatal(mod.Kind())
	}
	if _, err := mod.Place(in); StatusOf(err) != abi.StatusNoDevice {
		t.Errorf("before a device: %v", err)
	}
	if err := mod.LoadDevice(view); err != nil || loads != 1 || mod.Device().N() != 27 {
		t.Fatalf("load: %v, %d loads", err, loads)
	}
	answer, err := mod.Place(in)
	if err != nil {
		t.Fatal(err)
	}
	var c abi.Candidates
	if err := abi.DecodeCandidates(answer, 2, 3, 27, &c); err != nil || c.Len() != 3 {
		t.Errorf("answer: %v, %d candidates", err, c.Len())
	}
	if _, err := mod.Score(sin); StatusOf(err) != abi.StatusUnsupported {
		t.Errorf("score on a placement module: %v", err)
	}
	if err := mod.LoadDevice(view[:30]); StatusOf(err) != abi.StatusBadInput || mod.Device() != nil {
		t.Errorf("bad view: %v", err)
	}
}

func TestScoringModuleAndFailures(t *testing.T) {
	view, in, sin := inputs(t)
	mod := NewScoring(func(d *abi.Device, o *abi.Occupancy, r *abi.Request, c *abi.Candidates, out []abi.Score) error {
		for i := range out {
			out[i] = abi.Score{ESP: 0.5, Swaps: c.Len()}
		}
		return nil
	})
	if err := mod.LoadDevice(view); err != nil {
		t.Fatal(err)
	}
	answer, err := mod.Score(sin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := abi.DecodeScores(answer, 2, nil)
	if err != nil || s[1].ESP != 0.5 || s[1].Swaps != 2 {
		t.Errorf("scores %v %v", s, err)
	}
	if _, err := mod.Place(in); StatusOf(err) != abi.StatusUnsupported {
		t.Errorf("place on a scoring module: %v", err)
	}
	panicking := NewPlacement(func(*abi.Device, *abi.Occupancy, *abi.Request, *abi.Candidates) error { panic("boom") })
	panicking.LoadDevice(view)
	if _, err := panicking.Place(in); StatusOf(err) != abi.StatusFailed || !strings.Contains(err.Error(), "boom") {
		t.Errorf("panic: %v", err)
	}
	failing := NewPlacement(nil).OnLoad(func(*abi.Device) error { return errors.New("no") })
	if err := failing.LoadDevice(view); StatusOf(err) != abi.StatusFailed || failing.Device() != nil {
		t.Errorf("failing load: %v", err)
	}
	if StatusOf(nil) != abi.StatusOK || StatusOf(errors.New("x")) != abi.StatusFailed {
		t.Error("StatusOf")
	}
}

func TestRegisterTwice(t *testing.T) {
	saved := registered
	defer func() { registered = saved }()
	registered = nil
	RegisterPlacement(func(*abi.Device, *abi.Occupancy, *abi.Request, *abi.Candidates) error { return nil })
	RegisterScoring(func(*abi.Device, *abi.Occupancy, *abi.Request, *abi.Candidates, []abi.Score) error { return nil })
	if Registered().Kind() != 0 {
		t.Errorf("two registrations gave kind %v; the host must refuse such a module", Registered().Kind())
	}
}
