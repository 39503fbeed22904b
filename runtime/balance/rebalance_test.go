package balance

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func loaded(dev string, qubits int, util float64, queued int) Candidate {
	c := cand(dev, "simulator", qubits, util)
	c.QueuedQubits = queued
	return c
}

func TestPlanRebalanceMovesQueuedTasks(t *testing.T) {
	cands := []Candidate{loaded("hot", 20, 1, 12), loaded("cold", 40, 0.1, 0), loaded("warm", 40, 0.5, 0)}
	tasks := []Task{
		{ID: "run1", Device: "hot", Need: Need{Qubits: 10}, Running: true},
		{ID: "run2", Device: "hot", Need: Need{Qubits: 10}, Running: true},
		{ID: "q1", Device: "hot", Need: Need{Qubits: 4}, Tenant: "t", Key: "k1"},
		{ID: "q2", Device: "hot", Need: Need{Qubits: 6}, Tenant: "t", Key: "k2"},
		{ID: "q3", Device: "hot", Need: Need{Qubits: 2, Excluded: []string{"cold"}}, Tenant: "t", Key: "k3"},
	}
	plan, err := PlanRebalance(cands, tasks, Policy{ImbalanceThreshold: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plan: imbalance %.3f -> %.3f, moves %+v", plan.Imbalance, plan.After, plan.Moves)
	if plan.Imbalance != 0.9 {
		t.Errorf("imbalance before = %v, want 0.9 (hot clamped at 1, cold 0.1)", plan.Imbalance)
	}
	if len(plan.Moves) == 0 {
		t.Fatal("no moves")
	}
	for _, m := range plan.Moves {
		if m.TaskID == "run1" || m.TaskID == "run2" {
			t.Errorf("moved a running task: %+v", m)
		}
		if m.TaskID == "q3" && m.To == "cold" {
			t.Errorf("moved q3 to a device it excludes: %+v", m)
		}
		if m.From != "hot" || m.Tenant != "t" || m.Key == "" {
			t.Errorf("move %+v", m)
		}
	}
	if plan.Moves[0].TaskID != "q2" || plan.Moves[0].To != "cold" {
		t.Errorf("first move %+v, want the largest queued task q2 to cold", plan.Moves[0])
	}
	if plan.After > plan.Imbalance || plan.After > 0.9 {
		t.Errorf("imbalance after %v", plan.After)
	}

	// Within the threshold: nothing to do.
	even := []Candidate{loaded("a", 20, 0.5, 0), loaded("b", 20, 0.6, 2)}
	plan, _ = PlanRebalance(even, []Task{{ID: "x", Device: "b", Need: Need{Qubits: 2}}}, Policy{ImbalanceThreshold: 0.2})
	if len(plan.Moves) != 0 || plan.Note == "" {
		t.Errorf("balanced fleet: %+v", plan)
	}
	// Only running tasks: nothing can move.
	plan, _ = PlanRebalance(cands, tasks[:2], Policy{})
	if len(plan.Moves) != 0 {
		t.Errorf("running tasks only: %+v", plan)
	}
	// A move never inverts the order: a task too large to help stays.
	pair := []Candidate{loaded("p", 10, 0.5, 3), loaded("q", 10, 0.2, 0)}
	plan, _ = PlanRebalance(pair, []Task{{ID: "big", Device: "p", Need: Need{Qubits: 6}}}, Policy{ImbalanceThreshold: 0.1})
	if len(plan.Moves) != 0 {
		t.Errorf("a move that makes q the hot one: %+v", plan.Moves)
	}
	// avoid_overloaded_devices: no move pushes a target past the threshold.
	plan, _ = PlanRebalance([]Candidate{loaded("h", 20, 1, 10), loaded("c", 10, 0.7, 0)},
		[]Task{{ID: "m", Device: "h", Need: Need{Qubits: 2}}}, Policy{AvoidOverloaded: true, HighUtilization: 0.85})
	if len(plan.Moves) != 0 {
		t.Errorf("moved onto an overloaded target: %+v", plan.Moves)
	}
}

// The plan converges: repeated moves bring the imbalance within the
// threshold when the tasks allow it, within MaxMoves.
func TestPlanRebalanceConverges(t *testing.T) {
	cands := []Candidate{loaded("a", 50, 0.4, 40), loaded("b", 50, 0.1, 0), loaded("c", 50, 0.2, 0), loaded("d", 100, 0.3, 0)}
	var tasks []Task
	for i := 0; i < 20; i++ {
		tasks = append(tasks, Task{ID: fmt.Sprintf("t%02d", i), Device: "a", Need: Need{Qubits: 2}, Tenant: "x", Key: fmt.Sprint(i)})
	}
	plan, err := PlanRebalance(cands, tasks, Policy{ImbalanceThreshold: 0.2, MaxMoves: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("imbalance %.3f -> %.3f in %d moves", plan.Imbalance, plan.After, len(plan.Moves))
	if plan.After > 0.2 {
		t.Errorf("after %d moves the imbalance is %.3f, want <= 0.2", len(plan.Moves), plan.After)
	}
	seen := map[string]bool{}
	for _, m := range plan.Moves {
		if seen[m.TaskID] {
			t.Errorf("task %s moved twice", m.TaskID)
		}
		seen[m.TaskID] = true
	}
	if _, err := PlanRebalance(cands, tasks, Policy{ImbalanceThreshold: 2}); err == nil {
		t.Error("threshold 2 accepted")
	}
}

func TestRebalancerOnce(t *testing.T) {
	cands := []Candidate{loaded("me", 20, 1, 6), loaded("peer", 20, 0, 0)}
	tasks := []Task{{ID: "a", Device: "me", Need: Need{Qubits: 3}}, {ID: "b", Device: "me", Need: Need{Qubits: 3}}}
	var executed []string
	var reported []error
	r := &Rebalancer{Interval: time.Hour, Policy: Policy{ImbalanceThreshold: 0.2},
		Snapshot: func() ([]Candidate, []Task) { return cands, tasks },
		Execute: func(_ context.Context, m Move) error {
			executed = append(executed, m.TaskID+"->"+m.To)
			if m.TaskID == "b" {
				return errors.New("peer refused")
			}
			return nil
		},
		Report: func(_ Plan, errs []error) { reported = errs }}
	plan := r.Once(context.Background())
	if len(plan.Moves) != 2 || len(executed) != 2 || executed[0] != "a->peer" {
		t.Fatalf("plan %+v executed %v", plan, executed)
	}
	if len(reported) != 2 || reported[0] != nil || reported[1] == nil {
		t.Errorf("reported errors %v", reported)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Run on a cancelled context: %v", err)
	}
	if err := (&Rebalancer{}).Run(ctx); err == nil {
		t.Error("an empty Rebalancer ran")
	}
}
