package sandbox

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/modules/bridge/bridgetest"
	"github.com/eigen-os/rm/runtime/alloc"
)

// The target workload: a 5-qubit linear request on the 127-qubit heavy-hex
// device with half of its usable qubits held (seed 1), in two variants:
//
//	fixed  every call on the same occupancy;
//	churn  as in a live controller: each placement is committed as a new
//	       task and the oldest task released, so the occupancy changes by
//	       two tasks between calls and stays near half the device.
//
// Native and WebAssembly runs make the same placements, hence see the same
// sequence of occupancies.

type placer func(ctx context.Context, req *alloc.Request, occ *alloc.Occupancy) (*alloc.Placement, error)

func runWorkload(b *testing.B, m *hal.Model, churn bool, place placer) {
	req := alloc.Request{Qubits: 5, Shape: alloc.Shape{Kind: alloc.ShapeLinear}}
	occ := bridgetest.Occupy(m, 1, 0.5, 0)
	var fifo []string
	for _, h := range occ.Holdings() {
		fifo = append(fifo, h.Task)
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	cpu := make([]time.Duration, 0, b.N)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c0, t0 := threadCPU(), time.Now()
		pl, err := place(ctx, &req, occ)
		d, c := time.Since(t0), threadCPU()-c0
		var ie *alloc.InfeasibleError
		if churn && errors.As(err, &ie) && len(fifo) > 0 {
			// Fragmented: free the oldest task and go on.
			occ.Release(fifo[0])
			fifo = fifo[1:]
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, d)
		cpu = append(cpu, c)
		if churn {
			b.StopTimer()
			task := fmt.Sprintf("bench-%d", i)
			if occ.Commit(pl.Holding(task)) == nil {
				fifo = append(fifo, task)
			}
			occ.Release(fifo[0])
			fifo = fifo[1:]
			b.StartTimer()
		}
	}
	b.StopTimer()
	if len(lat) < b.N/2 {
		b.Fatalf("only %d of %d calls placed", len(lat), b.N)
	}
	slices.Sort(lat)
	slices.Sort(cpu)
	q := func(s []time.Duration, f float64) float64 {
		return float64(s[int(f*float64(len(s)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(q(lat, 0.5), "p50-us")
	b.ReportMetric(q(lat, 0.99), "p99-us")
	if cpu[len(cpu)-1] > 0 {
		b.ReportMetric(q(cpu, 0.5), "p50-cpu-us")
		b.ReportMetric(q(cpu, 0.99), "p99-cpu-us")
	}
	if testing.Verbose() {
		b.Logf("slowest: %v", lat[max(0, len(lat)-8):])
	}
}

// BenchmarkNativePlace is the built-in engine on the target workload (its
// placement cache off, as inside the module).
func BenchmarkNativePlace(b *testing.B) {
	m := device(b, "heavyhex-127")
	eng, err := alloc.NewEngine(m, alloc.Options{CacheSize: -1})
	if err != nil {
		b.Fatal(err)
	}
	for _, churn := range []bool{false, true} {
		b.Run(workloadName(churn), func(b *testing.B) {
			runWorkload(b, m, churn, func(ctx context.Context, req *alloc.Request, occ *alloc.Occupancy) (*alloc.Placement, error) {
				return eng.Place(ctx, req, occ, nil)
			})
		})
	}
}

func workloadName(churn bool) string {
	if churn {
		return "churn"
	}
	return "fixed"
}

// BenchmarkWasmPlace is the same workload through the built-in placement
// and scoring modules, every answer checked by the host, with each deadline
// guard.
func BenchmarkWasmPlace(b *testing.B) {
	pw, sw := builtinWasm(b)
	m := device(b, "heavyhex-127")
	for _, guard := range []Guard{GuardFuel, GuardWazero} {
		h := newHost(b, Config{Guard: guard})
		pl := load(b, h, "placement", pw)
		sc := load(b, h, "scoring", sw)
		for _, mod := range []*Module{pl, sc} {
			if err := mod.Warm(context.Background(), m); err != nil {
				b.Fatal(err)
			}
		}
		pipe := Pipeline{pl, sc}
		for _, churn := range []bool{false, true} {
			b.Run(guard.String()+"-"+workloadName(churn), func(b *testing.B) {
				runWorkload(b, m, churn, func(ctx context.Context, req *alloc.Request, occ *alloc.Occupancy) (*alloc.Placement, error) {
					return pipe.Place(ctx, m, req, occ, nil)
				})
			})
		}
	}
}

func newBenchProblem(b testing.TB) *benchProblem {
	m := device(b, "heavyhex-127")
	p := &benchProblem{m: m, req: alloc.Request{Qubits: 5, Shape: alloc.Shape{Kind: alloc.ShapeLinear}}}
	for seed := uint64(1); seed <= 16; seed++ {
		p.occs = append(p.occs, bridgetest.Occupy(m, seed, 0.5, 0))
	}
	return p
}

func newBenchProblemT(t *testing.T) *benchProblem { return newBenchProblem(t) }

type benchProblem struct {
	m    *hal.Model
	req  alloc.Request
	occs []*alloc.Occupancy
}

// BenchmarkRestart is a controller restart with its modules in the
// compilation cache: a new host on the cache directory, both built-in
// modules loaded (checked, compiled from the cache, probed), warmed on the
// 127-qubit device (instances made, device view loaded) and one request
// placed. The first compilation (without cache) is reported as
// cold-compile-ms.
func BenchmarkRestart(b *testing.B) {
	pw, sw := builtinWasm(b)
	m := device(b, "heavyhex-127")
	dir := b.TempDir()
	ctx := context.Background()
	req := alloc.Request{Qubits: 5, Shape: alloc.Shape{Kind: alloc.ShapeLinear}}
	start := func() {
		h, err := NewHost(ctx, Config{CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close(ctx)
		var mods []*Module
		for _, w := range [][]byte{pw, sw} {
			mod, err := h.Load(ctx, "builtin", 1, w)
			if err != nil {
				b.Fatal(err)
			}
			if err := mod.Warm(ctx, m); err != nil {
				b.Fatal(err)
			}
			mods = append(mods, mod)
		}
		if _, err := (Pipeline{mods[0], mods[1]}).Place(ctx, m, &req, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	t0 := time.Now()
	start() // fills the cache
	cold := time.Since(t0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start()
	}
	b.StopTimer()
	b.ReportMetric(float64(cold.Milliseconds()), "cold-ms")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ready-ms")
}
