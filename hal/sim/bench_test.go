package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/eigen-os/rm/hal/sim"
)

// BenchmarkRecalibrate1121 is one drift step and publication of a new epoch
// on a Condor-sized device.
func BenchmarkRecalibrate1121(b *testing.B) {
	d := sim.New(model(b, "heavyhex-1121"), sim.Options{Clock: newClock(time.Second).Now})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		d.Recalibrate()
	}
}

// BenchmarkIsolateRelease binds and releases a 10-qubit task.
func BenchmarkIsolateRelease(b *testing.B) {
	d := sim.New(model(b, "heavyhex-127"), sim.Options{})
	ctx := context.Background()
	qs := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := d.Isolate(ctx, "task", qs); err != nil {
			b.Fatal(err)
		}
		if err := d.Release(ctx, "task"); err != nil {
			b.Fatal(err)
		}
	}
}
