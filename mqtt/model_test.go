package mqtt

import (
	"testing"

	"github.com/eigen-os/rm/hal"
)

func lineModel(t *testing.T, n int, extra ...hal.Edge) *hal.Model {
	t.Helper()
	qs := make([]hal.QubitInfo, n)
	var es []hal.Edge
	for i := range qs {
		qs[i] = hal.QubitInfo{Index: i, Name: "q", Row: -1, Col: -1}
		if i > 0 {
			es = append(es, hal.Edge{A: i - 1, B: i})
		}
	}
	es = append(es, extra...)
	top, err := hal.NewTopology("line", "synthetic", "test", "cx", qs, es)
	if err != nil {
		t.Fatal(err)
	}
	cal := hal.NewCalibration(top)
	for i := range cal.Qubits {
		cal.Qubits[i].ReadoutError = 0.02
		cal.Qubits[i].Error1Q = 0.001
	}
	for i := range cal.Couplers {
		cal.Couplers[i].Gates = []hal.GateCal{{Gate: "cx", Dir: hal.DirSymmetric, Error: 0.01, Duration: 300}}
	}
	cal.Qubits[0].Broken = hal.ReasonListedBroken
	m, err := hal.Finalize(top, cal)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBirthFromModel(t *testing.T) {
	m := lineModel(t, 4)
	b := BirthFromModel(m)
	s := b.Summary
	if s.Vendor != "synthetic" || s.Qubits != 4 || s.Couplers != 3 || s.UsableQubits != 3 || s.UsableCouplers != 2 ||
		s.MaxDegree != 2 || s.Median2QError != 0.01 || s.MedianReadoutError != 0.02 || s.Native2Q != "cx" {
		t.Errorf("summary: %+v", s)
	}
	if b.CalibrationEpoch != m.Cal.Epoch || b.TopologyDigest == 0 {
		t.Errorf("digests: %+v", b)
	}
	// Equal graphs, equal digests; another graph, another digest.
	if TopologyDigest(lineModel(t, 4).Topology) != b.TopologyDigest {
		t.Error("the digest of an equal graph differs")
	}
	if TopologyDigest(lineModel(t, 4, hal.Edge{A: 0, B: 3}).Topology) == b.TopologyDigest {
		t.Error("a ring has the digest of a line")
	}
	// The node fills the header; what the model gives validates.
	b.V, b.Site, b.Device, b.Controller = 1, "s", "d", "c"
	if err := b.Validate(); err != nil {
		t.Errorf("birth from a model does not validate: %v", err)
	}
}
