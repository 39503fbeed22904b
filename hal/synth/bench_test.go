package synth

import (
	"runtime"
	"testing"
	"unsafe"

	"github.com/eigen-os/rm/hal"
)

// modelBytes estimates the memory one model holds: every slice's backing
// array at its capacity, qubit names, and the slice headers of the adjacency
// lists (the hop-distance table is n*n uint16).
func modelBytes(m *hal.Model) int {
	n := m.N()
	b := int(unsafe.Sizeof(hal.Topology{})) + int(unsafe.Sizeof(hal.Calibration{}))
	b += cap(m.Qubits) * int(unsafe.Sizeof(hal.QubitInfo{}))
	for _, q := range m.Qubits {
		b += len(q.Name)
	}
	b += cap(m.Couplers) * int(unsafe.Sizeof(hal.Edge{}))
	for q := 0; q < n; q++ {
		b += 2 * (24 + 4*cap(m.Neighbors(q))) // adj and adjCpl
	}
	b += 2 * n * len(m.DistRow(0))
	b += cap(m.Cal.Qubits) * int(unsafe.Sizeof(hal.QubitCal{}))
	b += cap(m.Cal.Couplers) * int(unsafe.Sizeof(hal.CouplerCal{}))
	for _, c := range m.Cal.Couplers {
		b += cap(c.Gates) * int(unsafe.Sizeof(hal.GateCal{}))
	}
	return b
}

// retainedBytes measures the heap a freshly generated model keeps alive.
func retainedBytes(gen func() *hal.Model) (uint64, *hal.Model) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := gen()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(m)
	if after.HeapAlloc < before.HeapAlloc {
		return 0, m
	}
	return after.HeapAlloc - before.HeapAlloc, m
}

// The target: under 10 MB per model at 1121 qubits (most of it the 2.5 MB
// distance table of hal.Topology).
func TestModelMemory1121(t *testing.T) {
	m, err := HeavyHex(1121, 1)
	if err != nil {
		t.Fatal(err)
	}
	est := modelBytes(m)
	t.Logf("heavyhex-1121: estimated %d bytes (%.2f MB), of which distances %d", est, float64(est)/(1<<20), 2*1121*1121)
	if est > 10<<20 {
		t.Fatalf("heavyhex-1121 holds about %.1f MB, target 10 MB", float64(est)/(1<<20))
	}
	allocs := testing.AllocsPerRun(1, func() {
		if _, err := HeavyHex(1121, 1); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("heavyhex-1121: %.0f allocations per model", allocs)
	// Per-qubit and per-coupler slices dominate; a bound that catches an
	// accidental per-pair allocation (n^2 = 1.26 M).
	if allocs > 30000 {
		t.Fatalf("heavyhex-1121: %.0f allocations per model", allocs)
	}
}

func benchmarkHeavyHex(b *testing.B, n int) {
	b.ReportAllocs()
	var m *hal.Model
	for i := 0; i < b.N; i++ {
		var err error
		if m, err = HeavyHex(n, int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	retained, _ := retainedBytes(func() *hal.Model { m, _ := HeavyHex(n, 1); return m })
	b.ReportMetric(float64(retained), "retained-B/model")
	b.ReportMetric(float64(modelBytes(m)), "estimated-B/model")
}

// BenchmarkHeavyHex1121 generates Condor-sized models.
func BenchmarkHeavyHex1121(b *testing.B) { benchmarkHeavyHex(b, 1121) }

// BenchmarkHeavyHex127 generates the default device.
func BenchmarkHeavyHex127(b *testing.B) { benchmarkHeavyHex(b, 127) }

// BenchmarkHeavyHexTrimmed generates a size that needs trimming (1000 of
// the 1034-qubit lattice... and the search for non-cut qubits).
func BenchmarkHeavyHexTrimmed(b *testing.B) { benchmarkHeavyHex(b, 1000) }

// BenchmarkNoise1121 draws only the calibration (the topology is reused).
func BenchmarkNoise1121(b *testing.B) {
	m, err := HeavyHex(1121, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Noise(m.Topology, eagleR3, int64(i)); err != nil {
			b.Fatal(err)
		}
	}
}
