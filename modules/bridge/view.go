package bridge

import (
	"fmt"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/runtime/alloc"
)

// OccupancyView is a guest's engine occupancy, remade from each call's ABI
// occupancy with alloc.Occupancy.SetSlots: the host's task slots become the
// engine's tasks (named "slot-S") in time linear in the device, without
// the per-task bookkeeping (maps, buffer checks) that committing each task
// would cost, which inside a guest runs twenty times slower than natively
// and used to cost as much as the search itself. It is not safe for
// concurrent use.
type OccupancyView struct {
	occ *alloc.Occupancy
	res []int
}

// GuestEngine makes the engine a built-in module runs on a device view,
// and the occupancy view it rebuilds on each call. The engine has no
// placement cache (the host's engine caches final placements) and no
// wall-clock limit (a guest's clock does not move; the host's deadline
// bounds the call). A placement module's engine is a proposer
// (alloc.Options.Proposer): the host validates its answers and the scoring
// module scores them, so it does neither again.
func GuestEngine(d *abi.Device, proposer bool) (*alloc.Engine, *OccupancyView, error) {
	m, err := Model(d)
	if err != nil {
		return nil, nil, err
	}
	eng, err := alloc.NewEngine(m, alloc.Options{CacheSize: -1, MaxTime: -1, Proposer: proposer})
	if err != nil {
		return nil, nil, err
	}
	return eng, NewOccupancyView(m.Topology), nil
}

// NewOccupancyView returns a view of an empty occupancy of t.
func NewOccupancyView(t *hal.Topology) *OccupancyView {
	return &OccupancyView{occ: alloc.NewOccupancy(t)}
}

// Update makes the occupancy that of o and returns it with the reserved
// qubits. The result is owned by the view: it is valid until the next
// Update. An occupancy that breaks a buffer (as one restored after a
// restart may) is taken as it is: the host checked its tasks.
func (v *OccupancyView) Update(o *abi.Occupancy) (*alloc.Occupancy, []int, error) {
	if err := v.occ.SetSlots(o.Owner, o.TaskBuffers); err != nil {
		return nil, nil, fmt.Errorf("bridge: %w", err)
	}
	v.res = append(v.res[:0], o.Reserved...)
	return v.occ, v.res, nil
}
