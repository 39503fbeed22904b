package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/runtime/alloc"
	"github.com/eigen-os/rm/runtime/config"
	"github.com/eigen-os/rm/store"
)

// AllocateParams is one allocation request.
type AllocateParams struct {
	TaskID         string
	IdempotencyKey string
	Req            alloc.Request // Buffer < 0: the configuration decides
	Shape          string        // for the record ("linear:5", "graph:12")
	Duration       time.Duration // 0: allocation.default_duration
	Priority       int
	MaxWait        time.Duration // 0: answer now
	// Isolation is the request's isolation level ("none", "spatial",
	// "temporal", "spatial_temporal"); "" keeps the configuration's.
	Isolation string
	// Preferred and Excluded devices of the fleet (for the balancer and
	// for rebalancing a queued request).
	Preferred, Excluded []string
}

// Grant is an allocation with how it was obtained.
type Grant struct {
	Allocation *store.Allocation
	Strategy   string
	Replayed   bool
	QueuedFor  time.Duration
	Buffer     int
	// Remote is set when the grant was made by another device's controller
	// (a queued request moved there by rebalancing): nothing is held here.
	Remote bool

	exclusive bool // the task has the device to itself (temporal isolation)
}

// waiter is a queued request.
type waiter struct {
	id       string
	caller   Caller
	p        AllocateParams
	buffer   int
	enqueued time.Time
	deadline time.Time
	done     chan struct{}
	grant    *Grant
	err      error
}

func (w *waiter) finish(g *Grant, err error) {
	if w.grant != nil || w.err != nil {
		return
	}
	w.grant, w.err = g, err
	close(w.done)
}

// buffer decides the isolation distance of a request: the request's own, or
// the configuration's (larger for high priority under
// strict_isolation_for_high_priority); 0 when spatial isolation is off.
func (c *Controller) buffer(p *AllocateParams) int {
	if spatial, _ := c.isolation(p); !spatial {
		return 0
	}
	d := c.cfg.Isolation.Spatial.MinimumDistance
	if p.Req.Buffer >= 0 {
		d = p.Req.Buffer
	}
	if c.hasPolicy(c.cfg.Policies.IsolationPolicies, "strict_isolation_for_high_priority") &&
		p.Priority >= c.cfg.Policies.HighPriority && c.cfg.Isolation.Spatial.HighPriorityDistance > d {
		d = c.cfg.Isolation.Spatial.HighPriorityDistance
	}
	return d
}

// exclusive reports whether a request is temporally isolated only: with
// spatial isolation off and temporal on (the request's level, or the
// configuration's), the task gets the device to itself for its time slices
// and runs when nothing else does.
func (c *Controller) exclusive(p *AllocateParams) bool {
	spatial, temporal := c.isolation(p)
	return temporal && !spatial
}

// isolation returns the spatial and temporal switches of a request: its
// own level's (validated by allocate), or the configuration's.
func (c *Controller) isolation(p *AllocateParams) (spatial, temporal bool) {
	iso := c.cfg.Isolation
	if p.Isolation != "" {
		cfg := config.Config{Isolation: iso}
		if config.SetIsolationLevel(&cfg, p.Isolation) == nil {
			iso = cfg.Isolation
		}
	}
	return iso.Spatial.Enabled, iso.Temporal.Enabled
}

// exclusiveHolderLocked returns an active (or pending) task that has the
// device to itself, if any.
func (c *Controller) exclusiveHolderLocked() (string, bool) {
	for id := range c.exclusiveTasks {
		return id, true
	}
	return "", false
}

func (c *Controller) hasPolicy(list []string, name string) bool {
	for _, p := range list {
		if p == name {
			return true
		}
	}
	return false
}

// Allocate places a request and persists the grant before returning it.
func (c *Controller) Allocate(ctx context.Context, caller Caller, p AllocateParams) (*Grant, error) {
	start := c.now()
	c.met.AllocationRequests.Inc()
	g, err := c.allocate(ctx, caller, p)
	c.met.AllocationLatency.Observe(c.now().Sub(start).Seconds())
	if err != nil {
		c.met.AllocationFailures.Inc()
		c.met.FailuresByReason.WithLabelValues(failureReason(err)).Inc()
		return nil, err
	}
	if !g.Replayed {
		c.met.AllocationSuccesses.Inc()
	}
	return g, nil
}

func failureReason(err error) string {
	switch {
	case errors.Is(err, ErrInvalid):
		return "invalid"
	case errors.Is(err, ErrNoFit):
		return "no_fit"
	case errors.Is(err, ErrFidelity):
		return "fidelity"
	case errors.Is(err, ErrWaitExpired), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "timeout"
	case errors.Is(err, ErrOffline):
		return "offline"
	default:
		return "internal"
	}
}

func (c *Controller) allocate(ctx context.Context, caller Caller, p AllocateParams) (*Grant, error) {
	m := c.dev.Model()
	if p.Duration < 0 || p.MaxWait < 0 {
		return nil, fmt.Errorf("%w: duration and max_wait must not be negative", ErrInvalid)
	}
	if p.Duration == 0 {
		p.Duration = c.cfg.Allocation.DefaultDuration.D()
	}
	if p.Duration > 30*24*time.Hour {
		return nil, fmt.Errorf("%w: duration %s is longer than 30 days", ErrInvalid, p.Duration)
	}
	if max := c.cfg.Allocation.MaxWaitTime.D(); p.MaxWait > max {
		p.MaxWait = max
	}
	if p.Isolation != "" {
		if err := config.SetIsolationLevel(&config.Config{}, p.Isolation); err != nil {
			return nil, fmt.Errorf("%w: isolation: %v", ErrInvalid, err)
		}
	}
	if len(p.IdempotencyKey) > 256 || len(p.TaskID) > 256 {
		return nil, fmt.Errorf("%w: idempotency_key and task_id are limited to 256 bytes", ErrInvalid)
	}
	buf := c.buffer(&p)
	p.Req.Buffer = buf
	if err := p.Req.Validate(m.N()); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if p.Req.Budget == 0 {
		p.Req.Budget = c.cfg.Allocation.SearchNodes
	}
	if p.Req.FragWeight == 0 {
		p.Req.FragWeight = c.cfg.Allocation.FragmentationWeight
	}

	if g, ok, err := c.replayStored(caller, p.IdempotencyKey); ok || err != nil {
		return g, err
	}
	spec := c.speculate(ctx, caller, &p)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrShuttingDown
	}
	if g, ok, err := c.replayLocked(caller, p.IdempotencyKey); ok || err != nil {
		c.mu.Unlock()
		return g, err
	}
	if c.dev.Health() == hal.HealthOffline {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %s is offline", ErrOffline, c.devID)
	}
	// Waiting requests of higher standing go first: a new request only
	// jumps the queue when nobody of higher or equal rank waits.
	var g *Grant
	var err error
	if !c.queueAheadLocked(caller, p.Priority) {
		var pg *pending
		pg, err = c.placeLocked(ctx, caller, p, buf, nil, spec)
		if err == nil {
			c.mu.Unlock()
			if g, err = c.persist(ctx, pg, false); err != nil {
				return nil, err
			}
			c.afterGrant(ctx, g)
			return g, nil
		}
		if !errors.Is(err, ErrNoFit) || p.MaxWait == 0 {
			c.mu.Unlock()
			return nil, err
		}
	} else if p.MaxWait == 0 {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %d requests of higher or equal priority are waiting", ErrNoFit, len(c.queue))
	}
	if len(c.queue) >= c.cfg.Allocation.MaxQueue {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: the queue is full (%d waiting)", ErrNoFit, len(c.queue))
	}
	w := &waiter{id: newID("q"), caller: caller, p: p, buffer: buf, enqueued: c.now(),
		deadline: c.now().Add(p.MaxWait), done: make(chan struct{})}
	if err := c.persistQueued(w); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	c.queue = append(c.queue, w)
	c.sortQueueLocked()
	c.updateGauges()
	c.mu.Unlock()
	c.appendEvent("queued", w.id, fmt.Sprintf("tenant %s waits up to %s for %d qubits", caller.Tenant, p.MaxWait, p.Req.Qubits))

	timer := time.NewTimer(p.MaxWait)
	defer timer.Stop()
	select {
	case <-w.done:
	case <-timer.C:
	case <-ctx.Done():
	}
	c.mu.Lock()
	c.removeWaiterLocked(w)
	if w.grant == nil && w.err == nil {
		if ctx.Err() != nil {
			w.finish(nil, ctx.Err())
		} else {
			w.finish(nil, fmt.Errorf("%w: waited %s for %d qubits", ErrWaitExpired, p.MaxWait, p.Req.Qubits))
		}
	}
	c.updateGauges()
	c.mu.Unlock()
	if w.grant == nil { // a grant dequeued it in the same transaction
		_, _ = c.st.Dequeue(w.id)
	}
	if w.err != nil {
		return nil, w.err
	}
	c.afterGrant(ctx, w.grant)
	return w.grant, nil
}

func (c *Controller) persistQueued(w *waiter) error {
	req, _ := json.Marshal(storedRequest{Buffer: w.buffer, Req: &w.p.Req, TaskID: w.p.TaskID, Dur: w.p.Duration, Shape: w.p.Shape, MaxWait: w.p.MaxWait})
	_, err := c.st.Enqueue(store.QueuedRequest{ID: w.id, Tenant: w.caller.Tenant, IdempotencyKey: w.p.IdempotencyKey,
		Priority: w.p.Priority, Request: req, EnqueuedAt: w.enqueued, Deadline: w.deadline})
	if err != nil {
		return fmt.Errorf("store: queue: %w", err)
	}
	return nil
}

// replayLocked answers a retry of an acknowledged request.
func (c *Controller) replayLocked(caller Caller, key string) (*Grant, bool, error) {
	if key == "" {
		return nil, false, nil
	}
	if id, ok := c.idem[idemKey{caller.Tenant, key}]; ok {
		if a, ok := c.allocs[id]; ok {
			return &Grant{Allocation: a, Replayed: true, Buffer: decodeStored(a.Request).Buffer}, true, nil
		}
	}
	return nil, false, nil
}

// replayStored answers a retry of a request the store has seen (active,
// released or expired). It runs outside mu: a store read may wait for the
// commit in flight. A grant that lands between this check and the search is
// caught by the store itself, which keeps one allocation per key.
func (c *Controller) replayStored(caller Caller, key string) (*Grant, bool, error) {
	if key == "" {
		return nil, false, nil
	}
	a, err := c.st.FindByIdempotencyKey(caller.Tenant, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: %w", err)
	}
	return &Grant{Allocation: a, Replayed: true, Buffer: decodeStored(a.Request).Buffer}, true, nil
}

// Replay returns the allocation granted earlier here for (tenant, key), if
// any: a retry is answered by the device that first granted it.
func (c *Controller) Replay(caller Caller, key string) (*Grant, bool, error) {
	c.mu.Lock()
	g, ok, err := c.replayLocked(caller, key)
	c.mu.Unlock()
	if ok || err != nil {
		return g, ok, err
	}
	return c.replayStored(caller, key)
}

// reservedLocked lists the qubits a tenant may not use now: those reserved
// for other tenants by reservations active now.
func (c *Controller) reservedLocked(tenant string, now time.Time) []int {
	var out []int
	n := c.occ.N()
	for _, r := range c.resv {
		if r.Tenant == tenant || now.Before(r.Start) || (!r.End.IsZero() && !now.Before(r.End)) {
			continue
		}
		if r.Qubits == nil {
			for q := 0; q < n; q++ {
				out = append(out, q)
			}
			return out
		}
		out = append(out, r.Qubits...)
	}
	return out
}

// pending is a placement held tentatively in the occupancy (so that no
// other search can take its qubits) while its record is written.
type pending struct {
	a         store.Allocation
	buf       int
	strategy  string
	w         *waiter
	exclusive bool
}

// placeLocked searches and validates a placement and holds its qubits
// tentatively. ErrNoFit means "not now". w is the queued request being
// served, if any.
func (c *Controller) placeLocked(ctx context.Context, caller Caller, p AllocateParams, buf int, w *waiter, spec *speculation) (*pending, error) {
	now := c.now()
	excl := c.exclusive(&p)
	if id, busy := c.exclusiveHolderLocked(); busy {
		return nil, fmt.Errorf("%w: the device is time-sliced to task %s (temporal isolation)", ErrNoFit, id)
	}
	if excl && c.occ.Tasks() > 0 {
		return nil, fmt.Errorf("%w: temporal isolation needs the device to itself; %d tasks are running", ErrNoFit, c.occ.Tasks())
	}
	reserved := c.reservedLocked(caller.Tenant, now)
	var res *alloc.Placement
	var err error
	// A speculation is used when it was searched on this very state (its
	// answer, placement or refusal), or when the state changed meanwhile
	// but not under its placement; never across calibration epochs.
	fresh := spec != nil && spec.epoch == c.eng.Model().Cal.Epoch
	use := fresh && spec.hash == c.occ.Hash() && slices.Equal(spec.reserved, reserved)
	validated := false
	if fresh && !use && spec.res != nil {
		use = alloc.Validate(c.dev.Model(), &p.Req, c.occ, reserved, spec.res.Mapping) == nil
		validated = use
	}
	switch {
	case use:
		res, err = spec.res, spec.err
		c.met.DecisionTime.Observe(spec.took.Seconds())
		c.met.Speculation.WithLabelValues("used").Inc()
	default:
		if spec != nil {
			c.met.Speculation.WithLabelValues("searched_again").Inc()
		}
		t0 := time.Now()
		res, err = c.placeWithModules(ctx, &p.Req, c.occ, reserved)
		c.met.DecisionTime.Observe(time.Since(t0).Seconds())
	}
	if err != nil {
		var inf *alloc.InfeasibleError
		switch {
		case errors.Is(err, alloc.ErrBadRequest):
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		case errors.Is(err, alloc.ErrFloor) && errors.As(err, &inf):
			// Noise-aware policy: the calibration may be stale; ask for a new one.
			go func() {
				if err := c.dev.RequestCalibration(context.Background()); err != nil {
					c.log.Warn("calibration request failed", "err", err)
				}
			}()
			return nil, fmt.Errorf("%w: %v (a calibration was requested)", ErrFidelity, err)
		case errors.Is(err, alloc.ErrTooFewQubits), errors.Is(err, alloc.ErrNoRegion):
			return nil, fmt.Errorf("%w: %v", ErrNoFit, err)
		default:
			return nil, err
		}
	}
	// The host validates every placement, whoever proposed it (a
	// speculative one checked on the changed state above is not checked
	// twice).
	if !validated {
		if err := alloc.Validate(c.dev.Model(), &p.Req, c.occ, reserved, res.Mapping); err != nil {
			c.met.IsolationViolations.Inc()
			return nil, fmt.Errorf("placement refused by validation: %w", err)
		}
	}
	qubits := append([]int(nil), res.Mapping...)
	stored, _ := json.Marshal(storedRequest{Buffer: buf, TaskID: p.TaskID, Dur: p.Duration, Shape: p.Shape, Exclusive: excl})
	pg := &pending{buf: buf, strategy: res.Strategy, w: w, exclusive: excl, a: store.Allocation{ID: newID("a"), Device: c.devID,
		Tenant: caller.Tenant, TaskID: p.TaskID, IdempotencyKey: p.IdempotencyKey, Qubits: qubits, Shape: p.Shape,
		Request: stored, ESP: res.ESP, Swaps: res.Swaps, Priority: p.Priority, Epoch: c.dev.Model().Cal.Epoch,
		CreatedAt: now, Duration: p.Duration, LeaseExpires: c.leaseEnd(now, p.Duration), State: store.StateActive}}
	if err := c.occ.Commit(alloc.Holding{Task: pg.a.ID, Qubits: qubits, Buffer: buf}); err != nil {
		return nil, fmt.Errorf("commit: %w", err) // validation passed: a bug
	}
	if excl {
		c.exclusiveTasks[pg.a.ID] = true
	}
	return pg, nil
}

// speculation is a placement searched outside mu, on a snapshot of the
// occupancy, when strategy modules place: concurrent requests then search
// in parallel (a module's search inside WebAssembly takes a millisecond,
// and under mu it would serialise every request), and mu covers only the
// check and the commit. The native engine searches under mu: at tens of
// microseconds a search, the snapshot and the searches made stale by
// concurrent grants cost more than the lock (about 15% of the in-process
// throughput with 8 clients).
//
// placeLocked uses the answer when the calibration, the occupancy and the
// reserved qubits are still those it was searched on, or when its
// placement is still valid on the changed occupancy (another grant or a
// release landed meanwhile, elsewhere on the device); otherwise it
// searches again under mu. A speculative placement is validated like any
// other.
type speculation struct {
	epoch    uint64
	hash     [2]uint64
	reserved []int
	res      *alloc.Placement
	err      error
	took     time.Duration
}

// speculate searches for p on a snapshot of the occupancy, outside mu. It
// returns nil when the request will not be placed directly (shutting down,
// a retry of a known key, the device offline, time-sliced or needed whole,
// others waiting ahead): placeLocked then decides under mu as before.
func (c *Controller) speculate(ctx context.Context, caller Caller, p *AllocateParams) *speculation {
	if !c.specNative && (c.mods == nil || c.mods.Active(abi.KindPlacement) == nil || c.mods.Active(abi.KindScoring) == nil) {
		return nil
	}
	c.mu.Lock()
	skip := c.closed || c.dev.Health() == hal.HealthOffline || c.queueAheadLocked(caller, p.Priority) ||
		c.exclusive(p) || len(c.exclusiveTasks) > 0
	if !skip && p.IdempotencyKey != "" {
		_, skip = c.idem[idemKey{caller.Tenant, p.IdempotencyKey}]
	}
	if skip {
		c.mu.Unlock()
		return nil
	}
	occ := c.occ.Clone()
	reserved := c.reservedLocked(caller.Tenant, c.now())
	epoch := c.eng.Model().Cal.Epoch
	c.mu.Unlock()
	t0 := time.Now()
	res, err := c.placeWithModules(ctx, &p.Req, occ, reserved)
	if err != nil && !errors.Is(err, alloc.ErrNoRegion) && !errors.Is(err, alloc.ErrTooFewQubits) && !errors.Is(err, alloc.ErrFloor) {
		return nil // bad request, cancelled, ...: placeLocked reports it
	}
	return &speculation{epoch: epoch, hash: occ.Hash(), reserved: reserved, res: res, err: err, took: time.Since(t0)}
}

// persist writes a pending placement's record (synced) and makes it an
// active allocation; on failure, or when the store already holds an
// allocation for the idempotency key (a concurrent retry won), the
// tentative hold is undone. The write goes through the committer, so that
// concurrent grants and releases share one synced transaction (group
// commit); without locked, persist waits for it outside mu. With locked
// (a queued request granted while mu is held) the wait is safe too: the
// committer never takes mu.
func (c *Controller) persist(ctx context.Context, pg *pending, locked bool) (*Grant, error) {
	w0 := time.Now()
	wr := store.CreateWrite(pg.a)
	if pg.w != nil {
		wr = store.GrantQueuedWrite(pg.w.id, pg.a)
	}
	res := c.commits.write(wr)
	existing, err := res.Existing, res.Err
	c.met.StoreWriteLatency.Observe(time.Since(w0).Seconds())
	if !locked {
		c.mu.Lock()
		defer c.mu.Unlock()
	}
	if err != nil || existing != nil {
		c.occ.Release(pg.a.ID)
		delete(c.exclusiveTasks, pg.a.ID)
		if !locked {
			c.drainQueueLocked(ctx)
		}
		if errors.Is(err, ErrShuttingDown) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		return &Grant{Allocation: existing, Replayed: true, Buffer: decodeStored(existing.Request).Buffer}, nil
	}
	a := &pg.a
	c.allocs[a.ID] = a
	if a.IdempotencyKey != "" {
		c.idem[idemKey{a.Tenant, a.IdempotencyKey}] = a.ID
	}
	c.usage[a.Tenant] += float64(len(a.Qubits)) * a.Duration.Seconds()
	c.updateGauges()
	c.met.IsolationOverhead.Observe(float64(c.bufferQubits(a.Qubits, pg.buf)))
	g := &Grant{Allocation: a, Strategy: pg.strategy, Buffer: pg.buf, exclusive: c.exclusiveTasks[a.ID]}
	if pg.w != nil {
		g.QueuedFor = a.CreatedAt.Sub(pg.w.enqueued)
	}
	return g, nil
}

// leaseEnd rounds the task's end up to a whole time slice (temporal
// isolation) and adds the grace.
func (c *Controller) leaseEnd(now time.Time, d time.Duration) time.Time {
	if c.cfg.Isolation.Temporal.Enabled {
		slice := c.cfg.Isolation.Temporal.TimeSliceDuration.D()
		if slice > 0 {
			d = (d + slice - 1) / slice * slice
		}
	}
	return now.Add(d + c.cfg.Allocation.LeaseGrace.D())
}

// bufferQubits counts the free qubits kept idle around a placement.
func (c *Controller) bufferQubits(qubits []int, d int) int {
	if d == 0 {
		return 0
	}
	m := c.dev.Model()
	seen := map[int]bool{}
	for _, q := range qubits {
		row := m.DistRow(q)
		for v, dist := range row {
			if int(dist) <= d && dist > 0 {
				if _, held := c.occ.Owner(v); !held {
					seen[v] = true
				}
			}
		}
	}
	return len(seen)
}

// afterGrant binds the qubits on the device and announces the grant. A
// failure to bind is logged: the allocation is durable, and the next
// reconciliation (or the device's return) binds it.
func (c *Controller) afterGrant(ctx context.Context, g *Grant) {
	if g.Replayed || g.Remote {
		return
	}
	a := g.Allocation
	if err := c.dev.Isolate(ctx, a.ID, a.Qubits); err != nil {
		c.log.Warn("binding on the device failed; will reconcile", "id", a.ID, "err", err)
	}
	// The device's calendar: the task's qubits (all of them when it has
	// the device to itself) from now to the end of its lease.
	slot := hal.TimeSlot{Owner: a.ID, Qubits: a.Qubits, Start: a.CreatedAt, End: a.LeaseExpires}
	if g.exclusive {
		slot.Qubits = nil
	}
	if err := c.dev.ReserveSlot(ctx, slot); err != nil {
		c.log.Warn("device time slot reservation failed", "id", a.ID, "err", err)
	}
	c.changed()
	c.appendEvent("allocated", a.ID, fmt.Sprintf("tenant %s: qubits %v, esp %.4f", a.Tenant, a.Qubits, a.ESP))
}

// queueAheadLocked reports whether a waiting request ranks at least as high
// as a new one (so the new one must queue behind it).
func (c *Controller) queueAheadLocked(caller Caller, priority int) bool {
	for _, w := range c.queue {
		if w.p.Priority >= priority {
			return true
		}
	}
	return false
}

// sortQueueLocked orders the queue: priority (priority_based), then the
// tenant's usage in qubit-seconds (fair_share), then arrival.
func (c *Controller) sortQueueLocked() {
	byPrio := c.hasPolicy(c.cfg.Policies.AllocationPolicies, "priority_based")
	fair := c.hasPolicy(c.cfg.Policies.AllocationPolicies, "fair_share")
	sort.SliceStable(c.queue, func(i, j int) bool {
		a, b := c.queue[i], c.queue[j]
		if byPrio && a.p.Priority != b.p.Priority {
			return a.p.Priority > b.p.Priority
		}
		if fair {
			ua, ub := c.usage[a.caller.Tenant], c.usage[b.caller.Tenant]
			if ua != ub {
				return ua < ub
			}
		}
		return a.enqueued.Before(b.enqueued)
	})
}

func (c *Controller) removeWaiterLocked(w *waiter) {
	for i, x := range c.queue {
		if x == w {
			c.queue = append(c.queue[:i], c.queue[i+1:]...)
			return
		}
	}
}

// drainQueueLocked tries to place waiting requests after capacity changed,
// in queue order; a request that does not fit yet does not block smaller
// ones behind it (backfilling). Each waiter's own goroutine binds and
// announces its grant.
func (c *Controller) drainQueueLocked(ctx context.Context) {
	c.sortQueueLocked()
	for i := 0; i < len(c.queue); {
		w := c.queue[i]
		var g *Grant
		pg, err := c.placeLocked(ctx, w.caller, w.p, w.buffer, w, nil)
		if errors.Is(err, ErrNoFit) {
			i++
			continue
		}
		if err == nil {
			g, err = c.persist(ctx, pg, true)
		}
		c.queue = append(c.queue[:i], c.queue[i+1:]...)
		w.finish(g, err)
	}
}

// Release frees an allocation. Idempotent: releasing a released or expired
// allocation returns it with releasedNow false.
func (c *Controller) Release(ctx context.Context, caller Caller, id string) (*store.Allocation, bool, error) {
	c.mu.Lock()
	a, ok := c.allocs[id]
	if !ok {
		c.mu.Unlock()
		old, err := c.st.GetAllocation(id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, false, fmt.Errorf("%w: allocation %q", ErrNotFound, id)
		}
		if err != nil {
			return nil, false, fmt.Errorf("store: %w", err)
		}
		if !caller.Admin && old.Tenant != caller.Tenant {
			return nil, false, fmt.Errorf("%w: allocation %q", ErrNotFound, id)
		}
		return old, false, nil
	}
	if !caller.Admin && a.Tenant != caller.Tenant {
		c.mu.Unlock()
		// Another tenant's allocation is indistinguishable from none.
		return nil, false, fmt.Errorf("%w: allocation %q", ErrNotFound, id)
	}
	c.mu.Unlock()
	// The synced write runs outside the lock, through the committer (group
	// commit with concurrent grants and releases); the qubits stay held
	// until it is durable.
	res := c.commits.write(store.ReleaseWrite(id, c.now(), store.StateReleased))
	rel, err := res.Released, res.Err
	if errors.Is(err, ErrShuttingDown) {
		return nil, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: %w", err)
	}
	c.mu.Lock()
	_, still := c.allocs[id]
	if still {
		c.forgetLocked(ctx, id)
	}
	c.mu.Unlock()
	if !still || rel.State != store.StateReleased { // a concurrent release or expiry won
		return rel, false, nil
	}
	c.met.Releases.Inc()
	c.afterRelease(ctx, rel, "released", "by "+caller.Tenant)
	return rel, true, nil
}

// finishLocked records the end of an allocation and frees its qubits, then
// lets waiting requests in.
func (c *Controller) finishLocked(ctx context.Context, a *store.Allocation, state string) (*store.Allocation, error) {
	rel, err := c.st.ReleaseAllocation(a.ID, c.now(), state)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	c.forgetLocked(ctx, a.ID)
	return rel, nil
}

// forgetLocked drops an ended allocation from memory, frees its qubits and
// lets waiting requests in.
func (c *Controller) forgetLocked(ctx context.Context, id string) {
	// Unbind on the device before the qubits are free in memory, so that a
	// new grant never finds them still bound to the old owner.
	if err := c.dev.Release(ctx, id); err != nil {
		c.log.Warn("device release failed; will reconcile", "id", id, "err", err)
	}
	if a, ok := c.allocs[id]; ok && a.IdempotencyKey != "" {
		delete(c.idem, idemKey{a.Tenant, a.IdempotencyKey}) // the store answers later retries
	}
	delete(c.allocs, id)
	delete(c.exclusiveTasks, id)
	c.occ.Release(id)
	c.drainQueueLocked(ctx)
	c.updateGauges()
}

func (c *Controller) afterRelease(ctx context.Context, a *store.Allocation, kind, why string) {
	c.changed()
	c.appendEvent(kind, a.ID, fmt.Sprintf("tenant %s: qubits %v %s", a.Tenant, a.Qubits, why))
}

// Get returns an allocation the caller may see.
func (c *Controller) Get(caller Caller, id string) (*store.Allocation, error) {
	c.mu.Lock()
	a, ok := c.allocs[id]
	c.mu.Unlock()
	if !ok {
		var err error
		a, err = c.st.GetAllocation(id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: allocation %q", ErrNotFound, id)
		}
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	if !caller.Admin && a.Tenant != caller.Tenant {
		return nil, fmt.Errorf("%w: allocation %q", ErrNotFound, id)
	}
	return a, nil
}

// List returns allocations: the caller's own, or (admin) a tenant's or all
// ("*"). inactive includes released and expired ones.
func (c *Controller) List(caller Caller, tenant string, inactive bool) ([]*store.Allocation, error) {
	if tenant == "" {
		tenant = caller.Tenant
	}
	if tenant != caller.Tenant && !caller.Admin {
		return nil, fmt.Errorf("%w: listing tenant %q needs the admin role", ErrPermission, tenant)
	}
	var out []*store.Allocation
	if !inactive {
		c.mu.Lock()
		for _, a := range c.allocs {
			if tenant == "*" || a.Tenant == tenant {
				out = append(out, a)
			}
		}
		c.mu.Unlock()
	} else {
		f := store.AllocationFilter{}
		if tenant != "*" {
			f.Tenant = tenant
		}
		all, bad, err := c.st.ListAllocations(f)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		for _, e := range bad {
			c.log.Error("corrupt allocation record skipped", "err", e)
		}
		for i := range all {
			out = append(out, &all[i])
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// RenewLease extends an active allocation's lease.
func (c *Controller) RenewLease(caller Caller, id string, by time.Duration) (*store.Allocation, error) {
	if by <= 0 || by > 30*24*time.Hour {
		return nil, fmt.Errorf("%w: extend_by must be in (0, 30d]", ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.allocs[id]
	if !ok || (!caller.Admin && a.Tenant != caller.Tenant) {
		return nil, fmt.Errorf("%w: active allocation %q", ErrNotFound, id)
	}
	base := c.now()
	if a.LeaseExpires.After(base) {
		base = a.LeaseExpires
	}
	b, err := c.st.RenewAllocation(id, base.Add(by))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	c.allocs[id] = b
	return b, nil
}

// reaper expires leases and waiting requests whose deadline passed.
func (c *Controller) reaper() {
	defer c.wg.Done()
	tick := time.NewTicker(c.reapInterval())
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
			c.expireLeases()
		}
	}
}

func (c *Controller) reapInterval() time.Duration {
	d := c.cfg.Isolation.Temporal.TimeSliceDuration.D()
	return min(max(d, 50*time.Millisecond), time.Second)
}

func (c *Controller) expireLeases() {
	now := c.now()
	var expired []*store.Allocation
	c.mu.Lock()
	for _, a := range c.allocs {
		if !a.LeaseExpires.IsZero() && !now.Before(a.LeaseExpires) {
			expired = append(expired, a)
		}
	}
	sort.Slice(expired, func(i, j int) bool { return expired[i].ID < expired[j].ID })
	var done []*store.Allocation
	for _, a := range expired {
		rel, err := c.finishLocked(context.Background(), a, store.StateExpired)
		if err != nil {
			c.log.Error("lease expiry failed", "id", a.ID, "err", err)
			continue
		}
		done = append(done, rel)
	}
	// Reservations that ended free their qubits for everyone.
	changed := false
	for id, r := range c.resv {
		if !r.End.IsZero() && !now.Before(r.End) {
			delete(c.resv, id)
			changed = true
		}
	}
	if changed || len(c.queue) > 0 {
		c.drainQueueLocked(context.Background())
	}
	c.updateGauges()
	c.mu.Unlock()
	for _, a := range done {
		c.met.LeaseExpiries.Inc()
		c.afterRelease(context.Background(), a, "expired", "(lease expired)")
	}
}
