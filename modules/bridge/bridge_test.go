package bridge

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/hal/synth"
	"github.com/eigen-os/rm/modules/abi"
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

// roundTrip encodes m's device view and rebuilds a model from it.
func roundTrip(t *testing.T, m *hal.Model) *hal.Model {
	t.Helper()
	d, err := abi.DecodeDevice(abi.AppendDevice(nil, DeviceOf(m)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Model(d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestModelRoundTrip: the rebuilt model has the same graph, usability and
// figures the engine reads, and the same epoch.
func TestModelRoundTrip(t *testing.T) {
	for _, spec := range []string{"heavyhex-127", "grid-5x7@4", "octagons-2", "alltoall-12@3"} {
		m := model(t, spec)
		r := roundTrip(t, m)
		if r.N() != m.N() || !reflect.DeepEqual(r.Couplers, m.Couplers) || r.Cal.Epoch != m.Cal.Epoch || r.Name != m.Name {
			t.Fatalf("%s: graph or epoch differs", spec)
		}
		for q := 0; q < m.N(); q++ {
			a, b := m.Cal.Qubits[q], r.Cal.Qubits[q]
			if a.Usable != b.Usable || !same(a.ReadoutError, b.ReadoutError) || !same(a.Error1Q, b.Error1Q) || !same(a.T1, b.T1) {
				t.Errorf("%s: qubit %d: %+v vs %+v", spec, q, a, b)
			}
			if m.Dist(0, q) != r.Dist(0, q) {
				t.Errorf("%s: distance 0-%d differs", spec, q)
			}
		}
		for c := range m.Couplers {
			a, b := m.Cal.Couplers[c], r.Cal.Couplers[c]
			if a.Usable != b.Usable || !same(a.Error, b.Error) || !same(a.Duration, b.Duration) {
				t.Errorf("%s: coupler %d: usable %v/%v error %v/%v", spec, c, a.Usable, b.Usable, a.Error, b.Error)
			}
		}
	}
}

func ed(a, b, c int) abi.Edge { return abi.Edge{A: a, B: b, Count: c} }

func same(a, b float64) bool { return a == b || (!hal.Known(a) && !hal.Known(b)) }

// TestModelDistrustsView: a view that marks usable what the rules forbid is
// corrected.
func TestModelDistrustsView(t *testing.T) {
	d := &abi.Device{Epoch: 9, Qubits: []abi.Qubit{{Usable: true, ReadoutError: 0.02}, {Usable: true, ReadoutError: hal.NaN},
		{Usable: true, ReadoutError: 0.01}}, Couplers: []abi.Coupler{{A: 0, B: 1, Usable: true, Error: 0.01}, {A: 0, B: 2, Usable: true, Error: 0.7},
		{A: 1, B: 2, Usable: true, Error: 0.01}}}
	m, err := Model(d)
	if err != nil {
		t.Fatal(err)
	}
	if !m.QubitUsable(0) || m.QubitUsable(1) || m.CouplerUsable(m.CouplerIndex(0, 1)) || m.CouplerUsable(m.CouplerIndex(0, 2)) {
		t.Errorf("usability not corrected: %+v", m.Cal)
	}
	if _, err := Model(&abi.Device{Qubits: []abi.Qubit{{}}, Couplers: []abi.Coupler{{A: 0, B: 3}}}); err == nil {
		t.Error("coupler outside the device accepted")
	}
}

// TestEngineSameOnRebuiltModel: the engine places identically on the model
// and on its rebuilt view.
func TestEngineSameOnRebuiltModel(t *testing.T) {
	m := model(t, "heavyhex-65@2")
	r := roundTrip(t, m)
	e1, err := alloc.NewEngine(m, alloc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e2, err := alloc.NewEngine(r, alloc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []alloc.Request{
		{Qubits: 5, Shape: alloc.Shape{Kind: alloc.ShapeLinear}},
		{Qubits: 4, Shape: alloc.Shape{Kind: alloc.ShapeStar}, Buffer: 1},
		{Qubits: 3, Shape: alloc.Shape{Kind: alloc.ShapeNone}},
	} {
		p1, err1 := e1.Place(context.Background(), &req, nil, nil)
		p2, err2 := e2.Place(context.Background(), &req, nil, nil)
		if fmt.Sprint(err1) != fmt.Sprint(err2) || (p1 != nil) != (p2 != nil) || (p1 != nil && (!reflect.DeepEqual(p1.Mapping, p2.Mapping) || p1.ESP != p2.ESP)) {
			t.Errorf("%s: %+v %v vs %+v %v", req.Shape, p1, err1, p2, err2)
		}
	}
}

// TestRequestRoundTrip: shapes and graphs survive FillRequest and Request,
// and shapes are expanded in their documented numbering.
func TestRequestRoundTrip(t *testing.T) {
	g := &alloc.Graph{Pairs: []alloc.Pair{{A: 2, B: 0, Count: 2}, {A: 0, B: 2, Count: 1}, {A: 1, B: 2, Count: 4}}, OneQ: []int{1, 0, 5}, Measured: []int{1}}
	none := &alloc.Graph{Pairs: []alloc.Pair{{A: 0, B: 1, Count: 1}}, Measured: []int{}}
	cases := []struct {
		req   alloc.Request
		edges []abi.Edge
	}{
		{alloc.Request{Qubits: 4, Shape: alloc.Shape{Kind: alloc.ShapeLinear}}, []abi.Edge{ed(0, 1, 1), ed(1, 2, 1), ed(2, 3, 1)}},
		{alloc.Request{Qubits: 4, Shape: alloc.Shape{Kind: alloc.ShapeRing}, Buffer: 2}, []abi.Edge{ed(0, 1, 1), ed(0, 3, 1), ed(1, 2, 1), ed(2, 3, 1)}},
		{alloc.Request{Qubits: 2, Shape: alloc.Shape{Kind: alloc.ShapeRing}}, []abi.Edge{ed(0, 1, 1)}},
		{alloc.Request{Qubits: 4, Shape: alloc.Shape{Kind: alloc.ShapeStar}}, []abi.Edge{ed(0, 1, 1), ed(0, 2, 1), ed(0, 3, 1)}},
		{alloc.Request{Qubits: 4, Shape: alloc.Shape{Kind: alloc.ShapeGrid, Rows: 2, Cols: 2}}, []abi.Edge{ed(0, 1, 1), ed(0, 2, 1), ed(1, 3, 1), ed(2, 3, 1)}},
		{alloc.Request{Qubits: 3, Shape: alloc.Shape{Kind: alloc.ShapeClique}, NoRouting: true}, []abi.Edge{ed(0, 1, 1), ed(0, 2, 1), ed(1, 2, 1)}},
		{alloc.Request{Qubits: 3, Shape: alloc.Shape{Kind: alloc.ShapeNone}, Floor: 0.5, FragWeight: 0.2, Budget: 99}, nil},
		{alloc.Request{Qubits: 3, Graph: g}, []abi.Edge{ed(0, 2, 3), ed(1, 2, 4)}},
		{alloc.Request{Qubits: 2, Graph: none}, []abi.Edge{ed(0, 1, 1)}},
	}
	for _, c := range cases {
		var a abi.Request
		if err := FillRequest(&a, &c.req, 7, 3); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.Edges, c.edges) && !(len(a.Edges) == 0 && len(c.edges) == 0) {
			t.Errorf("%s: edges %v, want %v", c.req.Shape, a.Edges, c.edges)
		}
		if a.Epoch != 7 || a.MaxCandidates != 3 {
			t.Errorf("epoch %d max %d", a.Epoch, a.MaxCandidates)
		}
		back, err := Request(&a)
		if err != nil {
			t.Fatal(err)
		}
		want := c.req
		if want.Graph != nil {
			// The graph comes back merged and sorted.
			w := *want.Graph
			w.Pairs = nil
			for _, e := range c.edges {
				w.Pairs = append(w.Pairs, alloc.Pair{A: e.A, B: e.B, Count: e.Count})
			}
			want.Graph = &w
		}
		if !reflect.DeepEqual(back, &want) {
			t.Errorf("round trip of %+v gave %+v (graph %+v)", c.req, back, back.Graph)
		}
	}
}

// TestOccupancyStatusMatchesValidate: a qubit is available exactly when
// alloc.Validate accepts a one-qubit placement on it, for every buffer.
func TestOccupancyStatusMatchesValidate(t *testing.T) {
	m := model(t, "heavyhex-127@3")
	eng, err := alloc.NewEngine(m, alloc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	occ := alloc.NewOccupancy(m.Topology)
	for i, b := range []int{0, 2, 1, 0, 3} {
		req := alloc.Request{Qubits: 3 + i, Shape: alloc.Shape{Kind: alloc.ShapeLinear}, Buffer: b}
		pl, err := eng.Place(context.Background(), &req, occ, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := occ.Commit(pl.Holding(fmt.Sprintf("t%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	reserved := []int{100, 101, 7}
	var b OccupancyBuilder
	var o abi.Occupancy
	for buf := 0; buf <= 3; buf++ {
		b.Fill(&o, m, occ, reserved, buf)
		req := alloc.Request{Qubits: 1, Shape: alloc.Shape{Kind: alloc.ShapeNone}, Buffer: buf}
		counts := map[abi.QubitStatus]int{}
		for q := 0; q < m.N(); q++ {
			counts[o.Status[q]]++
			err := alloc.Validate(m, &req, occ, reserved, []int{q})
			if (err == nil) != (o.Status[q] == abi.QubitAvailable) {
				t.Errorf("buffer %d qubit %d: status %v, Validate: %v", buf, q, o.Status[q], err)
			}
			if _, held := occ.Owner(q); held != (o.Owner[q] >= 0) {
				t.Errorf("qubit %d: owner %d, held %v", q, o.Owner[q], held)
			}
		}
		if counts[abi.QubitHeld] == 0 || counts[abi.QubitReserved] != 3 || (buf > 0 && counts[abi.QubitBuffered] == 0) {
			t.Errorf("buffer %d: statuses %v", buf, counts)
		}
		back, res, err := NewOccupancyView(m.Topology).Update(&o)
		if err != nil {
			t.Fatal(err)
		}
		if back.Hash() != occ.Hash() || !reflect.DeepEqual(res, reserved) || back.Used() != occ.Used() {
			t.Errorf("rebuilt occupancy differs: hash %v vs %v", back.Hash(), occ.Hash())
		}
	}
	// Empty device, no reservations: everything usable is available.
	b.Fill(&o, m, nil, nil, 2)
	for q := 0; q < m.N(); q++ {
		if (o.Status[q] == abi.QubitAvailable) != m.QubitUsable(q) || o.Owner[q] != -1 {
			t.Errorf("empty device: qubit %d status %v", q, o.Status[q])
		}
	}
}
