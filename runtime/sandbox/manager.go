package sandbox

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/runtime/alloc"
	"github.com/eigen-os/rm/store"
)

// ModuleStore persists module versions and which one of each name is
// active. *store.Store implements it.
type ModuleStore interface {
	// PutModule stores a new version; store.ErrExists when it is stored.
	PutModule(m store.Module) error
	// GetModule returns a version with its binary; store.ErrNotFound.
	GetModule(name string, version int) (*store.Module, error)
	// ListModules returns every version's metadata (Wasm nil).
	ListModules() (good []store.Module, bad []error, err error)
	// SetModuleState changes a version's State.
	SetModuleState(name string, version int, state string) (*store.Module, error)
	// SetActiveModule makes version the active version of name.
	SetActiveModule(name string, version int) error
	// ClearActiveModule leaves name without an active version.
	ClearActiveModule(name string) error
	// ActiveModules returns the active version of every name that has one.
	ActiveModules() (active map[string]int, bad []error, err error)
}

// Module states the Manager writes to the store.
const (
	// StateVerified: pushed, passed every check.
	StateVerified = "verified"
	// StateRolledBack: an operator rolled back from this version; Rollback
	// does not return to it.
	StateRolledBack = "rolled_back"
)

// Limits and defaults of ManagerConfig.
const (
	// DefaultMaxModuleSize bounds a module binary by default (16 MiB; a Go
	// guest is 2 to 4 MiB).
	DefaultMaxModuleSize = 16 << 20
	// DefaultShadowQueue is how many shadow jobs may wait by default.
	DefaultShadowQueue = 64
)

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	// MaxModuleSize bounds a module binary (default DefaultMaxModuleSize).
	MaxModuleSize int
	// TrustedKeys, when not empty, make signatures mandatory: a module must
	// be signed by one of them (at push and at every load).
	TrustedKeys []ed25519.PublicKey
	// Problems are the golden problems of the conformance run at push (nil:
	// DefaultProblems).
	Problems []Problem
	// ShadowQueue is how many shadow jobs may wait (default
	// DefaultShadowQueue); more are dropped and counted.
	ShadowQueue int
}

// namePattern is what a module name may be: it becomes a file name, a
// store key and a metrics label.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Info describes a stored module version.
type Info struct {
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	Kind      abi.Kind  `json:"kind"`
	SHA256    string    `json:"sha256"`
	Size      int64     `json:"size"`
	State     string    `json:"state"`
	Signed    bool      `json:"signed"`
	CreatedAt time.Time `json:"created_at"`
	// Active and Shadow say whether the version serves or shadows its kind.
	Active bool `json:"active"`
	Shadow bool `json:"shadow"`
	// Stats are the loaded version's counters (active or shadow only).
	Stats *ModuleStats `json:"stats,omitempty"`
	// Existing is set by Push when the binary was already stored under the
	// name (nothing new was stored).
	Existing bool `json:"existing,omitempty"`
}

func infoOf(m *store.Module) Info {
	k, _ := abi.ParseKind(m.Kind)
	return Info{Name: m.Name, Version: m.Version, Kind: k, SHA256: m.SHA256, Size: m.Size, State: m.State,
		Signed: len(m.Signature) > 0, CreatedAt: m.CreatedAt}
}

// kinds are the slots of the Manager.
var kinds = []abi.Kind{abi.KindPlacement, abi.KindScoring}

func slot(k abi.Kind) int {
	if k == abi.KindScoring {
		return 1
	}
	return 0
}

// Manager keeps the versions of named modules and which ones serve: at
// most one active module of each kind, optionally one in shadow beside
// it. Activation is an atomic swap: calls in flight finish on the version
// they started with, which is closed when they are done. It is safe for
// concurrent use; management operations are serialized.
type Manager struct {
	host     *Host
	store    ModuleStore
	cfg      ManagerConfig
	problems []Problem

	mu      sync.Mutex // serializes management
	active  [2]atomic.Pointer[Module]
	shadow  [2]atomic.Pointer[Module]
	history map[string][]int // versions active before, per name (this process)
	watched map[string]fileState

	lastModel atomic.Pointer[hal.Model]
	shadowQ   chan shadowJob
	stop      chan struct{}
	done      sync.WaitGroup
	closed    atomic.Bool
}

// NewManager returns a manager over the store and loads the active version
// of each kind from it. A stored version that cannot be loaded (corrupt,
// no longer signed by a trusted key, refused by this host) is reported
// (EventLoadFailed) and left inactive: its kind falls back to the built-in
// strategy.
func NewManager(ctx context.Context, host *Host, st ModuleStore, cfg ManagerConfig) (*Manager, error) {
	if cfg.MaxModuleSize == 0 {
		cfg.MaxModuleSize = DefaultMaxModuleSize
	}
	if cfg.MaxModuleSize < 8 {
		return nil, fmt.Errorf("sandbox: max module size %d: too small", cfg.MaxModuleSize)
	}
	if cfg.ShadowQueue == 0 {
		cfg.ShadowQueue = DefaultShadowQueue
	}
	if cfg.ShadowQueue < 1 {
		return nil, fmt.Errorf("sandbox: shadow queue %d: want at least 1", cfg.ShadowQueue)
	}
	m := &Manager{host: host, store: st, cfg: cfg, problems: cfg.Problems, history: map[string][]int{},
		watched: map[string]fileState{}, shadowQ: make(chan shadowJob, cfg.ShadowQueue), stop: make(chan struct{})}
	if m.problems == nil {
		p, err := DefaultProblems()
		if err != nil {
			return nil, fmt.Errorf("sandbox: golden problems: %w", err)
		}
		m.problems = p
	}
	active, bad, err := st.ActiveModules()
	if err != nil {
		return nil, fmt.Errorf("sandbox: reading the active modules: %w", err)
	}
	for _, e := range bad {
		host.emit(Event{Kind: EventLoadFailed, Err: e, Detail: "unreadable active-module record"})
	}
	names := make([]string, 0, len(active))
	for n := range active {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		v := active[name]
		mod, err := m.loadStored(ctx, name, v)
		if err != nil {
			host.emit(Event{Kind: EventLoadFailed, Module: name, Version: v, Err: err})
			continue
		}
		i := slot(mod.Kind())
		if old := m.active[i].Load(); old != nil {
			host.emit(Event{Kind: EventLoadFailed, Module: name, Version: v, ModuleKind: mod.Kind(),
				Err: fmt.Errorf("%s@%d is already the active %s module", old.name, old.version, mod.Kind())})
			mod.Close(ctx)
			continue
		}
		m.active[i].Store(mod)
		m.setActiveGauge(mod.Kind(), mod)
	}
	m.done.Add(1)
	go m.shadowWorker()
	return m, nil
}

// Close stops shadow mode and closes the loaded modules (not the host).
func (m *Manager) Close(ctx context.Context) error {
	if m.closed.Swap(true) {
		return nil
	}
	close(m.stop)
	m.done.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.active {
		if mod := m.active[i].Swap(nil); mod != nil {
			mod.Close(ctx)
		}
		if mod := m.shadow[i].Swap(nil); mod != nil {
			mod.Close(ctx)
		}
	}
	return nil
}

// Host returns the manager's host.
func (m *Manager) Host() *Host { return m.host }

// Active returns the active module of a kind, or nil (built-in strategy).
// The module may be closed by a later activation: calls on it then fail
// with ErrClosed.
func (m *Manager) Active(kind abi.Kind) *Module { return m.active[slot(kind)].Load() }

// Pipeline returns the active modules as a Pipeline (either may be nil).
func (m *Manager) Pipeline() Pipeline {
	return Pipeline{Placement: m.active[0].Load(), Scoring: m.active[1].Load()}
}

// loadStored reads, verifies and loads a stored version.
func (m *Manager) loadStored(ctx context.Context, name string, version int) (*Module, error) {
	sm, err := m.store.GetModule(name, version)
	if err != nil {
		return nil, fmt.Errorf("module %s@%d: %w", name, version, err)
	}
	if err := verifySignature(m.cfg.TrustedKeys, sm.Wasm, sm.Signature); err != nil {
		return nil, reject(name, version, CheckSignature, "%v", err)
	}
	c, err := m.host.Compile(ctx, name, version, sm.Wasm)
	if err != nil {
		return nil, err
	}
	if want, err := abi.ParseKind(sm.Kind); err == nil && want != c.Kind {
		c.Close(ctx)
		return nil, reject(name, version, CheckKind, "stored as a %s module, rm_kind says %s", want, c.Kind)
	}
	return m.host.newModule(name, version, c, true), nil
}

// PushRequest is a module version to store.
type PushRequest struct {
	// Name of the module (lower-case letters, digits, '.', '_', '-'; at
	// most 64).
	Name string
	// Version to store; 0 stores the next one (highest stored + 1).
	Version int
	// Kind expected (0: whatever rm_kind says).
	Kind abi.Kind
	// Wasm is the binary; Signature its ed25519 signature (optional unless
	// trusted keys are configured).
	Wasm      []byte
	Signature []byte
}

// Push checks a module version and stores it (State "verified"). The
// checks, cheapest first: name and version, size, signature, the binary
// (valid WebAssembly within the memory limit, allowed imports only, ABI
// exports and signatures), ABI version and kind in a probe instance, the
// kind of the name's other versions, then the conformance run on the
// golden problems. Any failure is a *RejectError (ErrRejected) and stores
// nothing. Pushing a binary already stored under the name (version 0)
// returns that version with Existing set.
func (m *Manager) Push(ctx context.Context, req PushRequest) (Info, error) {
	info, err := m.push(ctx, req)
	mm := m.host.cfg.Metrics
	var re *RejectError
	switch {
	case err == nil:
		if mm != nil {
			mm.Pushes.WithLabelValues("accepted").Inc()
		}
		if !info.Existing {
			m.host.emit(Event{Kind: EventPushed, Module: info.Name, Version: info.Version, ModuleKind: info.Kind})
		}
	case errors.As(err, &re):
		if mm != nil {
			mm.Pushes.WithLabelValues(re.Check).Inc()
		}
		m.host.emit(Event{Kind: EventRejected, Module: req.Name, Version: req.Version, ModuleKind: req.Kind, Err: err})
	}
	return info, err
}

func (m *Manager) push(ctx context.Context, req PushRequest) (Info, error) {
	name, v := req.Name, req.Version
	if !namePattern.MatchString(name) {
		return Info{}, reject(name, v, CheckName, "name %q: want 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit", name)
	}
	if v < 0 || int64(v) > math.MaxUint32 {
		return Info{}, reject(name, v, CheckName, "version %d: want 1..%d, or 0 for the next", v, uint32(math.MaxUint32))
	}
	if len(req.Wasm) > m.cfg.MaxModuleSize {
		return Info{}, reject(name, v, CheckSize, "%d bytes, at most %d", len(req.Wasm), m.cfg.MaxModuleSize)
	}
	if err := verifySignature(m.cfg.TrustedKeys, req.Wasm, req.Signature); err != nil {
		return Info{}, reject(name, v, CheckSignature, "%v", err)
	}
	if req.Kind != 0 && !req.Kind.Valid() {
		return Info{}, reject(name, v, CheckKind, "unknown kind %d", req.Kind)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	versions, err := m.versions(name)
	if err != nil {
		return Info{}, err
	}
	c, err := m.host.Compile(ctx, name, v, req.Wasm)
	if err != nil {
		return Info{}, err
	}
	defer c.Close(ctx)
	if req.Kind != 0 && c.Kind != req.Kind {
		return Info{}, reject(name, v, CheckKind, "pushed as a %s module, rm_kind says %s", req.Kind, c.Kind)
	}
	for _, o := range versions {
		if k, _ := abi.ParseKind(o.Kind); k != c.Kind {
			return Info{}, reject(name, v, CheckKind, "a %s module; version %d of %s is a %s module", c.Kind, o.Version, name, o.Kind)
		}
		if o.SHA256 == c.SHA256 {
			if v == 0 || v == o.Version {
				info := infoOf(&o)
				info.Existing = true
				return m.decorate(info), nil
			}
			return Info{}, reject(name, v, CheckExists, "the same binary is stored as version %d", o.Version)
		}
		if o.Version == v {
			return Info{}, reject(name, v, CheckExists, "version %d is stored (another binary)", v)
		}
	}
	if v == 0 {
		v = 1
		for _, o := range versions {
			v = max(v, o.Version+1)
		}
	}
	probe := m.host.newModule(name, v, c, false)
	err = conform(ctx, probe, m.problems)
	probe.closeInstances(ctx)
	if err != nil {
		return Info{}, reject(name, v, CheckConformance, "%v", err)
	}
	rec := store.Module{Name: name, Version: v, Kind: c.Kind.String(), SHA256: c.SHA256, Size: int64(len(req.Wasm)),
		Wasm: req.Wasm, Signature: req.Signature, State: StateVerified, CreatedAt: m.host.cfg.Now()}
	if err := m.store.PutModule(rec); err != nil {
		if errors.Is(err, store.ErrExists) {
			return Info{}, reject(name, v, CheckExists, "%v", err)
		}
		return Info{}, fmt.Errorf("sandbox: storing module %s@%d: %w", name, v, err)
	}
	rec.Wasm = nil
	return m.decorate(infoOf(&rec)), nil
}

// versions lists the stored versions of a name, oldest first.
func (m *Manager) versions(name string) ([]store.Module, error) {
	all, _, err := m.store.ListModules()
	if err != nil {
		return nil, fmt.Errorf("sandbox: listing modules: %w", err)
	}
	var out []store.Module
	for _, o := range all {
		if o.Name == name {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// decorate sets Active, Shadow and Stats.
func (m *Manager) decorate(i Info) Info {
	for s := range m.active {
		if a := m.active[s].Load(); a != nil && a.name == i.Name && a.version == i.Version {
			i.Active = true
			st := a.Stats()
			i.Stats = &st
		}
		if a := m.shadow[s].Load(); a != nil && a.name == i.Name && a.version == i.Version {
			i.Shadow = true
			st := a.Stats()
			i.Stats = &st
		}
	}
	return i
}

// List describes every stored version, by name then version. Records the
// store cannot read are returned as errors beside the list.
func (m *Manager) List() ([]Info, []error, error) {
	all, bad, err := m.store.ListModules()
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: listing modules: %w", err)
	}
	out := make([]Info, len(all))
	for i := range all {
		out[i] = m.decorate(infoOf(&all[i]))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Version < out[j].Version
	})
	return out, bad, nil
}

// Activate makes name@version the active module of its kind: it loads the
// stored binary (checking its signature again), warms it on the last
// device seen, records it in the store (clearing the active version of any
// other name of the kind) and swaps it in. Calls in flight finish on the
// previous version, which is then closed.
func (m *Manager) Activate(ctx context.Context, name string, version int) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.activate(ctx, name, version, EventActivated, "")
}

func (m *Manager) activate(ctx context.Context, name string, version int, ev EventKind, detail string) (Info, error) {
	if cur := m.active[0].Load(); cur != nil && cur.name == name && cur.version == version {
		return m.decorate(m.infoLoaded(cur)), nil
	}
	if cur := m.active[1].Load(); cur != nil && cur.name == name && cur.version == version {
		return m.decorate(m.infoLoaded(cur)), nil
	}
	mod, err := m.loadStored(ctx, name, version)
	if err != nil {
		return Info{}, err
	}
	s := slot(mod.Kind())
	if model := m.lastModel.Load(); model != nil {
		if err := mod.Warm(ctx, model); err != nil {
			mod.Close(ctx)
			return Info{}, fmt.Errorf("sandbox: warming %s@%d: %w", name, version, err)
		}
	}
	if err := m.store.SetActiveModule(name, version); err != nil {
		mod.Close(ctx)
		return Info{}, fmt.Errorf("sandbox: activating %s@%d: %w", name, version, err)
	}
	old := m.active[s].Load()
	if old != nil && old.name != name {
		if err := m.store.ClearActiveModule(old.name); err != nil {
			m.host.emit(Event{Kind: EventLoadFailed, Module: old.name, Version: old.version, Err: err,
				Detail: "could not clear the replaced module's active record"})
		}
	}
	m.active[s].Store(mod)
	if old != nil {
		if old.name == name {
			m.history[name] = append(m.history[name], old.version)
		}
		go old.Close(context.WithoutCancel(ctx))
		detail = strings.TrimSpace(detail + fmt.Sprintf(" (replaces %s@%d)", old.name, old.version))
	}
	m.setActiveGauge(mod.Kind(), mod)
	m.host.emit(Event{Kind: ev, Module: name, Version: version, ModuleKind: mod.Kind(), Detail: detail})
	return m.decorate(m.infoLoaded(mod)), nil
}

// infoLoaded describes a loaded module from the store's record (or what the
// module knows when the record cannot be read).
func (m *Manager) infoLoaded(mod *Module) Info {
	if all, _, err := m.store.ListModules(); err == nil {
		for i := range all {
			if all[i].Name == mod.name && all[i].Version == mod.version {
				return infoOf(&all[i])
			}
		}
	}
	return Info{Name: mod.name, Version: mod.version, Kind: mod.Kind(), SHA256: mod.SHA256(), Size: int64(mod.Size())}
}

func (m *Manager) setActiveGauge(kind abi.Kind, mod *Module) {
	mm := m.host.cfg.Metrics
	if mm == nil {
		return
	}
	mm.Active.DeletePartialMatch(map[string]string{"kind": kind.String()})
	if mod != nil {
		mm.Active.WithLabelValues(kind.String(), mod.name).Set(float64(mod.version))
	}
}

// Deactivate leaves a kind without an active module: the controller uses
// its built-in strategy. The store forgets the active version.
func (m *Manager) Deactivate(ctx context.Context, kind abi.Kind) error {
	if !kind.Valid() {
		return fmt.Errorf("sandbox: unknown kind %d", kind)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := slot(kind)
	old := m.active[s].Load()
	if old == nil {
		return nil
	}
	if err := m.store.ClearActiveModule(old.name); err != nil {
		return fmt.Errorf("sandbox: deactivating %s: %w", old, err)
	}
	m.active[s].Store(nil)
	m.history[old.name] = append(m.history[old.name], old.version)
	go old.Close(context.WithoutCancel(ctx))
	m.setActiveGauge(kind, nil)
	m.host.emit(Event{Kind: EventDeactivated, Module: old.name, Version: old.version, ModuleKind: kind})
	return nil
}

// Rollback re-activates an earlier version of the active module name: the
// version active before it in this process if it is still stored and not
// rolled back from, else the highest stored version below it that is not.
// The version rolled back from is marked StateRolledBack.
func (m *Manager) Rollback(ctx context.Context, name string) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var cur *Module
	for s := range m.active {
		if a := m.active[s].Load(); a != nil && a.name == name {
			cur = a
		}
	}
	if cur == nil {
		return Info{}, fmt.Errorf("sandbox: rollback: %s is not active: %w", name, ErrNoModule)
	}
	versions, err := m.versions(name)
	if err != nil {
		return Info{}, err
	}
	usable := map[int]bool{}
	for _, o := range versions {
		if o.State != StateRolledBack && o.Version != cur.version {
			usable[o.Version] = true
		}
	}
	target := 0
	h := m.history[name]
	for i := len(h) - 1; i >= 0; i-- {
		if usable[h[i]] {
			target = h[i]
			break
		}
	}
	if target == 0 {
		for _, o := range versions { // oldest first: the last match is the highest
			if o.Version < cur.version && usable[o.Version] {
				target = o.Version
			}
		}
	}
	if target == 0 {
		return Info{}, fmt.Errorf("sandbox: rollback of %s@%d: %w", name, cur.version, ErrNoEarlierVersion)
	}
	from := cur.version
	info, err := m.activate(ctx, name, target, EventRolledBack, fmt.Sprintf("rolled back from version %d", from))
	if err != nil {
		return Info{}, err
	}
	if _, err := m.store.SetModuleState(name, from, StateRolledBack); err != nil {
		return info, fmt.Errorf("sandbox: rolled back to %s@%d, but marking version %d: %w", name, target, from, err)
	}
	// Do not return to the version rolled back from.
	m.history[name] = slices.DeleteFunc(m.history[name], func(v int) bool { return v == from || v == target })
	return info, nil
}

// SetShadow runs name@version in shadow beside the active module of its
// kind: on live calls through the Manager (and on ShadowPlacement and
// ShadowScore), it gets the same input in the background and its answers
// are compared with the ones used (EventShadowDiff, metrics). It never
// affects an answer.
func (m *Manager) SetShadow(ctx context.Context, name string, version int) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mod, err := m.loadStored(ctx, name, version)
	if err != nil {
		return Info{}, err
	}
	s := slot(mod.Kind())
	if old := m.shadow[s].Swap(mod); old != nil {
		go old.Close(context.WithoutCancel(ctx))
	}
	m.host.emit(Event{Kind: EventShadowSet, Module: name, Version: version, ModuleKind: mod.Kind()})
	return m.decorate(m.infoLoaded(mod)), nil
}

// ClearShadow ends shadow mode for a kind.
func (m *Manager) ClearShadow(ctx context.Context, kind abi.Kind) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.shadow[slot(kind)].Swap(nil); old != nil {
		go old.Close(context.WithoutCancel(ctx))
		m.host.emit(Event{Kind: EventShadowClear, Module: old.name, Version: old.version, ModuleKind: kind})
	}
}

// Shadow returns the module in shadow for a kind, or nil.
func (m *Manager) Shadow(kind abi.Kind) *Module { return m.shadow[slot(kind)].Load() }

// Place places req with the active placement and scoring modules (see
// Pipeline.Place), and feeds the shadows. ErrNoModule when a kind has no
// active module: use the built-in strategy. On any *CallError, fall back to
// the built-in strategy as well (the failure is counted).
func (m *Manager) Place(ctx context.Context, model *hal.Model, req *alloc.Request, occ *alloc.Occupancy, reserved []int) (*alloc.Placement, error) {
	m.seen(model)
	var pl *alloc.Placement
	var err error
	for try := 0; try < 2; try++ {
		pl, err = m.Pipeline().Place(ctx, model, req, occ, reserved)
		if !errors.Is(err, ErrClosed) {
			break // a version swapped out under the call: once more on the new one
		}
	}
	if pl != nil {
		m.ShadowPlacement(model, req, occ, reserved, pl.Mapping)
		m.ShadowScore(model, req, occ, reserved, pl.Mapping, pl.ESP)
	}
	return pl, err
}

// seen remembers the last device model, on which activations warm up.
func (m *Manager) seen(model *hal.Model) {
	if m.lastModel.Load() != model {
		m.lastModel.Store(model)
	}
}

// Warm remembers model as the current device and warms the active modules
// on it (instances made, device view loaded).
func (m *Manager) Warm(ctx context.Context, model *hal.Model) error {
	m.seen(model)
	var errs []error
	for s := range m.active {
		if a := m.active[s].Load(); a != nil {
			if err := a.Warm(ctx, model); err != nil && !errors.Is(err, ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
