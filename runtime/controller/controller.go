// Package controller is the heart of rmd: it owns one device's qubits. It
// places requests with the allocation engine, persists every grant to the
// store (synced) before acknowledging it, binds it on the device through the
// HAL, keeps leases, a priority/fair-share queue, reservations and the
// calibration history, and publishes events and metrics.
//
// Concurrency: one mutex (mu) serialises every change of the allocation
// state (occupancy, queue, reservations); placement searches run under it,
// which is what makes "never double-grant" simple to prove. Searches take
// microseconds and synced store writes a few hundred, so the lock is held
// for well under a millisecond per grant.
package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/runtime/alloc"
	"github.com/eigen-os/rm/runtime/config"
	"github.com/eigen-os/rm/runtime/metrics"
	"github.com/eigen-os/rm/runtime/sandbox"
	"github.com/eigen-os/rm/store"
)

// Version of the controller, reported by Status.
var Version = "0.1.0"

// Errors the controller returns; the API maps them to status codes.
var (
	ErrInvalid      = errors.New("invalid request")
	ErrNoFit        = errors.New("cannot fit now")
	ErrWaitExpired  = errors.New("max wait passed")
	ErrFidelity     = errors.New("fidelity floor not reachable")
	ErrNotFound     = errors.New("not found")
	ErrPermission   = errors.New("permission denied")
	ErrOffline      = errors.New("device offline")
	ErrConflict     = errors.New("conflict")
	ErrShuttingDown = errors.New("controller shutting down")
)

// Caller is the authenticated tenant of a call.
type Caller struct {
	Tenant string
	Admin  bool
}

// Controller serves one device.
type Controller struct {
	cfg config.Config
	dev hal.Device
	st  *store.Store
	met *metrics.Metrics
	log *slog.Logger
	now func() time.Time

	gaugesStale bool // utilization gauges need refreshGauges (guarded by mu)
	devID       string
	devType     string
	started     time.Time

	eng  *alloc.Engine
	mods *sandbox.Manager

	mu     sync.Mutex
	occ    *alloc.Occupancy
	allocs map[string]*store.Allocation // active allocations by id
	idem   map[idemKey]string           // (tenant, key) -> allocation id, active and recent
	queue  []*waiter
	resv   map[string]*store.Reservation // not cancelled, not ended
	// exclusiveTasks are the tasks (active or being persisted) that have
	// the device to themselves (temporal isolation).
	exclusiveTasks map[string]bool
	usage          map[string]float64 // tenant -> qubit-seconds granted (fair share)
	closed         bool

	// specNative makes native placements speculate too (tests).
	specNative bool

	// commits writes grants and releases in batches (group commit).
	commits *committer

	onChange atomic.Pointer[func()]
	events   *broadcaster
	evq      chan Event
	evMu     sync.Mutex
	evClosed bool
	evDone   chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
}

type idemKey struct{ tenant, key string }

// Options are the parts of a controller that are not configuration.
type Options struct {
	Device  hal.Device
	Store   *store.Store
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	Now     func() time.Time // default time.Now
	// Modules are the WebAssembly strategy modules (nil: native only).
	Modules *sandbox.Manager
}

// New builds a controller over an open store and a device, rebuilds its
// state from the store and reconciles it with the device, then starts the
// lease reaper, the queue and the calibration watcher.
func New(ctx context.Context, cfg config.Config, o Options) (*Controller, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	m := o.Device.Model()
	c := &Controller{cfg: cfg, dev: o.Device, st: o.Store, met: o.Metrics, log: o.Logger, now: o.Now,
		devID: cfg.Device.ID, devType: cfg.Device.Type, started: o.Now(),
		allocs: map[string]*store.Allocation{}, exclusiveTasks: map[string]bool{}, idem: map[idemKey]string{}, resv: map[string]*store.Reservation{},
		usage: map[string]float64{}, events: newBroadcaster(), stop: make(chan struct{}),
		evq: make(chan Event, 4096), evDone: make(chan struct{})}
	go c.eventWriter()
	ok := false
	defer func() {
		if !ok {
			c.closeEvents()
		}
	}()
	if c.devID == "" {
		c.devID = o.Device.ID()
	}
	if c.devType == "" {
		c.devType = deviceType(m.Vendor)
	}
	eng, err := alloc.NewEngine(m, c.engineOptions())
	if err != nil {
		return nil, fmt.Errorf("allocation engine: %w", err)
	}
	c.eng = eng
	c.mods = o.Modules
	c.occ = alloc.NewOccupancy(m.Topology)
	if err := c.rebuild(ctx); err != nil {
		return nil, err
	}
	c.recordCalibration(m)
	c.updateGauges()
	c.met.OnGather(c.refreshGauges)
	// Subscribe before starting the watcher, then catch up with a
	// calibration that may have landed between loading and subscribing.
	wctx, cancel := context.WithCancel(context.Background())
	events := o.Device.Subscribe(wctx)
	if m2 := o.Device.Model(); m2.Cal.Epoch != m.Cal.Epoch {
		if err := c.eng.SetModel(m2); err != nil {
			cancel()
			return nil, fmt.Errorf("allocation engine: %w", err)
		}
		c.recordCalibration(m2)
	}
	c.commits = newCommitter(c.st, nil)
	c.wg.Add(3)
	go func() { defer c.wg.Done(); <-c.stop; cancel() }()
	go c.reaper()
	go c.watchDevice(wctx, events)
	ok = true
	return c, nil
}

func deviceType(vendor string) string {
	switch vendor {
	case "ibm":
		return "ibm_quantum"
	case "synthetic":
		return "simulator"
	default:
		return vendor
	}
}

func (c *Controller) engineOptions() alloc.Options {
	o := alloc.Options{DefaultBudget: c.cfg.Allocation.SearchNodes, MaxTime: c.cfg.Allocation.SearchDeadline.D(),
		CacheTTL: c.cfg.Allocation.CacheTTL.D()}
	if !c.cfg.Allocation.EnableCaching {
		o.CacheSize = -1
	}
	return o
}

// Close stops the background work. In-flight calls finish first (the API
// server is shut down before Close); waiting requests are refused.
func (c *Controller) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for _, w := range c.queue {
		w.finish(nil, ErrShuttingDown)
	}
	c.queue = nil
	c.mu.Unlock()
	// Writes queued already are flushed; later ones fail with
	// ErrShuttingDown.
	c.commits.close()
	close(c.stop)
	c.wg.Wait()
	c.closeEvents()
	c.events.close()
}

// newID returns a random allocation/reservation id with a readable prefix.
func newID(prefix string) string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// storedRequest is what the store keeps of a request (Allocation.Request),
// enough to rebuild the occupancy with its buffer and to replay a queued
// request after a restart.
type storedRequest struct {
	Buffer    int            `json:"buffer"`
	Exclusive bool           `json:"exclusive,omitempty"`
	Req       *alloc.Request `json:"req,omitempty"`
	TaskID    string         `json:"task_id,omitempty"`
	Dur       time.Duration  `json:"duration,omitempty"`
	Shape     string         `json:"shape,omitempty"`
	MaxWait   time.Duration  `json:"max_wait,omitempty"`
}

func decodeStored(b []byte) storedRequest {
	var s storedRequest
	_ = json.Unmarshal(b, &s) // an old or foreign record: buffer 0
	return s
}

// rebuild loads the active allocations, reservations and queue from the
// store, expires leases that ran out while the controller was down, and
// reconciles the device's bindings with the store (the store wins: it holds
// what was acknowledged).
func (c *Controller) rebuild(ctx context.Context) error {
	active, bad, err := c.st.ActiveAllocations()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, e := range bad {
		c.log.Error("corrupt allocation record skipped", "err", e)
	}
	sort.Slice(active, func(i, j int) bool { return active[i].CreatedAt.Before(active[j].CreatedAt) })
	now := c.now()
	n := c.occ.N()
	for i := range active {
		a := &active[i]
		if !a.LeaseExpires.IsZero() && !now.Before(a.LeaseExpires) {
			if _, err := c.st.ReleaseAllocation(a.ID, now, store.StateExpired); err != nil {
				return fmt.Errorf("expire %s: %w", a.ID, err)
			}
			c.appendEvent("expired", a.ID, fmt.Sprintf("lease ran out while the controller was down (tenant %s)", a.Tenant))
			continue
		}
		sr := decodeStored(a.Request)
		h := alloc.Holding{Task: a.ID, Qubits: a.Qubits, Buffer: sr.Buffer}
		if err := c.occ.Commit(h); err != nil {
			// Two acknowledged allocations overlapping would be a bug; keep the
			// older one and report loudly rather than refuse to start.
			c.log.Error("stored allocation conflicts with an older one; not restored", "id", a.ID, "qubits", a.Qubits, "err", err)
			c.met.IsolationViolations.Inc()
			continue
		}
		for _, q := range a.Qubits {
			if q >= n {
				c.log.Error("stored allocation names a qubit the device lacks", "id", a.ID, "qubit", q)
			}
		}
		c.allocs[a.ID] = a
		if sr.Exclusive {
			c.exclusiveTasks[a.ID] = true
		}
		if a.IdempotencyKey != "" {
			c.idem[idemKey{a.Tenant, a.IdempotencyKey}] = a.ID
		}
	}
	resv, bad, err := c.st.ListReservations(time.Time{})
	if err != nil {
		return fmt.Errorf("store: reservations: %w", err)
	}
	for _, e := range bad {
		c.log.Error("corrupt reservation record skipped", "err", e)
	}
	for i := range resv {
		if r := &resv[i]; !r.Cancelled && (r.End.IsZero() || now.Before(r.End)) {
			c.resv[r.ID] = r
		}
	}
	// Requests that were waiting when the controller stopped: their callers
	// are gone (the connection died with the process), so they are dropped
	// and recorded; a retry with the same key is served fresh.
	queued, _, err := c.st.ListQueue()
	if err != nil {
		return fmt.Errorf("store: queue: %w", err)
	}
	for _, q := range queued {
		_, _ = c.st.Dequeue(q.ID)
		c.appendEvent("dropped", q.ID, "queued request dropped at restart: its caller disconnected")
	}
	return c.reconcile(ctx)
}

// reconcile makes the device hold exactly the active allocations.
func (c *Controller) reconcile(ctx context.Context) error {
	if c.dev.Health() == hal.HealthOffline {
		c.log.Warn("device offline at start: bindings will be reconciled when it returns")
		return nil
	}
	bound, err := c.dev.Bindings(ctx)
	if err != nil {
		return fmt.Errorf("device bindings: %w", err)
	}
	have := map[string]bool{}
	for _, b := range bound {
		if _, ok := c.allocs[b.Owner]; !ok {
			if err := c.dev.Release(ctx, b.Owner); err != nil {
				return fmt.Errorf("release stale binding %s: %w", b.Owner, err)
			}
			c.log.Info("released a device binding with no active allocation", "owner", b.Owner)
			continue
		}
		have[b.Owner] = true
	}
	for id, a := range c.allocs {
		if have[id] {
			continue
		}
		if err := c.dev.Isolate(ctx, id, a.Qubits); err != nil {
			return fmt.Errorf("rebind %s: %w", id, err)
		}
	}
	return nil
}

// Model returns the device model the controller serves now.
func (c *Controller) Model() *hal.Model { return c.dev.Model() }

// DeviceID is the device's id in metrics and the fleet.
func (c *Controller) DeviceID() string { return c.devID }

// DeviceType is the device's type label.
func (c *Controller) DeviceType() string { return c.devType }

// Health is the device's health.
func (c *Controller) Health() hal.Health { return c.dev.Health() }

// Metrics returns the controller's metrics.
func (c *Controller) Metrics() *metrics.Metrics { return c.met }

// updateGauges sets the cheap gauges and marks the utilization gauges
// stale; called with mu held or at start.
func (c *Controller) updateGauges() {
	c.met.ActiveAllocations.Set(float64(len(c.allocs)))
	c.met.QueueLength.Set(float64(len(c.queue)))
	c.gaugesStale = true
}

// refreshGauges computes the utilization gauges, which cost a pass over
// the device, when a scrape asks for them (metrics.OnGather) rather than on
// every grant and release.
func (c *Controller) refreshGauges() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.met.CacheHitRate.Set(c.eng.Stats().HitRate)
	if !c.gaugesStale {
		return
	}
	c.gaugesStale = false
	m := c.dev.Model()
	usable := 0
	for _, q := range m.Cal.Qubits {
		if q.Usable {
			usable++
		}
	}
	used := c.occ.Used()
	util := 0.0
	if usable > 0 {
		util = float64(used) / float64(usable)
	}
	c.met.QubitUtilization.WithLabelValues(c.devID, c.devType).Set(util)
	// Device utilization counts the buffer qubits the allocations keep idle too.
	blocked := c.heldOrBuffered(m)
	dutil := 0.0
	if usable > 0 {
		dutil = min(1, float64(blocked)/float64(usable))
	}
	c.met.DeviceUtilization.WithLabelValues(c.devID, c.devType).Set(dutil)
	inside := 0
	usableC := 0
	for ci, e := range m.Couplers {
		if !m.Cal.Couplers[ci].Usable {
			continue
		}
		usableC++
		oa, okA := c.occ.Owner(e.A)
		ob, okB := c.occ.Owner(e.B)
		if okA && okB && oa == ob {
			inside++
		}
	}
	gutil := 0.0
	if usableC > 0 {
		gutil = float64(inside) / float64(usableC)
	}
	c.met.GateUtilization.WithLabelValues(c.devID, c.devType).Set(gutil)
}

// heldOrBuffered counts the qubits held by tasks or kept idle within their
// isolation buffers (a multi-source breadth-first search bounded by each
// task's buffer).
func (c *Controller) heldOrBuffered(m *hal.Model) int {
	n := m.N()
	left := make([]int, n) // remaining buffer depth reaching each qubit, -1: none
	for i := range left {
		left[i] = -1
	}
	var queue []int
	for _, h := range c.occ.Holdings() {
		for _, q := range h.Qubits {
			if q < n && h.Buffer > left[q] {
				left[q] = h.Buffer
				queue = append(queue, q)
			}
		}
	}
	for i := 0; i < len(queue); i++ {
		u := queue[i]
		if left[u] == 0 {
			continue
		}
		for _, v := range m.Neighbors(u) {
			if left[v] < left[u]-1 {
				left[v] = left[u] - 1
				queue = append(queue, int(v))
			}
		}
	}
	count := 0
	for _, l := range left {
		if l >= 0 {
			count++
		}
	}
	return count
}

// OnChange sets a function called after every grant, release and
// calibration (the fleet node's StateChanged). It must return quickly.
func (c *Controller) OnChange(f func()) { c.onChange.Store(&f) }

func (c *Controller) changed() {
	if f := c.onChange.Load(); f != nil {
		(*f)()
	}
}
