package store

import (
	"errors"
	"fmt"
	"sort"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// CreateAllocation records a new allocation, durably, in one transaction
// with its idempotency entry.
//
// If a.IdempotencyKey is not empty and (a.Tenant, a.IdempotencyKey) already
// names an allocation, CreateAllocation writes nothing and returns that
// allocation as existing (whatever its state: a late retry of a released
// request must not be granted again). Comparing the requests is the
// caller's business. Otherwise it writes a and returns existing == nil.
//
// An empty a.State means StateActive. It fails with ErrInvalid for a record
// that breaks the rules of Allocation, and with ErrExists when a.ID is taken
// by another request. Whether the qubits are free is the caller's business
// (see ActiveQubitOwners).
func (s *Store) CreateAllocation(a Allocation) (existing *Allocation, err error) {
	r := s.WriteAllocations([]AllocationWrite{CreateWrite(a)})[0]
	return r.Existing, r.Err
}

// GrantQueued is CreateAllocation and Dequeue(queueID) in one transaction, so
// that a crash can neither leave a granted request in the queue (to be
// granted twice) nor lose a dequeued one. It fails with ErrNotFound, writing
// nothing, if the queued request is gone (cancelled or granted already) and
// its idempotency key names no allocation. If the key names one, the queued
// request (if still there) is removed and that allocation is returned as
// existing.
func (s *Store) GrantQueued(queueID string, a Allocation) (existing *Allocation, err error) {
	r := s.WriteAllocations([]AllocationWrite{GrantQueuedWrite(queueID, a)})[0]
	return r.Existing, r.Err
}

// lookupIdempotency returns the allocation an idempotency entry names, or nil
// if there is no entry.
func lookupIdempotency(txn *badger.Txn, idemK []byte) (*Allocation, error) {
	val, err := getValue(txn, idemK)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	id, err := decodeString(idemK, val)
	if err != nil {
		return nil, err
	}
	a, err := getAllocation(txn, id)
	if errors.Is(err, ErrNotFound) {
		return nil, corrupt(idemK, fmt.Errorf("names allocation %q, which does not exist", id))
	}
	return a, err
}

// getAllocation reads one allocation; ErrNotFound if there is none.
func getAllocation(txn *badger.Txn, id string) (*Allocation, error) {
	key := allocationKey(id)
	val, err := getValue(txn, key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decodeAllocation(key, val)
}

// putAllocation rewrites an existing allocation and its active-index entry.
func putAllocation(txn *wtx, a *Allocation) error {
	val, err := encodeAllocation(a)
	if err != nil {
		return err
	}
	if err := txn.Set(allocationKey(a.ID), val); err != nil {
		return err
	}
	if a.State == StateActive {
		return txn.Set(activeKey(a.ID), nil)
	}
	return txn.Delete(activeKey(a.ID))
}

// ReleaseAllocation ends an active allocation: it sets State to state
// (StateReleased or StateExpired) and ReleasedAt to at (time.Now() when
// zero), durably, and returns the updated record. Releasing an allocation
// that is no longer active changes nothing and returns it as it is, without
// error. Unknown ids fail with ErrNotFound.
func (s *Store) ReleaseAllocation(id string, at time.Time, state string) (*Allocation, error) {
	r := s.WriteAllocations([]AllocationWrite{ReleaseWrite(id, at, state)})[0]
	return r.Released, r.Err
}

// RenewAllocation moves the lease expiry of an active allocation and returns
// the updated record. It fails with ErrNotFound for unknown ids and with
// ErrNotActive for released or expired ones.
func (s *Store) RenewAllocation(id string, leaseExpires time.Time) (*Allocation, error) {
	var out *Allocation
	err := s.update(func(txn *wtx) error {
		a, err := getAllocation(txn.Txn, id)
		if err != nil {
			return err
		}
		if a.State != StateActive {
			return fmt.Errorf("%w (%s)", ErrNotActive, a.State)
		}
		a.LeaseExpires = leaseExpires
		out = a
		return putAllocation(txn, a)
	})
	if err != nil {
		return nil, wrapErr(err, "renew allocation %q", id)
	}
	return out, nil
}

// GetAllocation returns the allocation with that id, or ErrNotFound.
func (s *Store) GetAllocation(id string) (*Allocation, error) {
	var out *Allocation
	err := s.view(func(txn *badger.Txn) error {
		a, err := getAllocation(txn, id)
		out = a
		return err
	})
	if err != nil {
		return nil, wrapErr(err, "get allocation %q", id)
	}
	return out, nil
}

// FindByIdempotencyKey returns the allocation created for (tenant, key), or
// ErrNotFound.
func (s *Store) FindByIdempotencyKey(tenant, key string) (*Allocation, error) {
	var out *Allocation
	err := s.view(func(txn *badger.Txn) error {
		a, err := lookupIdempotency(txn, idempotencyKey(tenant, key))
		if err == nil && a == nil {
			err = fmt.Errorf("idempotency key %q of tenant %q: %w", key, tenant, ErrNotFound)
		}
		out = a
		return err
	})
	if err != nil {
		return nil, wrapErr(err, "find allocation")
	}
	// The caller acknowledges what it found: it must be durable.
	if err := s.settled(); err != nil {
		return nil, err
	}
	return out, nil
}

// AllocationFilter selects allocations in ListAllocations. Zero fields
// select everything.
type AllocationFilter struct {
	Tenant     string // only this tenant's
	Device     string // only this device's
	ActiveOnly bool   // only StateActive (read through the active index: cheap)
}

// ListAllocations returns the allocations the filter selects, ordered by
// CreatedAt then ID. Records that cannot be read are left out and reported
// in bad (each a *CorruptError naming its key); err reports a failure of the
// listing itself.
func (s *Store) ListAllocations(f AllocationFilter) (good []Allocation, bad []error, err error) {
	keep := func(a *Allocation) bool {
		return (f.Tenant == "" || a.Tenant == f.Tenant) && (f.Device == "" || a.Device == f.Device) &&
			(!f.ActiveOnly || a.State == StateActive)
	}
	err = s.view(func(txn *badger.Txn) error {
		if !f.ActiveOnly {
			good, bad = scan(txn, prefix(kindAllocation), decodeAllocation, keep)
			return nil
		}
		good, bad = nil, nil
		for _, k := range keysWithPrefix(txn, prefix(kindActive)) {
			r := keyReader{b: k[2:]}
			id := r.string()
			if r.bad || len(r.b) != 0 {
				bad = append(bad, corrupt(k, errors.New("malformed key")))
				continue
			}
			a, err := getAllocation(txn, id)
			switch {
			case errors.Is(err, ErrNotFound):
				bad = append(bad, corrupt(k, fmt.Errorf("indexes allocation %q, which does not exist", id)))
				continue
			case err != nil:
				var ce *CorruptError
				if !errors.As(err, &ce) {
					return err
				}
				bad = append(bad, err)
				continue
			case a.State != StateActive:
				bad = append(bad, corrupt(k, fmt.Errorf("indexes allocation %q, which is %s", id, a.State)))
				continue
			}
			if keep(a) {
				good = append(good, *a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, wrapErr(err, "list allocations")
	}
	sort.Slice(good, func(i, j int) bool {
		if !good[i].CreatedAt.Equal(good[j].CreatedAt) {
			return good[i].CreatedAt.Before(good[j].CreatedAt)
		}
		return good[i].ID < good[j].ID
	})
	return good, bad, nil
}

// ActiveAllocations returns every active allocation: what a controller
// rebuilds its state from. See ListAllocations for bad and err.
func (s *Store) ActiveAllocations() (good []Allocation, bad []error, err error) {
	return s.ListAllocations(AllocationFilter{ActiveOnly: true})
}

// PruneAllocations deletes released and expired allocations whose ReleasedAt
// (CreatedAt if that is zero) is before the given time, together with their
// idempotency entries, and returns how many it deleted. A request retried
// after its allocation was pruned is treated as new. Active allocations and
// unreadable records are never deleted.
func (s *Store) PruneAllocations(before time.Time) (int, error) {
	prunable := func(a *Allocation) bool {
		t := a.ReleasedAt
		if t.IsZero() {
			t = a.CreatedAt
		}
		return a.State != StateActive && t.Before(before)
	}
	var keys [][]byte
	err := s.view(func(txn *badger.Txn) error {
		old, _ := scan(txn, prefix(kindAllocation), decodeAllocation, prunable)
		keys = make([][]byte, len(old))
		for i := range old {
			keys[i] = allocationKey(old[i].ID)
		}
		return nil
	})
	if err != nil {
		return 0, wrapErr(err, "prune allocations")
	}
	n, err := s.deleteKeys(keys, func(txn *badger.Txn, key []byte) (bool, [][]byte, error) {
		val, err := getValue(txn, key)
		if err != nil {
			return false, nil, nil // gone or unreadable since: leave it
		}
		a, err := decodeAllocation(key, val)
		if err != nil || !prunable(a) {
			return false, nil, nil
		}
		extra := [][]byte{activeKey(a.ID)}
		if a.IdempotencyKey != "" {
			ik := idempotencyKey(a.Tenant, a.IdempotencyKey)
			if v, err := getValue(txn, ik); err == nil {
				if id, err := decodeString(ik, v); err == nil && id == a.ID {
					extra = append(extra, ik)
				}
			}
		}
		return true, extra, nil
	})
	return n, wrapErr(err, "prune allocations")
}

// DeviceQubit names one physical qubit of one device.
type DeviceQubit struct {
	Device string
	Qubit  int
}

// QubitOwners maps each qubit held by an active allocation to the IDs of
// the allocations holding it (sorted). More than one ID is a double grant.
type QubitOwners map[DeviceQubit][]string

// QubitConflict is a qubit held by more than one active allocation.
type QubitConflict struct {
	DeviceQubit
	Allocations []string
}

// Conflicts lists the qubits held by more than one allocation, ordered by
// device and qubit.
func (o QubitOwners) Conflicts() []QubitConflict {
	var out []QubitConflict
	for q, ids := range o {
		if len(ids) > 1 {
			out = append(out, QubitConflict{DeviceQubit: q, Allocations: ids})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Device != out[j].Device {
			return out[i].Device < out[j].Device
		}
		return out[i].Qubit < out[j].Qubit
	})
	return out
}

// ActiveQubitOwners maps every qubit of every active allocation to the
// allocations that hold it, for a consistency check on start-up (see
// QubitOwners.Conflicts). bad and err are as in ListAllocations.
func (s *Store) ActiveQubitOwners() (owners QubitOwners, bad []error, err error) {
	active, bad, err := s.ActiveAllocations()
	if err != nil {
		return nil, nil, err
	}
	owners = make(QubitOwners)
	for _, a := range active {
		for _, q := range a.Qubits {
			k := DeviceQubit{Device: a.Device, Qubit: q}
			owners[k] = append(owners[k], a.ID)
		}
	}
	for _, ids := range owners {
		sort.Strings(ids)
	}
	return owners, bad, nil
}
