package hal

import (
	"encoding/json"
	"strings"
	"testing"
)

// line4 is a 4-qubit path 0-1-2-3 with a figure on every element.
func line4(t *testing.T) (*Topology, *Calibration) {
	t.Helper()
	qs := make([]QubitInfo, 4)
	for i := range qs {
		qs[i] = QubitInfo{Index: i, Name: string(rune('a' + i)), Row: -1, Col: -1}
	}
	topo, err := NewTopology("line4", "test", "path", "cx", qs, []Edge{{1, 0}, {1, 2}, {3, 2}, {2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCalibration(topo)
	for i := range c.Qubits {
		c.Qubits[i].ReadoutError = 0.01 * float64(i+1)
		c.Qubits[i].Error1Q = 0.001
	}
	for i := range c.Couplers {
		c.Couplers[i].Gates = []GateCal{{Gate: "cx", Dir: DirAB, Error: 0.02, Duration: 300}, {Gate: "cx", Dir: DirBA, Error: 0.01, Duration: 350}}
	}
	return topo, c
}

func TestTopology(t *testing.T) {
	topo, _ := line4(t)
	if len(topo.Couplers) != 3 {
		t.Fatalf("duplicates not merged: %v", topo.Couplers)
	}
	if topo.Dist(0, 3) != 3 || topo.Dist(3, 0) != 3 || topo.Dist(2, 2) != 0 {
		t.Errorf("distances: %d %d", topo.Dist(0, 3), topo.Dist(3, 0))
	}
	if topo.CouplerIndex(2, 1) != 1 || topo.CouplerIndex(0, 2) != -1 || topo.CouplerIndex(-1, 2) != -1 {
		t.Errorf("coupler index")
	}
	if topo.QubitByName("c") != 2 || topo.QubitByName("z") != -1 {
		t.Errorf("names")
	}
	for _, bad := range [][]Edge{{{0, 4}}, {{2, 2}}, {{-1, 0}}} {
		qs := []QubitInfo{{Index: 0}, {Index: 1}, {Index: 2}, {Index: 3}}
		if _, err := NewTopology("x", "", "", "cx", qs, bad); err == nil {
			t.Errorf("coupler %v accepted", bad)
		}
	}
	if _, err := NewTopology("x", "", "", "cx", nil, nil); err == nil {
		t.Error("no qubits accepted")
	}
}

func TestFinalizeRules(t *testing.T) {
	topo, c := line4(t)
	m, err := Finalize(topo, c)
	if err != nil {
		t.Fatal(err)
	}
	if m.Cal.Couplers[0].Error != 0.01 || m.Cal.Couplers[0].Duration != 350 {
		t.Errorf("coupler error is the smaller direction: %+v", m.Cal.Couplers[0])
	}
	e1 := m.Cal.Epoch
	if e1 == 0 {
		t.Fatal("zero epoch")
	}
	// Break things: readout 0.5, missing 2q figure, listed broken.
	c2 := m.Cal.Clone()
	c2.Qubits[3].ReadoutError = 0.5
	c2.Couplers[0].Gates = nil
	c2.Qubits[1].Broken = ReasonDeadQubit
	m2, err := Finalize(topo, c2)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Cal.Epoch == e1 {
		t.Error("epoch did not change with the calibration")
	}
	if m.Cal.Qubits[3].Usable != true || m2.Cal.Qubits[3].Usable || m2.Cal.Qubits[3].Reason != ReasonErrorTooHigh {
		t.Errorf("readout 0.5 must be unusable (and the clone independent): %+v", m2.Cal.Qubits[3])
	}
	if m2.Cal.Couplers[0].OwnReason != ReasonMissingData || m2.Cal.Couplers[1].OwnReason != ReasonNone || m2.Cal.Couplers[1].Reason != ReasonEndpointDown {
		t.Errorf("coupler reasons: %+v", m2.Cal.Couplers)
	}
	s := m2.Summarize()
	if s.BrokenQubits != 2 || s.BrokenCouplers != 1 || s.UsableCouplers != 0 {
		t.Errorf("summary %+v", s)
	}
	// Same figures, same epoch.
	_, c3 := line4(t)
	m3, _ := Finalize(topo, c3)
	if m3.Cal.Epoch != e1 {
		t.Error("equal calibrations give different epochs")
	}
	if !IsNaN(m.Error2Q(0, 2)) || m.Error2Q(1, 0) != 0.01 {
		t.Error("Error2Q")
	}
}

func IsNaN(x float64) bool { return !Known(x) }

func TestSummaryJSONUnknown(t *testing.T) {
	topo, c := line4(t)
	m, _ := Finalize(topo, c)
	b, err := json.Marshal(m.Summarize())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"median_t1_us":null`) || !strings.Contains(string(b), `"median_2q_error":0.01`) {
		t.Errorf("json: %s", b)
	}
}
