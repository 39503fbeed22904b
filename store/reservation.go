package store

import (
	"errors"
	"fmt"
	"sort"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// PutReservation writes a reservation, durably, creating it or replacing
// the one with the same ID. An empty CreatedAt becomes time.Now(). It fails
// with ErrInvalid for a bad record (End not after Start, negative Count,
// repeated or negative qubits).
func (s *Store) PutReservation(r Reservation) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	if err := r.validate(); err != nil {
		return fmt.Errorf("store: put reservation %q: %w: %v", r.ID, ErrInvalid, err)
	}
	val, err := encodeReservation(&r)
	if err != nil {
		return err
	}
	if err := s.fits(fmt.Sprintf("put reservation %q", r.ID), val); err != nil {
		return err
	}
	err = s.update(func(txn *wtx) error { return txn.Set(reservationKey(r.ID), val) })
	return wrapErr(err, "put reservation %q", r.ID)
}

func getReservation(txn *badger.Txn, id string) (*Reservation, error) {
	key := reservationKey(id)
	val, err := getValue(txn, key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decodeReservation(key, val)
}

// CancelReservation marks a reservation cancelled and returns it. Cancelling
// a cancelled reservation changes nothing. Unknown ids fail with ErrNotFound.
func (s *Store) CancelReservation(id string) (*Reservation, error) {
	var out *Reservation
	err := s.update(func(txn *wtx) error {
		r, err := getReservation(txn.Txn, id)
		if err != nil {
			return err
		}
		out = r
		if r.Cancelled {
			return nil
		}
		r.Cancelled = true
		val, err := encodeReservation(r)
		if err != nil {
			return err
		}
		return txn.Set(reservationKey(id), val)
	})
	if err != nil {
		return nil, wrapErr(err, "cancel reservation %q", id)
	}
	return out, nil
}

// GetReservation returns the reservation with that id, or ErrNotFound.
func (s *Store) GetReservation(id string) (*Reservation, error) {
	var out *Reservation
	err := s.view(func(txn *badger.Txn) error {
		r, err := getReservation(txn, id)
		out = r
		return err
	})
	if err != nil {
		return nil, wrapErr(err, "get reservation %q", id)
	}
	return out, nil
}

// ListReservations returns the reservations in force at activeAt (not
// cancelled, Start <= activeAt < End, a zero End never ending), or every
// reservation, cancelled ones included, when activeAt is zero. They are
// ordered by Start, then ID. bad and err are as in ListAllocations.
func (s *Store) ListReservations(activeAt time.Time) (good []Reservation, bad []error, err error) {
	var keep func(*Reservation) bool
	if !activeAt.IsZero() {
		keep = func(r *Reservation) bool { return r.activeAt(activeAt) }
	}
	err = s.view(func(txn *badger.Txn) error {
		good, bad = scan(txn, prefix(kindReservation), decodeReservation, keep)
		return nil
	})
	if err != nil {
		return nil, nil, wrapErr(err, "list reservations")
	}
	sort.Slice(good, func(i, j int) bool {
		if !good[i].Start.Equal(good[j].Start) {
			return good[i].Start.Before(good[j].Start)
		}
		return good[i].ID < good[j].ID
	})
	return good, bad, nil
}

// PruneReservations deletes reservations that ended before the given time
// and cancelled ones created before it, and returns how many it deleted.
func (s *Store) PruneReservations(before time.Time) (int, error) {
	prunable := func(r *Reservation) bool {
		return (!r.End.IsZero() && r.End.Before(before)) || (r.Cancelled && r.CreatedAt.Before(before))
	}
	var keys [][]byte
	err := s.view(func(txn *badger.Txn) error {
		old, _ := scan(txn, prefix(kindReservation), decodeReservation, prunable)
		for i := range old {
			keys = append(keys, reservationKey(old[i].ID))
		}
		return nil
	})
	if err != nil {
		return 0, wrapErr(err, "prune reservations")
	}
	n, err := s.deleteKeys(keys, func(txn *badger.Txn, key []byte) (bool, [][]byte, error) {
		val, err := getValue(txn, key)
		if err != nil {
			return false, nil, nil
		}
		r, err := decodeReservation(key, val)
		return err == nil && prunable(r), nil, nil
	})
	return n, wrapErr(err, "prune reservations")
}
