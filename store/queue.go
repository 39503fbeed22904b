package store

import (
	"errors"
	"fmt"
	"sort"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Enqueue adds a request to the queue, durably. An empty EnqueuedAt becomes
// time.Now(). If q.IdempotencyKey is not empty and (q.Tenant,
// q.IdempotencyKey) is already queued, it writes nothing and returns the
// queued request as existing. It fails with ErrExists if q.ID is queued
// under another key, and with ErrInvalid for a bad record.
func (s *Store) Enqueue(q QueuedRequest) (existing *QueuedRequest, err error) {
	if q.EnqueuedAt.IsZero() {
		q.EnqueuedAt = time.Now()
	}
	if err := q.validate(); err != nil {
		return nil, fmt.Errorf("store: enqueue %q: %w: %v", q.ID, ErrInvalid, err)
	}
	val, err := encodeQueued(&q)
	if err != nil {
		return nil, err
	}
	if err := s.fits(fmt.Sprintf("enqueue %q", q.ID), val); err != nil {
		return nil, err
	}
	var idemK, idemV []byte
	if q.IdempotencyKey != "" {
		idemK = queueIdemKey(q.Tenant, q.IdempotencyKey)
		if idemV, err = encodeString(q.ID); err != nil {
			return nil, err
		}
	}
	err = s.update(func(txn *wtx) error {
		existing = nil
		if idemK != nil {
			v, err := getValue(txn.Txn, idemK)
			switch {
			case err == nil:
				id, err := decodeString(idemK, v)
				if err != nil {
					return err
				}
				ex, err := getQueued(txn.Txn, id)
				if err == nil {
					existing = ex
					return nil
				}
				if !errors.Is(err, ErrNotFound) {
					return err
				}
				// A stale entry (its request is gone): overwritten below.
			case !errors.Is(err, badger.ErrKeyNotFound):
				return err
			}
		}
		k := queueKey(q.ID)
		switch _, err := txn.Get(k); {
		case err == nil:
			return ErrExists
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		if err := txn.Set(k, val); err != nil {
			return err
		}
		if idemK != nil {
			return txn.Set(idemK, idemV)
		}
		return nil
	})
	if err != nil {
		return nil, wrapErr(err, "enqueue %q", q.ID)
	}
	return existing, nil
}

func getQueued(txn *badger.Txn, id string) (*QueuedRequest, error) {
	key := queueKey(id)
	val, err := getValue(txn, key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decodeQueued(key, val)
}

// deleteQueued removes a queued request and its idempotency entry. An
// unreadable record is removed too, and its *CorruptError returned.
func deleteQueued(txn *wtx, id string) (*QueuedRequest, error) {
	q, err := getQueued(txn.Txn, id)
	var ce *CorruptError
	switch {
	case errors.As(err, &ce):
		if derr := txn.Delete(queueKey(id)); derr != nil {
			return nil, derr
		}
		return nil, err
	case err != nil:
		return nil, err
	}
	if err := txn.Delete(queueKey(id)); err != nil {
		return nil, err
	}
	if q.IdempotencyKey != "" {
		ik := queueIdemKey(q.Tenant, q.IdempotencyKey)
		if v, err := getValue(txn.Txn, ik); err == nil {
			if ref, err := decodeString(ik, v); err == nil && ref == id {
				if err := txn.Delete(ik); err != nil {
					return nil, err
				}
			}
		}
	}
	return q, nil
}

// Dequeue removes a request from the queue and returns it; ErrNotFound if
// it is not queued. A record that cannot be decoded is removed all the same
// and its *CorruptError returned. To grant a queued request use GrantQueued,
// which dequeues and allocates in one transaction.
func (s *Store) Dequeue(id string) (*QueuedRequest, error) {
	var out *QueuedRequest
	var bad error
	err := s.update(func(txn *wtx) error {
		q, err := deleteQueued(txn, id)
		var ce *CorruptError
		if errors.As(err, &ce) {
			bad = err
			return nil // commit the removal
		}
		out = q
		return err
	})
	if err != nil {
		return nil, wrapErr(err, "dequeue %q", id)
	}
	if bad != nil {
		return nil, bad
	}
	return out, nil
}

// GetQueued returns the queued request with that id, or ErrNotFound.
func (s *Store) GetQueued(id string) (*QueuedRequest, error) {
	var out *QueuedRequest
	err := s.view(func(txn *badger.Txn) error {
		q, err := getQueued(txn, id)
		out = q
		return err
	})
	if err != nil {
		return nil, wrapErr(err, "get queued request %q", id)
	}
	return out, nil
}

// ListQueue returns the queue in service order: Priority descending, then
// EnqueuedAt, then ID. bad and err are as in ListAllocations.
func (s *Store) ListQueue() (good []QueuedRequest, bad []error, err error) {
	err = s.view(func(txn *badger.Txn) error {
		good, bad = scan(txn, prefix(kindQueue), decodeQueued, nil)
		return nil
	})
	if err != nil {
		return nil, nil, wrapErr(err, "list queue")
	}
	sort.Slice(good, func(i, j int) bool {
		a, b := &good[i], &good[j]
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		if !a.EnqueuedAt.Equal(b.EnqueuedAt) {
			return a.EnqueuedAt.Before(b.EnqueuedAt)
		}
		return a.ID < b.ID
	})
	return good, bad, nil
}
