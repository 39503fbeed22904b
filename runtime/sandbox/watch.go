package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// WatchConfig configures a watched directory of modules.
type WatchConfig struct {
	// Dir is the directory (not searched recursively).
	Dir string
	// Interval between scans (default 5 s).
	Interval time.Duration
	// Activate makes each version pushed from the directory active.
	Activate bool
}

// fileState is what a scan knows of a file.
type fileState struct {
	size    int64
	mtime   time.Time
	sigSize int64
	sigTime time.Time
	done    bool // processed in this state
}

// WatchResult is what a scan did with one file.
type WatchResult struct {
	File    string
	Module  string
	Version int
	// Pushed is set when a new version was stored; Existing when the binary
	// was stored already; Activated when it was made active.
	Pushed, Existing, Activated bool
	Err                         error
}

// Watch scans the directory every Interval until ctx is done (returning
// ctx's error). Files named NAME.wasm or NAME@VERSION.wasm, with an
// optional signature beside them (NAME.wasm.sig: 64 raw bytes, or hex or
// base64), are pushed once they are unchanged on two consecutive scans
// (so that a file being copied is not read half-written); a file is pushed
// again when it or its signature changes. Pushing a binary already stored
// under the name changes nothing, so a restart re-reads the directory
// harmlessly. Failures are reported as events (EventWatchError, and
// EventRejected for refused modules).
func (m *Manager) Watch(ctx context.Context, cfg WatchConfig) error {
	if cfg.Interval == 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Interval < 0 {
		return fmt.Errorf("sandbox: watch interval %v: must be positive", cfg.Interval)
	}
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		m.ScanDir(ctx, cfg.Dir, cfg.Activate)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// parseModuleFile reads NAME.wasm or NAME@VERSION.wasm.
func parseModuleFile(base string) (name string, version int, err error) {
	stem := strings.TrimSuffix(base, ".wasm")
	name, vs, hasV := strings.Cut(stem, "@")
	if hasV {
		v, err := strconv.Atoi(vs)
		if err != nil || v < 1 {
			return "", 0, fmt.Errorf("%s: version %q after @ is not a positive integer", base, vs)
		}
		version = v
	}
	if !namePattern.MatchString(name) {
		return "", 0, fmt.Errorf("%s: module name %q: want 1 to 64 of a-z, 0-9, '.', '_', '-'", base, name)
	}
	return name, version, nil
}

// ScanDir scans the directory once (see Watch) and returns what it did
// with each file it processed, by file name.
func (m *Manager) ScanDir(ctx context.Context, dir string, activate bool) []WatchResult {
	entries, err := os.ReadDir(dir)
	if err != nil {
		m.host.emit(Event{Kind: EventWatchError, Err: err, Detail: "reading " + dir})
		return []WatchResult{{File: dir, Err: err}}
	}
	var out []WatchResult
	present := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".wasm") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		present[path] = true
		st, err := os.Stat(path)
		if err != nil {
			continue // removed meanwhile
		}
		cur := fileState{size: st.Size(), mtime: st.ModTime()}
		if sst, err := os.Stat(path + ".sig"); err == nil {
			cur.sigSize, cur.sigTime = sst.Size(), sst.ModTime()
		}
		m.mu.Lock()
		prev, seen := m.watched[path]
		m.mu.Unlock()
		same := seen && prev.size == cur.size && prev.mtime.Equal(cur.mtime) && prev.sigSize == cur.sigSize && prev.sigTime.Equal(cur.sigTime)
		if !same {
			m.setWatched(path, cur) // wait one scan for the file to settle
			continue
		}
		if prev.done {
			continue
		}
		r := m.pushFile(ctx, path, activate)
		// Done unless an I/O or store error: that is tried again next scan.
		cur.done = r.Err == nil || errors.Is(r.Err, ErrRejected)
		m.setWatched(path, cur)
		out = append(out, r)
	}
	m.mu.Lock()
	for p := range m.watched {
		if filepath.Dir(p) == filepath.Clean(dir) && !present[p] {
			delete(m.watched, p)
		}
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

func (m *Manager) setWatched(path string, s fileState) {
	m.mu.Lock()
	m.watched[path] = s
	m.mu.Unlock()
}

// pushFile pushes one file (and activates it when asked).
func (m *Manager) pushFile(ctx context.Context, path string, activate bool) WatchResult {
	r := WatchResult{File: filepath.Base(path)}
	fail := func(err error) WatchResult {
		r.Err = err
		if !errors.Is(err, ErrRejected) { // Push reports its refusals itself
			m.host.emit(Event{Kind: EventWatchError, Module: r.Module, Version: r.Version, Err: err, Detail: path})
		}
		return r
	}
	name, version, err := parseModuleFile(r.File)
	if err != nil {
		return fail(err)
	}
	r.Module, r.Version = name, version
	wasm, err := readLimited(path, m.cfg.MaxModuleSize)
	if err != nil {
		return fail(err)
	}
	var sig []byte
	if b, err := readLimited(path+".sig", 4096); err == nil {
		if sig, err = ParseSignature(b); err != nil {
			return fail(fmt.Errorf("%s.sig: %w", path, err))
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fail(err)
	}
	info, err := m.Push(ctx, PushRequest{Name: name, Version: version, Wasm: wasm, Signature: sig})
	if err != nil {
		return fail(err)
	}
	r.Version, r.Pushed, r.Existing = info.Version, !info.Existing, info.Existing
	if activate && !info.Active {
		if _, err := m.Activate(ctx, name, info.Version); err != nil {
			return fail(err)
		}
		r.Activated = true
	}
	return r
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, reject(filepath.Base(path), 0, CheckSize, "more than %d bytes", limit)
	}
	return b, nil
}
