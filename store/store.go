// Package store is the controller's persistence layer: allocations,
// reservations, the request queue, calibration history, an event log and
// strategy modules, kept in an embedded Badger database with CBOR values.
//
// Durability: unless Options.NoSync is set, every mutation is on disk before
// the method returns (in the store's write-ahead journal, journal.go, which
// a reopened store replays into Badger), so a controller that acknowledges
// an allocation only after CreateAllocation returned never loses it, even if
// the machine goes down right after.
//
// Rebuilding: listing methods return the records they could decode together
// with a list of the ones they could not (each a *CorruptError naming its
// key), so that one damaged record never stops a controller from starting.
// Their third result is reserved for failures of the listing itself.
//
// Times are stored exactly (to the nanosecond, over time.Time's whole range)
// and come back in UTC, without monotonic clock readings.
//
// The store is safe for concurrent use. It imports nothing of the project:
// its record types are its own.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Errors. Test for them with errors.Is: the returned errors wrap them with
// the record or path concerned.
var (
	// ErrNotFound: no record with that identity.
	ErrNotFound = errors.New("not found")
	// ErrExists: a record with that identity exists already and may not be
	// replaced.
	ErrExists = errors.New("already exists")
	// ErrNotActive: the allocation is released or expired.
	ErrNotActive = errors.New("allocation is not active")
	// ErrInvalid: an argument or option was rejected; the message names the
	// field.
	ErrInvalid = errors.New("invalid")
	// ErrCorrupt: a stored value could not be decoded or contradicts its key
	// (see CorruptError).
	ErrCorrupt = errors.New("corrupt record")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store is closed")
	// ErrLocked: another process (or another Store in this process) has the
	// directory open.
	ErrLocked = errors.New("directory is locked by another process")
	// ErrNotStore: the directory holds something other than a store.
	ErrNotStore = errors.New("not a store directory")
)

// CorruptError reports a stored value that could not be read, decoded or
// validated. errors.Is(err, ErrCorrupt) holds for it.
type CorruptError struct {
	Key string // the key, rendered, e.g. `allocation "a-17"`
	Err error  // what is wrong with the value
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("store: corrupt record at %s: %v", e.Key, e.Err)
}

// Unwrap returns the cause.
func (e *CorruptError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// maxConflictRetries bounds the retries of a transaction that lost a race
// (badger.ErrConflict) against another writer of the same keys.
const maxConflictRetries = 64

// Store is an open store. Close it when done.
type Store struct {
	dir  string
	opts Options
	db   *badger.DB
	log  *slog.Logger

	mu     sync.RWMutex // held for reading by every operation, for writing by Close
	closed bool

	// jr is the write-ahead journal (nil with NoSync or InMemory); wmu
	// serialises mutating transactions so that the journal's order is
	// Badger's commit order.
	jr     *journal
	wmu    sync.Mutex
	recBuf []byte // guarded by wmu

	seqMu   sync.Mutex // serialises AppendEvent
	lastSeq uint64     // highest event sequence handed out

	stop   chan struct{} // closed by Close: stops the GC goroutine
	gcDone chan struct{} // closed when the GC goroutine has returned
	gcRuns uint64        // completed scheduled GC passes (guarded by gcMu)
	gcMu   sync.Mutex
	// gcPinned closes iterators that keep rewritten value-log files from
	// deletion after a failed sync (guarded by gcMu; run by Close).
	gcPinned []func()
}

// Open opens the store in dir, creating the directory and the database if
// they do not exist. It fails, naming dir, if the options are invalid, if the
// directory holds something that is not a Badger database or a Badger
// database that is not a store, if another process has it open (ErrLocked),
// or if the store was written by a newer schema.
func Open(dir string, opts Options) (*Store, error) {
	name := dir
	if opts.InMemory {
		name = "(in memory)"
	}
	fail := func(err error) (*Store, error) { return nil, fmt.Errorf("store: open %s: %w", name, err) }

	o, err := opts.resolve(dir)
	if err != nil {
		return fail(err)
	}
	if !o.InMemory {
		if err := prepareDir(dir); err != nil {
			return fail(err)
		}
	}
	db, err := openBadger(badgerOptions(dir, o))
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			err = fmt.Errorf("%w: %v", ErrLocked, err)
		}
		return fail(err)
	}
	s := &Store{
		dir:    dir,
		opts:   o,
		db:     db,
		log:    o.Logger,
		stop:   make(chan struct{}),
		gcDone: make(chan struct{}),
	}
	if err := s.initSchema(); err != nil {
		_ = db.Close()
		return fail(err)
	}
	if !o.InMemory && !o.NoSync {
		jr, err := openJournal(dir, db, o.JournalSegmentSize,
			func(msg string, args ...any) { o.Logger.Warn("store: "+msg, append(args, "dir", dir)...) })
		if err != nil {
			_ = db.Close()
			return fail(err)
		}
		s.jr = jr
	}
	if err := s.loadEventSeq(); err != nil {
		_ = db.Close()
		return fail(err)
	}
	if o.InMemory || o.GCInterval < 0 {
		close(s.gcDone)
	} else {
		go s.gcLoop(o.GCInterval)
	}
	return s, nil
}

// openBadger calls badger.Open and turns a panic into an error. Options are
// validated beforehand, so this is a last line of defence, not a mechanism.
func openBadger(bo badger.Options) (db *badger.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("badger.Open panicked: %v", r)
		}
	}()
	return badger.Open(bo)
}

// prepareDir creates dir if needed and refuses a directory that holds files
// but no Badger database, or that another process has locked.
func prepareDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		return nil
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%w: it is a file, not a directory", ErrNotStore)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		manifest := false
		for _, e := range entries {
			if e.Name() == "MANIFEST" {
				manifest = true
			}
		}
		if !manifest {
			return fmt.Errorf("%w: the directory is not empty (it holds %q) and has no Badger MANIFEST",
				ErrNotStore, entries[0].Name())
		}
	}
	if err := probeLock(dir); err != nil {
		return err
	}
	return nil
}

// lockHolder describes the process named in Badger's LOCK file, if any.
func lockHolder(dir string) string {
	b, err := os.ReadFile(dir + string(os.PathSeparator) + "LOCK")
	if err != nil {
		return ""
	}
	if pid := strings.TrimSpace(string(b)); pid != "" {
		return " (LOCK file names pid " + pid + ")"
	}
	return ""
}

// initSchema checks the schema marker, or writes it into a new database.
func (s *Store) initSchema() error {
	return s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(markerKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			it := txn.NewIterator(badger.IteratorOptions{})
			it.Rewind()
			nonEmpty := it.Valid()
			var first string
			if nonEmpty {
				first = keyString(it.Item().KeyCopy(nil))
			}
			it.Close()
			if nonEmpty {
				return fmt.Errorf("%w: a Badger database without the store's schema marker (first key %s)", ErrNotStore, first)
			}
			v, err := encodeUint(uint64(schemaVersion))
			if err != nil {
				return err
			}
			return txn.Set(markerKey, v)
		}
		if err != nil {
			return err
		}
		val, err := item.ValueCopy(nil)
		if err != nil {
			return corrupt(markerKey, err)
		}
		v, err := decodeUint(markerKey, val)
		if err != nil {
			return err
		}
		switch {
		case v > uint64(schemaVersion):
			return fmt.Errorf("schema version %d was written by a newer build (this one reads up to %d)", v, schemaVersion)
		case v < uint64(schemaVersion):
			return fmt.Errorf("schema version %d has no migration to %d", v, schemaVersion)
		}
		return nil
	})
}

// Close stops value-log GC and closes the database. Operations that are
// running finish first; later ones fail with ErrClosed. Closing twice is
// harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.gcDone
	s.gcMu.Lock()
	for _, release := range s.gcPinned {
		release()
	}
	s.gcPinned = nil
	s.gcMu.Unlock()
	var jerr error
	if s.jr != nil {
		jerr = s.jr.close()
	}
	if err := errors.Join(s.db.Close(), jerr); err != nil {
		return fmt.Errorf("store: close %s: %w", s.dir, err)
	}
	return nil
}

// Dir returns the directory the store was opened in ("" in memory).
func (s *Store) Dir() string { return s.dir }

// Sync forces Badger's buffered writes to disk. Acknowledged writes are
// durable without it (they are in the journal); it is useful with
// Options.NoSync, and it makes the journal's full segments deletable.
func (s *Store) Sync() error {
	return s.guard(func() error {
		if s.jr != nil {
			return s.jr.checkpoint(true)
		}
		return s.db.Sync()
	})
}

// Size returns the bytes on disk of the LSM tree and of the value log, as
// Badger last measured them (it refreshes the figures once a minute, so a
// new store reports zero at first).
func (s *Store) Size() (lsm, vlog int64, err error) {
	err = s.guard(func() error {
		lsm, vlog = s.db.Size()
		return nil
	})
	return lsm, vlog, err
}

// gcLoop runs value-log GC every interval until Close.
func (s *Store) gcLoop(interval time.Duration) {
	defer close(s.gcDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			n, err := s.runGC()
			if err != nil {
				s.log.Warn("store: value-log GC failed", "dir", s.dir, "err", err)
			} else if n > 0 {
				s.log.Debug("store: value-log GC", "dir", s.dir, "files_rewritten", n)
			}
			s.gcMu.Lock()
			s.gcRuns++
			s.gcMu.Unlock()
		}
	}
}

// runGC rewrites value-log files until Badger finds none worth rewriting,
// or Close is called. It returns the number of files rewritten.
func (s *Store) runGC() (int, error) {
	n := 0
	for {
		select {
		case <-s.stop:
			return n, nil
		default:
		}
		err := s.gcOnce()
		switch {
		case err == nil:
			n++
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return n, nil
		default:
			return n, err
		}
	}
}

// gcOnce runs one value-log GC pass. Badger rewrites the live values of a
// file into the current value log and then deletes the file; Badger does
// not sync here, so a crash between the two could lose values that only the
// old file held on disk. While an iterator is open Badger defers the
// deletion: the pass runs under one, Badger's files are synced, and closing
// the iterator deletes the old file.
func (s *Store) gcOnce() error {
	if s.jr == nil {
		return s.db.RunValueLogGC(s.opts.GCDiscardRatio)
	}
	txn := s.db.NewTransaction(false)
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
	err := s.db.RunValueLogGC(s.opts.GCDiscardRatio)
	if err == nil {
		if serr := syncBadgerFiles(s.dir); serr != nil {
			// Keep the old file until Close: the iterator stays open.
			s.gcMu.Lock()
			s.gcPinned = append(s.gcPinned, func() { it.Close(); txn.Discard() })
			s.gcMu.Unlock()
			return fmt.Errorf("store: sync after value-log GC (the rewritten file is kept): %w", serr)
		}
	}
	it.Close()
	txn.Discard()
	return err
}

// CollectGarbage runs value-log GC now (the schedule runs it too) and
// returns the number of value-log files rewritten. In memory it does nothing.
func (s *Store) CollectGarbage() (rewritten int, err error) {
	err = s.guard(func() error {
		if s.opts.InMemory {
			return nil
		}
		rewritten, err = s.runGC()
		return err
	})
	return rewritten, err
}

// maxValue is the largest value Badger accepts: a value-log file on disk;
// in memory, where there is no value log, the value threshold.
func (s *Store) maxValue() int {
	if s.opts.InMemory {
		return valueThreshold
	}
	return int(s.opts.ValueLogFileSize)
}

// fits rejects a value too large to store, with a message naming what.
func (s *Store) fits(what string, val []byte) error {
	if len(val) > s.maxValue() {
		return fmt.Errorf("store: %s: %w: the record is %d bytes, at most %d fit (Options.ValueLogFileSize)",
			what, ErrInvalid, len(val), s.maxValue())
	}
	return nil
}

// guard runs fn unless the store is closed, and keeps Close waiting until fn
// returns.
func (s *Store) guard(fn func() error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("store: %s: %w", s.dir, ErrClosed)
	}
	return fn()
}

// view runs fn in a read-only transaction.
func (s *Store) view(fn func(txn *badger.Txn) error) error {
	return s.guard(func() error { return s.db.View(fn) })
}

// update runs fn in a read-write transaction and commits it, durably
// unless NoSync (see journal.go). When the commit loses a race with another
// transaction that wrote a key fn read, fn runs again on fresh data: fn must
// not keep results from an earlier attempt.
func (s *Store) update(fn func(txn *wtx) error) error {
	seq, err := s.updateAsync(fn)
	if err != nil {
		return err
	}
	return s.waitDurable(seq, 0)
}

// updateAsync is update without the wait: it returns once the transaction
// is committed (later transactions and reads see it), with the journal
// sequence number to pass to waitDurable before telling anyone it is done.
func (s *Store) updateAsync(fn func(txn *wtx) error) (seq uint64, err error) {
	err = s.guard(func() error {
		if s.jr == nil {
			for attempt := 0; ; attempt++ {
				err := s.db.Update(func(txn *badger.Txn) error { return fn(&wtx{Txn: txn}) })
				if errors.Is(err, badger.ErrConflict) && attempt < maxConflictRetries {
					continue
				}
				return err
			}
		}
		s.wmu.Lock()
		defer s.wmu.Unlock()
		var err error
		seq, err = s.commitJournaled(fn)
		return err
	})
	return seq, err
}

// settled returns when every transaction committed so far is durable: a
// read that is about to be acknowledged (a replayed idempotency key) waits
// for it, since it may have seen a commit still on its way to the disk.
func (s *Store) settled() error {
	if s.jr == nil {
		return nil
	}
	return s.waitDurable(s.jr.lastSeq(), 0)
}

// waitDurable returns when the transaction updateAsync numbered seq is on
// disk (at once for 0, which is what updateAsync returns without a
// journal). A lazy wait lets other writes carry the record for up to lazy
// before writing it itself.
func (s *Store) waitDurable(seq uint64, lazy time.Duration) error {
	if seq == 0 || s.jr == nil {
		return nil
	}
	return s.jr.waitLazy(seq, lazy)
}

// commitJournaled commits fn's transaction to Badger and appends its
// mutations to the journal, under wmu so that the journal's order is the
// commit order. It returns the record's sequence number, or 0 when fn wrote
// nothing.
func (s *Store) commitJournaled(fn func(txn *wtx) error) (uint64, error) {
	if err := s.jr.failed(); err != nil {
		return 0, err
	}
	for attempt := 0; ; attempt++ {
		txn := s.db.NewTransaction(true)
		t := &wtx{Txn: txn, on: true, rec: s.recBuf[:0]}
		err := fn(t)
		if cap(t.rec) <= 1<<20 {
			s.recBuf = t.rec[:0] // reuse small buffers, drop large ones
		}
		if err != nil {
			txn.Discard()
			return 0, err
		}
		if len(t.rec) == 0 {
			// Nothing written, but what fn read may be a commit that is not
			// durable yet: the caller waits for everything committed so far.
			txn.Discard()
			return s.jr.lastSeq(), nil
		}
		seq := s.jr.nextSeq()
		if err := txn.Set(appliedKey, binary.BigEndian.AppendUint64(nil, seq)); err != nil {
			txn.Discard()
			return 0, err
		}
		if err := txn.Commit(); err != nil {
			if errors.Is(err, badger.ErrConflict) && attempt < maxConflictRetries {
				continue
			}
			return 0, err
		}
		if t.big {
			// A value this large went to Badger's value log, which a crash
			// could lose while the memtable that points at it survives;
			// make it durable before the journal can make the commit
			// count.
			if err := syncBadgerFiles(s.dir); err != nil {
				return 0, fmt.Errorf("store: sync the value log: %w", err)
			}
		}
		return s.jr.append(t.rec)
	}
}

// getValue reads the value under key. Read failures of an existing key are
// reported as corruption of that key.
func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if err != nil {
		return nil, err // badger.ErrKeyNotFound or a failure of the store itself
	}
	val, err := item.ValueCopy(nil)
	if err != nil {
		return nil, corrupt(key, err)
	}
	return val, nil
}

// scan iterates over every key with the prefix pfx, decodes each value and
// keeps those keep accepts (nil keeps all). Values that fail to read or
// decode are collected in bad rather than ending the scan.
func scan[T any](txn *badger.Txn, pfx []byte, decode func(key, val []byte) (*T, error), keep func(*T) bool) (good []T, bad []error) {
	return scanFrom(txn, pfx, pfx, 0, decode, keep)
}

// scanFrom is scan starting at key start and stopping after limit kept
// records (0: no limit).
func scanFrom[T any](txn *badger.Txn, pfx, start []byte, limit int, decode func(key, val []byte) (*T, error), keep func(*T) bool) (good []T, bad []error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx, PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Seek(start); it.Valid() && (limit <= 0 || len(good) < limit); it.Next() {
		item := it.Item()
		key := item.KeyCopy(nil)
		val, err := item.ValueCopy(nil)
		if err != nil {
			bad = append(bad, corrupt(key, err))
			continue
		}
		rec, err := decode(key, val)
		if err != nil {
			bad = append(bad, err)
			continue
		}
		if keep == nil || keep(rec) {
			good = append(good, *rec)
		}
	}
	return good, bad
}

// keysWithPrefix lists the keys under pfx (values are not read).
func keysWithPrefix(txn *badger.Txn, pfx []byte) [][]byte {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx})
	defer it.Close()
	var keys [][]byte
	for it.Rewind(); it.Valid(); it.Next() {
		keys = append(keys, it.Item().KeyCopy(nil))
	}
	return keys
}

// deleteKeys deletes keys in as many transactions as Badger's batch limit
// needs. check, when not nil, runs inside the deleting transaction for each
// key and may veto its deletion (false) or name further keys to delete with
// it; that keeps a prune from removing a record that changed since it was
// chosen. It returns the number of keys check accepted.
func (s *Store) deleteKeys(keys [][]byte, check func(txn *badger.Txn, key []byte) (ok bool, extra [][]byte, err error)) (int, error) {
	chunk := 512
	total := 0
	for len(keys) > 0 {
		n := min(chunk, len(keys))
		part := keys[:n]
		var done int
		err := s.update(func(txn *wtx) error {
			done = 0
			for _, k := range part {
				var extra [][]byte
				if check != nil {
					ok, ex, err := check(txn.Txn, k)
					if err != nil {
						return err
					}
					if !ok {
						continue
					}
					extra = ex
				}
				for _, d := range append([][]byte{k}, extra...) {
					if err := txn.Delete(d); err != nil {
						return err
					}
				}
				done++
			}
			return nil
		})
		if errors.Is(err, badger.ErrTxnTooBig) && n > 1 {
			chunk = n / 2 // long keys: fewer per transaction
			continue
		}
		if err != nil {
			return total, err
		}
		total += done
		keys = keys[n:]
	}
	return total, nil
}

// wrapErr names the operation and record in an error from a transaction,
// leaving *CorruptError (which names its key) and closed-store errors as
// they are.
func wrapErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var ce *CorruptError
	if errors.As(err, &ce) || errors.Is(err, ErrClosed) {
		return err
	}
	return fmt.Errorf("store: "+format+": %w", append(args, err)...)
}
