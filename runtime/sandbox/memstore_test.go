package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"

	"github.com/eigen-os/rm/store"
)

// memStore is a ModuleStore in memory, for tests; writes counts every
// change.
type memStore struct {
	mu     sync.Mutex
	mods   map[string]store.Module // "name@version"
	active map[string]int
	writes int
}

var _ ModuleStore = (*memStore)(nil)

// The real store implements ModuleStore.
var _ ModuleStore = (*store.Store)(nil)

func newMemStore() *memStore {
	return &memStore{mods: map[string]store.Module{}, active: map[string]int{}}
}

func key(name string, v int) string { return fmt.Sprintf("%s@%d", name, v) }

func (s *memStore) PutModule(m store.Module) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mods[key(m.Name, m.Version)]; ok {
		return store.ErrExists
	}
	sum := sha256.Sum256(m.Wasm)
	m.SHA256 = hex.EncodeToString(sum[:])
	m.Size = int64(len(m.Wasm))
	m.Wasm = append([]byte(nil), m.Wasm...)
	s.mods[key(m.Name, m.Version)] = m
	s.writes++
	return nil
}

func (s *memStore) GetModule(name string, v int) (*store.Module, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.mods[key(name, v)]
	if !ok {
		return nil, fmt.Errorf("module %s@%d: %w", name, v, store.ErrNotFound)
	}
	return &m, nil
}

func (s *memStore) ListModules() ([]store.Module, []error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Module
	for _, m := range s.mods {
		m.Wasm = nil
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i].Name, out[i].Version) < key(out[j].Name, out[j].Version) })
	return out, nil, nil
}

func (s *memStore) SetModuleState(name string, v int, state string) (*store.Module, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.mods[key(name, v)]
	if !ok {
		return nil, store.ErrNotFound
	}
	m.State = state
	s.mods[key(name, v)] = m
	s.writes++
	return &m, nil
}

func (s *memStore) SetActiveModule(name string, v int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mods[key(name, v)]; !ok {
		return store.ErrNotFound
	}
	s.active[name] = v
	s.writes++
	return nil
}

func (s *memStore) ClearActiveModule(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.active, name)
	s.writes++
	return nil
}

func (s *memStore) ActiveModules() (map[string]int, []error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.active {
		out[k] = v
	}
	return out, nil, nil
}

func (s *memStore) writeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

func storeModule(name string, v int, kind string, wasm []byte) store.Module {
	return store.Module{Name: name, Version: v, Kind: kind, Wasm: wasm, State: StateVerified}
}
