package alloc

import (
	"errors"
	"strings"
	"testing"

	"github.com/eigen-os/rm/hal"
)

func TestValidate(t *testing.T) {
	base := toyModel(t, "line", 10, lineEdges(10), 4)
	cal := base.Cal.Clone()
	cal.Qubits[9].Broken = hal.ReasonListedBroken
	m, err := hal.Finalize(base.Topology, cal)
	if err != nil {
		t.Fatal(err)
	}
	occ, _ := RebuildOccupancy(m.Topology, []Holding{{Task: "held", Qubits: []int{0}, Buffer: 1}})
	lin3 := &Request{Qubits: 3, Shape: Shape{Kind: ShapeLinear}}
	ring3 := &Request{Qubits: 3, Shape: Shape{Kind: ShapeRing}}
	for _, c := range []struct {
		req      *Request
		reserved []int
		mapping  []int
		want     string // "" valid
	}{
		{lin3, nil, []int{3, 4, 5}, ""},
		{lin3, nil, []int{5, 4, 3}, ""},
		{lin3, nil, []int{3, 4}, "2 qubits mapped"},
		{lin3, nil, []int{3, 4, 10}, "outside"},
		{lin3, nil, []int{3, 4, 3}, "also used by logical 0"},
		{lin3, nil, []int{7, 8, 9}, "unusable"},
		{lin3, nil, []int{0, 1, 2}, `held by task "held"`},
		{lin3, nil, []int{1, 2, 3}, `1 hops from qubit 0 of task "held"`},
		{lin3, nil, []int{2, 3, 4}, ""}, // 2 hops: the held task's buffer 1 is kept
		{&Request{Qubits: 3, Shape: Shape{Kind: ShapeLinear}, Buffer: 2}, nil, []int{2, 3, 4}, "isolation needs >= 3"},
		{&Request{Qubits: 3, Shape: Shape{Kind: ShapeLinear}, Buffer: 2}, nil, []int{3, 4, 5}, ""},
		{lin3, []int{4}, []int{3, 4, 5}, "reserved"},
		{&Request{Qubits: 2, Shape: Shape{Kind: ShapeLinear}, Buffer: 1}, []int{5}, []int{3, 4}, "from reserved qubit 5"},
		{lin3, nil, []int{3, 5, 4}, ""}, // routed: 3-5 through 4 is within the placement
		{ring3, nil, []int{3, 4, 5}, ""},
		{lin3, nil, []int{3, 4, 6}, "no path of usable couplers"},
		{&Request{Qubits: 3, Shape: Shape{Kind: ShapeLinear}, NoRouting: true}, nil, []int{3, 5, 4}, "routing is disabled"},
	} {
		err := Validate(m, c.req, occ, c.reserved, c.mapping)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %v: %v", describe(c.req), c.mapping, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %v: %v, want %q", describe(c.req), c.mapping, err, c.want)
		case c.want != "" && !errors.Is(err, ErrInvalidPlacement):
			t.Errorf("%s %v: %v is not ErrInvalidPlacement", describe(c.req), c.mapping, err)
		}
	}
	if err := Validate(m, &Request{Qubits: 0}, nil, nil, nil); !errors.Is(err, ErrBadRequest) {
		t.Errorf("bad request: %v", err)
	}
}
