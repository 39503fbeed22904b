package alloc

import (
	"errors"
	"testing"
)

func TestOccupancyCommitRelease(t *testing.T) {
	m := toyModel(t, "line", 10, lineEdges(10), 1)
	o := NewOccupancy(m.Topology)
	h0 := o.Hash()
	if err := o.Commit(Holding{Task: "a", Qubits: []int{0, 1}, Buffer: 1}); err != nil {
		t.Fatal(err)
	}
	if o.Used() != 2 || o.Tasks() != 1 {
		t.Fatalf("used %d tasks %d", o.Used(), o.Tasks())
	}
	if task, ok := o.Owner(1); !ok || task != "a" {
		t.Errorf("owner of 1: %q %v", task, ok)
	}
	// Conflicts: same task, held qubit, buffer of a (1: qubit 3 is 2 hops
	// from 1, needs >= 2), buffer of the new task (2 > a's 1).
	for _, h := range []Holding{
		{Task: "a", Qubits: []int{8}},
		{Task: "b", Qubits: []int{1}},
		{Task: "b", Qubits: []int{2}},
		{Task: "b", Qubits: []int{3}, Buffer: 2},
	} {
		if err := o.Commit(h); !errors.Is(err, ErrConflict) {
			t.Errorf("commit %+v: %v, want ErrConflict", h, err)
		}
	}
	for _, h := range []Holding{
		{Task: "", Qubits: []int{8}},
		{Task: "b", Qubits: nil},
		{Task: "b", Qubits: []int{10}},
		{Task: "b", Qubits: []int{5, 5}},
		{Task: "b", Qubits: []int{5}, Buffer: -1},
	} {
		if err := o.Commit(h); !errors.Is(err, ErrBadRequest) {
			t.Errorf("commit %+v: %v, want ErrBadRequest", h, err)
		}
	}
	if err := o.Commit(Holding{Task: "b", Qubits: []int{3, 4}}); err != nil {
		t.Errorf("qubit 3 is 2 hops from a with buffer 1: %v", err)
	}
	h2 := o.Hash()
	c := o.Clone()
	if !o.Release("a") || o.Release("a") {
		t.Error("release a: want true then false")
	}
	if _, ok := o.Owner(0); ok || o.Used() != 2 {
		t.Errorf("after release: owner(0) held, used %d", o.Used())
	}
	if !o.Release("b") || o.Hash() != h0 {
		t.Errorf("hash after releasing everything %v, want %v", o.Hash(), h0)
	}
	if c.Hash() != h2 || c.Used() != 4 {
		t.Errorf("clone changed with the original")
	}
	// Rebuild from holdings gives the same hash, whatever the order and names.
	r, err := RebuildOccupancy(m.Topology, []Holding{{Task: "y", Qubits: []int{3, 4}}, {Task: "x", Qubits: []int{1, 0}, Buffer: 1}})
	if err != nil || r.Hash() != h2 {
		t.Errorf("rebuild: %v, hash %v want %v", err, r.Hash(), h2)
	}
	if hs := r.Holdings(); len(hs) != 2 || hs[0].Task != "x" || hs[0].Buffer != 1 {
		t.Errorf("holdings %+v", hs)
	}
	if _, err := RebuildOccupancy(m.Topology, []Holding{{Task: "x", Qubits: []int{1}}, {Task: "y", Qubits: []int{1}}}); !errors.Is(err, ErrConflict) {
		t.Errorf("rebuild with a qubit twice: %v", err)
	}
}
