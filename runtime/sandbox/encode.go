package sandbox

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/modules/bridge"
	"github.com/eigen-os/rm/runtime/alloc"
)

// deviceView is the encoded device view of one calibration epoch of one
// device. It is immutable.
type deviceView struct {
	topo  *hal.Topology
	epoch uint64
	n     int
	bytes []byte
}

func (v *deviceView) is(m *hal.Model) bool { return v.topo == m.Topology && v.epoch == m.Cal.Epoch }

// viewCache keeps the encoded views of the last few (device, epoch) pairs:
// a view is encoded once per epoch, not per call.
type viewCache struct {
	last   atomic.Pointer[deviceView]
	mu     sync.Mutex
	recent []*deviceView
}

const viewCacheSize = 4

func (c *viewCache) init() {}

func (c *viewCache) get(m *hal.Model) *deviceView {
	if v := c.last.Load(); v != nil && v.is(m) {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.recent {
		if v.is(m) {
			c.last.Store(v)
			return v
		}
	}
	v := &deviceView{topo: m.Topology, epoch: m.Cal.Epoch, n: m.N(), bytes: abi.AppendDevice(nil, bridge.DeviceOf(m))}
	if len(c.recent) == viewCacheSize {
		copy(c.recent, c.recent[1:])
		c.recent = c.recent[:viewCacheSize-1]
	}
	c.recent = append(c.recent, v)
	c.last.Store(v)
	return v
}

// occKey identifies an ABI occupancy with the reserved qubits: the device
// and epoch (usability), the engine's occupancy hash (held qubits and
// their buffers, 128 bits) and the request's buffer.
type occKey struct {
	topo   *hal.Topology
	epoch  uint64
	hash   [2]uint64
	buffer int
}

type occEntry struct {
	key      occKey
	reserved []int
	occ      *abi.Occupancy
}

// occCache keeps the last few ABI occupancies, so that a busy controller
// computes statuses once per occupancy change, not per call.
type occCache struct {
	mu      sync.Mutex
	entries []occEntry
	next    int
	builder bridge.OccupancyBuilder
}

const occCacheSize = 8

func (c *occCache) init() { c.entries = make([]occEntry, 0, occCacheSize) }

// get returns the ABI occupancy (shared and immutable: do not modify).
func (c *occCache) get(m *hal.Model, occ *alloc.Occupancy, reserved []int, buffer int) *abi.Occupancy {
	k := occKey{topo: m.Topology, epoch: m.Cal.Epoch, buffer: buffer}
	if occ != nil {
		k.hash = occ.Hash()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.key == k && slices.Equal(e.reserved, reserved) {
			return e.occ
		}
	}
	o := &abi.Occupancy{}
	c.builder.Fill(o, m, occ, reserved, buffer)
	e := occEntry{k, append([]int(nil), reserved...), o}
	if len(c.entries) < occCacheSize {
		c.entries = append(c.entries, e)
	} else {
		c.entries[c.next] = e
		c.next = (c.next + 1) % occCacheSize
	}
	return o
}
