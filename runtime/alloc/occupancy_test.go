package alloc

import (
	"context"
	"errors"
	"slices"
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

// SetSlots gives the occupancy that committing the same tasks gives (the
// same qubits, owners grouped alike, buffers, hash and placements), names
// the tasks slot-S, and the occupancy goes on working with commits and
// releases; bad slots are refused and leave the occupancy as it was.
func TestOccupancySetSlots(t *testing.T) {
	m := toyModel(t, "line", 10, lineEdges(10), 1)
	ref := NewOccupancy(m.Topology)
	for _, h := range []Holding{{Task: "x", Qubits: []int{0, 1}, Buffer: 1}, {Task: "y", Qubits: []int{5}, Buffer: 0}} {
		if err := ref.Commit(h); err != nil {
			t.Fatal(err)
		}
	}
	o := NewOccupancy(m.Topology)
	if err := o.Commit(Holding{Task: "stale", Qubits: []int{8}}); err != nil {
		t.Fatal(err)
	}
	owner := []int32{2, 2, -1, -1, -1, 0, -1, -1, -1, -1}
	buffers := []int{0, 3, 1}            // slot 1 holds nothing: no task
	for round := 0; round < 2; round++ { // a second load reuses the slots
		if err := o.SetSlots(owner, buffers); err != nil {
			t.Fatal(err)
		}
		if o.Hash() != ref.Hash() || o.Used() != 3 || o.Tasks() != 2 || o.maxBuffer() != 1 {
			t.Fatalf("round %d: hash %v used %d tasks %d maxBuffer %d; want hash %v, 3, 2, 1", round,
				o.Hash(), o.Used(), o.Tasks(), o.maxBuffer(), ref.Hash())
		}
		if task, ok := o.Owner(1); !ok || task != "slot-2" {
			t.Errorf("owner of 1: %q %v, want slot-2", task, ok)
		}
		if h, ok := o.Holding("slot-2"); !ok || len(h.Qubits) != 2 || h.Buffer != 1 {
			t.Errorf("holding slot-2: %+v %v", h, ok)
		}
		if _, ok := o.Holding("stale"); ok {
			t.Error("a task from before SetSlots survived")
		}
		// AppendSlots gives them back, numbered by lowest qubit, the
		// empty slot left out; so does a commit-built occupancy.
		wantOwner := []int32{0, 0, -1, -1, -1, 1, -1, -1, -1, -1}
		for _, x := range []*Occupancy{o, ref} {
			gotOwner, gotBuf := x.AppendSlots(nil, nil)
			if !slices.Equal(gotOwner, wantOwner) || !slices.Equal(gotBuf, []int{1, 0}) {
				t.Fatalf("AppendSlots = %v %v, want %v [1 0]", gotOwner, gotBuf, wantOwner)
			}
		}
	}
	e := mustEngine(t, m, Options{CacheSize: -1})
	req := &Request{Qubits: 2, Shape: Shape{Kind: ShapeLinear}}
	a, errA := e.Place(context.Background(), req, ref, nil)
	b, errB := e.Place(context.Background(), req, o, nil)
	if errA != nil || errB != nil || !slices.Equal(a.Mapping, b.Mapping) || a.Cost != b.Cost {
		t.Fatalf("placements differ: %+v (%v) vs %+v (%v)", a, errA, b, errB)
	}
	// Commit respects the loaded buffers; release frees a loaded task.
	if err := o.Commit(Holding{Task: "z", Qubits: []int{2}}); !errors.Is(err, ErrConflict) {
		t.Errorf("commit next to a loaded task with buffer 1: %v, want ErrConflict", err)
	}
	if err := o.Commit(Holding{Task: "z", Qubits: []int{8}}); err != nil || o.Tasks() != 3 {
		t.Errorf("commit after SetSlots: %v, %d tasks", err, o.Tasks())
	}
	if !o.Release("slot-2") || o.Used() != 2 {
		t.Errorf("release slot-2: used %d", o.Used())
	}
	before := o.Hash()
	for _, bad := range []struct {
		owner   []int32
		buffers []int
	}{
		{owner[:9], buffers},
		{[]int32{3, -1, -1, -1, -1, -1, -1, -1, -1, -1}, buffers},
		{[]int32{-2, -1, -1, -1, -1, -1, -1, -1, -1, -1}, buffers},
		{owner, []int{0, MaxBuffer + 1, 0}},
		{owner, []int{-1, 0, 0}},
	} {
		if err := o.SetSlots(bad.owner, bad.buffers); !errors.Is(err, ErrBadRequest) {
			t.Errorf("SetSlots(%v, %v): %v, want ErrBadRequest", bad.owner, bad.buffers, err)
		}
	}
	if o.Hash() != before {
		t.Error("a refused SetSlots changed the occupancy")
	}
}

// TestOccupancySetSlotsLazyHash: the hash SetSlots leaves to its first use
// takes commits and releases made before that use into account.
func TestOccupancySetSlotsLazyHash(t *testing.T) {
	m := toyModel(t, "line", 10, lineEdges(10), 1)
	ref := NewOccupancy(m.Topology)
	for _, h := range []Holding{{Task: "x", Qubits: []int{0, 1}, Buffer: 1}, {Task: "z", Qubits: []int{8}}} {
		if err := ref.Commit(h); err != nil {
			t.Fatal(err)
		}
	}
	o := NewOccupancy(m.Topology)
	if err := o.SetSlots([]int32{0, 0, -1, -1, -1, 1, -1, -1, -1, -1}, []int{1, 0}); err != nil {
		t.Fatal(err)
	}
	if err := o.Commit(Holding{Task: "z", Qubits: []int{8}}); err != nil {
		t.Fatal(err)
	}
	if !o.Release("slot-1") {
		t.Fatal("release slot-1")
	}
	c := o.Clone()
	if o.Hash() != ref.Hash() || c.Hash() != ref.Hash() {
		t.Fatalf("hash %v (clone %v), want %v", o.Hash(), c.Hash(), ref.Hash())
	}
	if err := o.Commit(Holding{Task: "w", Qubits: []int{5}}); err != nil {
		t.Fatal(err)
	}
	if err := ref.Commit(Holding{Task: "w", Qubits: []int{5}}); err != nil {
		t.Fatal(err)
	}
	if o.Hash() != ref.Hash() {
		t.Fatalf("after a commit: hash %v, want %v", o.Hash(), ref.Hash())
	}
}
