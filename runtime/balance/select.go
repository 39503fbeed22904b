package balance

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/eigen-os/rm/runtime/config"
)

// Algorithms (load_balancing.algorithm).
const (
	// WeightedRoundRobin spreads requests over the devices in proportion
	// to the weight of their type (smooth weighted round robin: over any
	// run of requests each device's share matches its weight).
	WeightedRoundRobin = "weighted_round_robin"
	// LeastLoaded picks the device whose load after placing the request is
	// lowest.
	LeastLoaded = "least_loaded"
	// BestFidelity picks the device with the highest predicted ESP.
	BestFidelity = "best_fidelity"
	// FidelityWait trades fidelity against waiting: it maximises
	// ESP x exp(-wait / WaitScale).
	FidelityWait = "fidelity_wait"
)

// Policy configures selection and rebalancing.
type Policy struct {
	// Algorithm is one of the constants above (default
	// weighted_round_robin).
	Algorithm string
	// Weights per device type (load_balancing.weights). A device whose
	// type has no weight gets DefaultWeight; when that is 0, the smallest
	// configured weight (1 when none is configured). Weight 0 makes a
	// device a last resort for weighted_round_robin.
	Weights       map[string]float64
	DefaultWeight float64
	// AvoidOverloaded (policies.balancing_policies: avoid_overloaded_devices)
	// excludes devices whose utilization is above HighUtilization
	// (monitoring.alerting.high_utilization_threshold, default 0.85).
	AvoidOverloaded bool
	HighUtilization float64
	// ImbalanceThreshold (load_balancing.imbalance_threshold, default 0.2):
	// PlanRebalance moves tasks only above it.
	ImbalanceThreshold float64
	// WaitScale is the wait that costs fidelity_wait a factor e (default
	// 60 s): one minute of waiting is worth as much as ESP x 0.37.
	WaitScale time.Duration
	// DefaultTaskDuration is the assumed task duration when a device gives
	// no wait estimate (default 60 s).
	DefaultTaskDuration time.Duration
	// Local is this controller's device: preferred on ties (it saves a
	// forward).
	Local string
	// MaxMoves bounds the moves of one rebalance plan (default 16).
	MaxMoves int
}

// PolicyFromConfig builds a policy from the controller's configuration.
func PolicyFromConfig(c config.Config, localDevice string) Policy {
	p := Policy{Algorithm: c.LoadBalancing.Algorithm, Weights: c.LoadBalancing.Weights,
		HighUtilization: c.Monitoring.Alerting.HighUtilizationThreshold, ImbalanceThreshold: c.LoadBalancing.ImbalanceThreshold,
		DefaultTaskDuration: c.Allocation.DefaultDuration.D(), Local: localDevice}
	p.AvoidOverloaded = slices.Contains(c.Policies.BalancingPolicies, "avoid_overloaded_devices")
	return p
}

func (p Policy) withDefaults() (Policy, error) {
	if p.Algorithm == "" {
		p.Algorithm = WeightedRoundRobin
	}
	switch p.Algorithm {
	case WeightedRoundRobin, LeastLoaded, BestFidelity, FidelityWait:
	default:
		return p, fmt.Errorf("balance policy: algorithm %q is not one of %s, %s, %s, %s", p.Algorithm,
			WeightedRoundRobin, LeastLoaded, BestFidelity, FidelityWait)
	}
	for k, w := range p.Weights {
		if math.IsNaN(w) || w < 0 || math.IsInf(w, 0) {
			return p, fmt.Errorf("balance policy: weights.%s: %v must be a finite number >= 0", k, w)
		}
	}
	if p.DefaultWeight < 0 || math.IsNaN(p.DefaultWeight) {
		return p, fmt.Errorf("balance policy: default weight %v must be >= 0", p.DefaultWeight)
	}
	if p.DefaultWeight == 0 {
		p.DefaultWeight = 1
		first := true
		for _, w := range p.Weights {
			if w > 0 && (first || w < p.DefaultWeight) {
				p.DefaultWeight, first = w, false
			}
		}
	}
	if p.HighUtilization == 0 {
		p.HighUtilization = 0.85
	}
	if p.HighUtilization < 0 || p.HighUtilization > 1 {
		return p, fmt.Errorf("balance policy: high utilization threshold %v is out of range (0, 1]", p.HighUtilization)
	}
	if p.ImbalanceThreshold == 0 {
		p.ImbalanceThreshold = 0.2
	}
	if p.ImbalanceThreshold < 0 || p.ImbalanceThreshold > 1 {
		return p, fmt.Errorf("balance policy: imbalance threshold %v is out of range [0, 1]", p.ImbalanceThreshold)
	}
	if p.WaitScale <= 0 {
		p.WaitScale = time.Minute
	}
	if p.DefaultTaskDuration <= 0 {
		p.DefaultTaskDuration = time.Minute
	}
	if p.MaxMoves <= 0 {
		p.MaxMoves = 16
	}
	return p, nil
}

func (p Policy) weight(typ string) float64 {
	if w, ok := p.Weights[typ]; ok {
		return w
	}
	return p.DefaultWeight
}

// ErrNoCandidate is wrapped by NoCandidateError.
var ErrNoCandidate = errors.New("no eligible device")

// NoCandidateError says why each device was not eligible.
type NoCandidateError struct {
	Reasons map[string]string // device -> reason
}

func (e *NoCandidateError) Error() string {
	if len(e.Reasons) == 0 {
		return "no eligible device: the fleet is empty"
	}
	devs := make([]string, 0, len(e.Reasons))
	for d := range e.Reasons {
		devs = append(devs, d)
	}
	sort.Strings(devs)
	var b strings.Builder
	b.WriteString("no eligible device:")
	for i, d := range devs {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s: %s", d, e.Reasons[d])
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrNoCandidate) true.
func (e *NoCandidateError) Unwrap() error { return ErrNoCandidate }

// skip records why a device is not eligible; it is formatted only when the
// selection fails.
type skip struct {
	device string
	kind   int
	x, y   float64
	s      string
}

const (
	skipNone = iota
	skipExcluded
	skipOffline
	skipUnhealthy
	skipDraining
	skipSize
	skipOverloaded
	skipShape
	skipWait
)

func (k skip) String() string {
	switch k.kind {
	case skipExcluded:
		return "excluded by the request"
	case skipOffline:
		return "offline"
	case skipUnhealthy:
		return "device health offline"
	case skipDraining:
		return "draining"
	case skipSize:
		return fmt.Sprintf("needs %d qubits, has %d usable", int(k.x), int(k.y))
	case skipOverloaded:
		return fmt.Sprintf("overloaded: utilization %.2f > %.2f", k.x, k.y)
	case skipShape:
		return fmt.Sprintf("cannot place %d qubits as %s", int(k.x), k.s)
	case skipWait:
		return fmt.Sprintf("expected wait %v exceeds max wait %v", time.Duration(k.x*1e9), time.Duration(k.y*1e9))
	}
	return "eligible"
}

// Ranked is one eligible device with what decided its rank.
type Ranked struct {
	Device     string
	Prediction Prediction
	Load       float64 // Candidate.Load now
	LoadAfter  float64 // demand after placing the request (may exceed 1)
	Weight     float64
	Preferred  bool
	BelowFloor bool    // predicted ESP below the request's floor: tried last
	Score      float64 // the algorithm's score (higher is better)

	tier     int  // 0 preferred, 1 others; +2 below the floor
	rotating bool // weighted_round_robin: in this step's rotation
}

// Balancer selects devices under a policy. It keeps the state of weighted
// round robin; it is safe for concurrent use.
type Balancer struct {
	p       Policy
	mu      sync.Mutex
	current map[string]float64 // smooth weighted round robin
}

// New returns a balancer, or an error naming the bad policy field.
func New(p Policy) (*Balancer, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Balancer{p: p, current: map[string]float64{}}, nil
}

// Policy returns the policy with its defaults.
func (b *Balancer) Policy() Policy { return b.p }

// Select returns a one-shot selection: like (*Balancer).Select on a fresh
// balancer (for weighted_round_robin, the first step of the rotation: the
// heaviest device first).
func Select(need Need, cands []Candidate, p Policy) ([]string, error) {
	b, err := New(p)
	if err != nil {
		return nil, err
	}
	return b.Select(need, cands)
}

// Select returns the eligible devices in order of preference (first =
// best). Excluded, offline, draining and too small devices, devices that
// cannot place the shape, whose expected wait exceeds the request's max wait
// or (with AvoidOverloaded) whose utilization is above HighUtilization are
// left out; when none is left the error is a *NoCandidateError that says
// why for each device. Preferred devices come first, devices predicted
// below the floor last.
func (b *Balancer) Select(need Need, cands []Candidate) ([]string, error) {
	r, err := b.Rank(need, cands)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(r))
	for i, x := range r {
		out[i] = x.Device
	}
	return out, nil
}

// Rank is Select with the figures behind the order.
func (b *Balancer) Rank(need Need, cands []Candidate) ([]Ranked, error) {
	info, err := analyze(need)
	if err != nil {
		return nil, err
	}
	p := b.p
	excluded := make(map[string]bool, len(need.Excluded))
	for _, d := range need.Excluded {
		excluded[d] = true
	}
	preferred := make(map[string]bool, len(need.Preferred))
	for _, d := range need.Preferred {
		preferred[d] = true
	}
	var skipped []skip // formatted only when nothing is eligible
	out := make([]Ranked, 0, len(cands))
	for i := range cands {
		c := &cands[i]
		why := skip{device: c.Device}
		var pred Prediction
		switch {
		case excluded[c.Device]:
			why.kind = skipExcluded
		case !c.Online:
			why.kind = skipOffline
		case c.Health == "offline":
			why.kind = skipUnhealthy
		case c.Draining:
			why.kind = skipDraining
		case need.Qubits > c.Qubits:
			why.kind, why.x, why.y = skipSize, float64(need.Qubits), float64(c.Qubits)
		case p.AvoidOverloaded && c.Utilization > p.HighUtilization:
			why.kind, why.x, why.y = skipOverloaded, c.Utilization, p.HighUtilization
		default:
			pred = predict(c, &info, p.DefaultTaskDuration)
			switch {
			case pred.ESP <= 0:
				why.kind, why.x, why.s = skipShape, float64(need.Qubits), info.name+" ("+pred.Source+")"
			case need.MaxWait > 0 && pred.Wait > need.MaxWait:
				why.kind, why.x, why.y = skipWait, pred.Wait.Seconds(), need.MaxWait.Seconds()
			}
		}
		if why.kind != 0 {
			skipped = append(skipped, why)
			continue
		}
		r := Ranked{Device: c.Device, Prediction: pred, Load: c.Load(), Weight: p.weight(c.Type),
			Preferred: preferred[c.Device], BelowFloor: need.Floor > 0 && pred.ESP < need.Floor}
		r.LoadAfter = c.demand() + float64(need.Qubits)/float64(c.Qubits)
		r.tier = 1
		if r.Preferred {
			r.tier = 0
		}
		if r.BelowFloor {
			r.tier += 2
		}
		switch p.Algorithm {
		case LeastLoaded:
			r.Score = -r.LoadAfter
		case BestFidelity:
			r.Score = pred.ESP
		case FidelityWait:
			r.Score = math.Log(pred.ESP) - pred.Wait.Seconds()/p.WaitScale.Seconds()
		case WeightedRoundRobin:
			r.Score = r.Weight
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		reasons := make(map[string]string, len(skipped))
		for _, k := range skipped {
			reasons[k.device] = k.String()
		}
		return nil, &NoCandidateError{Reasons: reasons}
	}
	less := func(x, y *Ranked) int {
		if x.tier != y.tier {
			return x.tier - y.tier
		}
		if x.rotating != y.rotating {
			if x.rotating {
				return -1
			}
			return 1
		}
		if x.Score != y.Score && (math.IsInf(x.Score, 0) || math.IsInf(y.Score, 0) ||
			math.Abs(x.Score-y.Score) > 1e-12*max(math.Abs(x.Score), math.Abs(y.Score), 1)) {
			if x.Score > y.Score {
				return -1
			}
			return 1
		}
		// Ties: the less loaded, then this controller's own device, then
		// by name.
		if x.LoadAfter != y.LoadAfter {
			if x.LoadAfter < y.LoadAfter {
				return -1
			}
			return 1
		}
		if (x.Device == p.Local) != (y.Device == p.Local) {
			if x.Device == p.Local {
				return -1
			}
			return 1
		}
		return strings.Compare(x.Device, y.Device)
	}
	if p.Algorithm == WeightedRoundRobin {
		b.rotate(out)
	}
	// Sort pointers: a Ranked is too large to swap around.
	ptrs := make([]*Ranked, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	slices.SortStableFunc(ptrs, less)
	sorted := make([]Ranked, len(out))
	for i, r := range ptrs {
		sorted[i] = *r
	}
	return sorted, nil
}

// rotate runs one step of smooth weighted round robin over the best tier's
// devices of positive weight, and sets their scores so that the chosen one
// sorts first and the others follow by their current weight. Devices out of
// the rotation keep their weight as score and sort after it.
func (b *Balancer) rotate(rs []Ranked) {
	best := math.MaxInt
	for _, r := range rs {
		best = min(best, r.tier)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	total := 0.0
	pick := -1
	for i := range rs {
		r := &rs[i]
		if r.tier != best || r.Weight <= 0 {
			continue
		}
		r.rotating = true
		total += r.Weight
		b.current[r.Device] += r.Weight
		if pick < 0 || b.current[r.Device] > b.current[rs[pick].Device] ||
			(b.current[r.Device] == b.current[rs[pick].Device] && r.Device < rs[pick].Device) {
			pick = i
		}
	}
	if pick < 0 {
		return
	}
	b.current[rs[pick].Device] -= total
	for i := range rs {
		if rs[i].rotating {
			rs[i].Score = b.current[rs[i].Device]
		}
	}
	rs[pick].Score = math.Inf(1)
}
