package balance

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"
)

// Imbalance scores the spread of loads: max - min over the loads, each
// clamped to [0, 1], so the score is in [0, 1] (0: even, 1: one device full
// while another is idle). It reads directly against
// load_balancing.imbalance_threshold: 0.2 means "20 points of utilization
// apart". (The range is used rather than the coefficient of variation,
// which is unbounded and unstable near an idle fleet.) NaNs are ignored;
// fewer than two loads score 0.
func Imbalance(loads []float64) float64 {
	lo, hi, n := math.Inf(1), math.Inf(-1), 0
	for _, l := range loads {
		if math.IsNaN(l) {
			continue
		}
		l = min(max(l, 0), 1)
		lo, hi, n = min(lo, l), max(hi, l), n+1
	}
	if n < 2 {
		return 0
	}
	return hi - lo
}

// Task is a task queued (or running) on a device, for rebalancing.
type Task struct {
	ID     string
	Device string // where it is now
	Need   Need   // what it needs of a new device (its constraints apply)
	// Running tasks hold qubits and are never moved.
	Running bool
	// Tenant and Key identify the request for forwarding (idempotent).
	Tenant, Key string
	// Queued is how long the task has waited.
	Queued time.Duration
}

// Move is one task to move.
type Move struct {
	TaskID, From, To string
	Tenant, Key      string
	Qubits           int
	// ESP is the predicted ESP on the new device.
	ESP float64
	// LoadFrom and LoadTo are the loads (unclamped demand) after the move.
	LoadFrom, LoadTo float64
}

// Plan is the outcome of PlanRebalance.
type Plan struct {
	// Imbalance before, and After the moves (projected); Threshold the
	// policy's.
	Imbalance, After, Threshold float64
	Moves                       []Move
	// Note says why there is nothing to do, when there is not.
	Note string
}

// PlanRebalance plans moves of queued tasks (never running ones) from the
// most loaded devices to less loaded ones, when the imbalance of the online
// devices is above the policy's threshold.
//
// Greedy, at most Policy.MaxMoves moves, each task at most once: take the
// most loaded device that has a movable task, its largest task that some
// other device can place now (eligible as for Select, with free qubits for
// it), and move it to the device that is least loaded after the move, if
// that load stays below the source's load (so every move lowers the pair's
// maximum and nothing oscillates). Stop when the imbalance is at or below
// the threshold or no move helps. Loads are demands:
// (held + queued qubits) / capacity.
func PlanRebalance(cands []Candidate, tasks []Task, p Policy) (Plan, error) {
	p, err := p.withDefaults()
	if err != nil {
		return Plan{}, err
	}
	type dev struct {
		c      Candidate
		demand float64 // qubits held + queued
		free   int
	}
	devs := map[string]*dev{}
	var names []string
	for _, c := range cands {
		if !c.Online || c.Qubits <= 0 {
			continue
		}
		devs[c.Device] = &dev{c: c, demand: c.Utilization*float64(c.Qubits) + float64(c.QueuedQubits), free: c.FreeQubits}
		names = append(names, c.Device)
	}
	sort.Strings(names)
	load := func(d *dev) float64 { return d.demand / float64(d.c.Qubits) }
	imbalance := func() float64 {
		ls := make([]float64, 0, len(devs))
		for _, d := range devs {
			ls = append(ls, load(d))
		}
		return Imbalance(ls)
	}
	plan := Plan{Imbalance: imbalance(), Threshold: p.ImbalanceThreshold}
	plan.After = plan.Imbalance
	if len(devs) < 2 {
		plan.Note = "fewer than two online devices"
		return plan, nil
	}
	if plan.Imbalance <= p.ImbalanceThreshold {
		plan.Note = fmt.Sprintf("imbalance %.3f is within the threshold %.3f", plan.Imbalance, p.ImbalanceThreshold)
		return plan, nil
	}
	movable := map[string][]Task{}
	for _, t := range tasks {
		if t.Running || devs[t.Device] == nil || t.Need.Qubits < 1 {
			continue
		}
		movable[t.Device] = append(movable[t.Device], t)
	}
	for _, ts := range movable {
		sort.SliceStable(ts, func(i, j int) bool {
			if ts[i].Need.Qubits != ts[j].Need.Qubits {
				return ts[i].Need.Qubits > ts[j].Need.Qubits
			}
			return ts[i].ID < ts[j].ID
		})
	}
	if len(movable) == 0 {
		plan.Note = "no queued task on an online device"
		return plan, nil
	}
	for len(plan.Moves) < p.MaxMoves && imbalance() > p.ImbalanceThreshold {
		// Sources, most loaded first.
		var srcs []string
		for d, ts := range movable {
			if len(ts) > 0 {
				srcs = append(srcs, d)
			}
		}
		sort.Slice(srcs, func(i, j int) bool {
			li, lj := load(devs[srcs[i]]), load(devs[srcs[j]])
			if li != lj {
				return li > lj
			}
			return srcs[i] < srcs[j]
		})
		moved := false
		for _, s := range srcs {
			src := devs[s]
			for ti, t := range movable[s] {
				info, err := analyze(t.Need)
				if err != nil {
					continue
				}
				n := t.Need.Qubits
				srcAfter := (src.demand - float64(n)) / float64(src.c.Qubits)
				var best *dev
				var bestPred Prediction
				bestLoad := math.Inf(1)
				for _, name := range names {
					d := devs[name]
					if d == src || !eligibleTarget(d.c, t.Need, p) || d.free < n {
						continue
					}
					c := d.c
					c.FreeQubits = d.free
					pred := predict(&c, &info, p.DefaultTaskDuration)
					if !pred.Now || pred.ESP <= 0 || (t.Need.Floor > 0 && pred.ESP < t.Need.Floor) {
						continue
					}
					after := (d.demand + float64(n)) / float64(c.Qubits)
					if p.AvoidOverloaded && after > p.HighUtilization {
						continue
					}
					if after < bestLoad {
						best, bestPred, bestLoad = d, pred, after
					}
				}
				if best == nil || bestLoad >= load(src) {
					continue
				}
				src.demand -= float64(n)
				best.demand += float64(n)
				best.free -= n
				plan.Moves = append(plan.Moves, Move{TaskID: t.ID, From: s, To: best.c.Device, Tenant: t.Tenant, Key: t.Key,
					Qubits: n, ESP: bestPred.ESP, LoadFrom: srcAfter, LoadTo: bestLoad})
				movable[s] = append(movable[s][:ti:ti], movable[s][ti+1:]...)
				moved = true
				break
			}
			if moved {
				break
			}
		}
		if !moved {
			break
		}
	}
	plan.After = imbalance()
	if len(plan.Moves) == 0 {
		plan.Note = "no queued task fits on a less loaded device"
	}
	return plan, nil
}

// eligibleTarget applies Select's device filters to a move's target.
func eligibleTarget(c Candidate, need Need, p Policy) bool {
	for _, d := range need.Excluded {
		if d == c.Device {
			return false
		}
	}
	return c.Online && c.Health != "offline" && !c.Draining && need.Qubits <= c.Qubits &&
		!(p.AvoidOverloaded && c.Utilization > p.HighUtilization)
}

// Rebalancer runs PlanRebalance every Interval (load_balancing.
// rebalance_interval) and carries out the moves. The controller provides
// the data and the move; a move forwards the task to its new device and, on
// a grant, drops it from the local queue (only the owner of a device changes
// its state).
type Rebalancer struct {
	Interval time.Duration
	Policy   Policy
	// Snapshot returns the fleet's candidates and this controller's
	// tasks.
	Snapshot func() ([]Candidate, []Task)
	// Execute carries out one move.
	Execute func(ctx context.Context, m Move) error
	// Report, when set, gets every plan with the error of each move (nil
	// when it succeeded), in the plan's order.
	Report func(p Plan, errs []error)
}

// Run plans and executes until ctx ends.
func (r *Rebalancer) Run(ctx context.Context) error {
	if r.Interval <= 0 || r.Snapshot == nil || r.Execute == nil {
		return fmt.Errorf("balance: Rebalancer needs Interval > 0, Snapshot and Execute")
	}
	if _, err := r.Policy.withDefaults(); err != nil {
		return err
	}
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			r.Once(ctx)
		}
	}
}

// Once plans and executes one round, and returns the plan.
func (r *Rebalancer) Once(ctx context.Context) Plan {
	cands, tasks := r.Snapshot()
	plan, err := PlanRebalance(cands, tasks, r.Policy)
	if err != nil {
		plan.Note = err.Error()
	}
	errs := make([]error, len(plan.Moves))
	for i, m := range plan.Moves {
		if ctx.Err() != nil {
			errs[i] = ctx.Err()
			continue
		}
		errs[i] = r.Execute(ctx, m)
	}
	if r.Report != nil {
		r.Report(plan, errs)
	}
	return plan
}
