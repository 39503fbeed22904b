package alloc

import (
	"fmt"
	"sort"
	"strconv"

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
	byID  map[string]int32 // nil after SetSlots until index builds it
	spare []int32          // free slot numbers
	used  int
	h     [2]uint64
	// hstale: h is not kept (SetSlots); hash computes it on first use.
	hstale bool
	// bufCount[d] is the number of tasks placed with buffer d.
	bufCount [MaxBuffer + 1]int32
	scratch  bfsScratch
}

type taskSlot struct {
	id     string
	qubits []int
	buffer int
	live   bool
	anon   bool // made by SetSlots: its id is "slot-S"
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
func (o *Occupancy) Tasks() int { return len(o.index()) }

// Hash identifies the set of occupied qubits and their buffers (not the
// task names, which do not change placements). Equal occupancies have
// equal hashes.
func (o *Occupancy) Hash() [2]uint64 { return o.hash() }

// hash returns h, computing it first if SetSlots left it stale. An
// occupancy made by SetSlots (a guest's, used by one goroutine) is
// therefore not safe for concurrent Hash calls until its first one.
func (o *Occupancy) hash() [2]uint64 {
	if o.hstale {
		var h0, h1 uint64
		for q, s := range o.owner {
			if s >= 0 {
				x := uint64(q)<<8 | uint64(o.slots[s].buffer)
				h0 ^= zobrist(x, zobristSeed0)
				h1 ^= zobrist(x, zobristSeed1)
			}
		}
		o.h, o.hstale = [2]uint64{h0, h1}, false
	}
	return o.h
}

// Owner returns the task holding qubit q, if any.
func (o *Occupancy) Owner(q int) (string, bool) {
	if o == nil || q < 0 || q >= len(o.owner) || o.owner[q] < 0 {
		return "", false
	}
	return o.name(o.owner[q]), true
}

// Holding returns what task holds.
func (o *Occupancy) Holding(task string) (Holding, bool) {
	s, ok := o.index()[task]
	if !ok {
		return Holding{}, false
	}
	t := &o.slots[s]
	return Holding{Task: o.name(s), Qubits: append([]int(nil), t.qubits...), Buffer: t.buffer}, true
}

// Holdings lists every task's holding, by task id.
func (o *Occupancy) Holdings() []Holding {
	out := make([]Holding, 0, len(o.index()))
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
	s, ok := o.index()[task]
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
		byID: make(map[string]int32, len(o.index())), spare: append([]int32(nil), o.spare...), used: o.used, h: o.h, hstale: o.hstale,
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

// SetSlots makes o the occupancy in which qubit q is held by task slot
// owner[q] (-1: free) and the task of slot s keeps buffer buffers[s]: the
// form in which a module guest receives an occupancy (modules/abi). It takes
// time linear in the device and allocates nothing once o has seen as many
// slots, so that a guest can rebuild its occupancy on every call rather
// than track the host's tasks. The tasks are named "slot-S"; a slot that
// holds no qubit is no task. Buffers are not checked against one another
// (the host checked them when it committed the tasks). The occupancy's hash
// is computed on first use (most guests never use it).
func (o *Occupancy) SetSlots(owner []int32, buffers []int) error {
	n := len(o.owner)
	if len(owner) != n {
		return fmt.Errorf("%w: occupancy of %d qubits for a device of %d", ErrBadRequest, len(owner), n)
	}
	for s, b := range buffers {
		if b < 0 || b > MaxBuffer {
			return fmt.Errorf("%w: task slot %d: buffer %d outside 0..%d", ErrBadRequest, s, b, MaxBuffer)
		}
	}
	for q, s := range owner {
		if s < -1 || int(s) >= len(buffers) {
			return fmt.Errorf("%w: qubit %d: task slot %d outside -1..%d", ErrBadRequest, q, s, len(buffers)-1)
		}
	}
	// Slots past the length keep their qubit lists' storage for reuse
	// (a guest calls this on every call; an allocation there is dear).
	if cap(o.slots) >= len(buffers) {
		o.slots = o.slots[:len(buffers)]
	}
	for len(o.slots) < len(buffers) {
		o.slots = append(o.slots, taskSlot{})
	}
	for s := range o.slots {
		t := &o.slots[s]
		t.id, t.anon, t.qubits, t.buffer, t.live = "", true, t.qubits[:0], buffers[s], false
	}
	o.spare = o.spare[:0]
	o.used, o.h, o.hstale, o.bufCount, o.byID = 0, [2]uint64{}, true, [MaxBuffer + 1]int32{}, nil
	for q, s := range owner {
		o.owner[q] = s
		if s < 0 {
			continue
		}
		t := &o.slots[s]
		t.qubits = append(t.qubits, q)
		o.used++
	}
	for s := range o.slots {
		t := &o.slots[s]
		if len(t.qubits) > 0 {
			t.live = true
			o.bufCount[t.buffer]++
		} else {
			o.spare = append(o.spare, int32(s))
		}
	}
	return nil
}

// AppendSlots is the inverse of SetSlots: it appends to owner the task
// slot holding each qubit (-1: free) and to buffers each slot's buffer,
// the tasks numbered in the order of their lowest qubit (as modules/abi
// wants them). It takes time linear in the device, and only reads o (so
// it may run under a read lock, like Engine.Place).
func (o *Occupancy) AppendSlots(owner []int32, buffers []int) ([]int32, []int) {
	remap := make([]int32, len(o.slots))
	for i := range remap {
		remap[i] = -1
	}
	for _, s := range o.owner {
		if s < 0 {
			owner = append(owner, -1)
			continue
		}
		if remap[s] < 0 {
			remap[s] = int32(len(buffers))
			buffers = append(buffers, o.slots[s].buffer)
		}
		owner = append(owner, remap[s])
	}
	return owner, buffers
}

// name is the task id of slot s ("slot-S" for a slot made by SetSlots).
func (o *Occupancy) name(s int32) string {
	if t := &o.slots[s]; t.anon {
		return "slot-" + strconv.Itoa(int(s))
	}
	return o.slots[s].id
}

// index is the task index, built on first use after SetSlots.
func (o *Occupancy) index() map[string]int32 {
	if o.byID == nil {
		o.byID = make(map[string]int32, len(o.slots))
		for s := range o.slots {
			if o.slots[s].live {
				o.byID[o.name(int32(s))] = int32(s)
			}
		}
	}
	return o.byID
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
	if _, dup := o.index()[h.Task]; dup {
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
			return fmt.Errorf("%w: task %q: qubit %d is held by task %q", ErrConflict, h.Task, q, o.name(o.owner[q]))
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
				ErrConflict, h.Task, q, d, x, o.name(o.owner[x]), max(h.Buffer, s.buffer), max(h.Buffer, s.buffer)+1)
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
	o.index()[h.Task] = s
	for _, q := range h.Qubits {
		o.owner[q] = s
		o.toggle(q, h.Buffer)
	}
	o.used += len(h.Qubits)
	o.bufCount[h.Buffer]++
}

func (o *Occupancy) toggle(q, buffer int) {
	if o.hstale {
		return // computed from scratch when needed
	}
	o.h[0] ^= zobrist(uint64(q)<<8|uint64(buffer), zobristSeed0)
	o.h[1] ^= zobrist(uint64(q)<<8|uint64(buffer), zobristSeed1)
}

// The seeds of the two halves of the occupancy hash.
const (
	zobristSeed0 = 0x9e3779b97f4a7c15
	zobristSeed1 = 0xc2b2ae3d27d4eb4f
)

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
