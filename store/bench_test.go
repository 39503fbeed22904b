package store

import (
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"
)

// reportLatency adds p50 and p99 (microseconds) of the measured calls.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e3 }
	b.ReportMetric(q(0.50), "p50-us")
	b.ReportMetric(q(0.99), "p99-us")
}

func benchCreate(b *testing.B, noSync bool) {
	s, _ := openTemp(b, Options{NoSync: noSync, GCInterval: -1})
	allocs := make([]Allocation, b.N)
	for i := range allocs {
		allocs[i] = sampleAllocation(fmt.Sprintf("bench-%09d", i))
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := s.CreateAllocation(allocs[i]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkCreateAllocationSync: the acknowledged path, one synced
// transaction (allocation, active index, idempotency entry) per call.
func BenchmarkCreateAllocationSync(b *testing.B) { benchCreate(b, false) }

// BenchmarkCreateAllocationNoSync: the same without fsync.
func BenchmarkCreateAllocationNoSync(b *testing.B) { benchCreate(b, true) }

// BenchmarkCreateAllocationSyncParallel: concurrent callers share fsyncs
// (Badger commits them in one batch).
func BenchmarkCreateAllocationSyncParallel(b *testing.B) {
	s, _ := openTemp(b, Options{GCInterval: -1})
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.CreateAllocation(sampleAllocation(fmt.Sprintf("p-%d", n.Add(1)))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkReleaseAllocationSync(b *testing.B) {
	s, _ := openTemp(b, Options{NoSync: false, GCInterval: -1})
	for i := 0; i < b.N; i++ {
		if _, err := s.CreateAllocation(sampleAllocation(fmt.Sprintf("r-%d", i))); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := s.ReleaseAllocation(fmt.Sprintf("r-%d", i), at(0), StateReleased); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

func BenchmarkGetAllocation(b *testing.B) {
	s, _ := openTemp(b, Options{NoSync: true, GCInterval: -1})
	for i := 0; i < 1000; i++ {
		if _, err := s.CreateAllocation(sampleAllocation(fmt.Sprintf("g-%d", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.GetAllocation(fmt.Sprintf("g-%d", i%1000)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkActiveAllocations1000: the rebuild on start-up with 1000 active
// and 9000 finished allocations in the store.
func BenchmarkActiveAllocations1000(b *testing.B) {
	s, _ := openTemp(b, Options{NoSync: true, GCInterval: -1})
	for i := 0; i < 10000; i++ {
		id := fmt.Sprintf("x-%05d", i)
		if _, err := s.CreateAllocation(sampleAllocation(id)); err != nil {
			b.Fatal(err)
		}
		if i%10 != 0 {
			if _, err := s.ReleaseAllocation(id, at(0), StateReleased); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		active, bad, err := s.ActiveAllocations()
		if err != nil || len(bad) != 0 || len(active) != 1000 {
			b.Fatalf("%d active, %v, %v", len(active), bad, err)
		}
	}
}

func BenchmarkAppendEventSync(b *testing.B) {
	s, _ := openTemp(b, Options{GCInterval: -1})
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := s.AppendEvent(Event{Kind: "granted", Subject: "a", Detail: "qubits 1,2,3"}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

func BenchmarkOpenClose(b *testing.B) {
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		s, err := Open(dir, Options{Logger: quietLogger(), GCInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteAllocationsSync8: batches of 8 creations, one synced
// transaction each (what the controller's committer writes under 8
// concurrent clients); ns/op is per batch, item-us per item.
func BenchmarkWriteAllocationsSync8(b *testing.B) {
	s, _ := openTemp(b, Options{GCInterval: -1})
	const n = 8
	lat := make([]time.Duration, 0, b.N)
	batch := make([]AllocationWrite, n)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range batch {
			batch[j] = CreateWrite(sampleAllocation(fmt.Sprintf("b-%d-%d", i, j)))
		}
		t0 := time.Now()
		for _, r := range s.WriteAllocations(batch) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportLatency(b, lat)
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "item-us")
}
