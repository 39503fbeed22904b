package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	badger "github.com/dgraph-io/badger/v4"
)

// The journal is the store's write-ahead log, and the reason a synced write
// costs one small write to disk instead of Badger's two syncs of its
// memory-mapped logs (value log, then memtable WAL), each of which scans the
// whole mapping.
//
// Every mutating transaction runs under Store.wmu: it is committed to Badger
// (which does not sync), its mutations are appended to the journal in
// commit order, and the caller waits until the journal has written them
// with O_DSYNC. Concurrent writers share that write (group commit): while
// one batch is on its way to the disk, the next one gathers.
//
// Each committed transaction also sets appliedKey to its journal sequence
// number, so Badger always knows which prefix of the history it holds.
// Badger's own recovery keeps a prefix of its commits (it truncates its logs
// at the first damaged entry), and the journal on disk is a prefix too.
// Opening the store compares the two:
//
//   - Badger holds less than the journal: every record of the journal is
//     applied again, in order. The records are blind writes of whole values,
//     and the journal reaches back to the last checkpoint (before which
//     Badger is durable), so the result is the state after the journal's
//     last record.
//   - Badger holds more: those commits were never acknowledged (their
//     journal write had not finished), and Badger's state is consistent.
//
// Checkpoints bound the journal. When a segment is full, writing moves to
// the next one (created ahead by a background loop) and the full one is
// retired; it is deleted once Badger has made its records durable on its
// own: once every memtable that existed at retirement has been flushed to a
// table (Badger syncs tables and its manifest). A lightly loaded store
// flushes rarely, so past maxRetired segments, and on Store.Sync, a
// checkpoint syncs Badger's files instead (fsync of every value log and
// memtable file, which also writes pages dirtied through mmap). Never
// syncing memtables in the normal course matters: a memtable's pages are
// then written once, as a table, instead of twice.
//
// Values large enough for Badger's value log (module binaries) are synced
// there before their record is appended, so that Badger never holds a
// durable pointer to a value it lost.
//
// A failed journal write breaks the store: Badger already holds the
// transaction but the disk may not, so every later write fails with that
// error until the store is reopened, and recovery decides.

const (
	journalDir = "journal"
	// defaultSegmentSize is where the journal moves to a new segment file and
	// checkpoints the old one. At 2,000 allocation writes a second of a few
	// hundred bytes each, a segment lasts about ten seconds.
	defaultSegmentSize = 8 << 20
	// recordHeader: length (uint32), CRC-32C (uint32), sequence (uint64).
	recordHeader = 16
	// maxRecord bounds one record on replay: a value-log file's worth of
	// values plus their keys.
	maxRecord = 2<<30 - 1
)

// appliedKey holds the journal sequence number of the last transaction
// committed to Badger (8 bytes, big-endian). Like markerKey it lives outside
// the versioned key space.
var appliedKey = []byte("\x00eigen-os/rm/store/journal-applied")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Journal operations inside a record.
const (
	opSet    byte = 1
	opDelete byte = 2
)

// wtx is a read-write transaction that records its mutations for the
// journal. It embeds the Badger transaction for reads.
type wtx struct {
	*badger.Txn
	rec []byte // encoded operations (nil when not journaling)
	on  bool
	big bool // a value large enough for Badger's value log
}

// Set writes key = val.
func (t *wtx) Set(key, val []byte) error {
	if err := t.Txn.Set(key, val); err != nil {
		return err
	}
	t.record(opSet, key, val, 0, 0)
	return nil
}

// SetEntry writes an entry (with its expiry and user meta).
func (t *wtx) SetEntry(e *badger.Entry) error {
	if err := t.Txn.SetEntry(e); err != nil {
		return err
	}
	t.record(opSet, e.Key, e.Value, e.ExpiresAt, e.UserMeta)
	return nil
}

// Delete deletes key.
func (t *wtx) Delete(key []byte) error {
	if err := t.Txn.Delete(key); err != nil {
		return err
	}
	t.record(opDelete, key, nil, 0, 0)
	return nil
}

// record appends: op, key (uvarint length, bytes), and for a set the value
// (uvarint length, bytes), its expiry (uvarint) and user meta (one byte).
func (t *wtx) record(op byte, key, val []byte, expires uint64, meta byte) {
	if !t.on {
		return
	}
	t.rec = append(t.rec, op)
	t.rec = binary.AppendUvarint(t.rec, uint64(len(key)))
	t.rec = append(t.rec, key...)
	if op == opSet {
		t.rec = binary.AppendUvarint(t.rec, uint64(len(val)))
		t.rec = append(t.rec, val...)
		t.rec = binary.AppendUvarint(t.rec, expires)
		t.rec = append(t.rec, meta)
		t.big = t.big || len(val) >= valueThreshold
	}
}

// applyOps replays one record's operations into txn.
func applyOps(txn *badger.Txn, ops []byte) error {
	for len(ops) > 0 {
		op := ops[0]
		ops = ops[1:]
		key, rest, err := takeBytes(ops)
		if err != nil {
			return fmt.Errorf("key: %w", err)
		}
		ops = rest
		switch op {
		case opDelete:
			if err := txn.Delete(key); err != nil {
				return err
			}
		case opSet:
			val, rest, err := takeBytes(ops)
			if err != nil {
				return fmt.Errorf("value of %s: %w", keyString(key), err)
			}
			expires, n := binary.Uvarint(rest)
			if n <= 0 || len(rest) < n+1 {
				return fmt.Errorf("expiry of %s: truncated", keyString(key))
			}
			meta := rest[n]
			ops = rest[n+1:]
			e := badger.NewEntry(key, val).WithMeta(meta)
			e.ExpiresAt = expires
			if err := txn.SetEntry(e); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown operation %d", op)
		}
	}
	return nil
}

func takeBytes(b []byte) (field, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, errors.New("truncated")
	}
	return b[w : w+int(n)], b[w+int(n):], nil
}

// segment is one journal file. Segments are numbered in the order they
// were created; the records say which sequence numbers they hold.
type segment struct {
	id   uint64
	path string
}

func segmentName(id uint64) string { return fmt.Sprintf("%016d.wal", id) }

// retiredSegment is a full segment kept until Badger has made its records
// durable: until every memtable that existed when it was retired (ids up to
// memFloor) has been flushed to a table, or a forced sync.
type retiredSegment struct {
	segment
	memFloor uint64
}

// maxRetired bounds the full segments kept while waiting for memtable
// flushes (a lightly loaded store flushes rarely): past it, a checkpoint
// syncs Badger's files instead.
const maxRetired = 4

// journal appends records and makes them durable, one write for every
// batch of concurrent appends.
type journal struct {
	dir     string // the journal's directory
	dbDir   string // Badger's
	segSize int64
	log     func(msg string, args ...any)

	mu       sync.Mutex
	cond     sync.Cond
	buf      []byte // records appended and not yet handed to a write
	spare    []byte
	last     uint64 // sequence of the last record appended
	bufLast  uint64 // sequence of the last record in buf
	written  uint64 // every record up to this one is durable
	flushing bool   // a writer is writing; others wait
	err      error  // sticky: a failed write breaks the journal

	// Owned by the writer of the moment (flushing == true), or by open and
	// close.
	f      *os.File
	cur    segment
	off    int64
	direct bool   // O_DIRECT writes of whole blocks
	tail   []byte // direct: the bytes of the partial block at off
	dbuf   []byte // direct: the aligned write buffer

	segMu   sync.Mutex // guards what follows, shared with the background loop
	nextID  uint64     // id of the next segment to create
	ready   *os.File   // a segment created ahead, empty
	readyID uint64
	retired []retiredSegment

	kick     chan struct{}
	stop     chan struct{}
	loopDone chan struct{}
	ckptMu   sync.Mutex // serialises checkpoints
}

// openJournal replays the journal of the store in dir into db, makes
// Badger durable, and starts a fresh segment. The journal appends after the
// last sequence number that Badger or the old journal knew.
func openJournal(dir string, db *badger.DB, segSize int64, log func(string, ...any)) (*journal, error) {
	jdir := filepath.Join(dir, journalDir)
	if err := os.MkdirAll(jdir, 0o700); err != nil {
		return nil, err
	}
	applied, err := readApplied(db)
	if err != nil {
		return nil, err
	}
	segs, err := listSegments(jdir)
	if err != nil {
		return nil, err
	}
	last, err := replay(db, segs, applied, log)
	if err != nil {
		return nil, err
	}
	if applied > last {
		last = applied
	}
	segSize = (segSize + blockSize - 1) &^ (blockSize - 1)
	j := &journal{dir: jdir, dbDir: dir, segSize: segSize, log: log, last: last, bufLast: last, written: last,
		nextID: 1, kick: make(chan struct{}, 1), stop: make(chan struct{}), loopDone: make(chan struct{})}
	j.cond.L = &j.mu
	if len(segs) > 0 {
		j.nextID = segs[len(segs)-1].id + 1
	}
	j.direct = !bufferedJournal && probeDirect(jdir)
	// Everything replayed (and, in a new store, the schema marker) is in
	// Badger; make it durable there, then the old segments can go.
	if err := syncBadgerFiles(dir); err != nil {
		return nil, fmt.Errorf("journal: checkpoint at open: %w", err)
	}
	for _, sg := range segs {
		if err := os.Remove(sg.path); err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
	}
	f, sg, err := j.createSegment(true, 0)
	if err != nil {
		return nil, err
	}
	j.f, j.cur = f, sg
	go j.loop()
	return j, nil
}

func readApplied(db *badger.DB) (uint64, error) {
	var seq uint64
	err := db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(appliedKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return &CorruptError{Key: strconv.Quote(string(appliedKey)), Err: fmt.Errorf("%d bytes, want 8", len(v))}
			}
			seq = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	return seq, err
}

// listSegments returns the journal's segments in order. Anything else in
// the directory is an error: the directory is the store's.
func listSegments(jdir string) ([]segment, error) {
	entries, err := os.ReadDir(jdir)
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "probe-") && strings.HasSuffix(name, ".tmp") {
			continue // left by a crash during probeDirect
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, ".wal"), 10, 64)
		if !strings.HasSuffix(name, ".wal") || err != nil || e.IsDir() {
			return nil, fmt.Errorf("journal: %s: %w: unexpected file %q in the journal directory", jdir, ErrNotStore, name)
		}
		segs = append(segs, segment{id: id, path: filepath.Join(jdir, name)})
	}
	sort.Slice(segs, func(a, b int) bool { return segs[a].id < segs[b].id })
	return segs, nil
}

// replay reads every segment and, when Badger holds less than the journal,
// applies all of its records again, in order. It returns the sequence number
// of the journal's last record (0 if it has none).
func replay(db *badger.DB, segs []segment, applied uint64, log func(string, ...any)) (uint64, error) {
	var recs []journalRecord
	var next uint64 // expected sequence of the next record; 0: any
	damagedAt := ""
	for _, sg := range segs {
		data, err := os.ReadFile(sg.path)
		if err != nil {
			return 0, fmt.Errorf("journal: %w", err)
		}
		hasRecords := len(data) >= recordHeader && binary.LittleEndian.Uint32(data) != 0
		if damagedAt != "" && hasRecords {
			return 0, fmt.Errorf("journal: %w: %s ends in a damaged record but a later segment, %s, holds records: refusing to guess",
				ErrCorrupt, damagedAt, sg.path)
		}
		var damaged string
		recs, next, damaged, err = scanSegment(data, recs, next)
		if err != nil {
			return 0, fmt.Errorf("journal: %w: %s %v", ErrCorrupt, sg.path, err)
		}
		if damaged != "" {
			damagedAt = sg.path + " " + damaged
		}
	}
	if damagedAt != "" && log != nil {
		log("journal: ignoring the damaged tail of the journal (a write the crash cut short)", "where", damagedAt)
	}
	if len(recs) == 0 {
		return 0, nil
	}
	first, last := recs[0].seq, recs[len(recs)-1].seq
	if applied >= last {
		return last, nil // Badger holds it all (and perhaps unacknowledged commits after it)
	}
	if first > applied+1 {
		return 0, fmt.Errorf("journal: %w: the store holds records up to %d but the journal starts at %d: records %d..%d are lost",
			ErrCorrupt, applied, first, applied+1, first-1)
	}
	if log != nil {
		log("journal: replaying", "records", len(recs), "from", first, "to", last, "store_applied", applied)
	}
	// Apply in transactions that Badger accepts, each ending with the
	// applied sequence of its last record.
	for i := 0; i < len(recs); {
		j, err := applyRecords(db, recs[i:])
		if err != nil {
			return 0, err
		}
		i += j
	}
	return last, nil
}

// journalRecord is one record read back: its sequence number and
// operations (pointing into the segment's bytes).
type journalRecord struct {
	seq uint64
	ops []byte
}

// scanSegment appends the records of one segment's bytes to recs. next is
// the sequence number the first record must have (0: any); it returns the
// one after the last record read. Reading stops at the zeros after the last
// record, or at a damaged record (a bad length or checksum, or a sequence
// out of order), which damaged then describes. A segment whose very first
// record is out of order is an error: records are missing.
func scanSegment(data []byte, recs []journalRecord, next uint64) (_ []journalRecord, _ uint64, damaged string, err error) {
	off := 0
	for len(data)-off >= recordHeader {
		n := binary.LittleEndian.Uint32(data[off:])
		if n == 0 { // the zeros after the last record
			break
		}
		sum := binary.LittleEndian.Uint32(data[off+4:])
		seq := binary.LittleEndian.Uint64(data[off+8:])
		if n > maxRecord || uint64(n) > uint64(len(data)-off-recordHeader) {
			return recs, next, fmt.Sprintf("at offset %d (length %d past the end)", off, n), nil
		}
		end := off + recordHeader + int(n)
		if crc32.Checksum(data[off+8:end], crcTable) != sum {
			return recs, next, fmt.Sprintf("at offset %d (checksum)", off), nil
		}
		if next != 0 && seq != next {
			if off == 0 {
				return recs, next, "", fmt.Errorf("starts at record %d, want %d: records are missing", seq, next)
			}
			return recs, next, fmt.Sprintf("at offset %d (record %d, want %d)", off, seq, next), nil
		}
		recs = append(recs, journalRecord{seq: seq, ops: data[off+recordHeader : end]})
		next = seq + 1
		off = end
	}
	return recs, next, "", nil
}

// applyRecords applies as many of recs (at least one) as fit in one Badger
// transaction and returns how many it applied.
func applyRecords(db *badger.DB, recs []journalRecord) (int, error) {
	n := len(recs)
	for {
		txn := db.NewTransaction(true)
		var err error
		k := 0
		for ; k < n; k++ {
			if err = applyOps(txn, recs[k].ops); err != nil {
				break
			}
		}
		if err == nil {
			err = txn.Set(appliedKey, binary.BigEndian.AppendUint64(nil, recs[n-1].seq))
		}
		if errors.Is(err, badger.ErrTxnTooBig) && n > 1 {
			txn.Discard()
			n = max(1, min(k, n/2)) // fewer records per transaction
			continue
		}
		if err != nil {
			txn.Discard()
			return 0, fmt.Errorf("journal: %w: record %d: %v", ErrCorrupt, recs[min(k, n-1)].seq, err)
		}
		if err := txn.Commit(); err != nil {
			return 0, fmt.Errorf("journal: replay: %w", err)
		}
		return n, nil
	}
}

// blockSize is the unit of the journal's direct writes: offsets, lengths
// and buffers are multiples of it (any device's logical block divides it).
const blockSize = 4096

// createSegment creates the next segment file, fills it with zeros (so
// that writes into it change no file-system metadata; with fill false it
// only reserves the space, which is quicker but makes each write slower)
// and makes its directory entry durable.
//
// With pace > 0 (the background preparation of the next segment) the zeros
// go out directly, a fillChunk at a time with a pause of pace after each:
// written in one burst and synced, 8 MB of zeros held the device long
// enough to delay the journal's own writes by 15-20 ms on the reference
// machine (a stall every segment); paced, they pass between them.
func (j *journal) createSegment(fill bool, pace time.Duration) (*os.File, segment, error) {
	j.segMu.Lock()
	id := j.nextID
	j.nextID++
	j.segMu.Unlock()
	sg := segment{id: id, path: filepath.Join(j.dir, segmentName(id))}
	flags := os.O_RDWR | os.O_CREATE | os.O_EXCL
	direct := fill && pace > 0 && j.direct
	if direct {
		flags |= syscall.O_DIRECT
	}
	f, err := os.OpenFile(sg.path, flags, 0o600)
	if err != nil {
		return nil, sg, fmt.Errorf("journal: %w", err)
	}
	fail := func(err error) (*os.File, segment, error) {
		f.Close()
		os.Remove(sg.path)
		return nil, sg, fmt.Errorf("journal: %w", err)
	}
	if fill {
		zero := make([]byte, fillChunk)
		if direct {
			_ = syscall.Fallocate(int(f.Fd()), 0, 0, j.segSize)
			zero = alignedBlock(fillChunk)
		}
		for off := int64(0); off < j.segSize; off += int64(len(zero)) {
			if _, err := f.WriteAt(zero[:min(int64(len(zero)), j.segSize-off)], off); err != nil {
				return fail(err)
			}
			if pace > 0 {
				select {
				case <-j.stop:
					return fail(errJournalClosing)
				case <-time.After(pace):
				}
			}
		}
	} else {
		// A file system without fallocate grows the file at each write.
		_ = syscall.Fallocate(int(f.Fd()), 0, 0, j.segSize)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	f.Close()
	// Writes are synchronous (O_DSYNC) and, where the file system allows,
	// direct (O_DIRECT: no page-cache copy, about a third quicker here).
	flags = os.O_WRONLY | syscall.O_DSYNC
	if j.direct {
		flags |= syscall.O_DIRECT
	}
	if f, err = os.OpenFile(sg.path, flags, 0); err != nil {
		os.Remove(sg.path)
		return nil, sg, fmt.Errorf("journal: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		return nil, sg, err
	}
	return f, sg, nil
}

// errJournalClosing stops the preparation of a segment when the store
// closes.
var errJournalClosing = errors.New("the journal is closing")

// fillChunk and fillPace: the background preparation of a segment writes
// its zeros 256 KB at a time, 2 ms apart (an 8 MB segment in about 0.1 s,
// against the several seconds a segment lasts at the highest rates).
const (
	fillChunk = 256 << 10
	fillPace  = 2 * time.Millisecond
)

// bufferedJournal turns direct writes off (tests of the other path).
var bufferedJournal = false

// probeDirect reports whether files in dir can be written with O_DIRECT
// (tmpfs, for one, refuses it).
func probeDirect(dir string) bool {
	f, err := os.CreateTemp(dir, "probe-*.tmp")
	if err != nil {
		return false
	}
	name := f.Name()
	f.Close()
	defer os.Remove(name)
	g, err := os.OpenFile(name, os.O_WRONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return false
	}
	defer g.Close()
	_, err = g.WriteAt(alignedBlock(blockSize), 0)
	return err == nil
}

// alignedBlock returns n zero bytes (n a multiple of blockSize) starting at
// a blockSize boundary in memory, as O_DIRECT requires.
func alignedBlock(n int) []byte {
	b := make([]byte, n+blockSize)
	skip := 0
	if r := int(uintptr(unsafe.Pointer(&b[0])) & (blockSize - 1)); r != 0 {
		skip = blockSize - r
	}
	return b[skip : skip+n : skip+n]
}

// rotate moves writing to a new segment (the one made ready ahead, if any)
// and retires the full one. The caller owns the writer's state.
func (j *journal) rotate() error {
	j.segMu.Lock()
	f, sg := j.ready, segment{id: j.readyID, path: filepath.Join(j.dir, segmentName(j.readyID))}
	j.ready = nil
	j.segMu.Unlock()
	if f == nil { // none ready: a quick one, not filled
		var err error
		if f, sg, err = j.createSegment(false, 0); err != nil {
			return err
		}
	}
	// Every record of the full segment is in a memtable that exists now.
	floor, err := maxMemtable(j.dbDir)
	if err != nil {
		f.Close()
		return err
	}
	_ = j.f.Close()
	j.segMu.Lock()
	j.retired = append(j.retired, retiredSegment{segment: j.cur, memFloor: floor})
	j.segMu.Unlock()
	j.f, j.cur, j.off, j.tail = f, sg, 0, j.tail[:0]
	select {
	case j.kick <- struct{}{}:
	default:
	}
	return nil
}

// append adds a record with the next sequence number and returns it. The
// caller holds Store.wmu, so records are in commit order.
func (j *journal) append(ops []byte) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, j.err
	}
	j.last++
	seq := j.last
	var h [recordHeader]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(ops)))
	binary.LittleEndian.PutUint64(h[8:], seq)
	sum := crc32.Update(crc32.Checksum(h[8:16], crcTable), crcTable, ops)
	binary.LittleEndian.PutUint32(h[4:], sum)
	j.buf = append(j.buf, h[:]...)
	j.buf = append(j.buf, ops...)
	j.bufLast = seq
	return seq, nil
}

// failed returns the error that broke the journal, if any.
func (j *journal) failed() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// lastSeq is the sequence number of the last record appended.
func (j *journal) lastSeq() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.last
}

// nextSeq is the sequence number the next append will get.
func (j *journal) nextSeq() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.last + 1
}

// waitLazy returns when record seq is durable, writing the gathered
// records itself when no other caller is writing. A record that is not
// urgent (delay > 0) first lets other callers' writes take it to the disk
// for up to delay.
func (j *journal) waitLazy(seq uint64, delay time.Duration) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var deadline time.Time
	if delay > 0 && j.written < seq {
		deadline = time.Now().Add(delay)
		t := time.AfterFunc(delay, func() {
			j.mu.Lock()
			j.cond.Broadcast()
			j.mu.Unlock()
		})
		defer t.Stop()
	}
	for j.written < seq {
		if j.err != nil {
			return j.err
		}
		if j.flushing || (delay > 0 && time.Now().Before(deadline)) {
			j.cond.Wait()
			continue
		}
		j.flushing = true
		data, last := j.buf, j.bufLast
		j.buf = j.spare[:0]
		j.mu.Unlock()
		err := j.write(data)
		j.mu.Lock()
		if cap(data) <= 4<<20 {
			j.spare = data[:0]
		} else {
			j.spare = nil
		}
		j.flushing = false
		if err != nil {
			j.err = fmt.Errorf("store: journal write failed, the store accepts no more writes until it is reopened: %w", err)
		} else {
			j.written = last
		}
		j.cond.Broadcast()
	}
	return nil
}

// write puts data (whole records) at the end of the current segment,
// moving to a new one when the current one is full.
func (j *journal) write(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if j.off > 0 && j.off+int64(len(data)) > j.segSize {
		if err := j.rotate(); err != nil {
			return err
		}
	}
	// O_DSYNC: the write returns when the data (and the size, should the
	// file grow) is on disk.
	if !j.direct {
		if _, err := j.f.WriteAt(data, j.off); err != nil {
			return err
		}
		j.off += int64(len(data))
		return nil
	}
	// Direct writes cover whole blocks: the partial block at the end is
	// written again, its first bytes unchanged (a torn write cannot damage
	// them: they are the same before and after), then the new records,
	// then zeros to the block's end, as the file already holds there.
	start := j.off &^ (blockSize - 1)
	head := int(j.off - start)
	total := head + len(data)
	padded := (total + blockSize - 1) &^ (blockSize - 1)
	if cap(j.dbuf) < padded {
		j.dbuf = alignedBlock(max(padded, 16*blockSize))
	}
	buf := j.dbuf[:padded]
	copy(buf, j.tail[:head])
	copy(buf[head:], data)
	clear(buf[total:])
	if _, err := j.f.WriteAt(buf, start); err != nil {
		return err
	}
	j.off += int64(len(data))
	keep := int(j.off & (blockSize - 1)) // bytes of the new partial block
	j.tail = append(j.tail[:0], buf[total-keep:total]...)
	return nil
}

// loop prepares the next segment ahead of need and deletes the full ones
// whose records Badger has made durable.
func (j *journal) loop() {
	defer close(j.loopDone)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		j.prepare()
		if err := j.checkpoint(false); err != nil && j.log != nil {
			j.log("journal: checkpoint failed; the segments are kept", "err", err)
		}
		select {
		case <-j.stop:
			return
		case <-j.kick:
		case <-t.C:
		}
	}
}

// prepare creates the next segment if none is ready.
func (j *journal) prepare() {
	j.segMu.Lock()
	have := j.ready != nil
	j.segMu.Unlock()
	if have {
		return
	}
	f, sg, err := j.createSegment(true, fillPace)
	if err != nil {
		if j.log != nil && !errors.Is(err, errJournalClosing) {
			j.log("journal: cannot prepare the next segment", "err", err)
		}
		return
	}
	j.segMu.Lock()
	j.ready, j.readyID = f, sg.id
	j.segMu.Unlock()
}

// checkpoint deletes the retired segments whose memtables have been flushed
// to tables. With force, or when too many are waiting, it syncs Badger's
// files first and deletes them all.
func (j *journal) checkpoint(force bool) error {
	j.ckptMu.Lock()
	defer j.ckptMu.Unlock()
	j.segMu.Lock()
	old := append([]retiredSegment(nil), j.retired...)
	j.segMu.Unlock()
	if len(old) == 0 && !force {
		return nil
	}
	var done []retiredSegment
	if force || len(old) > maxRetired {
		// Every record of those segments was committed to Badger before it
		// was appended: a sync from now on covers them.
		if err := syncBadgerFiles(j.dbDir); err != nil {
			return err
		}
		done = old
	} else {
		low, err := minMemtable(j.dbDir)
		if err != nil {
			return err
		}
		for _, sg := range old {
			if sg.memFloor < low {
				done = append(done, sg)
			}
		}
	}
	if len(done) == 0 {
		return nil
	}
	for _, sg := range done {
		if err := os.Remove(sg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("journal: %w", err)
		}
	}
	j.segMu.Lock()
	j.retired = j.retired[len(done):] // retired in order, and done is a prefix
	j.segMu.Unlock()
	return syncDir(j.dir)
}

// memtableIDs lists the ids of Badger's memtable files (NNNNN.mem).
func memtableIDs(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, e := range entries {
		if id, err := strconv.ParseUint(strings.TrimSuffix(e.Name(), ".mem"), 10, 64); err == nil && strings.HasSuffix(e.Name(), ".mem") {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func maxMemtable(dir string) (uint64, error) {
	ids, err := memtableIDs(dir)
	m := uint64(0)
	for _, id := range ids {
		m = max(m, id)
	}
	return m, err
}

// minMemtable is the lowest memtable id on disk (MaxUint64 if none).
func minMemtable(dir string) (uint64, error) {
	ids, err := memtableIDs(dir)
	m := uint64(math.MaxUint64)
	for _, id := range ids {
		m = min(m, id)
	}
	return m, err
}

// close stops the background loop, writes what is still buffered, and
// closes the segments. Records stay on disk; the next open skips what
// Badger has. Later waits for records not written fail with ErrClosed.
func (j *journal) close() error {
	close(j.stop)
	<-j.loopDone
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.flushing {
		j.cond.Wait()
	}
	var err error
	if j.err == nil && len(j.buf) > 0 {
		if err = j.write(j.buf); err == nil {
			j.written = j.bufLast
		}
		j.buf = nil
	}
	if j.err == nil {
		j.err = ErrClosed
	}
	j.cond.Broadcast()
	if j.f != nil {
		err = errors.Join(err, j.f.Close())
		j.f = nil
	}
	j.segMu.Lock()
	if j.ready != nil {
		err = errors.Join(err, j.ready.Close())
		j.ready = nil
	}
	j.segMu.Unlock()
	return err
}

// syncBadgerFiles makes everything Badger has written durable: fsync of
// every value-log and memtable file (pages written through mmap included)
// and of the directory. Tables are synced by Badger when written.
func syncBadgerFiles(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".vlog") && !strings.HasSuffix(name, ".mem") {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			continue // flushed to a table and deleted meanwhile
		}
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sync %s: %w", name, err)
		}
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
