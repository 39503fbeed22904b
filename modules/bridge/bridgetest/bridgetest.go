// Package bridgetest helps test strategy modules and their host: random
// occupancies, and the host's encoding of a call without a WebAssembly
// runtime, so that a module's Go code can be driven natively through the
// very bytes the host sends.
package bridgetest

import (
	"fmt"
	"math/rand/v2"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/modules/bridge"
	"github.com/eigen-os/rm/runtime/alloc"
)

// Occupy returns an occupancy of m in which tasks of 2 to 6 qubits (random
// connected regions of usable qubits, each with the given isolation buffer)
// hold about fraction of the usable qubits. The same seed gives the same
// occupancy. It stops early when no further task fits.
func Occupy(m *hal.Model, seed uint64, fraction float64, buffer int) *alloc.Occupancy {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	occ := alloc.NewOccupancy(m.Topology)
	usable := 0
	for q := 0; q < m.N(); q++ {
		if m.QubitUsable(q) {
			usable++
		}
	}
	goal := int(fraction * float64(usable))
	for task, misses := 0, 0; occ.Used() < goal && misses < 200; {
		size := 2 + rng.IntN(5)
		start := rng.IntN(m.N())
		region := grow(m, occ, rng, start, size)
		if region == nil {
			misses++
			continue
		}
		if err := occ.Commit(alloc.Holding{Task: fmt.Sprintf("task-%03d", task), Qubits: region, Buffer: buffer}); err != nil {
			misses++
			continue
		}
		task++
	}
	return occ
}

// grow picks a random connected region of size free usable qubits from
// start over usable couplers, or nil.
func grow(m *hal.Model, occ *alloc.Occupancy, rng *rand.Rand, start, size int) []int {
	free := func(q int) bool {
		_, held := occ.Owner(q)
		return m.QubitUsable(q) && !held
	}
	if !free(start) {
		return nil
	}
	in := map[int]bool{start: true}
	region := []int{start}
	for len(region) < size {
		var frontier []int
		for _, q := range region {
			for i, w := range m.Neighbors(q) {
				if !in[int(w)] && free(int(w)) && m.CouplerUsable(int(m.NeighborCouplers(q)[i])) {
					frontier = append(frontier, int(w))
				}
			}
		}
		if len(frontier) == 0 {
			return nil
		}
		w := frontier[rng.IntN(len(frontier))]
		in[w] = true
		region = append(region, w)
	}
	return region
}

// View returns the encoded device view of m, as the host sends it.
func View(m *hal.Model) []byte { return abi.AppendDevice(nil, bridge.DeviceOf(m)) }

// Call returns the encoded input of a call, as the host sends it: the
// request, the occupancy (nil: empty) with the reserved qubits, and for a
// scoring call the placements to score (nil for a placement call, which may
// then return maxCandidates candidates).
func Call(m *hal.Model, req *alloc.Request, occ *alloc.Occupancy, reserved []int, maxCandidates int, placements [][]int) ([]byte, error) {
	if err := req.Validate(m.N()); err != nil {
		return nil, err
	}
	var ar abi.Request
	if err := bridge.FillRequest(&ar, req, m.Cal.Epoch, maxCandidates); err != nil {
		return nil, err
	}
	var ao abi.Occupancy
	var b bridge.OccupancyBuilder
	b.Fill(&ao, m, occ, reserved, req.Buffer)
	var cands *abi.Candidates
	if placements != nil {
		cands = &abi.Candidates{}
		cands.Reset(req.Qubits, len(placements))
		for i, p := range placements {
			if !cands.Add(p, 0, false) {
				return nil, fmt.Errorf("placement %d has %d qubits, the request %d", i, len(p), req.Qubits)
			}
		}
		ar.MaxCandidates = 0
	}
	return abi.AppendCall(nil, m.N(), &ar, &ao, cands), nil
}
