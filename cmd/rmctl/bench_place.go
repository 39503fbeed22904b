package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/runtime/alloc"
	"github.com/eigen-os/rm/runtime/sandbox"
)

func init() {
	register(&command{name: "bench place", summary: "measure placement latency and quality against random occupancies (offline)", run: runBenchPlace})
}

// benchPlaceJSON is the output of rmctl bench place --json.
type benchPlaceJSON struct {
	Strategy       string         `json:"strategy"`
	Device         string         `json:"device"`
	Request        string         `json:"request"`
	Occupancy      float64        `json:"occupancy"`
	OccupancyModel string         `json:"occupancy_model"`
	Buffer         int            `json:"buffer"`
	Budget         int            `json:"budget"`
	Seed           uint64         `json:"seed"`
	Repeat         float64        `json:"repeat"`
	Iterations     int            `json:"iterations"`
	Failures       int            `json:"failures"`
	FailureReasons map[string]int `json:"failure_reasons,omitempty"`
	P50US          float64        `json:"p50_us"`
	P90US          float64        `json:"p90_us"`
	P99US          float64        `json:"p99_us"`
	MaxUS          float64        `json:"max_us"`
	MeanUS         float64        `json:"mean_us"`
	MeanESP        float64        `json:"mean_esp"`
	MeanSwaps      float64        `json:"mean_swaps"`
	MeanNodes      float64        `json:"mean_nodes"`
	Optimal        int            `json:"optimal"` // placements proven optimal
	Strategies     map[string]int `json:"strategies"`
	CacheHitRate   float64        `json:"cache_hit_rate"`
	Occupancies    int            `json:"occupancies"` // distinct occupancies generated
}

func runBenchPlace(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench place", stderr)
	var rf requestFlags
	rf.register(fs)
	frac := fs.Float64("occupancy", 0.5, "fraction of the device's qubits held by other tasks")
	model := fs.String("occupancy-model", "random", "random: random qubits, each its own task with buffer 0 (the issue's scenario); tasks: other tasks' random connected placements of 2-8 qubits that keep --buffer between them")
	iters := fs.Int("iterations", 1000, "number of timed requests")
	warmup := fs.Int("warmup", 20, "untimed requests first (pattern compilation, pools)")
	seed := fs.Uint64("seed", 1, "seed of the occupancies")
	repeat := fs.Float64("repeat", 0, "fraction of requests that reuse the previous request's occupancy (exercises the cache: a repeated request on an unchanged occupancy is a hit)")
	noCache := fs.Bool("no-cache", false, "disable the allocation cache")
	asJSON := fs.Bool("json", false, "print one JSON object")
	strategy := fs.String("strategy", "native", "native: the built-in Go engine; wasm: the WebAssembly placement and scoring modules (--placement-module, --scoring-module; make modules builds the built-in ones), with the deadline guard on; both: the two on the same requests, taking turns, and the ratio")
	placeMod := fs.String("placement-module", "bin/modules/placement.wasm", "placement module for --strategy wasm")
	scoreMod := fs.String("scoring-module", "bin/modules/scoring.wasm", "scoring module for --strategy wasm")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: rmctl bench place --device PATH (--qubits N --shape SHAPE | --circuit FILE.qasm) --occupancy 0.5 --iterations K [--seed S] [--buffer D] [--repeat F] [--json]")
		fmt.Fprintln(stderr, "Places K requests against seeded random occupancies and reports latency percentiles, mean ESP and the cache hit rate.")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) > 0 {
		fail(stdout, stderr, *asJSON, fmt.Errorf("bench place: unexpected arguments %q", pos))
		return 2
	}
	switch {
	case *frac < 0 || *frac > 1 || math.IsNaN(*frac):
		fail(stdout, stderr, *asJSON, fmt.Errorf("--occupancy %v: must be in [0, 1]", *frac))
		return 2
	case *repeat < 0 || *repeat > 1 || math.IsNaN(*repeat):
		fail(stdout, stderr, *asJSON, fmt.Errorf("--repeat %v: must be in [0, 1]", *repeat))
		return 2
	case *iters < 1:
		fail(stdout, stderr, *asJSON, fmt.Errorf("--iterations %d: must be at least 1", *iters))
		return 2
	case *warmup < 0:
		fail(stdout, stderr, *asJSON, fmt.Errorf("--warmup %d: must be >= 0", *warmup))
		return 2
	case *strategy != "native" && *strategy != "wasm" && *strategy != "both":
		fail(stdout, stderr, *asJSON, fmt.Errorf("--strategy %q: want native, wasm or both", *strategy))
		return 2
	case *model != "random" && *model != "tasks":
		fail(stdout, stderr, *asJSON, fmt.Errorf("--occupancy-model %q: want random or tasks", *model))
		return 2
	}
	m, err := loadDevice(rf.device)
	if err != nil {
		return fail(stdout, stderr, *asJSON, err)
	}
	req, what, err := rf.request()
	if err != nil {
		return placeFail(stdout, stderr, *asJSON, m, err, 0)
	}
	if err := req.Validate(m.N()); err != nil {
		return placeFail(stdout, stderr, *asJSON, m, err, 0)
	}
	opts := alloc.Options{}
	if *noCache {
		opts.CacheSize = -1
	}
	e, err := alloc.NewEngine(m, opts)
	if err != nil {
		return fail(stdout, stderr, *asJSON, err)
	}
	ctx := context.Background()
	var wasm placeFunc
	if *strategy != "native" {
		pipe, closeHost, err := loadPipeline(ctx, m, *placeMod, *scoreMod)
		if err != nil {
			return fail(stdout, stderr, *asJSON, err)
		}
		defer closeHost()
		wasm = func(ctx context.Context, req *alloc.Request, occ *alloc.Occupancy, reserved []int) (*alloc.Placement, error) {
			return pipe.Place(ctx, m, req, occ, reserved)
		}
	}
	rng := newRand(*seed)
	gen := func() *alloc.Occupancy {
		if *model == "tasks" {
			return tasksOccupancy(m, *frac, rf.buffer, rng)
		}
		return randomOccupancy(m, *frac, rng)
	}
	// The placers to time, in turns on each request.
	var runs []*placeRun
	add := func(name string, f placeFunc) {
		runs = append(runs, &placeRun{place: f, out: benchPlaceJSON{Strategy: name, Device: m.Name, Request: what, Occupancy: *frac,
			OccupancyModel: *model, Buffer: rf.buffer, Budget: rf.budget, Seed: *seed, Repeat: *repeat, Iterations: *iters,
			Strategies: map[string]int{}}})
	}
	if *strategy != "wasm" {
		add("native", e.Place)
	}
	if wasm != nil {
		add("wasm", wasm)
	}
	for i := 0; i < *warmup; i++ {
		occ := gen()
		for _, r := range runs {
			_, _ = r.place(ctx, req, occ, nil)
		}
	}
	// The occupancies are generated before timing, so that their garbage
	// does not land on the timed calls.
	occs := make([]*alloc.Occupancy, *iters)
	distinct := 0
	for i := range occs {
		if i == 0 || rng.Float64() >= *repeat {
			occs[i] = gen()
			distinct++
		} else {
			occs[i] = occs[i-1]
		}
	}
	before := e.Stats()
	runtime.GC()
	for i, occ := range occs {
		for j := range runs {
			// Taking turns: neither always runs first (on warm caches).
			r := runs[(i+j)%len(runs)]
			start := time.Now()
			pl, err := r.place(ctx, req, occ, nil)
			r.add(pl, err, float64(time.Since(start).Nanoseconds())/1e3)
		}
	}
	after := e.Stats()
	for _, r := range runs {
		r.out.Occupancies = distinct
		r.finish()
		if r.out.Strategy == "native" {
			if t := (after.CacheHits - before.CacheHits) + (after.CacheMisses - before.CacheMisses); t > 0 {
				r.out.CacheHitRate = float64(after.CacheHits-before.CacheHits) / float64(t)
			}
		}
	}
	if len(runs) == 2 {
		n, w := &runs[0].out, &runs[1].out
		both := benchPlaceBothJSON{Native: *n, Wasm: *w, Ratio: map[string]float64{
			"p50": w.P50US / n.P50US, "p90": w.P90US / n.P90US, "p99": w.P99US / n.P99US, "mean": w.MeanUS / n.MeanUS}}
		if *asJSON {
			if err := printJSON(stdout, both); err != nil {
				return fail(stdout, stderr, false, err)
			}
			return 0
		}
		printBenchPlace(stdout, n)
		fmt.Fprintln(stdout)
		printBenchPlace(stdout, w)
		fmt.Fprintf(stdout, "\nwasm / native: p50 %.1fx  p90 %.1fx  p99 %.1fx  mean %.1fx (the same requests, taking turns)\n",
			both.Ratio["p50"], both.Ratio["p90"], both.Ratio["p99"], both.Ratio["mean"])
		return 0
	}
	out := &runs[0].out
	if *asJSON {
		if err := printJSON(stdout, out); err != nil {
			return fail(stdout, stderr, false, err)
		}
		return 0
	}
	printBenchPlace(stdout, out)
	return 0
}

// benchPlaceBothJSON is the output of rmctl bench place --strategy both
// --json: each strategy's figures on the same requests and wasm's over
// native's.
type benchPlaceBothJSON struct {
	Native benchPlaceJSON     `json:"native"`
	Wasm   benchPlaceJSON     `json:"wasm"`
	Ratio  map[string]float64 `json:"wasm_over_native"`
}

type placeFunc func(ctx context.Context, req *alloc.Request, occ *alloc.Occupancy, reserved []int) (*alloc.Placement, error)

// placeRun gathers one strategy's results.
type placeRun struct {
	place                      placeFunc
	out                        benchPlaceJSON
	lat                        []float64
	sumESP, sumSwaps, sumNodes float64
}

func (r *placeRun) add(pl *alloc.Placement, err error, us float64) {
	r.lat = append(r.lat, us)
	if err != nil {
		r.out.Failures++
		if r.out.FailureReasons == nil {
			r.out.FailureReasons = map[string]int{}
		}
		r.out.FailureReasons[reasonOf(err)]++
		return
	}
	r.sumESP += pl.ESP
	r.sumSwaps += float64(pl.Swaps)
	r.sumNodes += float64(pl.Nodes)
	r.out.Strategies[pl.Strategy]++
	if pl.Optimal {
		r.out.Optimal++
	}
}

func (r *placeRun) finish() {
	out := &r.out
	if ok := out.Iterations - out.Failures; ok > 0 {
		out.MeanESP = r.sumESP / float64(ok)
		out.MeanSwaps = r.sumSwaps / float64(ok)
		out.MeanNodes = r.sumNodes / float64(ok)
	}
	lat := r.lat
	sort.Float64s(lat)
	pct := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(lat)))) - 1
		return lat[max(0, min(i, len(lat)-1))]
	}
	out.P50US, out.P90US, out.P99US, out.MaxUS = pct(0.50), pct(0.90), pct(0.99), lat[len(lat)-1]
	for _, x := range lat {
		out.MeanUS += x
	}
	out.MeanUS /= float64(len(lat))
}

func printBenchPlace(w io.Writer, out *benchPlaceJSON) {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintf(tw, "strategy\t%s\n", out.Strategy)
	fmt.Fprintf(tw, "device\t%s\n", out.Device)
	fmt.Fprintf(tw, "request\t%s, buffer %d\n", out.Request, out.Buffer)
	fmt.Fprintf(tw, "occupancy\t%.0f%% (%s, %d occupancies, repeat %.2f)\n", 100*out.Occupancy, out.OccupancyModel, out.Occupancies, out.Repeat)
	fmt.Fprintf(tw, "iterations\t%d (%d failed %v)\n", out.Iterations, out.Failures, out.FailureReasons)
	fmt.Fprintf(tw, "latency us\tp50 %.1f  p90 %.1f  p99 %.1f  max %.1f  mean %.1f\n", out.P50US, out.P90US, out.P99US, out.MaxUS, out.MeanUS)
	fmt.Fprintf(tw, "mean ESP\t%.6f (swaps %.2f, nodes %.0f, %d proven optimal)\n", out.MeanESP, out.MeanSwaps, out.MeanNodes, out.Optimal)
	fmt.Fprintf(tw, "strategies\t%v\n", out.Strategies)
	fmt.Fprintf(tw, "cache hit rate\t%.3f\n", out.CacheHitRate)
	tw.Flush()
}

// randomOccupancy holds a random frac of the qubits, all in one task with
// buffer 0: the same as one-qubit tasks each with buffer 0, since
// isolation uses the larger of two tasks' buffers.
func randomOccupancy(m *hal.Model, frac float64, rng *rand.Rand) *alloc.Occupancy {
	occ := alloc.NewOccupancy(m.Topology)
	k := int(math.Round(frac * float64(m.N())))
	if k == 0 {
		return occ
	}
	perm := rng.Perm(m.N())
	_ = occ.Commit(alloc.Holding{Task: "others", Qubits: perm[:k]})
	return occ
}

// tasksOccupancy fills the device with other tasks' random placements:
// connected sets of 2-8 qubits grown from random free qubits over all
// couplers, each kept only when it respects the buffer, until frac of the
// qubits are held or attempts run out.
func tasksOccupancy(m *hal.Model, frac float64, buffer int, rng *rand.Rand) *alloc.Occupancy {
	occ := alloc.NewOccupancy(m.Topology)
	target := int(math.Round(frac * float64(m.N())))
	for attempt := 0; occ.Used() < target && attempt < 20*m.N(); attempt++ {
		size := min(2+rng.IntN(7), target-occ.Used())
		seed := rng.IntN(m.N())
		if _, held := occ.Owner(seed); held {
			continue
		}
		set := []int{seed}
		in := map[int]bool{seed: true}
		for len(set) < size {
			var front []int
			for _, q := range set {
				for _, w := range m.Neighbors(q) {
					if _, held := occ.Owner(int(w)); !held && !in[int(w)] {
						front = append(front, int(w))
					}
				}
			}
			if len(front) == 0 {
				break
			}
			w := front[rng.IntN(len(front))]
			in[w] = true
			set = append(set, w)
		}
		_ = occ.Commit(alloc.Holding{Task: fmt.Sprintf("task%d", attempt), Qubits: set, Buffer: buffer})
	}
	return occ
}

// newRand is the bench's seeded generator.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// loadPipeline loads a placement and a scoring module into a WebAssembly
// host (compilation cache under the user's cache directory) with the
// controller's default limits and deadline guard.
func loadPipeline(ctx context.Context, m *hal.Model, placement, scoring string) (sandbox.Pipeline, func(), error) {
	var p sandbox.Pipeline
	cache := ""
	if d, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(d, "eigen-rm", "rmctl-module-cache")
	}
	host, err := sandbox.NewHost(ctx, sandbox.Config{CacheDir: cache})
	if err != nil {
		return p, nil, err
	}
	closeHost := func() { _ = host.Close(context.Background()) }
	for i, f := range []string{placement, scoring} {
		wasm, err := os.ReadFile(f)
		if err != nil {
			closeHost()
			return p, nil, fmt.Errorf("%v (make modules builds the built-in modules)", err)
		}
		mod, err := host.Load(ctx, filepath.Base(f), 1, wasm)
		if err != nil {
			closeHost()
			return p, nil, fmt.Errorf("%s: %w", f, err)
		}
		if err := mod.Warm(ctx, m); err != nil {
			closeHost()
			return p, nil, fmt.Errorf("%s: %w", f, err)
		}
		if i == 0 {
			p.Placement = mod
		} else {
			p.Scoring = mod
		}
	}
	return p, closeHost, nil
}
