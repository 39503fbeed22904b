package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// PutModule stores a new module version, durably: its metadata and its
// binary. A (Name, Version) pair is written once; writing it again fails
// with ErrExists. SHA256 and Size are computed when empty and must match
// the binary when given (ErrInvalid otherwise). An empty CreatedAt becomes
// time.Now(). The binary may not exceed Options.ValueLogFileSize.
func (s *Store) PutModule(m Module) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("store: put module %q version %d: %w: %s", m.Name, m.Version, ErrInvalid, fmt.Sprintf(format, args...))
	}
	if err := checkKeyPart("Name", m.Name, true); err != nil {
		return bad("%v", err)
	}
	if err := checkVersion(m.Version); err != nil {
		return bad("%v", err)
	}
	if len(m.Wasm) == 0 {
		return bad("Wasm is empty")
	}
	if len(m.Wasm) > s.maxValue() {
		return bad("Wasm is %d bytes, at most %d fit (Options.ValueLogFileSize)", len(m.Wasm), s.maxValue())
	}
	sum := sha256.Sum256(m.Wasm)
	digest := hex.EncodeToString(sum[:])
	switch {
	case m.SHA256 == "":
		m.SHA256 = digest
	case !strings.EqualFold(m.SHA256, digest):
		return bad("SHA256 %s does not match the binary (%s)", m.SHA256, digest)
	}
	m.SHA256 = digest
	switch {
	case m.Size == 0:
		m.Size = int64(len(m.Wasm))
	case m.Size != int64(len(m.Wasm)):
		return bad("Size %d does not match the binary (%d bytes)", m.Size, len(m.Wasm))
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now()
	}
	meta, err := encodeModule(&m)
	if err != nil {
		return err
	}
	mk := moduleKey(kindModule, m.Name, m.Version)
	err = s.update(func(txn *wtx) error {
		switch _, err := txn.Get(mk); {
		case err == nil:
			return ErrExists
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		if err := txn.Set(mk, meta); err != nil {
			return err
		}
		return txn.Set(moduleKey(kindModuleWasm, m.Name, m.Version), m.Wasm)
	})
	return wrapErr(err, "put module %q version %d", m.Name, m.Version)
}

func getModuleMeta(txn *badger.Txn, name string, version int) (*Module, error) {
	if checkVersion(version) != nil {
		return nil, ErrNotFound
	}
	key := moduleKey(kindModule, name, version)
	val, err := getValue(txn, key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decodeModule(key, val)
}

// getModule reads metadata and binary and checks the binary's digest.
func getModule(txn *badger.Txn, name string, version int) (*Module, error) {
	m, err := getModuleMeta(txn, name, version)
	if err != nil {
		return nil, err
	}
	wk := moduleKey(kindModuleWasm, name, version)
	wasm, err := getValue(txn, wk)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, corrupt(wk, errors.New("module binary is missing"))
	}
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(wasm)
	if got := hex.EncodeToString(sum[:]); got != m.SHA256 || int64(len(wasm)) != m.Size {
		return nil, corrupt(wk, fmt.Errorf("binary has %d bytes and digest %s, metadata says %d bytes, %s",
			len(wasm), got, m.Size, m.SHA256))
	}
	m.Wasm = wasm
	return m, nil
}

// GetModule returns a module version with its binary, after checking the
// binary against the stored digest (a mismatch is a *CorruptError). Unknown
// versions fail with ErrNotFound.
func (s *Store) GetModule(name string, version int) (*Module, error) {
	var out *Module
	err := s.view(func(txn *badger.Txn) error {
		m, err := getModule(txn, name, version)
		out = m
		return err
	})
	if err != nil {
		return nil, wrapErr(err, "get module %q version %d", name, version)
	}
	return out, nil
}

// ModuleHistory returns the metadata (Wasm nil) of every stored version of
// a module, oldest version first. bad and err are as in ListAllocations.
func (s *Store) ModuleHistory(name string) (good []Module, bad []error, err error) {
	err = s.view(func(txn *badger.Txn) error {
		good, bad = scan(txn, modulePrefix(kindModule, name), decodeModule, nil)
		return nil
	})
	if err != nil {
		return nil, nil, wrapErr(err, "module history of %q", name)
	}
	return good, bad, nil
}

// ListModules returns the metadata (Wasm nil) of every stored module
// version, by name, then version. bad and err are as in ListAllocations.
func (s *Store) ListModules() (good []Module, bad []error, err error) {
	err = s.view(func(txn *badger.Txn) error {
		good, bad = scan(txn, prefix(kindModule), decodeModule, nil)
		return nil
	})
	if err != nil {
		return nil, nil, wrapErr(err, "list modules")
	}
	return good, bad, nil
}

// SetModuleState changes the State of a stored module version and returns
// its metadata; ErrNotFound for unknown versions.
func (s *Store) SetModuleState(name string, version int, state string) (*Module, error) {
	var out *Module
	err := s.update(func(txn *wtx) error {
		m, err := getModuleMeta(txn.Txn, name, version)
		if err != nil {
			return err
		}
		m.State = state
		out = m
		val, err := encodeModule(m)
		if err != nil {
			return err
		}
		return txn.Set(moduleKey(kindModule, name, version), val)
	})
	if err != nil {
		return nil, wrapErr(err, "set state of module %q version %d", name, version)
	}
	return out, nil
}

// SetActiveModule makes version the active version of the module name; the
// version must be stored (ErrNotFound otherwise).
func (s *Store) SetActiveModule(name string, version int) error {
	err := s.update(func(txn *wtx) error {
		if _, err := getModuleMeta(txn.Txn, name, version); err != nil {
			return err
		}
		v, err := encodeUint(uint64(version))
		if err != nil {
			return err
		}
		return txn.Set(activeModuleKey(name), v)
	})
	return wrapErr(err, "activate module %q version %d", name, version)
}

// ClearActiveModule removes the active-version pointer of a module (the
// controller then uses its built-in strategy). Clearing an absent pointer
// is not an error.
func (s *Store) ClearActiveModule(name string) error {
	err := s.update(func(txn *wtx) error { return txn.Delete(activeModuleKey(name)) })
	return wrapErr(err, "clear active module %q", name)
}

func activeVersion(txn *badger.Txn, name string) (int, error) {
	pk := activeModuleKey(name)
	val, err := getValue(txn, pk)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	v, err := decodeUint(pk, val)
	if err != nil {
		return 0, err
	}
	if v == 0 || v > 1<<32-1 {
		return 0, corrupt(pk, fmt.Errorf("version %d out of range", v))
	}
	return int(v), nil
}

// ActiveModule returns the active version of a module, with its binary
// (checked as in GetModule). It fails with ErrNotFound if no version is
// active, and with a *CorruptError if the pointer names a missing version.
func (s *Store) ActiveModule(name string) (*Module, error) {
	var out *Module
	err := s.view(func(txn *badger.Txn) error {
		v, err := activeVersion(txn, name)
		if err != nil {
			return err
		}
		m, err := getModule(txn, name, v)
		if errors.Is(err, ErrNotFound) {
			return corrupt(activeModuleKey(name), fmt.Errorf("names version %d, which is not stored", v))
		}
		out = m
		return err
	})
	if err != nil {
		return nil, wrapErr(err, "active module %q", name)
	}
	return out, nil
}

// ActiveModules returns the active version of every module that has one.
// bad and err are as in ListAllocations.
func (s *Store) ActiveModules() (active map[string]int, bad []error, err error) {
	active = make(map[string]int)
	err = s.view(func(txn *badger.Txn) error {
		for _, k := range keysWithPrefix(txn, prefix(kindActiveModule)) {
			r := keyReader{b: k[2:]}
			name := r.string()
			if r.bad || len(r.b) != 0 {
				bad = append(bad, corrupt(k, errors.New("malformed key")))
				continue
			}
			v, err := activeVersion(txn, name)
			if err != nil {
				bad = append(bad, err)
				continue
			}
			active[name] = v
		}
		return nil
	})
	if err != nil {
		return nil, nil, wrapErr(err, "list active modules")
	}
	return active, bad, nil
}

// DeleteModule removes a stored module version. The active version cannot
// be deleted (ErrInvalid); unknown versions fail with ErrNotFound.
func (s *Store) DeleteModule(name string, version int) error {
	err := s.update(func(txn *wtx) error {
		if _, err := getModuleMeta(txn.Txn, name, version); err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) {
				return err
			}
		}
		switch v, err := activeVersion(txn.Txn, name); {
		case err == nil && v == version:
			return fmt.Errorf("%w: version %d is active", ErrInvalid, version)
		case err != nil && !errors.Is(err, ErrNotFound):
			return err
		}
		if err := txn.Delete(moduleKey(kindModule, name, version)); err != nil {
			return err
		}
		return txn.Delete(moduleKey(kindModuleWasm, name, version))
	})
	return wrapErr(err, "delete module %q version %d", name, version)
}
