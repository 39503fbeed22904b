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
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if val, err := encodeEvent(&e); err != nil {
		return 0, err
	} else if err := s.fits("append event", val); err != nil {
		return 0, err
	}
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	seq := s.lastSeq + 1
	if seq == 0 {
		return 0, fmt.Errorf("store: append event: sequence exhausted")
	}
	e.Seq = seq
	val, err := encodeEvent(&e)
	if err != nil {
		return 0, err
	}
	cv, err := encodeUint(seq)
	if err != nil {
		return 0, err
	}
	entry := badger.NewEntry(eventKey(seq), val)
	if ttl := s.opts.EventTTL; ttl > 0 {
		entry.ExpiresAt = expiresAt(e.Time.Add(ttl))
	}
	err = s.update(func(txn *badger.Txn) error {
		if err := txn.SetEntry(entry); err != nil {
			return err
		}
		return txn.Set(counterKey(eventCounter), cv)
	})
	// Even a failed commit may have reached the disk: never hand seq out
	// again in this process (a gap is harmless, a reuse is not).
	s.lastSeq = seq
	if err != nil {
		return 0, wrapErr(err, "append event %d", seq)
	}
	return seq, nil
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
