package sandbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/modules/bridge"
	"github.com/eigen-os/rm/runtime/alloc"
)

// Module is one loaded module version: a pool of up to Config.PoolSize
// instances, each serving one call at a time. It is safe for concurrent
// use. Close it when done (a Manager closes the versions it replaces once
// their calls in flight have finished).
type Module struct {
	host    *Host
	name    string
	version int
	label   string // name@version
	c       *Compiled
	metered bool // counted in metrics and reported in events (not a conformance run)
	mm      *moduleMetrics
	health  health

	mu     sync.RWMutex // held for reading by every call; Close takes it for writing
	closed bool

	slots chan struct{}  // one token per live instance
	idle  chan *instance // instances ready for a call
	ninst atomic.Int32   // live instances
	calls atomic.Uint64  // successful calls
	fails atomic.Uint64  // failed calls
	last  atomic.Pointer[CallError]
}

// instance is one instantiation of a module and its per-call scratch.
type instance struct {
	mod       api.Module
	mem       api.Memory
	fnAlloc   api.Function
	fnLoad    api.Function
	fnCall    api.Function
	out       *tail
	viewTopo  *hal.Topology
	viewEpoch uint64
	loaded    bool
	bufPtr    uint32
	bufCap    uint32
	stack     [2]uint64
	in        []byte
	req       abi.Request
	cands     abi.Candidates
	scores    []abi.Score
}

func (h *Host) newModule(name string, version int, c *Compiled, metered bool) *Module {
	m := &Module{host: h, name: name, version: version, label: fmt.Sprintf("%s@%d", name, version), c: c,
		slots: make(chan struct{}, h.cfg.PoolSize), idle: make(chan *instance, h.cfg.PoolSize)}
	m.health.policy = h.cfg.Quarantine
	m.metered = metered
	if metered {
		m.mm = h.cfg.Metrics.forModule(name, version, c.Kind.String())
	}
	return m
}

// Name is the module's name.
func (m *Module) Name() string { return m.name }

// Version is the module's version.
func (m *Module) Version() int { return m.version }

// Kind is what the module does.
func (m *Module) Kind() abi.Kind { return m.c.Kind }

// SHA256 is the hex digest of the module's binary.
func (m *Module) SHA256() string { return m.c.SHA256 }

// Size is the size of the module's binary in bytes.
func (m *Module) Size() int { return m.c.Size }

// String is "name@version".
func (m *Module) String() string { return m.label }

// ModuleStats are a loaded module version's counters.
type ModuleStats struct {
	Calls     uint64     `json:"calls"`
	Failures  uint64     `json:"failures"`
	Instances int        `json:"instances"`
	LastError string     `json:"last_error,omitempty"`
	Until     *time.Time `json:"quarantined_until,omitempty"`
}

// Stats returns the module's counters.
func (m *Module) Stats() ModuleStats {
	s := ModuleStats{Calls: m.calls.Load(), Failures: m.fails.Load(), Instances: int(m.ninst.Load())}
	if e := m.last.Load(); e != nil {
		s.LastError = e.Error()
	}
	if u := m.health.quarantinedUntil(m.host.cfg.Now()); !u.IsZero() {
		s.Until = &u
	}
	return s
}

// Close closes every instance and the compiled code. It waits for the calls
// in flight; calls made afterwards fail with ErrClosed.
func (m *Module) Close(ctx context.Context) error {
	if !m.closeInstances(ctx) {
		return nil
	}
	if m.mm != nil {
		m.mm.forget()
	}
	return m.c.Close(ctx)
}

// closeInstances marks the module closed and closes its instances, after
// the calls in flight; it reports whether it was open.
func (m *Module) closeInstances(ctx context.Context) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.closed = true
	for {
		select {
		case inst := <-m.idle:
			inst.mod.Close(ctx)
			m.ninst.Add(-1)
			continue
		default:
		}
		return true
	}
}

// enter admits a call: not quarantined, not closed. On success the caller
// holds m.mu for reading and must call m.mu.RUnlock.
func (m *Module) enter(op string) error {
	if until, ok := m.health.admit(m.host.cfg.Now()); !ok {
		if m.mm != nil {
			m.mm.failures["quarantined"].Inc()
		}
		return &CallError{Module: m.name, Version: m.version, Kind: m.c.Kind, Op: op, Cause: ErrQuarantined,
			Detail: "until " + until.UTC().Format(time.RFC3339)}
	}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return fmt.Errorf("module %s: %w", m, ErrClosed)
	}
	return nil
}

// Warm instantiates the module up to its pool size and loads the device
// view of model into every instance, so that the first calls do not pay
// for it.
func (m *Module) Warm(ctx context.Context, model *hal.Model) error {
	if err := m.enter("warm"); err != nil {
		return err
	}
	defer m.mu.RUnlock()
	view := m.host.views.get(model)
	var got []*instance
	defer func() {
		for _, inst := range got {
			m.idle <- inst
		}
	}()
	for i := 0; i < cap(m.slots); i++ {
		inst, err := m.acquire(ctx, view)
		if err != nil {
			return err
		}
		got = append(got, inst)
	}
	return nil
}

// acquire takes an idle instance, or makes one when the pool is not full,
// or waits for one; it loads view into it when needed.
func (m *Module) acquire(ctx context.Context, view *deviceView) (*instance, error) {
	var inst *instance
	select {
	case inst = <-m.idle:
	default:
		select {
		case inst = <-m.idle:
		case m.slots <- struct{}{}:
			var err error
			if inst, err = m.instantiate(ctx); err != nil {
				<-m.slots
				return nil, err
			}
			m.ninst.Add(1)
			if m.mm != nil {
				m.mm.inst.Set(float64(m.ninst.Load()))
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("module %s: waiting for an instance: %w", m, ctx.Err())
		}
	}
	if !inst.loaded || inst.viewTopo != view.topo || inst.viewEpoch != view.epoch {
		if err := m.loadView(ctx, inst, view); err != nil {
			return nil, err
		}
	}
	return inst, nil
}

func (m *Module) release(inst *instance) { m.idle <- inst }

// discard closes a failed instance and frees its slot.
func (m *Module) discard(inst *instance) {
	inst.mod.Close(context.Background())
	<-m.slots
	m.ninst.Add(-1)
	if m.mm != nil {
		m.mm.inst.Set(float64(m.ninst.Load()))
	}
}

func (m *Module) instantiate(ctx context.Context) (*instance, error) {
	h := m.host
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.LoadTimeout)
	defer cancel()
	out := newTail()
	mod, err := h.rt.InstantiateModule(lctx, m.c.mod, h.moduleConfig(m.c, out))
	if err != nil {
		cause := ErrTrap
		switch {
		case strings.Contains(out.String(), "out of memory"):
			cause = ErrMemory
		case errors.Is(err, context.DeadlineExceeded):
			cause = ErrTimeout
		}
		return nil, m.failed(nil, "instantiate", cause, err.Error(), out.String())
	}
	inst := &instance{mod: mod, mem: mod.ExportedMemory(abi.ExportMemory), out: out,
		fnAlloc: mod.ExportedFunction(abi.ExportAlloc), fnLoad: mod.ExportedFunction(abi.ExportLoadDevice),
		fnCall: mod.ExportedFunction(m.c.Kind.CallExport())}
	if inst.mem == nil || inst.fnAlloc == nil || inst.fnLoad == nil || inst.fnCall == nil {
		mod.Close(ctx)
		return nil, m.failed(nil, "instantiate", ErrTrap, "an ABI export is missing from the instance", "")
	}
	return inst, nil
}

// classify says why a guest call failed.
func (m *Module) classify(inst *instance, err error) error {
	pages := uint64(inst.mem.Size()) / 65536
	if pages+16 >= uint64(m.host.cfg.MemoryPages) || strings.Contains(inst.out.String(), "out of memory") {
		return ErrMemory
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrTimeout
	}
	return ErrTrap
}

// failed records a failure: the instance (if any) is discarded, the failure
// counted and reported, and the module quarantined when the policy says so.
func (m *Module) failed(inst *instance, op string, cause error, detail, stderr string) error {
	if inst != nil {
		m.discard(inst)
	}
	ce := &CallError{Module: m.name, Version: m.version, Kind: m.c.Kind, Op: op, Cause: cause, Detail: detail, Stderr: stderr}
	m.fails.Add(1)
	m.last.Store(ce)
	if m.mm != nil {
		m.mm.failures[causeLabel(cause)].Inc()
	}
	h := m.host
	now := h.cfg.Now()
	if !m.metered {
		return ce
	}
	h.emit(Event{Time: now, Kind: EventFailure, Module: m.name, Version: m.version, ModuleKind: m.c.Kind, Err: ce})
	if until, q := m.health.fail(now); q {
		if m.mm != nil {
			g := m.mm.quarant
			g.Set(1)
			time.AfterFunc(until.Sub(now), func() { g.Set(0) })
		}
		h.emit(Event{Time: now, Kind: EventQuarantined, Module: m.name, Version: m.version, ModuleKind: m.c.Kind,
			Until: until, Err: ce, Detail: fmt.Sprintf("%d failures within %v", h.cfg.Quarantine.Failures, h.cfg.Quarantine.Window)})
	}
	return ce
}

// guestCall calls fn(ptr, n) with the deadline of ctx, classifying a
// failure. On failure the instance is discarded.
func (m *Module) guestCall(ctx context.Context, inst *instance, op string, fn api.Function, a, b uint32) (uint64, error) {
	inst.stack[0], inst.stack[1] = uint64(a), uint64(b)
	if err := fn.CallWithStack(ctx, inst.stack[:]); err != nil {
		if errors.Is(err, context.Canceled) {
			// The caller gave up (the host's own deadlines cancel nothing
			// before the call returns): not the module's failure.
			m.discard(inst)
			return 0, fmt.Errorf("module %s: %s: %w by the caller", m, op, context.Canceled)
		}
		return 0, m.failed(inst, op, m.classify(inst, err), err.Error(), inst.out.String())
	}
	return inst.stack[0], nil
}

// buffer returns the address of a buffer of n bytes in the guest, calling
// rm_alloc only when the last one is too small.
func (m *Module) buffer(ctx context.Context, inst *instance, op string, n int) (uint32, error) {
	if uint32(n) <= inst.bufCap && inst.bufCap > 0 {
		return inst.bufPtr, nil
	}
	r, err := m.guestCall(ctx, inst, op, inst.fnAlloc, uint32(n), 0)
	if err != nil {
		return 0, err
	}
	ptr := uint32(r)
	if ptr == 0 || uint64(ptr)+uint64(n) > uint64(inst.mem.Size()) {
		return 0, m.failed(inst, op, ErrInvalidAnswer, fmt.Sprintf("rm_alloc(%d) returned address %d, outside the guest's %d bytes of memory",
			n, ptr, inst.mem.Size()), inst.out.String())
	}
	inst.bufPtr, inst.bufCap = ptr, uint32(n)
	return ptr, nil
}

// loadView loads a device view into an instance (under the load deadline).
func (m *Module) loadView(ctx context.Context, inst *instance, view *deviceView) error {
	const op = "load device"
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.host.cfg.LoadTimeout)
	defer cancel()
	inst.out.Reset()
	inst.loaded = false
	ptr, err := m.buffer(lctx, inst, op, len(view.bytes))
	if err != nil {
		return err
	}
	inst.mem.Write(ptr, view.bytes)
	r, err := m.guestCall(lctx, inst, op, inst.fnLoad, ptr, uint32(len(view.bytes)))
	if err != nil {
		return err
	}
	if m.mm != nil {
		m.mm.loads.Inc()
	}
	if s := abi.Status(int32(uint32(r))); s != abi.StatusOK {
		return m.failed(inst, op, ErrInvalidAnswer, fmt.Sprintf("rm_load_device of epoch %d returned status %d (%s)",
			view.epoch, int32(s), s), inst.out.String())
	}
	inst.viewTopo, inst.viewEpoch, inst.loaded = view.topo, view.epoch, true
	return nil
}

// invoke writes input into the instance and calls the module's call export
// under the call deadline; it returns the answer, a view of guest memory
// valid until the next call on the instance.
func (m *Module) invoke(ctx context.Context, inst *instance, op string, input []byte) ([]byte, error) {
	h := m.host
	cctx, cancel := context.WithTimeout(ctx, h.cfg.CallTimeout)
	defer cancel()
	inst.out.Reset()
	ptr, err := m.buffer(cctx, inst, op, len(input))
	if err != nil {
		return nil, err
	}
	inst.mem.Write(ptr, input)
	r, err := m.guestCall(cctx, inst, op, inst.fnCall, ptr, uint32(len(input)))
	if err != nil {
		return nil, err
	}
	aptr, alen, st := abi.UnpackResult(int64(r))
	if st != abi.StatusOK {
		return nil, m.failed(inst, op, ErrInvalidAnswer, fmt.Sprintf("the guest reported status %d (%s)", int32(st), st), inst.out.String())
	}
	if int64(alen) > int64(h.cfg.MaxAnswerBytes) {
		return nil, m.failed(inst, op, ErrInvalidAnswer, fmt.Sprintf("answer of %d bytes exceeds the limit of %d", alen, h.cfg.MaxAnswerBytes), "")
	}
	b, ok := inst.mem.Read(aptr, alen)
	if !ok {
		return nil, m.failed(inst, op, ErrInvalidAnswer, fmt.Sprintf("answer at [%d, %d) is outside the guest's %d bytes of memory",
			aptr, uint64(aptr)+uint64(alen), inst.mem.Size()), "")
	}
	return b, nil
}

// Candidate is a placement proposed by a module and checked by the host.
type Candidate struct {
	// Mapping[i] is the device qubit of logical qubit i.
	Mapping []int
	// Cost is the module's estimate of -ln(ESP) (NaN: none given).
	Cost float64
	// Routed is the module's word that the placement needs SWAPs.
	Routed bool
}

// Place asks a placement module for candidates for req on the device model,
// given the occupancy (nil: empty) and the qubits reserved away from req.
// Every candidate returned has passed alloc.Validate; an answer with any
// invalid candidate fails as a whole (ErrInvalidAnswer). A request that
// alloc.Request.Validate refuses is returned as that error, without calling
// the module.
func (m *Module) Place(ctx context.Context, model *hal.Model, req *alloc.Request, occ *alloc.Occupancy, reserved []int) ([]Candidate, error) {
	const op = "place"
	if m.c.Kind != abi.KindPlacement {
		return nil, fmt.Errorf("module %s is a %s module: it does not place", m, m.c.Kind)
	}
	if err := req.Validate(model.N()); err != nil {
		return nil, err
	}
	if err := m.enter(op); err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	start := time.Now()
	h := m.host
	inst, view, aocc, err := m.prepare(ctx, model, req, occ, reserved, h.cfg.MaxCandidates)
	if err != nil {
		return nil, err
	}
	inst.in = abi.AppendCall(inst.in[:0], view.n, &inst.req, aocc, nil)
	answer, err := m.invoke(ctx, inst, op, inst.in)
	if err != nil {
		return nil, err
	}
	if err := abi.DecodeCandidates(answer, req.Qubits, h.cfg.MaxCandidates, view.n, &inst.cands); err != nil {
		return nil, m.failed(inst, op, ErrInvalidAnswer, err.Error(), "")
	}
	out := make([]Candidate, inst.cands.Len())
	for i := range out {
		mp := inst.cands.AppendMapping(make([]int, 0, req.Qubits), i)
		if err := alloc.Validate(model, req, occ, reserved, mp); err != nil {
			return nil, m.failed(inst, op, ErrInvalidAnswer, fmt.Sprintf("candidate %d %v: %v", i, mp, err), "")
		}
		out[i] = Candidate{Mapping: mp, Cost: inst.cands.Cost(i), Routed: inst.cands.Routed(i)}
	}
	m.release(inst)
	m.done(start)
	return out, nil
}

// Score asks a scoring module to score placements of req (each a mapping
// of req.Qubits device qubits) on the device model, given the occupancy
// and the reserved qubits. The scores are checked: one per placement, ESP
// in [0, 1], fragmentation finite and >= 0. Mappings of the wrong length
// or naming qubits outside the device are the caller's error (nothing is
// called).
func (m *Module) Score(ctx context.Context, model *hal.Model, req *alloc.Request, occ *alloc.Occupancy, reserved []int, mappings [][]int) ([]abi.Score, error) {
	const op = "score"
	if m.c.Kind != abi.KindScoring {
		return nil, fmt.Errorf("module %s is a %s module: it does not score", m, m.c.Kind)
	}
	if err := req.Validate(model.N()); err != nil {
		return nil, err
	}
	if len(mappings) > abi.MaxCandidates {
		return nil, fmt.Errorf("score: %d placements, at most %d per call", len(mappings), abi.MaxCandidates)
	}
	for i, mp := range mappings {
		if len(mp) != req.Qubits {
			return nil, fmt.Errorf("score: placement %d has %d qubits, the request %d", i, len(mp), req.Qubits)
		}
		for j, q := range mp {
			if q < 0 || q >= model.N() {
				return nil, fmt.Errorf("score: placement %d maps logical %d to qubit %d, outside 0..%d", i, j, q, model.N()-1)
			}
		}
	}
	if err := m.enter(op); err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	start := time.Now()
	inst, view, aocc, err := m.prepare(ctx, model, req, occ, reserved, 0)
	if err != nil {
		return nil, err
	}
	inst.cands.Reset(req.Qubits, len(mappings))
	for _, mp := range mappings {
		inst.cands.Add(mp, 0, false)
	}
	inst.in = abi.AppendCall(inst.in[:0], view.n, &inst.req, aocc, &inst.cands)
	answer, err := m.invoke(ctx, inst, op, inst.in)
	if err != nil {
		return nil, err
	}
	inst.scores, err = abi.DecodeScores(answer, len(mappings), inst.scores)
	if err != nil {
		return nil, m.failed(inst, op, ErrInvalidAnswer, err.Error(), "")
	}
	out := append([]abi.Score(nil), inst.scores...)
	m.release(inst)
	m.done(start)
	return out, nil
}

// prepare takes an instance for a call on model (its device view loaded)
// with the request in its ABI form, and the occupancy's ABI form. The
// caller has entered the module (enter) and stays in it until the call is
// done.
func (m *Module) prepare(ctx context.Context, model *hal.Model, req *alloc.Request, occ *alloc.Occupancy, reserved []int, maxCandidates int) (*instance, *deviceView, *abi.Occupancy, error) {
	h := m.host
	view := h.views.get(model)
	aocc := h.occs.get(model, occ, reserved, req.Buffer)
	inst, err := m.acquire(ctx, view)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := bridge.FillRequest(&inst.req, req, view.epoch, maxCandidates); err != nil {
		m.release(inst)
		return nil, nil, nil, err
	}
	return inst, view, aocc, nil
}

func (m *Module) done(start time.Time) {
	m.calls.Add(1)
	if m.mm != nil {
		m.mm.calls.Inc()
		m.mm.latency.Observe(time.Since(start).Seconds())
	}
}
