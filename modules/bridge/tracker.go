package bridge

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/runtime/alloc"
)

// OccupancyTracker keeps the engine's occupancy in step with the ABI
// occupancies of successive calls, releasing and committing only the tasks
// that changed: between two requests a controller usually commits or
// releases one task, and rebuilding the whole occupancy each call would
// cost more than the search inside a guest. Task slots may be renumbered
// between calls (the host numbers them by task id): tasks are matched by
// their qubits and buffer. It is not safe for concurrent use.
type OccupancyTracker struct {
	topo    *hal.Topology
	occ     *alloc.Occupancy
	owner   []int32  // task of each qubit in occ, -1 when free
	buffer  []int    // buffer of each task id (index: task id)
	qubits  [][]int  // qubits of each task id
	live    []bool   // task id in use
	names   []string // name of each task id
	free    []int32  // task ids to reuse
	res     []int
	slotTo  []int32 // scratch: new slot -> task id (-2 unseen, -3 changed)
	taskTo  []int32 // scratch: task id -> new slot (-2 unseen, -3 changed)
	members [][]int // scratch: qubits of each new slot
}

// NewOccupancyTracker returns a tracker of an empty occupancy of t.
func NewOccupancyTracker(t *hal.Topology) *OccupancyTracker {
	tr := &OccupancyTracker{topo: t}
	tr.reset()
	return tr
}

func (tr *OccupancyTracker) reset() {
	tr.occ = alloc.NewOccupancy(tr.topo)
	tr.owner = make([]int32, tr.topo.N())
	for i := range tr.owner {
		tr.owner[i] = -1
	}
	tr.buffer, tr.live, tr.names, tr.free, tr.qubits = tr.buffer[:0], tr.live[:0], tr.names[:0], tr.free[:0], tr.qubits[:0]
}

// Update brings the occupancy in step with o and returns it with the
// reserved qubits. The result is owned by the tracker: it is valid until
// the next Update.
func (tr *OccupancyTracker) Update(o *abi.Occupancy) (*alloc.Occupancy, []int, error) {
	n := tr.topo.N()
	if len(o.Owner) != n {
		return nil, nil, fmt.Errorf("bridge: occupancy of %d qubits for a device of %d", len(o.Owner), n)
	}
	ns := len(o.TaskBuffers)
	tr.slotTo = fill32(tr.slotTo, ns, -2)
	tr.taskTo = fill32(tr.taskTo, len(tr.live), -2)
	// Match new slots with tracked tasks qubit by qubit: a slot and a task
	// match when they hold exactly the same qubits with the same buffer.
	for q := 0; q < n; q++ {
		s, t := o.Owner[q], tr.owner[q]
		if s >= int32(ns) {
			return nil, nil, fmt.Errorf("bridge: qubit %d owned by task slot %d of %d", q, s, ns)
		}
		if s >= 0 {
			switch cur := tr.slotTo[s]; {
			case cur == -2:
				tr.slotTo[s] = t
				if t < 0 || tr.buffer[t] != o.TaskBuffers[s] {
					tr.slotTo[s] = -3
				}
			case cur != t:
				tr.slotTo[s] = -3
			}
		}
		if t >= 0 {
			switch cur := tr.taskTo[t]; {
			case cur == -2:
				tr.taskTo[t] = s
				if s < 0 {
					tr.taskTo[t] = -3
				}
			case cur != s:
				tr.taskTo[t] = -3
			}
		}
	}
	// A slot that maps to a task whose qubits changed has changed too.
	for s, t := range tr.slotTo {
		if t >= 0 && tr.taskTo[t] != int32(s) {
			tr.slotTo[s] = -3
		}
	}
	for t, s := range tr.taskTo {
		if tr.live[t] && (s < 0 || tr.slotTo[s] != int32(t)) {
			tr.release(int32(t))
		}
	}
	var added bool
	for s, t := range tr.slotTo {
		if t != -3 {
			continue
		}
		if !added {
			tr.members = resizeMembers(tr.members, ns)
			for q := 0; q < n; q++ {
				if w := o.Owner[q]; w >= 0 && tr.slotTo[w] == -3 {
					tr.members[w] = append(tr.members[w], q)
				}
			}
			added = true
		}
		if err := tr.commit(tr.members[s], o.TaskBuffers[s]); err != nil {
			// An occupancy the engine would not build by commits (it breaks
			// a buffer, e.g. restored after a restart): rebuild it whole.
			return tr.rebuild(o)
		}
	}
	if !slices.Equal(tr.res, o.Reserved) {
		tr.res = append(tr.res[:0], o.Reserved...)
	}
	return tr.occ, tr.res, nil
}

func fill32(s []int32, n int, v int32) []int32 {
	if cap(s) < n {
		s = make([]int32, n)
	}
	s = s[:n]
	for i := range s {
		s[i] = v
	}
	return s
}

func resizeMembers(m [][]int, n int) [][]int {
	for len(m) < n {
		m = append(m, nil)
	}
	m = m[:n]
	for i := range m {
		m[i] = m[i][:0]
	}
	return m
}

func (tr *OccupancyTracker) release(t int32) {
	tr.occ.Release(tr.names[t])
	for _, q := range tr.qubits[t] {
		tr.owner[q] = -1
	}
	tr.live[t] = false
	tr.free = append(tr.free, t)
}

func (tr *OccupancyTracker) commit(qubits []int, buffer int) error {
	var t int32
	if k := len(tr.free); k > 0 {
		t = tr.free[k-1]
		tr.free = tr.free[:k-1]
	} else {
		t = int32(len(tr.live))
		tr.live = append(tr.live, false)
		tr.buffer = append(tr.buffer, 0)
		tr.qubits = append(tr.qubits, nil)
		tr.names = append(tr.names, "task-"+strconv.Itoa(int(t)))
	}
	if err := tr.occ.Commit(alloc.Holding{Task: tr.names[t], Qubits: qubits, Buffer: buffer}); err != nil {
		tr.free = append(tr.free, t)
		return err
	}
	tr.live[t], tr.buffer[t] = true, buffer
	tr.qubits[t] = append(tr.qubits[t][:0], qubits...)
	for _, q := range qubits {
		tr.owner[q] = t
	}
	return nil
}

// rebuild builds the occupancy from scratch, without checking buffers.
func (tr *OccupancyTracker) rebuild(o *abi.Occupancy) (*alloc.Occupancy, []int, error) {
	occ, res, err := Occupancy(tr.topo, o)
	if err != nil {
		return nil, nil, err
	}
	tr.reset()
	tr.occ = occ
	// Track the rebuilt tasks under the names Occupancy gave them.
	for s, b := range o.TaskBuffers {
		name := "slot-" + strconv.Itoa(s)
		if _, ok := occ.Holding(name); !ok {
			continue
		}
		t := int32(len(tr.live))
		tr.live = append(tr.live, true)
		tr.buffer = append(tr.buffer, b)
		tr.names = append(tr.names, name)
		var qs []int
		for q, w := range o.Owner {
			if int(w) == s {
				tr.owner[q] = t
				qs = append(qs, q)
			}
		}
		tr.qubits = append(tr.qubits, qs)
	}
	tr.res = append(tr.res[:0], res...)
	return tr.occ, tr.res, nil
}
