package store

import (
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// eventCounter names the counter that keeps the highest event sequence ever
// handed out, so that sequences stay monotonic after every event is pruned.
const eventCounter = "events"

// loadEventSeq recovers the event sequence: the larger of the stored
// counter and the last event's key.
func (s *Store) loadEventSeq() error {
	return s.db.View(func(txn *badger.Txn) error {
		ck := counterKey(eventCounter)
		val, err := getValue(txn, ck)
		if err == nil {
			s.lastSeq, err = decodeUint(ck, val)
		}
		var ce *CorruptError
		switch {
		case errors.As(err, &ce):
			// Losing the counter must not keep the controller from starting:
			// fall back on the last event (sequences of pruned events may
			// then be handed out again).
			s.log.Warn("store: event counter unreadable; continuing from the last event", "dir", s.dir, "err", err)
			s.lastSeq = 0
		case err != nil && !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		pfx := prefix(kindEvent)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx, Reverse: true})
		defer it.Close()
		it.Seek(eventKey(^uint64(0)))
		if it.Valid() {
			r := keyReader{b: it.Item().Key()[2:]}
			if seq := r.uint64(); !r.bad && seq > s.lastSeq {
				s.lastSeq = seq
			}
		}
		return nil
	})
}

// AppendEvent appends an event to the log, durably, and returns its
// sequence number: one more than the last one handed out, across restarts
// and prunes. e.Seq is ignored; an empty e.Time becomes time.Now(). With
// Options.EventTTL set, the event disappears EventTTL after its Time.
func (s *Store) AppendEvent(e Event) (uint64, error) {
	seqs, err := s.AppendEvents([]Event{e})
	if err != nil {
		return 0, err
	}
	return seqs[0], nil
}

// AppendEvents appends events in one durable transaction (one sync for the
// batch) and returns their sequence numbers, consecutive and in order.
func (s *Store) AppendEvents(events []Event) ([]uint64, error) {
	return s.appendEvents(events, 0)()
}

// eventFlushDelay is how long an event waits for a more urgent write to
// take it to the disk before it goes there on its own.
const eventFlushDelay = 5 * time.Millisecond

// AppendEventsAsync appends events as AppendEvents does, but returns once
// they are committed; the function it returns waits until they are durable
// and returns what AppendEvents would. Events are not urgent: their journal
// record goes to disk with the next write that is (a grant, say), or on
// its own after a few milliseconds, so that they never cost a grant a disk
// write of its own.
func (s *Store) AppendEventsAsync(events []Event) (wait func() ([]uint64, error)) {
	return s.appendEvents(events, eventFlushDelay)
}

// appendEvents commits events and returns the wait for their durability,
// which lets other writes carry them for up to lazy.
func (s *Store) appendEvents(events []Event, lazy time.Duration) (wait func() ([]uint64, error)) {
	fail := func(err error) func() ([]uint64, error) { return func() ([]uint64, error) { return nil, err } }
	if len(events) == 0 {
		return fail(nil)
	}
	for i := range events {
		if events[i].Time.IsZero() {
			events[i].Time = time.Now()
		}
		if val, err := encodeEvent(&events[i]); err != nil {
			return fail(err)
		} else if err := s.fits("append event", val); err != nil {
			return fail(err)
		}
	}
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	first := s.lastSeq + 1
	last := s.lastSeq + uint64(len(events))
	if first == 0 || last < first {
		return fail(fmt.Errorf("store: append event: sequence exhausted"))
	}
	entries := make([]*badger.Entry, len(events))
	seqs := make([]uint64, len(events))
	for i := range events {
		e := events[i]
		e.Seq = first + uint64(i)
		seqs[i] = e.Seq
		val, err := encodeEvent(&e)
		if err != nil {
			return fail(err)
		}
		entries[i] = badger.NewEntry(eventKey(e.Seq), val)
		if ttl := s.opts.EventTTL; ttl > 0 {
			entries[i].ExpiresAt = expiresAt(e.Time.Add(ttl))
		}
	}
	cv, err := encodeUint(last)
	if err != nil {
		return fail(err)
	}
	jseq, err := s.updateAsync(func(txn *wtx) error {
		for _, entry := range entries {
			if err := txn.SetEntry(entry); err != nil {
				return err
			}
		}
		return txn.Set(counterKey(eventCounter), cv)
	})
	// Even a failed commit may have reached the disk: never hand these
	// sequence numbers out again in this process (a gap is harmless, a
	// reuse is not).
	s.lastSeq = last
	if err != nil {
		return fail(wrapErr(err, "append events %d..%d", first, last))
	}
	return func() ([]uint64, error) {
		if err := s.waitDurable(jseq, lazy); err != nil {
			return nil, wrapErr(err, "append events %d..%d", first, last)
		}
		return seqs, nil
	}
}

// LastEventSeq returns the highest sequence handed out (0 before the first
// event).
func (s *Store) LastEventSeq() uint64 {
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	return s.lastSeq
}

// Events returns up to limit events (all when limit <= 0) with Seq >=
// fromSeq, in sequence order. bad and err are as in ListAllocations;
// unreadable events do not count towards limit.
func (s *Store) Events(fromSeq uint64, limit int) (good []Event, bad []error, err error) {
	err = s.view(func(txn *badger.Txn) error {
		good, bad = scanFrom(txn, prefix(kindEvent), eventKey(fromSeq), limit, decodeEvent, nil)
		return nil
	})
	if err != nil {
		return nil, nil, wrapErr(err, "list events")
	}
	return good, bad, nil
}

// PruneEvents deletes the events whose Time is before the given time and
// returns how many it deleted. Sequence numbers are never reused.
func (s *Store) PruneEvents(before time.Time) (int, error) {
	var keys [][]byte
	err := s.view(func(txn *badger.Txn) error {
		old, _ := scan(txn, prefix(kindEvent), decodeEvent, func(e *Event) bool { return e.Time.Before(before) })
		for i := range old {
			keys = append(keys, eventKey(old[i].Seq))
		}
		return nil
	})
	if err != nil {
		return 0, wrapErr(err, "prune events")
	}
	n, err := s.deleteKeys(keys, nil)
	return n, wrapErr(err, "prune events")
}
