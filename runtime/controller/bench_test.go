package controller

import (
	"context"
	"sort"
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
