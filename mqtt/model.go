package mqtt

import (
	"encoding/binary"
	"hash/fnv"

	"github.com/eigen-os/rm/hal"
)

// TopologyDigest identifies a coupling graph: a 64-bit FNV-1a hash of the
// qubit count and the sorted couplers. Equal graphs have equal digests on
// every controller.
func TopologyDigest(t *hal.Topology) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(t.N()))
	h.Write(b[:])
	for _, e := range t.Couplers {
		binary.LittleEndian.PutUint32(b[:4], uint32(e.A))
		binary.LittleEndian.PutUint32(b[4:], uint32(e.B))
		h.Write(b[:])
	}
	return h.Sum64()
}

// BirthFromModel fills the device part of a birth from a model: Summary,
// TopologyDigest and CalibrationEpoch. The controller adds DeviceType,
// Capabilities, Modules, Software and Endpoint.
func BirthFromModel(m *hal.Model) Birth {
	s := m.Summarize()
	maxDeg := 0
	for q := 0; q < m.N(); q++ {
		maxDeg = max(maxDeg, len(m.Neighbors(q)))
	}
	return Birth{
		Summary: DeviceSummary{Vendor: s.Vendor, Family: s.Family, Native2Q: s.Native2Q, Qubits: s.Qubits,
			Couplers: s.Couplers, UsableQubits: s.UsableQubits, UsableCouplers: s.UsableCouplers, MaxDegree: maxDeg,
			Median2QError: float64(s.Median2QErrorUsable), MedianReadoutError: float64(s.MedianReadoutError),
			Median1QError: float64(s.Median1QError)},
		TopologyDigest:   TopologyDigest(m.Topology),
		CalibrationEpoch: m.Cal.Epoch,
	}
}
