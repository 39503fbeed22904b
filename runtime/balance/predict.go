// Package balance chooses the device of the fleet that should serve a
// request, and plans the moves of queued tasks that even out the fleet's
// load.
//
// It works on Candidates: what the fleet view (package mqtt) knows of each
// device, its load and its quality profile. Select orders the eligible
// devices by a policy (weighted_round_robin, least_loaded, best_fidelity,
// fidelity_wait) under the request's constraints; Imbalance scores the
// spread of load; PlanRebalance lists the queued tasks to move.
//
// Prediction. best_fidelity and fidelity_wait predict the ESP of the best
// placement on each device from its published quality profile (the best ESP
// of a linear chain of k qubits, k = 1..16, on the free qubits now and on the
// idle device, computed by the owner with its real engine). Other sizes and
// shapes are interpolated as documented on Predict and in
// docs/federation.md.
package balance

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/eigen-os/rm/mqtt"
	"github.com/eigen-os/rm/runtime/alloc"
)

// Need is what a request asks of a device.
type Need struct {
	// Qubits is the number of logical qubits.
	Qubits int
	// Shape is "linear", "ring", "star", "grid:RxC", "clique" or "none";
	// empty with Pairs for an interaction graph, empty without Pairs is
	// linear.
	Shape string
	Pairs []mqtt.Pair
	// Floor is the lowest acceptable ESP (0: none). Devices predicted
	// below it are tried last.
	Floor float64
	// MaxWait excludes devices whose expected wait is longer (0: no
	// limit).
	MaxWait time.Duration
	// Duration is how long the task holds its qubits (0: unknown).
	Duration time.Duration
	Priority int
	// Preferred devices are tried before the others; Excluded never.
	Preferred, Excluded []string
}

// Candidate is one device as the balancer sees it.
type Candidate struct {
	Device   string
	Type     string // device type: the key of Policy.Weights
	Online   bool
	Health   string // hal.Health
	Draining bool
	// Qubits is the capacity (usable qubits), FreeQubits those no task
	// holds, Utilization the held fraction.
	Qubits       int
	FreeQubits   int
	Utilization  float64
	QueueLength  int
	QueuedQubits int
	// ExpectedWait is the owner's estimate of the wait of a request that
	// cannot be placed now (0: unknown).
	ExpectedWait time.Duration
	Quality      mqtt.Quality
	// MaxDegree is the largest number of couplers of a qubit (0: unknown).
	MaxDegree int
	// Median errors of the device, used when it publishes no profile.
	Median2QError, MedianReadoutError float64
	// Staleness is the age of the data.
	Staleness time.Duration
}

// Load is the candidate's demand relative to its capacity, in [0, 1]; see
// mqtt.State.Load.
func (c Candidate) Load() float64 {
	return mqtt.State{Qubits: c.Qubits, Utilization: c.Utilization, QueuedQubits: c.QueuedQubits}.Load()
}

// demand is the unclamped load: (held + queued) / capacity.
func (c Candidate) demand() float64 {
	if c.Qubits <= 0 {
		return math.Inf(1)
	}
	return c.Utilization + float64(c.QueuedQubits)/float64(c.Qubits)
}

// FromPeers turns the fleet view into candidates. A peer is a usable
// candidate only when it is online and its birth and state are known.
func FromPeers(peers []mqtt.Peer) []Candidate {
	out := make([]Candidate, 0, len(peers))
	for _, p := range peers {
		s, b := p.State, p.Birth
		out = append(out, Candidate{Device: p.Device, Type: b.DeviceType, Online: p.Online && p.HasBirth && p.HasState,
			Health: s.Health, Draining: s.Draining, Qubits: s.Qubits, FreeQubits: s.FreeQubits, Utilization: s.Utilization,
			QueueLength: s.QueueLength, QueuedQubits: s.QueuedQubits, ExpectedWait: time.Duration(s.ExpectedWaitMs) * time.Millisecond,
			Quality: s.Quality, MaxDegree: b.Summary.MaxDegree, Median2QError: b.Summary.Median2QError,
			MedianReadoutError: b.Summary.MedianReadoutError, Staleness: p.Staleness})
	}
	return out
}

// shapeInfo is what the prediction needs of a request's interaction graph.
type shapeInfo struct {
	n      int
	name   string
	gates  int      // 2-qubit gates (edges of a shape count one each)
	degree []int    // distinct neighbours of each logical qubit
	edges  [][3]int // distinct interactions: a, b, gate count
	none   bool     // no interaction at all
}

// analyze validates the need and describes its graph.
func analyze(need Need) (shapeInfo, error) {
	n := need.Qubits
	if n < 1 {
		return shapeInfo{}, fmt.Errorf("need.qubits: %d must be at least 1", n)
	}
	if math.IsNaN(need.Floor) || need.Floor < 0 || need.Floor > 1 {
		return shapeInfo{}, fmt.Errorf("need.floor: %v is out of range [0, 1]", need.Floor)
	}
	if need.MaxWait < 0 {
		return shapeInfo{}, fmt.Errorf("need.max_wait: %v is negative", need.MaxWait)
	}
	info := shapeInfo{n: n, degree: make([]int, n)}
	edge := func(a, b, count int) {
		info.degree[a]++
		info.degree[b]++
		info.gates += count
		info.edges = append(info.edges, [3]int{a, b, count})
	}
	shape := strings.ToLower(strings.TrimSpace(need.Shape))
	if shape == "" && len(need.Pairs) > 0 {
		info.name = fmt.Sprintf("graph of %d pairs", len(need.Pairs))
		seen := make(map[[2]int]int, len(need.Pairs)) // pair -> index in edges
		for i, p := range need.Pairs {
			if p.A < 0 || p.A >= n || p.B < 0 || p.B >= n || p.A == p.B || p.Count < 1 {
				return shapeInfo{}, fmt.Errorf("need.pairs[%d]: (%d,%d)x%d: want distinct qubits in [0, %d) and count >= 1", i, p.A, p.B, p.Count, n)
			}
			k := [2]int{min(p.A, p.B), max(p.A, p.B)}
			if j, ok := seen[k]; ok {
				info.gates += p.Count
				info.edges[j][2] += p.Count
				continue
			}
			seen[k] = len(info.edges)
			edge(p.A, p.B, p.Count)
		}
		return info, nil
	}
	if shape == "" {
		shape = "linear"
	}
	info.name = shape
	sh, err := alloc.ParseShape(shape)
	if err != nil {
		return shapeInfo{}, fmt.Errorf("need.shape: unknown shape %q (want linear, ring, star, grid:RxC, clique or none)", need.Shape)
	}
	switch {
	case sh.Kind == alloc.ShapeNone:
		info.none = true
	case sh.Kind == alloc.ShapeGrid && sh.Rows*sh.Cols != n:
		return shapeInfo{}, fmt.Errorf("need.shape: %s has %d qubits, the request asks for %d", shape, sh.Rows*sh.Cols, n)
	default:
		sh.EachPair(n, func(a, b int) { edge(a, b, 1) })
	}
	return info, nil
}

// swapsNeeded estimates the SWAPs that routing adds when the graph has
// qubits of higher degree than the device's qubits: each logical qubit with
// degree d > D has d - D interactions that cannot all be adjacent. The
// estimate is max(ceil(sum excess / 2), largest excess). 0 when D is
// unknown.
func (s shapeInfo) swapsNeeded(maxDegree int) int {
	if maxDegree <= 0 {
		return 0
	}
	sum, top := 0, 0
	for _, d := range s.degree {
		if e := d - maxDegree; e > 0 {
			sum += e
			top = max(top, e)
		}
	}
	return max((sum+1)/2, top)
}

// chainCost returns -ln(ESP) of the best linear chain of k qubits from a
// profile, extrapolated past its end; +Inf when no such chain can be placed,
// NaN when the profile is empty.
//
// Within the profile: the published value. Past its end (k > K): the last
// value continued at the average marginal cost of its upper half,
// c(k) = c(K) + (k - K) * (c(K) - c(h)) / (K - h), h = ceil(K/2).
func chainCost(p []float32, k int) float64 {
	K := len(p)
	if K == 0 {
		return math.NaN()
	}
	cost := func(i int) float64 { // i = chain length, 1..K
		x := float64(p[i-1])
		if x <= 0 {
			return math.Inf(1)
		}
		return -math.Log(min(x, 1))
	}
	if k <= 0 {
		return 0
	}
	if k <= K {
		return cost(k)
	}
	cK := cost(K)
	if math.IsInf(cK, 1) {
		return cK
	}
	h := (K + 1) / 2
	var slope float64
	if K == 1 || h == K {
		slope = cK / float64(K)
	} else {
		ch := cost(h)
		if math.IsInf(ch, 1) {
			return math.Inf(1)
		}
		slope = (cK - ch) / float64(K-h)
	}
	return cK + float64(k-K)*max(slope, 0)
}

// Prediction is the predicted outcome of a request on a candidate.
type Prediction struct {
	// ESP of the best placement when the request is served: now when Now,
	// otherwise on the idle device's quality after the wait.
	ESP float64
	// Now: the device can place the request at once.
	Now bool
	// Wait before the request is served (0 when Now).
	Wait time.Duration
	// Source says what the prediction rests on: "profile", "idle profile"
	// or "medians" (no profile published).
	Source string
}

// Predict predicts the ESP and wait of need on c. defaultTask is the
// assumed duration of a task when c gives no wait estimate (the wait is
// then defaultTask x (1 + queue length)).
//
// ESP: let c(n) = -ln(best linear chain of n qubits) from the profile
// (chainCost), e the 2-qubit error (Quality.Pair, else the median),
// ce = -ln(1 - e), W the 2-qubit gates of the request (edges of a shape,
// summed counts of pairs) and S the SWAPs estimated by swapsNeeded. Then
// -ln ESP = c(n) + (W - (n - 1)) * ce + 3 * S * ce: the chain accounts for
// the readout of n qubits and n - 1 gates on its couplers; every further
// gate costs one typical coupler, every SWAP three. A request with no
// interaction (shape none) costs the chain minus its n - 1 gates, or
// n * -ln(1 - readout) when no chain of n fits but n qubits are free.
func Predict(c Candidate, need Need, defaultTask time.Duration) (Prediction, error) {
	info, err := analyze(need)
	if err != nil {
		return Prediction{}, err
	}
	return predict(&c, &info, defaultTask), nil
}

func predict(c *Candidate, info *shapeInfo, defaultTask time.Duration) Prediction {
	now := shapeESP(c, c.Quality.Linear, info, c.FreeQubits)
	if now.esp > 0 && info.n <= c.FreeQubits {
		return Prediction{ESP: now.esp, Now: true, Source: now.source}
	}
	idleProfile := c.Quality.Idle
	if len(idleProfile) == 0 {
		idleProfile = c.Quality.Linear
	}
	later := shapeESP(c, idleProfile, info, c.Qubits)
	src := later.source
	if src == "profile" {
		src = "idle profile"
	}
	wait := c.ExpectedWait
	if wait <= 0 {
		wait = defaultTask * time.Duration(1+c.QueueLength)
	}
	return Prediction{ESP: later.esp, Wait: wait, Source: src}
}

type estimate struct {
	esp    float64
	source string
}

func shapeESP(c *Candidate, profile []float32, info *shapeInfo, room int) estimate {
	n := info.n
	if n > room {
		return estimate{0, "capacity"}
	}
	e2 := float64(c.Quality.Pair)
	if e2 <= 0 || e2 >= 1 {
		e2 = c.Median2QError
	}
	ro := float64(c.Quality.Readout)
	if ro <= 0 || ro >= 1 {
		ro = c.MedianReadoutError
	}
	chain := chainCost(profile, n)
	src := "profile"
	if math.IsNaN(chain) {
		// No profile: the medians.
		src = "medians"
		if !(e2 > 0 && e2 < 1) || !(ro > 0 && ro < 1) {
			return estimate{0, "nothing published"}
		}
		chain = -float64(n)*math.Log1p(-ro) - float64(n-1)*math.Log1p(-e2)
	}
	var ce float64
	switch {
	case e2 > 0 && e2 < 1:
		ce = -math.Log1p(-e2)
	case len(profile) >= 2:
		// Unknown 2-qubit error: one edge is what a 2-chain costs beyond
		// two single qubits.
		ce = max(chainCost(profile, 2)-2*chainCost(profile, 1), 0)
	}
	if math.IsInf(ce, 0) || math.IsNaN(ce) {
		ce = 0
	}
	if info.none {
		if !math.IsInf(chain, 1) {
			return estimate{math.Exp(-max(chain-float64(n-1)*ce, 0)), src}
		}
		if ro > 0 && ro < 1 {
			return estimate{math.Exp(float64(n) * math.Log1p(-ro)), src}
		}
		return estimate{0, src}
	}
	if math.IsInf(chain, 1) {
		return estimate{0, src}
	}
	cost := chain + float64(info.gates-(n-1))*ce + 3*float64(info.swapsNeeded(c.MaxDegree))*ce
	return estimate{math.Exp(-max(cost, 0)), src}
}
