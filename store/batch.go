package store

import (
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// maxBatchItems is the most items WriteAllocations puts in one transaction
// before Badger's own limit is even tried; a transaction that Badger still
// finds too big (large Request fields) is halved until it fits.
const maxBatchItems = 256

// WriteKind says what an AllocationWrite does.
type WriteKind uint8

// Kinds of AllocationWrite.
const (
	// WriteCreate is CreateAllocation(Allocation).
	WriteCreate WriteKind = iota
	// WriteGrantQueued is GrantQueued(QueueID, Allocation).
	WriteGrantQueued
	// WriteRelease is ReleaseAllocation(ID, At, State).
	WriteRelease
)

// String names the kind, for messages.
func (k WriteKind) String() string {
	switch k {
	case WriteCreate:
		return "create"
	case WriteGrantQueued:
		return "grant-queued"
	case WriteRelease:
		return "release"
	}
	return fmt.Sprintf("WriteKind(%d)", uint8(k))
}

// AllocationWrite is one item of a batch for WriteAllocations. Build items
// with CreateWrite, GrantQueuedWrite and ReleaseWrite; fields that the kind
// does not use must be zero.
type AllocationWrite struct {
	Kind WriteKind
	// Allocation is the record to create (WriteCreate, WriteGrantQueued).
	Allocation Allocation
	// QueueID names the queued request that a WriteGrantQueued grants: it is
	// dequeued in the same transaction.
	QueueID string
	// ID, At and State are the arguments of a WriteRelease: the allocation,
	// when it ended (zero: time.Now()), and StateReleased or StateExpired.
	ID    string
	At    time.Time
	State string
}

// CreateWrite is the batch item of CreateAllocation(a).
func CreateWrite(a Allocation) AllocationWrite {
	return AllocationWrite{Kind: WriteCreate, Allocation: a}
}

// GrantQueuedWrite is the batch item of GrantQueued(queueID, a).
func GrantQueuedWrite(queueID string, a Allocation) AllocationWrite {
	return AllocationWrite{Kind: WriteGrantQueued, Allocation: a, QueueID: queueID}
}

// ReleaseWrite is the batch item of ReleaseAllocation(id, at, state).
func ReleaseWrite(id string, at time.Time, state string) AllocationWrite {
	return AllocationWrite{Kind: WriteRelease, ID: id, At: at, State: state}
}

// AllocationResult is the outcome of one AllocationWrite, as the matching
// single-item method would have returned it.
type AllocationResult struct {
	// Existing (creations): the allocation that the idempotency key already
	// named, in which case nothing was written for the item. Nil when the
	// item was written or failed.
	Existing *Allocation
	// Released (releases): the record after the release; unchanged when it
	// was no longer active. Nil when the item failed.
	Released *Allocation
	// Err says why the item was not written, as the single-item method
	// would (ErrInvalid, ErrExists, ErrNotFound, *CorruptError, ...). It
	// concerns this item only, unless the transaction itself failed (a disk
	// error, a closed store): then every item written in that transaction
	// carries that error and none of them was written.
	Err error
}

// WriteAllocations writes a batch of creations, queued grants and releases
// durably in as few transactions as Badger's size limit allows (normally
// one, so one sync for the whole batch), and returns one result per item, in
// order.
//
// Each item has exactly the semantics of its single-item method
// (CreateAllocation, GrantQueued, ReleaseAllocation), applied in order: an
// item sees the items before it, so a second creation with an idempotency
// key that an earlier item of the batch took returns that earlier item's
// allocation as Existing, and a release of an allocation created earlier in
// the batch releases it. An item that fails writes nothing and does not
// affect the others.
//
// A batch too large for one transaction is split in order, each part
// committed (synced) before the next is written; the items of a part are
// then durable before those of the next.
func (s *Store) WriteAllocations(batch []AllocationWrite) []AllocationResult {
	res, t := s.CommitAllocations(batch)
	if err := s.Wait(t); err != nil {
		failWritten(res, err)
	}
	return res
}

// Ticket names a point in the store's commit order; Wait returns once
// everything committed up to it is durable.
type Ticket uint64

// CommitAllocations is the first half of WriteAllocations: it returns once
// the batch is committed (later batches and reads see it), before it is
// durable, so that the next batch can be committed while this one is on its
// way to the disk. Nothing may be acknowledged before Wait(ticket) returned
// nil; if it returns an error, the write to disk failed and no item of the
// batch may be acknowledged. Batches become durable in commit order.
func (s *Store) CommitAllocations(batch []AllocationWrite) ([]AllocationResult, Ticket) {
	res := make([]AllocationResult, len(batch))
	items := make([]preparedWrite, 0, len(batch))
	for i := range batch {
		p, err := prepareWrite(s, &batch[i])
		if err != nil {
			res[i].Err = err
			continue
		}
		p.idx = i
		items = append(items, p)
	}
	return res, Ticket(s.commitWrites(items, res))
}

// Wait returns when everything committed up to t is durable, or the error
// that broke the store's journal.
func (s *Store) Wait(t Ticket) error { return s.waitDurable(uint64(t), 0) }

// failWritten gives every item that did not fail on its own the error err.
func failWritten(res []AllocationResult, err error) {
	for i := range res {
		if res[i].Err == nil {
			res[i] = AllocationResult{Err: err}
		}
	}
}

// ReleaseAllocations releases every allocation in ids, as ReleaseAllocation
// does one, in one transaction (see WriteAllocations), and returns one
// result per id, in order.
func (s *Store) ReleaseAllocations(ids []string, at time.Time, state string) []AllocationResult {
	batch := make([]AllocationWrite, len(ids))
	for i, id := range ids {
		batch[i] = ReleaseWrite(id, at, state)
	}
	return s.WriteAllocations(batch)
}

// preparedWrite is an AllocationWrite that passed the checks that need no
// transaction, with its values encoded.
type preparedWrite struct {
	idx int // index in the caller's batch

	// creation
	a            Allocation
	val          []byte
	idemK, idemV []byte
	queueID      string

	// release
	release bool
	id      string
	at      time.Time
	state   string
}

// what names the item in error messages, as the single-item methods do.
func (p *preparedWrite) what() string {
	if p.release {
		return fmt.Sprintf("release allocation %q", p.id)
	}
	return fmt.Sprintf("create allocation %q", p.a.ID)
}

// prepareWrite validates and encodes one item.
func prepareWrite(s *Store, w *AllocationWrite) (preparedWrite, error) {
	switch w.Kind {
	case WriteRelease:
		if w.QueueID != "" || w.Allocation.ID != "" {
			return preparedWrite{}, fmt.Errorf("store: release allocation %q: %w: a release takes no allocation record (Allocation.ID %q) and no QueueID (%q)",
				w.ID, ErrInvalid, w.Allocation.ID, w.QueueID)
		}
		if w.State != StateReleased && w.State != StateExpired {
			return preparedWrite{}, fmt.Errorf("store: release allocation %q: %w: state %q: want %q or %q",
				w.ID, ErrInvalid, w.State, StateReleased, StateExpired)
		}
		at := w.At
		if at.IsZero() {
			at = time.Now()
		}
		return preparedWrite{release: true, id: w.ID, at: at, state: w.State}, nil
	case WriteGrantQueued:
		if w.QueueID == "" {
			return preparedWrite{}, fmt.Errorf("store: grant queued request: %w: queue ID is empty", ErrInvalid)
		}
	case WriteCreate:
		if w.QueueID != "" {
			return preparedWrite{}, fmt.Errorf("store: create allocation %q: %w: queue ID %q is set: use a grant (GrantQueuedWrite) to dequeue it",
				w.Allocation.ID, ErrInvalid, w.QueueID)
		}
	default:
		return preparedWrite{}, fmt.Errorf("store: write allocation %q: %w: unknown write kind %d", w.Allocation.ID, ErrInvalid, uint8(w.Kind))
	}
	if w.ID != "" || !w.At.IsZero() || w.State != "" {
		return preparedWrite{}, fmt.Errorf("store: create allocation %q: %w: a creation takes no release arguments (ID %q, At %v, State %q)",
			w.Allocation.ID, ErrInvalid, w.ID, w.At, w.State)
	}
	p := preparedWrite{a: w.Allocation, queueID: w.QueueID}
	if p.a.State == "" {
		p.a.State = StateActive
	}
	if err := p.a.validate(); err != nil {
		return preparedWrite{}, fmt.Errorf("store: create allocation %q: %w: %v", p.a.ID, ErrInvalid, err)
	}
	var err error
	if p.val, err = encodeAllocation(&p.a); err != nil {
		return preparedWrite{}, err
	}
	if err := s.fits(fmt.Sprintf("create allocation %q", p.a.ID), p.val); err != nil {
		return preparedWrite{}, err
	}
	if p.a.IdempotencyKey != "" {
		p.idemK = idempotencyKey(p.a.Tenant, p.a.IdempotencyKey)
		if p.idemV, err = encodeString(p.a.ID); err != nil {
			return preparedWrite{}, err
		}
	}
	return p, nil
}

// commitWrites writes prepared items in transactions of at most
// maxBatchItems, halving a transaction that Badger finds too big, and fills
// in res at each item's index. It returns the journal sequence number of
// the last transaction, for waitDurable.
func (s *Store) commitWrites(items []preparedWrite, res []AllocationResult) (last uint64) {
	chunk := maxBatchItems
	for len(items) > 0 {
		n := min(chunk, len(items))
		part := items[:n]
		out := make([]AllocationResult, n)
		seq, err := s.updateAsync(func(txn *wtx) error {
			clear(out) // a retry after a conflict starts afresh
			for j := range part {
				r, err := applyWrite(txn, &part[j])
				if err != nil {
					return err
				}
				out[j] = r
			}
			return nil
		})
		if errors.Is(err, badger.ErrTxnTooBig) && n > 1 {
			chunk = n / 2
			continue
		}
		for j := range part {
			r := out[j]
			if err != nil {
				r = AllocationResult{Err: wrapErr(err, "%s", part[j].what())}
			}
			res[part[j].idx] = r
		}
		if seq > last {
			last = seq
		}
		items = items[n:]
	}
	return last
}

// applyWrite applies one item inside txn. A failure of the item itself is
// reported in the result, after every check and before any write, so that a
// failed item leaves nothing in the transaction; the error return is for
// failures of the transaction (a write Badger refused, e.g. ErrTxnTooBig),
// which abort it.
func applyWrite(txn *wtx, p *preparedWrite) (AllocationResult, error) {
	if p.release {
		return applyRelease(txn, p)
	}
	return applyCreate(txn, p)
}

func applyCreate(txn *wtx, p *preparedWrite) (AllocationResult, error) {
	fail := func(err error) (AllocationResult, error) {
		return AllocationResult{Err: wrapErr(err, "create allocation %q", p.a.ID)}, nil
	}
	if p.idemK != nil {
		ex, err := lookupIdempotency(txn.Txn, p.idemK)
		if err != nil {
			return fail(err)
		}
		if ex != nil {
			// Answered before: a queued request of the same key, if still
			// there, is stale and goes.
			if p.queueID != "" {
				switch _, err := getQueued(txn.Txn, p.queueID); {
				case err == nil:
					if _, err := deleteQueued(txn, p.queueID); err != nil {
						return AllocationResult{}, err
					}
				case !errors.Is(err, ErrNotFound):
					return fail(err)
				}
			}
			return AllocationResult{Existing: ex}, nil
		}
	}
	if p.queueID != "" {
		if _, err := getQueued(txn.Txn, p.queueID); err != nil {
			if errors.Is(err, ErrNotFound) {
				err = fmt.Errorf("queued request %q: %w", p.queueID, ErrNotFound)
			}
			return fail(err)
		}
	}
	ak := allocationKey(p.a.ID)
	switch _, err := txn.Get(ak); {
	case err == nil:
		return fail(ErrExists)
	case !errors.Is(err, badger.ErrKeyNotFound):
		return fail(err)
	}
	// Every check passed: from here on only writes, whose failures are the
	// transaction's.
	if p.queueID != "" {
		if _, err := deleteQueued(txn, p.queueID); err != nil {
			return AllocationResult{}, err
		}
	}
	if err := txn.Set(ak, p.val); err != nil {
		return AllocationResult{}, err
	}
	if p.a.State == StateActive {
		if err := txn.Set(activeKey(p.a.ID), nil); err != nil {
			return AllocationResult{}, err
		}
	}
	if p.idemK != nil {
		if err := txn.Set(p.idemK, p.idemV); err != nil {
			return AllocationResult{}, err
		}
	}
	return AllocationResult{}, nil
}

func applyRelease(txn *wtx, p *preparedWrite) (AllocationResult, error) {
	fail := func(err error) (AllocationResult, error) {
		return AllocationResult{Err: wrapErr(err, "release allocation %q", p.id)}, nil
	}
	a, err := getAllocation(txn.Txn, p.id)
	if err != nil {
		return fail(err)
	}
	if a.State != StateActive {
		return AllocationResult{Released: a}, nil // released already: idempotent
	}
	a.State, a.ReleasedAt = p.state, p.at
	val, err := encodeAllocation(a)
	if err != nil {
		return fail(err)
	}
	if err := txn.Set(allocationKey(a.ID), val); err != nil {
		return AllocationResult{}, err
	}
	if err := txn.Delete(activeKey(a.ID)); err != nil {
		return AllocationResult{}, err
	}
	return AllocationResult{Released: a}, nil
}
