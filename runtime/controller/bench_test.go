package controller

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"
)

// BenchmarkAllocateRelease measures one allocate+release pair through the
// controller with synced store writes on disk (no network).
func BenchmarkAllocateRelease(b *testing.B) {
	f := newFixtureB(b)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		g, err := f.c.Allocate(ctx, alice, params(5, ""))
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := f.c.Release(ctx, alice, g.Allocation.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "alloc_p50_us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "alloc_p99_us")
}

// BenchmarkAllocateReleaseParallel runs 8 clients concurrently, as the
// issue's load target does, without the network.
func BenchmarkAllocateReleaseParallel(b *testing.B) {
	f := newFixtureB(b)
	ctx := context.Background()
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(4) // 4 x GOMAXPROCS(2) = 8 clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			g, err := f.c.Allocate(ctx, alice, params(5, ""))
			mine = append(mine, time.Since(t0))
			if err != nil {
				b.Error(err)
				return
			}
			if _, _, err := f.c.Release(ctx, alice, g.Allocation.ID); err != nil {
				b.Error(err)
				return
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "alloc_p50_us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "alloc_p99_us")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}
