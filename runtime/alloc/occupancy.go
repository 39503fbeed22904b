package alloc

import (
	"fmt"
	"sort"

	"github.com/eigen-os/rm/hal"
)

// Holding is what one task holds on a device: its qubits and the isolation
// distance it was placed with. A list of holdings is enough to rebuild an
// Occupancy (e.g. from the store after a restart).
type Holding struct {
	Task   string `json:"task"`
	Qubits []int  `json:"qubits"`
	Buffer int    `json:"buffer"`
}

// Occupancy maps each qubit of one device to the task that holds it.
//
// Isolation between two tasks uses the larger of their buffers: a task
// placed with buffer d keeps hop distance >= d+1 from every other task's
// qubits, and a later request with a smaller buffer still keeps d+1 from it.
//
// An Occupancy is not safe for concurrent mutation: Commit and Release need
// the caller's exclusive lock, and Engine.Place reads it (a read lock is
// enough). Its Hash is updated incrementally (Zobrist hashing over occupied
// qubits and their buffers), so that the engine's cache can key on it in
// O(1).
type Occupancy struct {
	topo  *hal.Topology
	owner []int32 // task slot holding each qubit, -1 when free
	slots []taskSlot
	byID  map[string]int32
	spare []int32 // free slot numbers
	used  int
	h     [2]uint64
	// bufCount[d] is the number of tasks placed with buffer d.
	bufCount [MaxBuffer + 1]int32
	scratch  bfsScratch
}

type taskSlot struct {
	id     string
	qubits []int
	buffer int
	live   bool
}

// NewOccupancy returns an empty occupancy for the device's topology.
func NewOccupancy(t *hal.Topology) *Occupancy {
	o := &Occupancy{topo: t, owner: make([]int32, t.N()), byID: map[string]int32{}}
	for i := range o.owner {
		o.owner[i] = -1
	}
	return o
}

// RebuildOccupancy rebuilds an occupancy from holdings, in the given order.
// It rejects unknown qubits, a qubit held twice and a task listed twice; it
// does not re-check isolation buffers (they were checked at commit and the
// topology does not change).
func RebuildOccupancy(t *hal.Topology, holdings []Holding) (*Occupancy, error) {
	o := NewOccupancy(t)
	for i, h := range holdings {
		if err := o.check(h, false); err != nil {
			return nil, fmt.Errorf("holding %d: %w", i, err)
		}
		o.add(h)
	}
	return o, nil
}

// Topology is the topology the occupancy was made for.
func (o *Occupancy) Topology() *hal.Topology { return o.topo }

// N is the number of qubits of the device.
func (o *Occupancy) N() int { return len(o.owner) }

// Used is the number of qubits held by tasks.
func (o *Occupancy) Used() int { return o.used }

// Tasks is the number of tasks holding qubits.
func (o *Occupancy) Tasks() int { return len(o.byID) }

// Hash identifies the set of occupied qubits and their buffers (not the
// task names, which do not change placements). Equal occupancies have
// equal hashes.
func (o *Occupancy) Hash() [2]uint64 { return o.h }

// Owner returns the task holding qubit q, if any.
func (o *Occupancy) Owner(q int) (string, bool) {
	if o == nil || q < 0 || q >= len(o.owner) || o.owner[q] < 0 {
		return "", false
	}
	return o.slots[o.owner[q]].id, true
}

// Holding returns what task holds.
func (o *Occupancy) Holding(task string) (Holding, bool) {
	s, ok := o.byID[task]
	if !ok {
		return Holding{}, false
	}
	t := &o.slots[s]
	return Holding{Task: t.id, Qubits: append([]int(nil), t.qubits...), Buffer: t.buffer}, true
}

// Holdings lists every task's holding, by task id.
func (o *Occupancy) Holdings() []Holding {
	out := make([]Holding, 0, len(o.byID))
	for id := range o.byID {
		h, _ := o.Holding(id)
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Task < out[j].Task })
	return out
}

// Commit records that h.Task now holds h.Qubits. It fails with ErrConflict
// when the task is already present, a qubit is held, or the isolation
// buffer (the larger of h.Buffer and the other task's) is broken; and with
// ErrBadRequest for unknown qubits. Commit a placement only after it is
// persisted; a failed Commit changes nothing.
func (o *Occupancy) Commit(h Holding) error {
	if err := o.check(h, true); err != nil {
		return err
	}
	o.add(h)
	return nil
}

// Release frees every qubit task holds. It reports whether the task was
// present (releasing an unknown task is a no-op).
func (o *Occupancy) Release(task string) bool {
	s, ok := o.byID[task]
	if !ok {
		return false
	}
	t := &o.slots[s]
	for _, q := range t.qubits {
		o.owner[q] = -1
		o.toggle(q, t.buffer)
	}
	o.used -= len(t.qubits)
	o.bufCount[t.buffer]--
	delete(o.byID, task)
	*t = taskSlot{}
	o.spare = append(o.spare, s)
	return true
}

// Clone returns an independent copy.
func (o *Occupancy) Clone() *Occupancy {
	c := &Occupancy{topo: o.topo, owner: append([]int32(nil), o.owner...), slots: make([]taskSlot, len(o.slots)),
		byID: make(map[string]int32, len(o.byID)), spare: append([]int32(nil), o.spare...), used: o.used, h: o.h,
		bufCount: o.bufCount}
	for i, s := range o.slots {
		s.qubits = append([]int(nil), s.qubits...)
		c.slots[i] = s
	}
	for k, v := range o.byID {
		c.byID[k] = v
	}
	return c
}

// maxBuffer is the largest buffer of any task present.
func (o *Occupancy) maxBuffer() int {
	for d := MaxBuffer; d > 0; d-- {
		if o.bufCount[d] > 0 {
			return d
		}
	}
	return 0
}

func (o *Occupancy) check(h Holding, buffers bool) error {
	if h.Task == "" {
		return fmt.Errorf("%w: task id: empty", ErrBadRequest)
	}
	if _, dup := o.byID[h.Task]; dup {
		return fmt.Errorf("%w: task %q already holds qubits", ErrConflict, h.Task)
	}
	if len(h.Qubits) == 0 {
		return fmt.Errorf("%w: task %q: no qubits", ErrBadRequest, h.Task)
	}
	if h.Buffer < 0 || h.Buffer > MaxBuffer {
		return fmt.Errorf("%w: task %q: buffer %d outside 0..%d", ErrBadRequest, h.Task, h.Buffer, MaxBuffer)
	}
	n := len(o.owner)
	for i, q := range h.Qubits {
		if q < 0 || q >= n {
			return fmt.Errorf("%w: task %q: qubit %d outside 0..%d", ErrBadRequest, h.Task, q, n-1)
		}
		if o.owner[q] >= 0 {
			return fmt.Errorf("%w: task %q: qubit %d is held by task %q", ErrConflict, h.Task, q, o.slots[o.owner[q]].id)
		}
		for _, p := range h.Qubits[:i] {
			if p == q {
				return fmt.Errorf("%w: task %q: qubit %d listed twice", ErrBadRequest, h.Task, q)
			}
		}
	}
	if !buffers || o.used == 0 {
		return nil
	}
	R := max(h.Buffer, o.maxBuffer())
	if R == 0 {
		return nil
	}
	for _, q := range h.Qubits {
		x, d := o.scratch.nearestViolation(o.topo, q, R, func(x int32, d int) bool {
			s := o.owner[x]
			return s >= 0 && d <= max(h.Buffer, o.slots[s].buffer)
		})
		if x >= 0 {
			s := &o.slots[o.owner[x]]
			return fmt.Errorf("%w: task %q: qubit %d is %d hops from qubit %d of task %q (buffer %d needs >= %d)",
				ErrConflict, h.Task, q, d, x, s.id, max(h.Buffer, s.buffer), max(h.Buffer, s.buffer)+1)
		}
	}
	return nil
}

func (o *Occupancy) add(h Holding) {
	var s int32
	if k := len(o.spare); k > 0 {
		s = o.spare[k-1]
		o.spare = o.spare[:k-1]
	} else {
		s = int32(len(o.slots))
		o.slots = append(o.slots, taskSlot{})
	}
	o.slots[s] = taskSlot{id: h.Task, qubits: append([]int(nil), h.Qubits...), buffer: h.Buffer, live: true}
	o.byID[h.Task] = s
	for _, q := range h.Qubits {
		o.owner[q] = s
		o.toggle(q, h.Buffer)
	}
	o.used += len(h.Qubits)
	o.bufCount[h.Buffer]++
}

func (o *Occupancy) toggle(q, buffer int) {
	o.h[0] ^= zobrist(uint64(q)<<8|uint64(buffer), 0x9e3779b97f4a7c15)
	o.h[1] ^= zobrist(uint64(q)<<8|uint64(buffer), 0xc2b2ae3d27d4eb4f)
}

// zobrist is splitmix64 of x mixed with a seed: a fixed pseudo-random key.
func zobrist(x, seed uint64) uint64 {
	z := x*0xbf58476d1ce4e5b9 + seed
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// bfsScratch holds reusable arrays for depth-limited BFS.
type bfsScratch struct {
	mark  []uint32
	dist  []int32
	gen   uint32
	queue []int32
}

// nearestViolation runs a BFS over all couplers from q up to depth R and
// returns the first qubit x (and its distance) for which bad(x, d) holds,
// or -1.
func (b *bfsScratch) nearestViolation(t *hal.Topology, q, R int, bad func(x int32, d int) bool) (int32, int) {
	n := t.N()
	if len(b.mark) != n {
		b.mark = make([]uint32, n)
		b.dist = make([]int32, n)
		b.gen = 0
	}
	b.gen++
	if b.gen == 0 {
		clear(b.mark)
		b.gen = 1
	}
	b.mark[q] = b.gen
	b.dist[q] = 0
	b.queue = append(b.queue[:0], int32(q))
	for h := 0; h < len(b.queue); h++ {
		u := b.queue[h]
		du := int(b.dist[u])
		if du > 0 && bad(u, du) {
			return u, du
		}
		if du == R {
			continue
		}
		for _, w := range t.Neighbors(int(u)) {
			if b.mark[w] != b.gen {
				b.mark[w] = b.gen
				b.dist[w] = int32(du + 1)
				b.queue = append(b.queue, w)
			}
		}
	}
	return -1, 0
}
