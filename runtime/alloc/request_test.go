package alloc

import (
	"errors"
	"strings"
	"testing"
)

func TestParseShape(t *testing.T) {
	good := map[string]Shape{
		"linear": {Kind: ShapeLinear}, "RING": {Kind: ShapeRing}, " star ": {Kind: ShapeStar},
		"grid:2x3": {Kind: ShapeGrid, Rows: 2, Cols: 3}, "clique": {Kind: ShapeClique}, "none": {Kind: ShapeNone},
	}
	for in, want := range good {
		got, err := ParseShape(in)
		if err != nil || got != want {
			t.Errorf("ParseShape(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, err := ParseShape(got.String()); err != nil || back != got {
			t.Errorf("round trip of %v: %v, %v", got, back, err)
		}
	}
	for _, in := range []string{"", "hexagon", "grid", "grid:2", "grid:0x3", "grid:ax3", "grid:2x-1", "grid:2x3x4"} {
		_, err := ParseShape(in)
		if !errors.Is(err, ErrBadRequest) {
			t.Errorf("ParseShape(%q): err %v, want ErrBadRequest", in, err)
		}
	}
}

func TestRequestValidate(t *testing.T) {
	lin := Shape{Kind: ShapeLinear}
	cases := []struct {
		req   Request
		field string
	}{
		{Request{Qubits: 0, Shape: lin}, "qubits"},
		{Request{Qubits: -3, Shape: lin}, "qubits"},
		{Request{Qubits: 200, Shape: lin}, "qubits"},
		{Request{Qubits: 3}, "shape"},
		{Request{Qubits: 3, Shape: Shape{Kind: 99}}, "shape"},
		{Request{Qubits: 5, Shape: Shape{Kind: ShapeGrid, Rows: 2, Cols: 3}}, "shape"},
		{Request{Qubits: 3, Shape: lin, Buffer: -1}, "buffer"},
		{Request{Qubits: 3, Shape: lin, Buffer: MaxBuffer + 1}, "buffer"},
		{Request{Qubits: 3, Shape: lin, Floor: 1.5}, "floor"},
		{Request{Qubits: 3, Shape: lin, Budget: -1}, "budget"},
		{Request{Qubits: 3, Shape: lin, FragWeight: -1}, "frag_weight"},
		{Request{Qubits: 3, Shape: lin, Graph: &Graph{}}, "shape"},
		{Request{Qubits: 3, Graph: &Graph{Pairs: []Pair{{0, 3, 1}}}}, "graph.pairs[0]"},
		{Request{Qubits: 3, Graph: &Graph{Pairs: []Pair{{1, 1, 1}}}}, "graph.pairs[0]"},
		{Request{Qubits: 3, Graph: &Graph{Pairs: []Pair{{0, 1, 0}}}}, "graph.pairs[0]"},
		{Request{Qubits: 3, Graph: &Graph{OneQ: []int{1}}}, "graph.one_q"},
		{Request{Qubits: 3, Graph: &Graph{OneQ: []int{1, -1, 0}}}, "graph.one_q[1]"},
		{Request{Qubits: 3, Graph: &Graph{Measured: []int{3}}}, "graph.measured[0]"},
	}
	for _, c := range cases {
		err := c.req.Validate(127)
		var re *RequestError
		if !errors.As(err, &re) || re.Field != c.field || !errors.Is(err, ErrBadRequest) {
			t.Errorf("%+v: err %v, want a RequestError on %q", c.req, err, c.field)
		}
	}
	ok := Request{Qubits: 6, Shape: Shape{Kind: ShapeGrid, Rows: 2, Cols: 3}, Buffer: 2, Floor: 0.5, FragWeight: 0.01}
	if err := ok.Validate(127); err != nil {
		t.Errorf("valid request: %v", err)
	}
}

func TestLogicalGraphShapes(t *testing.T) {
	count := func(s Shape, n int) int {
		r := &Request{Qubits: n, Shape: s}
		e, _, _ := r.logicalGraph()
		return len(e)
	}
	for _, c := range []struct {
		s     Shape
		n, ne int
	}{
		{Shape{Kind: ShapeLinear}, 5, 4}, {Shape{Kind: ShapeRing}, 5, 5}, {Shape{Kind: ShapeRing}, 2, 1},
		{Shape{Kind: ShapeStar}, 5, 4}, {Shape{Kind: ShapeGrid, Rows: 2, Cols: 3}, 6, 7},
		{Shape{Kind: ShapeClique}, 5, 10}, {Shape{Kind: ShapeNone}, 5, 0},
	} {
		if got := count(c.s, c.n); got != c.ne {
			t.Errorf("%s of %d: %d edges, want %d", c.s, c.n, got, c.ne)
		}
	}
	// Graph pairs are merged in either order and counts summed.
	r := &Request{Qubits: 3, Graph: &Graph{Pairs: []Pair{{0, 1, 2}, {1, 0, 3}, {2, 1, 1}}, Measured: []int{2}}}
	e, meas, _ := r.logicalGraph()
	if len(e) != 2 || e[0].w != 5 || e[1].w != 1 || meas[0] != 0 || meas[2] != 1 {
		t.Errorf("merged graph %+v meas %v", e, meas)
	}
}

func TestParseQubitList(t *testing.T) {
	got, err := ParseQubitList(" 3,4, 10-12 ,0", 20)
	if err != nil || len(got) != 6 || got[2] != 10 || got[5] != 0 {
		t.Errorf("got %v, %v", got, err)
	}
	if got, err := ParseQubitList("", 5); err != nil || got != nil {
		t.Errorf("empty: %v, %v", got, err)
	}
	for _, in := range []string{"a", "3,,4", "-1", "5-3", "1,1", "0-2,2", "20", "1.5"} {
		if _, err := ParseQubitList(in, 20); err == nil {
			t.Errorf("ParseQubitList(%q): no error", in)
		}
	}
}

func FuzzParseQubitList(f *testing.F) {
	for _, s := range []string{"3,4,5", "0-7,12", "", "1-", "-", "9999999999999999999", "1,1"} {
		f.Add(s, 127)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n > 1<<16 {
			n = 1 << 16
		}
		qs, err := ParseQubitList(s, n)
		if err != nil {
			return
		}
		seen := map[int]bool{}
		for _, q := range qs {
			if q < 0 || (n > 0 && q >= n) || seen[q] {
				t.Fatalf("%q: bad qubit %d in %v", s, q, qs)
			}
			seen[q] = true
		}
	})
}

func FuzzParseShape(f *testing.F) {
	for _, s := range []string{"linear", "grid:3x4", "grid:x", "Ring", "grid:99999999999999999999x1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sh, err := ParseShape(s)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "shape") {
				t.Fatalf("%q: error %v", s, err)
			}
			return
		}
		if back, err := ParseShape(sh.String()); err != nil || back != sh {
			t.Fatalf("%q: %v does not round-trip (%v, %v)", s, sh, back, err)
		}
	})
}
