package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/hal/synth"
)

// testDir holds what the package's tests share: the built guest modules
// and the compilation cache.
var testDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "sandbox-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testDir = d
	trimCache(sharedCache(), 1<<30)
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// repoRoot is the module's root directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var (
	goGuestsOnce sync.Once
	goGuests     map[string][]byte
	goGuestsErr  error
)

// builtinWasm returns the built-in modules, built once per test binary (in
// parallel) with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o placement.wasm ./modules/builtin/placement
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o scoring.wasm ./modules/builtin/scoring
func builtinWasm(t testing.TB) (placement, scoring []byte) {
	t.Helper()
	goGuestsOnce.Do(func() {
		out := filepath.Join(testDir, "go-guests")
		names := []string{"placement", "scoring"}
		errs := make([]error, len(names))
		var wg sync.WaitGroup
		for i, name := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath",
					"-o", filepath.Join(out, name+".wasm"), "./modules/builtin/"+name)
				cmd.Dir = repoRoot(t)
				cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
				if b, err := cmd.CombinedOutput(); err != nil {
					errs[i] = fmt.Errorf("building modules/builtin/%s: %v\n%s", name, err, b)
				}
			}()
		}
		wg.Wait()
		if goGuestsErr = errors.Join(errs...); goGuestsErr != nil {
			return
		}
		goGuests = map[string][]byte{}
		for _, name := range names {
			b, err := os.ReadFile(filepath.Join(out, name+".wasm"))
			if err != nil {
				goGuestsErr = err
				return
			}
			goGuests[name] = b
		}
	})
	if goGuestsErr != nil {
		t.Fatal(goGuestsErr)
	}
	return goGuests["placement"], goGuests["scoring"]
}

// wat compiles WebAssembly text with wat2wasm (skipping the test when it is
// not installed: apt-get install wabt).
func wat(t testing.TB, src string) []byte {
	t.Helper()
	bin, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm not found (apt-get install wabt): hand-written test modules cannot be built")
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "m.wat"), filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(bin, in, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s\n%s", err, b, src)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sharedCache is the compilation cache the tests share across runs:
// wazero keys it by binary and wazero version, so a stale entry cannot be
// used, and compiling the Go guests (a second or more each) is paid once.
func sharedCache() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "eigen-rm", "sandbox-test-wazero")
	}
	return filepath.Join(testDir, "cache")
}

// trimCache empties the shared cache when it outgrows limit bytes (it
// gains an entry whenever a guest's source changes).
func trimCache(dir string, limit int64) {
	var size int64
	filepath.WalkDir(dir, func(_ string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if info, err := e.Info(); err == nil {
				size += info.Size()
			}
		}
		return nil
	})
	if size > limit {
		os.RemoveAll(dir)
	}
}

// newHost returns a host on the shared compilation cache (unless cfg names
// one), closed when the test ends.
func newHost(t testing.TB, cfg Config) *Host {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = sharedCache()
	}
	h, err := NewHost(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func device(t testing.TB, spec string) *hal.Model {
	t.Helper()
	m, err := synth.ByName(spec)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// load loads a module or fails the test.
func load(t testing.TB, h *Host, name string, wasm []byte) *Module {
	t.Helper()
	m, err := h.Load(context.Background(), name, 1, wasm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

// isCause reports whether err is a *CallError with the given cause.
func isCause(err, cause error) bool {
	var ce *CallError
	return errors.As(err, &ce) && errors.Is(err, cause)
}

// counterValue reads a counter or gauge (the sum over what it collects).
func counterValue(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	sum := 0.0
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		sum += d.GetCounter().GetValue() + d.GetGauge().GetValue()
	}
	return sum
}
