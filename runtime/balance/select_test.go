package balance

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/eigen-os/rm/mqtt"
	"github.com/eigen-os/rm/runtime/config"
)

// Four devices of different quality and load; for each request, the device
// best_fidelity puts first must have a true best ESP (found exhaustively)
// within 1% of the best device's.
func TestBestFidelityPicksNearBest(t *testing.T) {
	const K = 10
	devs := []*testDevice{
		newTestDevice("avg", 4, 5, 0.010, 0.020, 1),
		newTestDevice("clean-busy", 4, 5, 0.005, 0.012, 2, 0, 1, 2, 5, 6, 7, 10, 11), // good, 8 of 20 held
		newTestDevice("bad-readout", 4, 5, 0.007, 0.045, 3),
		newTestDevice("good-readout", 4, 5, 0.016, 0.006, 4),
	}
	cands := make([]Candidate, len(devs))
	for i, d := range devs {
		cands[i] = d.candidate(K, "simulator")
	}
	needs := []Need{
		{Qubits: 3, Shape: "linear"},
		{Qubits: 8, Shape: "linear"},
		{Qubits: 12, Shape: "linear"}, // past the profile: extrapolated
		{Qubits: 6, Shape: "ring"},
		{Qubits: 6, Shape: "grid:2x3"},
		{Qubits: 4, Shape: "star"},
		{Qubits: 6, Shape: "none"},
		{Qubits: 2, Shape: "linear"},
		{Qubits: 5, Pairs: []mqtt.Pair{{A: 0, B: 1, Count: 10}, {A: 1, B: 2, Count: 10}, {A: 2, B: 3, Count: 4}, {A: 1, B: 4, Count: 2}}},
		{Qubits: 4, Pairs: []mqtt.Pair{{A: 0, B: 1, Count: 1}, {A: 2, B: 3, Count: 1}}}, // two separate pairs
	}
	b, err := New(Policy{Algorithm: BestFidelity})
	if err != nil {
		t.Fatal(err)
	}
	worstRatio := 1.0
	for _, need := range needs {
		ranked, err := b.Rank(need, cands)
		if err != nil {
			t.Fatalf("%+v: %v", need, err)
		}
		p := mustPattern(need)
		truth := map[string]float64{}
		bestTrue := 0.0
		for _, d := range devs {
			e := d.best(p)
			if e == 0 {
				e = (&testDevice{rows: d.rows, cols: d.cols, ro: d.ro, e2: d.e2, held: make([]bool, d.n())}).best(p) // served after a wait
			}
			truth[d.name] = e
			bestTrue = max(bestTrue, e)
		}
		got := ranked[0].Device
		ratio := truth[got] / bestTrue
		worstRatio = min(worstRatio, ratio)
		var line strings.Builder
		for _, r := range ranked {
			fmt.Fprintf(&line, " %s(pred %.4f true %.4f now %v)", r.Device, r.Prediction.ESP, truth[r.Device], r.Prediction.Now)
		}
		t.Logf("%d %s%s:%s", need.Qubits, need.Shape, pairsLabel(need), line.String())
		if ratio < 0.99 {
			t.Errorf("%d-qubit %s%s: picked %s with true ESP %.4f, best is %.4f (%.2f%% worse)",
				need.Qubits, need.Shape, pairsLabel(need), got, truth[got], bestTrue, 100*(1-ratio))
		}
		// Within the profile, a linear chain is predicted exactly.
		if need.Shape == "linear" && need.Qubits <= K {
			for _, r := range ranked {
				if r.Prediction.Now && math.Abs(r.Prediction.ESP-truth[r.Device]) > 1e-6 {
					t.Errorf("linear %d on %s: predicted %.6f, true %.6f", need.Qubits, r.Device, r.Prediction.ESP, truth[r.Device])
				}
			}
		}
	}
	t.Logf("worst pick: %.4f of the best", worstRatio)
}

func pairsLabel(n Need) string {
	if len(n.Pairs) > 0 {
		return fmt.Sprintf("graph(%d pairs)", len(n.Pairs))
	}
	return ""
}

func cand(dev, typ string, qubits int, util float64) Candidate {
	free := qubits - int(math.Round(util*float64(qubits)))
	prof := make([]float32, 16)
	for k := range prof {
		prof[k] = float32(math.Pow(0.99, float64(2*k+1)))
	}
	return Candidate{Device: dev, Type: typ, Online: true, Health: "online", Qubits: qubits, FreeQubits: free,
		Utilization: float64(qubits-free) / float64(qubits), MaxDegree: 3,
		Quality: mqtt.Quality{Linear: prof, Idle: prof, Readout: 0.01, Pair: 0.01}}
}

// least_loaded keeps the fleet within the imbalance threshold over a run of
// arrivals and departures; weighted round robin, blind to load, does not.
func TestLeastLoadedKeepsBalance(t *testing.T) {
	run := func(alg string) (worst float64) {
		cands := []Candidate{cand("q27", "ibm_quantum", 27, 0), cand("q53", "rigetti", 53, 0),
			cand("q65", "ionq", 65, 0), cand("q127", "simulator", 127, 0)}
		b, err := New(Policy{Algorithm: alg, Weights: map[string]float64{"ibm_quantum": 0.3, "rigetti": 0.25, "ionq": 0.25, "simulator": 0.2}})
		if err != nil {
			t.Fatal(err)
		}
		type task struct {
			dev  int
			n    int
			ends int
		}
		var running []task
		idx := map[string]int{}
		for i, c := range cands {
			idx[c.Device] = i
		}
		apply := func(i, dq int) {
			c := &cands[i]
			c.FreeQubits -= dq
			c.Utilization = float64(c.Qubits-c.FreeQubits) / float64(c.Qubits)
		}
		for step := 0; step < 600; step++ {
			keep := running[:0]
			for _, r := range running {
				if r.ends == step {
					apply(r.dev, -r.n)
				} else {
					keep = append(keep, r)
				}
			}
			running = keep
			n := 1 + (step*7)%5
			order, err := b.Select(Need{Qubits: n, Shape: "linear"}, cands)
			if err != nil {
				t.Fatalf("%s step %d: %v", alg, step, err)
			}
			i := idx[order[0]]
			apply(i, n)
			running = append(running, task{dev: i, n: n, ends: step + 20 + (step*13)%40})
			loads := make([]float64, len(cands))
			for j, c := range cands {
				loads[j] = c.Load()
			}
			if step >= 10 {
				worst = max(worst, Imbalance(loads))
			}
		}
		return worst
	}
	const threshold = 0.2
	ll := run(LeastLoaded)
	wrr := run(WeightedRoundRobin)
	t.Logf("worst imbalance: least_loaded %.3f, weighted_round_robin %.3f", ll, wrr)
	if ll > threshold {
		t.Errorf("least_loaded let the imbalance reach %.3f, threshold %.2f", ll, threshold)
	}
	if wrr <= threshold {
		t.Errorf("weighted round robin stayed within %.2f: the scenario does not test balancing", threshold)
	}
}

// Weighted round robin distributes requests in proportion to the weights of
// the device types.
func TestWeightedRoundRobinDistribution(t *testing.T) {
	weights := map[string]float64{"ibm_quantum": 0.3, "rigetti": 0.25, "ionq": 0.25, "simulator": 0.2}
	cands := []Candidate{cand("kyiv", "ibm_quantum", 127, 0), cand("ankaa", "rigetti", 84, 0),
		cand("aria", "ionq", 25, 0), cand("sim", "simulator", 64, 0)}
	b, err := New(Policy{Algorithm: WeightedRoundRobin, Weights: weights})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	const N = 1000
	for i := 0; i < N; i++ {
		order, err := b.Select(Need{Qubits: 2}, cands)
		if err != nil {
			t.Fatal(err)
		}
		if len(order) != 4 {
			t.Fatalf("order %v: want every device as a fallback", order)
		}
		counts[order[0]]++
	}
	for _, c := range cands {
		want := weights[c.Type] * N
		if got := float64(counts[c.Device]); math.Abs(got-want) > 1 {
			t.Errorf("%s (%s): %v of %d, want %v", c.Device, c.Type, got, N, want)
		}
	}
	// Short runs are smooth too: every window of 20 gives each device its
	// share within one.
	b2, _ := New(Policy{Algorithm: WeightedRoundRobin, Weights: weights})
	win := map[string]int{}
	for i := 0; i < 20; i++ {
		order, _ := b2.Select(Need{Qubits: 1}, cands)
		win[order[0]]++
	}
	for _, c := range cands {
		if want := weights[c.Type] * 20; math.Abs(float64(win[c.Device])-want) > 1 {
			t.Errorf("first 20: %s got %d, want %v", c.Device, win[c.Device], want)
		}
	}
	// An unknown type gets the smallest weight; weight 0 is a last resort.
	cands = append(cands, cand("mystery", "unknown", 64, 0))
	b3, _ := New(Policy{Algorithm: WeightedRoundRobin, Weights: map[string]float64{"ibm_quantum": 1, "rigetti": 0, "ionq": 1, "simulator": 1}})
	for i := 0; i < 50; i++ {
		order, _ := b3.Select(Need{Qubits: 1}, cands)
		if order[0] == "ankaa" {
			t.Fatal("a weight-0 device was chosen first")
		}
		if order[len(order)-1] != "ankaa" {
			t.Fatalf("order %v: the weight-0 device should be last", order)
		}
	}
}

func TestAvoidOverloadedAndConstraints(t *testing.T) {
	cands := []Candidate{cand("busy", "simulator", 100, 0.9), cand("calm", "simulator", 100, 0.2),
		cand("mid", "simulator", 100, 0.5), cand("tiny", "simulator", 4, 0)}
	p := Policy{Algorithm: LeastLoaded, AvoidOverloaded: true, HighUtilization: 0.85}
	order, err := Select(Need{Qubits: 5}, cands, p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(order, ",") != "calm,mid" {
		t.Errorf("order = %v, want calm,mid (busy overloaded, tiny too small)", order)
	}
	p.AvoidOverloaded = false
	order, _ = Select(Need{Qubits: 5}, cands, p)
	if strings.Join(order, ",") != "calm,mid,busy" {
		t.Errorf("without avoid_overloaded_devices: %v", order)
	}
	// Excluded never; preferred first even when more loaded.
	order, _ = Select(Need{Qubits: 2, Excluded: []string{"calm"}, Preferred: []string{"busy"}}, cands, p)
	if strings.Join(order, ",") != "busy,tiny,mid" {
		t.Errorf("excluded calm, preferred busy: %v", order)
	}
	// Nothing eligible: every device says why.
	_, err = Select(Need{Qubits: 50, Excluded: []string{"calm", "mid"}}, cands,
		Policy{Algorithm: BestFidelity, AvoidOverloaded: true})
	var nc *NoCandidateError
	if !errors.As(err, &nc) || !errors.Is(err, ErrNoCandidate) {
		t.Fatalf("err = %v, want a NoCandidateError", err)
	}
	for dev, want := range map[string]string{"calm": "excluded", "busy": "overloaded", "tiny": "needs 50 qubits, has 4"} {
		if !strings.Contains(nc.Reasons[dev], want) {
			t.Errorf("reason for %s = %q, want %q", dev, nc.Reasons[dev], want)
		}
	}
	if len(nc.Reasons) != 4 {
		t.Errorf("reasons: %v", nc.Reasons)
	}
	// Offline, draining and unhealthy devices are out.
	off := cand("off", "simulator", 100, 0)
	off.Online = false
	dr := cand("drain", "simulator", 100, 0)
	dr.Draining = true
	sick := cand("sick", "simulator", 100, 0)
	sick.Health = "offline"
	if _, err := Select(Need{Qubits: 1}, []Candidate{off, dr, sick}, p); !errors.Is(err, ErrNoCandidate) {
		t.Errorf("offline/draining/unhealthy: err = %v", err)
	}
	// Bad requests and policies are errors that name the field.
	if _, err := Select(Need{Qubits: 6, Shape: "grid:2x2"}, cands, p); err == nil || !strings.Contains(err.Error(), "need.shape") {
		t.Errorf("bad grid: %v", err)
	}
	if _, err := New(Policy{Algorithm: "random"}); err == nil || !strings.Contains(err.Error(), "random") {
		t.Errorf("bad algorithm: %v", err)
	}
}

// Max wait excludes devices that cannot serve in time; fidelity_wait trades
// a better ESP later against a slightly worse one now; devices predicted
// below the floor go last.
func TestWaitAndFloor(t *testing.T) {
	good := cand("good", "simulator", 20, 0)
	for k := range good.Quality.Linear {
		good.Quality.Linear[k] = 0 // nothing fits now
		good.Quality.Idle[k] = float32(math.Pow(0.995, float64(2*k+1)))
	}
	good.FreeQubits, good.Utilization = 0, 1
	good.ExpectedWait = 10 * time.Minute
	fair := cand("fair", "simulator", 20, 0)
	need := Need{Qubits: 8, Shape: "linear"}

	order, err := Select(need, []Candidate{good, fair}, Policy{Algorithm: BestFidelity})
	if err != nil || order[0] != "good" {
		t.Errorf("best_fidelity ignores the wait: %v %v", order, err)
	}
	order, _ = Select(need, []Candidate{good, fair}, Policy{Algorithm: FidelityWait, WaitScale: time.Minute})
	if order[0] != "fair" {
		t.Errorf("fidelity_wait should prefer fair now over good in 10 min: %v", order)
	}
	order, _ = Select(need, []Candidate{good, fair}, Policy{Algorithm: FidelityWait, WaitScale: 100 * time.Hour})
	if order[0] != "good" {
		t.Errorf("fidelity_wait with a huge wait scale should prefer good: %v", order)
	}
	need.MaxWait = time.Minute
	order, _ = Select(need, []Candidate{good, fair}, Policy{Algorithm: BestFidelity})
	if strings.Join(order, ",") != "fair" {
		t.Errorf("max wait 1 min: %v, want only fair", order)
	}
	need.MaxWait = 0
	need.Floor = 0.9 // fair predicts 0.99^15 = 0.86 for 8 qubits
	order, _ = Select(need, []Candidate{fair, good}, Policy{Algorithm: LeastLoaded})
	if strings.Join(order, ",") != "good,fair" {
		t.Errorf("below the floor goes last: %v", order)
	}
}

func TestImbalance(t *testing.T) {
	for _, tc := range []struct {
		loads []float64
		want  float64
	}{
		{nil, 0}, {[]float64{0.7}, 0}, {[]float64{0.2, 0.2, 0.2}, 0}, {[]float64{0, 1}, 1},
		{[]float64{0.1, 0.5, 0.3}, 0.4}, {[]float64{-1, 2}, 1}, {[]float64{0.3, math.NaN(), 0.5}, 0.2},
	} {
		if got := Imbalance(tc.loads); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Imbalance(%v) = %v, want %v", tc.loads, got, tc.want)
		}
	}
}

func TestChainExtrapolation(t *testing.T) {
	// A profile with a constant marginal cost is continued exactly.
	p := make([]float32, 16)
	for k := range p {
		p[k] = float32(math.Exp(-0.02 * float64(k+1)))
	}
	if got := chainCost(p, 30); math.Abs(got-0.6) > 1e-5 {
		t.Errorf("chainCost(30) = %v, want 0.6", got)
	}
	if got := chainCost(p, 5); math.Abs(got-0.1) > 1e-6 {
		t.Errorf("chainCost(5) = %v, want 0.1", got)
	}
	p[15] = 0 // no chain of 16 now: none longer either
	if got := chainCost(p, 20); !math.IsInf(got, 1) {
		t.Errorf("past a missing chain: %v, want +Inf", got)
	}
	if got := chainCost(nil, 3); !math.IsNaN(got) {
		t.Errorf("empty profile: %v, want NaN", got)
	}
	// Routing: a star wider than the device's degree costs SWAPs.
	info, _ := analyze(Need{Qubits: 6, Shape: "star"})
	if s := info.swapsNeeded(3); s != 2 {
		t.Errorf("star of 6 on degree 3: %d swaps, want 2", s)
	}
	info, _ = analyze(Need{Qubits: 5, Shape: "clique"})
	if s := info.swapsNeeded(3); s != 3 {
		t.Errorf("clique of 5 on degree 3: %d swaps, want 3", s)
	}
	// No profile: the medians.
	c := Candidate{Device: "m", Online: true, Qubits: 10, FreeQubits: 10, Median2QError: 0.01, MedianReadoutError: 0.02}
	pr, err := Predict(c, Need{Qubits: 3}, time.Minute)
	want := math.Pow(0.98, 3) * math.Pow(0.99, 2)
	if err != nil || pr.Source != "medians" || math.Abs(pr.ESP-want) > 1e-9 || !pr.Now {
		t.Errorf("medians: %+v %v, want ESP %v", pr, err, want)
	}
}

func TestFromPeersAndConfig(t *testing.T) {
	peers := []mqtt.Peer{{Device: "a", Online: true, HasBirth: true, HasState: true,
		Birth: mqtt.Birth{DeviceType: "rigetti", Summary: mqtt.DeviceSummary{MaxDegree: 3, Median2QError: 0.02}},
		State: mqtt.State{Health: "online", Qubits: 80, FreeQubits: 60, Utilization: 0.25, QueueLength: 2, QueuedQubits: 8,
			ExpectedWaitMs: 1500, Quality: mqtt.Quality{Linear: []float32{0.9}}}},
		{Device: "b", Online: true, HasBirth: true}}
	cs := FromPeers(peers)
	a := cs[0]
	if a.Type != "rigetti" || !a.Online || a.Qubits != 80 || a.ExpectedWait != 1500*time.Millisecond || a.MaxDegree != 3 ||
		a.Median2QError != 0.02 || len(a.Quality.Linear) != 1 || math.Abs(a.Load()-0.35) > 1e-12 {
		t.Errorf("candidate: %+v", a)
	}
	if cs[1].Online {
		t.Error("a peer without a state must not be a usable candidate")
	}
	cfg := config.Default()
	p := PolicyFromConfig(cfg, "a")
	if p.Algorithm != WeightedRoundRobin || !p.AvoidOverloaded || p.HighUtilization != 0.85 || p.ImbalanceThreshold != 0.2 ||
		p.Weights["rigetti"] != 0.25 || p.Local != "a" {
		t.Errorf("policy from the default configuration: %+v", p)
	}
}
