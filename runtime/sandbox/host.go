// Package sandbox is the host of strategy modules: WebAssembly modules that
// implement the module ABI (modules/abi, docs/modules.md) and replace the
// controller's built-in placement or scoring strategy without a rebuild or a
// restart, and without being trusted.
//
// A Host owns one wazero runtime (compiler engine, compilation cache on
// disk, memory limit per instance, WASI without files, network,
// environment or real clock). Host.Load checks a binary and returns a
// Module: a pool of instances (one call at a time each) that loads the
// device view once per calibration epoch and answers Place or Score calls
// under a deadline that really stops a looping guest. Any trap, timeout,
// memory exhaustion or invalid answer discards the instance, counts the
// failure and returns a typed error (ErrTrap, ErrTimeout, ErrMemory,
// ErrInvalidAnswer; ErrQuarantined after too many): the caller falls back
// to its built-in strategy. Every answer is checked against the device,
// the occupancy and the request (alloc.Validate) before it is returned.
//
// A Manager keeps the versions of named modules in a ModuleStore: push
// (size, signature, imports, exports, ABI version, kind, conformance on
// golden problems), list, activate, roll back, shadow mode, an atomic swap
// that lets calls in flight finish on the old version, and a watched
// directory.
package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/eigen-os/rm/modules/abi"
)

// Limits and defaults of Config.
const (
	// DefaultMemoryPages is the default memory limit per instance: 512
	// pages of 64 KiB (32 MiB).
	DefaultMemoryPages = 512
	// MinMemoryPages is the smallest memory limit accepted: a Go guest
	// needs about 129 pages when busy and dies below that.
	MinMemoryPages = 256
	// MaxMemoryPages is the largest memory limit accepted (4 GiB).
	MaxMemoryPages = 65536
	// DefaultCallTimeout is the default deadline of one call.
	DefaultCallTimeout = 50 * time.Millisecond
	// DefaultLoadTimeout is the default deadline of instantiating a module
	// and loading a device view into an instance.
	DefaultLoadTimeout = 2 * time.Second
	// DefaultMaxCandidates is how many candidates a placement call may
	// return by default.
	DefaultMaxCandidates = 16
	// DefaultMaxAnswerBytes bounds an answer's size by default.
	DefaultMaxAnswerBytes = 1 << 20
	// DefaultSeed seeds the guests' WASI random source by default.
	DefaultSeed = 0x5eed_0f_a110c
)

// Guard selects how a call's deadline stops a guest that runs too long.
type Guard int

const (
	// GuardFuel (the default) instruments every module so that it checks in
	// with the host every few thousand loop iterations and function calls
	// (see instrument.go): the call is stopped within tens of microseconds
	// of its deadline, and the host's garbage collector is never held up for
	// longer. It costs a few instructions per loop iteration.
	GuardFuel Guard = iota
	// GuardWazero uses wazero's WithCloseOnContextDone, which leaves the
	// compiled code for Go at every loop iteration: about 80 ns each, which
	// makes a call of a Go guest 2 to 3 times slower. The module runs as it
	// was pushed, without instrumentation.
	GuardWazero
)

// String names the guard.
func (g Guard) String() string {
	if g == GuardWazero {
		return "wazero"
	}
	return "fuel"
}

// Config configures a Host. The zero value is usable: an in-memory
// compilation cache, 512 pages per instance, GOMAXPROCS instances per
// module, a 50 ms call deadline.
type Config struct {
	// CacheDir keeps compiled modules on disk (in a subdirectory per wazero
	// version), so that a restarted controller compiles a known module in
	// tens of milliseconds instead of seconds. Nothing is ever evicted: each
	// module version adds its compiled code (about 16 MB for a Go guest).
	// Empty: an in-memory cache (per Host).
	CacheDir string
	// MemoryPages is the memory limit of each instance, in 64 KiB pages
	// (default DefaultMemoryPages, at least MinMemoryPages).
	MemoryPages uint32
	// PoolSize is the number of instances per module version (default
	// GOMAXPROCS): at most that many calls of one module run at once.
	PoolSize int
	// CallTimeout is the deadline of one Place or Score call (default
	// DefaultCallTimeout). The caller's context may shorten it.
	CallTimeout time.Duration
	// LoadTimeout is the deadline of instantiating a module and of loading
	// a device view into an instance (default DefaultLoadTimeout).
	LoadTimeout time.Duration
	// MaxCandidates is how many candidates a placement call may return
	// (default DefaultMaxCandidates, at most abi.MaxCandidates).
	MaxCandidates int
	// MaxAnswerBytes bounds an answer's size (default DefaultMaxAnswerBytes).
	MaxAnswerBytes int
	// Guard is how deadlines stop guests (default GuardFuel).
	Guard Guard
	// Seed seeds the guests' deterministic WASI random source (0:
	// DefaultSeed). Every instance of a module gets the same stream.
	Seed uint64
	// Quarantine is the failure policy of modules (zero: defaults).
	Quarantine QuarantinePolicy
	// Metrics receives the calls' figures (nil: none).
	Metrics *Metrics
	// OnEvent receives events (nil: none); see Event.
	OnEvent func(Event)
	// Now is the clock of quarantines (nil: time.Now); tests set it.
	Now func() time.Time
}

func (c Config) withDefaults() (Config, error) {
	if c.MemoryPages == 0 {
		c.MemoryPages = DefaultMemoryPages
	}
	if c.MemoryPages < MinMemoryPages || c.MemoryPages > MaxMemoryPages {
		return c, fmt.Errorf("sandbox: memory limit %d pages: want %d..%d (64 KiB pages)", c.MemoryPages, MinMemoryPages, MaxMemoryPages)
	}
	if c.PoolSize == 0 {
		c.PoolSize = runtime.GOMAXPROCS(0)
	}
	if c.PoolSize < 1 || c.PoolSize > 1024 {
		return c, fmt.Errorf("sandbox: pool size %d: want 1..1024", c.PoolSize)
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.LoadTimeout == 0 {
		c.LoadTimeout = DefaultLoadTimeout
	}
	if c.CallTimeout < 0 || c.LoadTimeout < 0 {
		return c, fmt.Errorf("sandbox: call timeout %v, load timeout %v: must be positive", c.CallTimeout, c.LoadTimeout)
	}
	if c.MaxCandidates == 0 {
		c.MaxCandidates = DefaultMaxCandidates
	}
	if c.MaxCandidates < 1 || c.MaxCandidates > abi.MaxCandidates {
		return c, fmt.Errorf("sandbox: max candidates %d: want 1..%d", c.MaxCandidates, abi.MaxCandidates)
	}
	if c.MaxAnswerBytes == 0 {
		c.MaxAnswerBytes = DefaultMaxAnswerBytes
	}
	if c.MaxAnswerBytes < 64 {
		return c, fmt.Errorf("sandbox: max answer bytes %d: want at least 64", c.MaxAnswerBytes)
	}
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	if c.Guard != GuardFuel && c.Guard != GuardWazero {
		return c, fmt.Errorf("sandbox: unknown guard %d", c.Guard)
	}
	q, err := c.Quarantine.withDefaults()
	if err != nil {
		return c, err
	}
	c.Quarantine = q
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// Host runs strategy modules. It is safe for concurrent use.
type Host struct {
	cfg   Config
	rt    wazero.Runtime
	cache wazero.CompilationCache
	views viewCache
	occs  occCache

	mu     sync.Mutex
	closed bool

	// Compilations shared by every holder of the same binary (sha256):
	// in use, or among the keepCompiled released last (a push compiles
	// a binary to check it, the activation that follows uses it again).
	compMu   sync.Mutex
	compiled map[[32]byte]*compiledEntry
	idle     []*compiledEntry
}

// keepCompiled is how many compilations no module uses any more the host
// keeps for reuse.
const keepCompiled = 2

// compiledEntry is one compilation and the number of its holders.
type compiledEntry struct {
	sum  [32]byte
	c    *Compiled // the holders' copies share its code
	refs int
}

// NewHost makes a host: a wazero runtime with the compiler engine, the
// compilation cache, the memory limit and the guard that stops a call at
// its deadline, and the restricted WASI of abi.AllowedImports.
func NewHost(ctx context.Context, cfg Config) (*Host, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		// wazero keys its entries by its own version, which it cannot always
		// read (it says "dev" in test binaries): a directory per version
		// keeps an upgrade from reusing stale code.
		dir := filepath.Join(cfg.CacheDir, "wazero-"+wazeroVersion())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("sandbox: compilation cache %s: %w", dir, err)
		}
		cache, err = wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			return nil, fmt.Errorf("sandbox: compilation cache %s: %w", dir, err)
		}
	} else {
		cache = wazero.NewCompilationCache()
	}
	rc := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(cache).
		WithMemoryLimitPages(cfg.MemoryPages).
		// Without a guard a looping guest ignores deadlines and the host's
		// next garbage collection hangs (MEASURED.md): either wazero's, or
		// the fuel checks of instrument.go, which call refuel.
		WithCloseOnContextDone(cfg.Guard == GuardWazero)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	fail := func(what string, err error) (*Host, error) {
		rt.Close(ctx)
		cache.Close(ctx)
		return nil, fmt.Errorf("sandbox: %s: %w", what, err)
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fail("WASI", err)
	}
	if cfg.Guard == GuardFuel {
		_, err := rt.NewHostModuleBuilder(refuelModule).NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(refuel), nil, []api.ValueType{api.ValueTypeI32}).
			Export(refuelName).Instantiate(ctx)
		if err != nil {
			return fail("fuel guard", err)
		}
	}
	h := &Host{cfg: cfg, rt: rt, cache: cache}
	h.views.init()
	h.occs.init()
	return h, nil
}

// Config returns the host's configuration with defaults applied.
func (h *Host) Config() Config { return h.cfg }

// Metrics returns the host's metrics (nil when none).
func (h *Host) Metrics() *Metrics { return h.cfg.Metrics }

// Close closes every module and the runtime; calls in flight fail.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	err := h.rt.Close(ctx)
	if cerr := h.cache.Close(ctx); err == nil {
		err = cerr
	}
	return err
}

func (h *Host) emit(e Event) {
	if h.cfg.OnEvent != nil {
		if e.Time.IsZero() {
			e.Time = h.cfg.Now()
		}
		h.cfg.OnEvent(e)
	}
}

// Compiled is a checked, compiled module binary.
type Compiled struct {
	Kind   abi.Kind
	SHA256 string // lower-case hex digest of the binary
	Size   int
	// Imports lists the module's imports as "module.name".
	Imports []string

	mod   wazero.CompiledModule
	start []string // start functions to run at instantiation

	h     *Host
	entry *compiledEntry
	once  sync.Once
}

// exportSig is the signature an ABI export must have.
type exportSig struct {
	params, results []api.ValueType
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64

	abiExports = map[string]exportSig{
		abi.ExportABIVersion: {nil, []api.ValueType{i32}},
		abi.ExportKind:       {nil, []api.ValueType{i32}},
		abi.ExportAlloc:      {[]api.ValueType{i32}, []api.ValueType{i32}},
		abi.ExportLoadDevice: {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
		abi.ExportPlace:      {[]api.ValueType{i32, i32}, []api.ValueType{i64}},
		abi.ExportScore:      {[]api.ValueType{i32, i32}, []api.ValueType{i64}},
	}
	requiredExports = []string{abi.ExportABIVersion, abi.ExportKind, abi.ExportAlloc, abi.ExportLoadDevice}
)

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sigString(p, r []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ", ")
	}
	return "(" + names(p) + ") -> (" + names(r) + ")"
}

// Compile checks and compiles a module binary: it must be valid
// WebAssembly within the memory limit, import only abi.AllowedImports,
// export memory and the ABI's functions with their signatures, and — in a
// probe instance — report abi.Version and a known kind whose call export
// it has. name and version only label errors.
func (h *Host) Compile(ctx context.Context, name string, version int, wasm []byte) (*Compiled, error) {
	sum := sha256.Sum256(wasm)
	if c := h.reuse(sum); c != nil {
		return c, nil
	}
	c, err := h.compile(ctx, name, version, wasm, sum)
	if err != nil {
		return nil, err
	}
	return h.share(ctx, sum, c), nil
}

// reuse returns a holder's copy of the compilation of the binary with
// digest sum, if the host has one.
func (h *Host) reuse(sum [32]byte) *Compiled {
	h.compMu.Lock()
	defer h.compMu.Unlock()
	e := h.compiled[sum]
	if e == nil {
		return nil
	}
	return h.holdLocked(e)
}

// share records a new compilation (or, when another caller recorded the
// same binary meanwhile, closes it and uses that one).
func (h *Host) share(ctx context.Context, sum [32]byte, c *Compiled) *Compiled {
	h.compMu.Lock()
	defer h.compMu.Unlock()
	if h.compiled == nil {
		h.compiled = map[[32]byte]*compiledEntry{}
	}
	if e := h.compiled[sum]; e != nil {
		c.mod.Close(ctx)
		return h.holdLocked(e)
	}
	e := &compiledEntry{sum: sum, c: c, refs: 1}
	h.compiled[sum] = e
	return e.holder(h)
}

// holdLocked takes one more holder of e (back from the idle ones if it
// had none), with compMu held.
func (h *Host) holdLocked(e *compiledEntry) *Compiled {
	if e.refs == 0 {
		h.idle = slices.DeleteFunc(h.idle, func(x *compiledEntry) bool { return x == e })
	}
	e.refs++
	return e.holder(h)
}

func (e *compiledEntry) holder(h *Host) *Compiled {
	return &Compiled{Kind: e.c.Kind, SHA256: e.c.SHA256, Size: e.c.Size, Imports: e.c.Imports,
		mod: e.c.mod, start: e.c.start, h: h, entry: e}
}

// release drops a holder; the last one's compilation is kept among the
// keepCompiled released last, and the oldest of those is closed.
func (h *Host) release(ctx context.Context, e *compiledEntry) error {
	h.compMu.Lock()
	if e.refs--; e.refs > 0 {
		h.compMu.Unlock()
		return nil
	}
	h.idle = append(h.idle, e)
	var drop []*compiledEntry
	for len(h.idle) > keepCompiled {
		drop = append(drop, h.idle[0])
		delete(h.compiled, h.idle[0].sum)
		h.idle = h.idle[1:]
	}
	h.compMu.Unlock()
	var err error
	for _, d := range drop {
		if cerr := d.c.mod.Close(ctx); err == nil {
			err = cerr
		}
	}
	return err
}

// compile checks and compiles a binary (Compile without the sharing).
func (h *Host) compile(ctx context.Context, name string, version int, wasm []byte, sum [32]byte) (*Compiled, error) {
	c := &Compiled{SHA256: fmt.Sprintf("%x", sum), Size: len(wasm)}
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, reject(name, version, CheckWasm, "not a WebAssembly binary (no \\0asm magic)")
	}
	code := wasm
	if h.cfg.Guard == GuardFuel {
		inst, imports, err := instrument(wasm)
		for _, im := range imports {
			if im.Kind != 0 {
				return nil, reject(name, version, CheckImports, "imports %s %s.%s; a module may import only %s functions",
					importKinds[im.Kind], im.Module, im.Name, abi.WASIModule)
			}
			if !abi.ImportAllowed(im.Module, im.Name) {
				return nil, reject(name, version, CheckImports, "imports function %s.%s; a module may import only %s functions %s",
					im.Module, im.Name, abi.WASIModule, strings.Join(abi.AllowedImports, ", "))
			}
		}
		if err != nil {
			return nil, reject(name, version, CheckWasm, "%v", err)
		}
		code = inst
	}
	mod, err := h.rt.CompileModule(ctx, code)
	if err != nil {
		return nil, reject(name, version, CheckWasm, "%v", err)
	}
	ok := false
	defer func() {
		if !ok {
			mod.Close(ctx)
		}
	}()
	for _, f := range mod.ImportedFunctions() {
		m, n, _ := f.Import()
		if h.cfg.Guard == GuardFuel && m == refuelModule && n == refuelName {
			continue // the guard's own
		}
		c.Imports = append(c.Imports, m+"."+n)
		if !abi.ImportAllowed(m, n) {
			return nil, reject(name, version, CheckImports, "imports function %s.%s; a module may import only %s functions %s",
				m, n, abi.WASIModule, strings.Join(abi.AllowedImports, ", "))
		}
	}
	for _, m := range mod.ImportedMemories() {
		mm, n, _ := m.Import()
		return nil, reject(name, version, CheckImports, "imports memory %s.%s; a module must define and export its own", mm, n)
	}
	exp := mod.ExportedFunctions()
	for _, e := range requiredExports {
		if err := checkExport(exp, e); err != nil {
			return nil, reject(name, version, CheckExports, "%v", err)
		}
	}
	for _, e := range []string{abi.ExportPlace, abi.ExportScore} {
		if _, has := exp[e]; has {
			if err := checkExport(exp, e); err != nil {
				return nil, reject(name, version, CheckExports, "%v", err)
			}
		}
	}
	if _, has := mod.ExportedMemories()[abi.ExportMemory]; !has {
		return nil, reject(name, version, CheckExports, "no exported memory %q", abi.ExportMemory)
	}
	if f, has := exp[abi.ExportInitialize]; has {
		if len(f.ParamTypes()) != 0 || len(f.ResultTypes()) != 0 {
			return nil, reject(name, version, CheckExports, "%s has signature %s, want () -> ()", abi.ExportInitialize,
				sigString(f.ParamTypes(), f.ResultTypes()))
		}
		c.start = []string{abi.ExportInitialize}
	}
	c.mod = mod

	// Probe instance: version and kind.
	lctx, cancel := context.WithTimeout(ctx, h.cfg.LoadTimeout)
	defer cancel()
	out := newTail()
	inst, err := h.rt.InstantiateModule(lctx, mod, h.moduleConfig(c, out))
	if err != nil {
		return nil, reject(name, version, CheckInstantiate, "%v%s", err, out.suffix())
	}
	defer inst.Close(ctx)
	call := func(fn string) (uint64, error) {
		stack := []uint64{0}
		if err := inst.ExportedFunction(fn).CallWithStack(lctx, stack); err != nil {
			return 0, fmt.Errorf("%s: %v%s", fn, err, out.suffix())
		}
		return stack[0], nil
	}
	v, err := call(abi.ExportABIVersion)
	if err != nil {
		return nil, reject(name, version, CheckABIVersion, "%v", err)
	}
	if int32(v) != abi.Version {
		return nil, reject(name, version, CheckABIVersion, "rm_abi_version returns %d, this host speaks version %d", int32(v), abi.Version)
	}
	k, err := call(abi.ExportKind)
	if err != nil {
		return nil, reject(name, version, CheckKind, "%v", err)
	}
	c.Kind = abi.Kind(uint32(k))
	if !c.Kind.Valid() {
		return nil, reject(name, version, CheckKind, "rm_kind returns %d: want %d (placement) or %d (scoring)%s",
			int32(k), abi.KindPlacement, abi.KindScoring, out.suffix())
	}
	if _, has := exp[c.Kind.CallExport()]; !has {
		return nil, reject(name, version, CheckExports, "a %s module must export %s", c.Kind, c.Kind.CallExport())
	}
	ok = true
	return c, nil
}

func checkExport(exp map[string]api.FunctionDefinition, name string) error {
	f, has := exp[name]
	if !has {
		return fmt.Errorf("missing export %s", name)
	}
	want := abiExports[name]
	if !sameTypes(f.ParamTypes(), want.params) || !sameTypes(f.ResultTypes(), want.results) {
		return fmt.Errorf("export %s has signature %s, want %s", name, sigString(f.ParamTypes(), f.ResultTypes()),
			sigString(want.params, want.results))
	}
	return nil
}

// Close releases this holder's use of the compiled code (the host keeps
// the last ones released for reuse, the on-disk cache all of them).
// Closing twice is closing once.
func (c *Compiled) Close(ctx context.Context) error {
	var err error
	c.once.Do(func() {
		if c.entry == nil {
			err = c.mod.Close(ctx)
			return
		}
		err = c.h.release(ctx, c.entry)
	})
	return err
}

// moduleConfig is the configuration of every instance: no name (instances
// are anonymous), _initialize when exported (never _start), output kept in
// out, a wall clock fixed at 0, a monotonic clock that advances 1 µs per
// reading, a deterministic random stream seeded by the host and the binary.
func (h *Host) moduleConfig(c *Compiled, out *tail) wazero.ModuleConfig {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:8], h.cfg.Seed)
	copy(seed[8:], c.SHA256)
	seed = sha256.Sum256(seed[:])
	var mono int64
	return wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(c.start...).
		WithStdout(out).
		WithStderr(out).
		WithWalltime(func() (int64, int32) { return 0, 0 }, 1).
		WithNanotime(func() int64 { mono += 1000; return mono }, 1000).
		WithRandSource(newDeterministicRand(seed))
}

// Load checks and compiles a binary and returns it as a Module (name and
// version label its metrics, events and errors). The first call
// instantiates it; Warm does that ahead.
func (h *Host) Load(ctx context.Context, name string, version int, wasm []byte) (*Module, error) {
	c, err := h.Compile(ctx, name, version, wasm)
	if err != nil {
		return nil, err
	}
	return h.newModule(name, version, c, true), nil
}

// wazeroVersion is the version of the wazero module linked in.
func wazeroVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/tetratelabs/wazero" {
				if d.Replace != nil {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return "unknown"
}

var importKinds = map[byte]string{0: "function", 1: "table", 2: "memory", 3: "global"}

// fuelGrant is the fuel a guest gets at each check-in: about 10 to 50 µs
// of work, the granularity of deadlines under GuardFuel.
const fuelGrant = 10000

// refuel is rm_host.refuel, which instrumented guests call when their fuel
// runs out: it stops the call when its context is done (deadline or
// cancellation) and grants more fuel otherwise.
func refuel(ctx context.Context, _ api.Module, stack []uint64) {
	if err := ctx.Err(); err != nil {
		panic(err)
	}
	stack[0] = fuelGrant
}
