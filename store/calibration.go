package store

import (
	"bytes"
	"fmt"
	"sort"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// expiresAt converts an expiry time to Badger's ExpiresAt (Unix seconds;
// 0 would mean never, so times before 1970 become 1, long expired).
func expiresAt(t time.Time) uint64 {
	if u := t.Unix(); u > 1 {
		return uint64(u)
	}
	return 1
}

// PutCalibration adds a record to a device's calibration history, durably.
// Records are keyed by (Device, Time, Epoch): writing the same triple again
// replaces the record. With Options.CalibrationTTL set, the record
// disappears CalibrationTTL after its Time (at once if that is past).
func (s *Store) PutCalibration(c CalibrationRecord) error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("store: put calibration of %q: %w: %v", c.Device, ErrInvalid, err)
	}
	val, err := encodeCalibration(&c)
	if err != nil {
		return err
	}
	if err := s.fits(fmt.Sprintf("put calibration of %q", c.Device), val); err != nil {
		return err
	}
	e := badger.NewEntry(calibrationKey(c.Device, c.Time, c.Epoch), val)
	if ttl := s.opts.CalibrationTTL; ttl > 0 {
		e.ExpiresAt = expiresAt(c.Time.Add(ttl))
	}
	err = s.update(func(txn *wtx) error { return txn.SetEntry(e) })
	return wrapErr(err, "put calibration of %q epoch %d", c.Device, c.Epoch)
}

// ListCalibrations returns the calibration history of device (every device
// when device is empty) from since on (everything when since is zero),
// ordered by Time (then Device). bad and err are as in ListAllocations.
func (s *Store) ListCalibrations(device string, since time.Time) (good []CalibrationRecord, bad []error, err error) {
	keep := func(c *CalibrationRecord) bool { return !c.Time.Before(since) }
	err = s.view(func(txn *badger.Txn) error {
		if device == "" {
			good, bad = scan(txn, prefix(kindCalibration), decodeCalibration, keep)
			return nil
		}
		pfx := calibrationPrefix(device)
		start := pfx
		if !since.IsZero() {
			start = appendTime(bytes.Clone(pfx), since)
		}
		good, bad = scanFrom(txn, pfx, start, 0, decodeCalibration, keep)
		return nil
	})
	if err != nil {
		return nil, nil, wrapErr(err, "list calibrations of %q", device)
	}
	sort.SliceStable(good, func(i, j int) bool {
		if !good[i].Time.Equal(good[j].Time) {
			return good[i].Time.Before(good[j].Time)
		}
		return good[i].Device < good[j].Device
	})
	return good, bad, nil
}

// LatestCalibration returns the newest calibration record of device, or
// ErrNotFound. If the newest record cannot be decoded it returns its
// *CorruptError.
func (s *Store) LatestCalibration(device string) (*CalibrationRecord, error) {
	var out *CalibrationRecord
	err := s.view(func(txn *badger.Txn) error {
		pfx := calibrationPrefix(device)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx, Reverse: true})
		defer it.Close()
		it.Seek(append(bytes.Clone(pfx), bytes.Repeat([]byte{0xff}, 21)...))
		if !it.Valid() {
			return ErrNotFound
		}
		key := it.Item().KeyCopy(nil)
		val, err := it.Item().ValueCopy(nil)
		if err != nil {
			return corrupt(key, err)
		}
		out, err = decodeCalibration(key, val)
		return err
	})
	if err != nil {
		return nil, wrapErr(err, "latest calibration of %q", device)
	}
	return out, nil
}

// PruneCalibrations deletes every calibration record (of every device)
// whose Time is before the given time and returns how many it deleted. The
// time is part of the key, so even unreadable records are pruned.
func (s *Store) PruneCalibrations(before time.Time) (int, error) {
	var keys [][]byte
	err := s.view(func(txn *badger.Txn) error {
		for _, k := range keysWithPrefix(txn, prefix(kindCalibration)) {
			r := keyReader{b: k[2:]}
			r.string()
			t := r.time()
			r.uint64()
			if !r.bad && len(r.b) == 0 && t.Before(before) {
				keys = append(keys, k)
			}
		}
		return nil
	})
	if err != nil {
		return 0, wrapErr(err, "prune calibrations")
	}
	n, err := s.deleteKeys(keys, nil)
	return n, wrapErr(err, "prune calibrations")
}
