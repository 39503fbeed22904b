package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// copyTree copies the regular files of src into dst (created), skipping
// Badger's LOCK file and, unless withJournal, the journal directory. It
// reads through the page cache, so it sees what a crash of the process (not
// of the machine) would leave.
func copyTree(t *testing.T, src, dst string, withJournal bool) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			if rel == journalDir && !withJournal {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		if d.Name() == "LOCK" {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// replaceJournal puts src's journal in place of dst's.
func replaceJournal(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(dst, journalDir)); err != nil {
		t.Fatal(err)
	}
	copyTree(t, filepath.Join(src, journalDir), filepath.Join(dst, journalDir), true)
}

// segmentsWithRecords lists the journal's segment files in order, with the
// offsets of their records.
func segmentsWithRecords(t *testing.T, dir string) (paths []string, offsets [][]int) {
	t.Helper()
	segs, err := listSegments(filepath.Join(dir, journalDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, sg := range segs {
		data, err := os.ReadFile(sg.path)
		if err != nil {
			t.Fatal(err)
		}
		var offs []int
		for off := 0; len(data)-off >= recordHeader; {
			n := int(binary.LittleEndian.Uint32(data[off:]))
			if n == 0 {
				break
			}
			offs = append(offs, off)
			off += recordHeader + n
		}
		if len(offs) > 0 {
			paths = append(paths, sg.path)
			offsets = append(offsets, offs)
		}
	}
	return paths, offsets
}

func mustCreate(t *testing.T, s *Store, ids ...string) {
	t.Helper()
	for i, id := range ids {
		a := sampleAllocation(id)
		a.IdempotencyKey = "key-" + id
		a.Qubits = []int{i}
		if _, err := s.CreateAllocation(a); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
	}
}

func names(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%03d", prefix, i))
	}
	return out
}

func activeIDs(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	all, bad, err := s.ActiveAllocations()
	noBad(t, bad, err, "ActiveAllocations")
	ids := map[string]bool{}
	for _, a := range all {
		ids[a.ID] = true
	}
	return ids
}

// The machine goes down: Badger's files hold only what the last checkpoint
// synced, the journal holds every acknowledged write. Reopening replays the
// journal, and every acknowledged write of every kind is back, in its final
// state.
func TestJournalRestoresWhatBadgerLost(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		t.Run(fmt.Sprintf("buffered=%v", buffered), func(t *testing.T) {
			old := bufferedJournal
			bufferedJournal = buffered
			defer func() { bufferedJournal = old }()
			testJournalRestores(t)
		})
	}
}

func testJournalRestores(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir, Options{})
	mustCreate(t, s, names("early-", 0, 5)...)
	if err := s.Sync(); err != nil { // a checkpoint: Badger durable here
		t.Fatal(err)
	}
	lost := t.TempDir()
	copyTree(t, dir, lost, false) // Badger as the disk holds it

	// Acknowledged after the checkpoint: only the journal has them.
	mustCreate(t, s, names("late-", 0, 20)...)
	if _, err := s.ReleaseAllocation("early-000", at(time.Minute), StateReleased); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReleaseAllocation("late-003", at(time.Minute), StateExpired); err != nil {
		t.Fatal(err)
	}
	seq, err := s.AppendEvent(Event{Kind: "granted", Subject: "late-019"})
	if err != nil {
		t.Fatal(err)
	}
	r := Reservation{ID: "r1", Tenant: "tenant-a", Qubits: []int{7}, Start: at(0), End: at(time.Hour)}
	if err := s.PutReservation(r); err != nil {
		t.Fatal(err)
	}
	wasm := bytes.Repeat([]byte("\x00asm-module-body"), 8<<10) // 128 KB: Badger's value log
	if err := s.PutModule(Module{Name: "big", Version: 1, Kind: "placement", Wasm: wasm, State: "staged", CreatedAt: at(0)}); err != nil {
		t.Fatal(err)
	}
	// Badger alone (no journal: NoSync) really lost them.
	b := openDir(t, lost, Options{NoSync: true})
	if ids := activeIDs(t, b); len(ids) != 5 {
		t.Fatalf("the copied Badger holds %d allocations, want the 5 of the checkpoint", len(ids))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	replaceJournal(t, dir, lost)

	r2 := openDir(t, lost, Options{})
	ids := activeIDs(t, r2)
	for _, id := range append(names("early-", 1, 5), names("late-", 0, 20)...) {
		if want := id != "late-003"; ids[id] != want {
			t.Errorf("%s active = %v after replay, want %v", id, ids[id], want)
		}
	}
	if ids["early-000"] {
		t.Error("early-000 was released before the crash but is active after replay")
	}
	if a, err := r2.GetAllocation("late-003"); err != nil || a.State != StateExpired {
		t.Errorf("late-003 = %+v, %v; want expired", a, err)
	}
	if a, err := r2.FindByIdempotencyKey("tenant-a", "key-late-011"); err != nil || a.ID != "late-011" {
		t.Errorf("idempotency key of late-011: %+v, %v", a, err)
	}
	evs, bad, err := r2.Events(0, 0)
	noBad(t, bad, err, "Events")
	if len(evs) == 0 || evs[len(evs)-1].Seq != seq {
		t.Errorf("events after replay: %+v, want the last one to be %d", evs, seq)
	}
	if got, err := r2.GetReservation("r1"); err != nil || got.Tenant != "tenant-a" {
		t.Errorf("reservation after replay: %+v, %v", got, err)
	}
	if m, err := r2.GetModule("big", 1); err != nil || !bytes.Equal(m.Wasm, wasm) {
		t.Errorf("module after replay: err %v, %d bytes (want %d, identical)", err, len(m.Wasm), len(wasm))
	}
	// The store goes on: sequence numbers continue, and a second restart
	// (nothing to replay now) keeps everything.
	mustCreate(t, r2, "after-000")
	if seq2, err := r2.AppendEvent(Event{Kind: "restart"}); err != nil || seq2 <= seq {
		t.Fatalf("event after replay: seq %d (%v), want > %d", seq2, err, seq)
	}
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}
	r3 := openDir(t, lost, Options{})
	if ids := activeIDs(t, r3); len(ids) != 4+19+1 {
		t.Errorf("%d active allocations after a second restart, want %d", len(ids), 4+19+1)
	}
}

// A crash can leave Badger ahead of the journal (a commit whose journal
// write had not finished, never acknowledged). Badger's state stands, and
// new records are numbered after it.
func TestJournalBadgerAheadOfJournal(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir, Options{})
	mustCreate(t, s, names("a-", 0, 10)...)
	crashed := t.TempDir()
	copyTree(t, dir, crashed, true)
	// Cut the journal's last three records, as if their writes never
	// reached the disk.
	paths, offs := segmentsWithRecords(t, crashed)
	last := len(paths) - 1
	recs := offs[last]
	if len(recs) < 3 {
		t.Fatalf("last segment holds %d records", len(recs))
	}
	f, err := os.OpenFile(paths[last], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	cut := int64(recs[len(recs)-3])
	if _, err := f.WriteAt(make([]byte, fi.Size()-cut), cut); err != nil {
		t.Fatal(err)
	}
	f.Close()

	r := openDir(t, crashed, Options{})
	if ids := activeIDs(t, r); len(ids) != 10 {
		t.Fatalf("%d allocations, want the 10 Badger holds", len(ids))
	}
	mustCreate(t, r, "b-000")
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2 := openDir(t, crashed, Options{})
	if ids := activeIDs(t, r2); len(ids) != 11 || !ids["b-000"] {
		t.Fatalf("after a second restart: %v", ids)
	}
}

// A write cut short by the crash leaves a damaged record at the end of the
// journal: it is ignored (it was never acknowledged) and the store opens.
func TestJournalIgnoresTornTail(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir, Options{})
	mustCreate(t, s, names("a-", 0, 5)...)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	copyTree(t, dir, crashed, false)
	mustCreate(t, s, names("b-", 0, 5)...)
	replaceJournal(t, dir, crashed)
	paths, offs := segmentsWithRecords(t, crashed)
	last := paths[len(paths)-1]
	data, _ := os.ReadFile(last)
	end := offs[len(offs)-1][len(offs[len(offs)-1])-1]
	end += recordHeader + int(binary.LittleEndian.Uint32(data[end:]))
	// Half a record: a header announcing 500 bytes, 20 of them written.
	torn := make([]byte, recordHeader+20)
	binary.LittleEndian.PutUint32(torn, 500)
	binary.LittleEndian.PutUint64(torn[8:], 999)
	copy(torn[recordHeader:], "half a record's body")
	f, _ := os.OpenFile(last, os.O_RDWR, 0)
	if _, err := f.WriteAt(torn, int64(end)); err != nil {
		t.Fatal(err)
	}
	f.Close()

	r := openDir(t, crashed, Options{})
	if ids := activeIDs(t, r); len(ids) != 10 {
		t.Fatalf("%d allocations after a torn tail, want 10", len(ids))
	}
}

// Damage that is not at the end (a bad record followed by good ones in a
// later segment), or records missing between Badger and the journal, is
// refused with ErrCorrupt, naming the file; nothing is changed on disk.
func TestJournalRefusesDamageAndGaps(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir, Options{JournalSegmentSize: MinJournalSegmentSize})
	mustCreate(t, s, names("a-", 0, 5)...)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	early := t.TempDir()
	copyTree(t, dir, early, false)
	mustCreate(t, s, names("b-", 0, 1000)...) // several 64 KB segments
	paths, offs := segmentsWithRecords(t, dir)
	if len(paths) < 3 {
		t.Fatalf("%d segments with records, want 3 or more", len(paths))
	}

	t.Run("damaged middle", func(t *testing.T) {
		d := t.TempDir()
		copyTree(t, early, d, false)
		replaceJournal(t, dir, d)
		seg := filepath.Join(d, journalDir, filepath.Base(paths[0]))
		data, _ := os.ReadFile(seg)
		data[offs[0][len(offs[0])/2]+recordHeader+3] ^= 0xff
		if err := os.WriteFile(seg, data, 0o600); err != nil {
			t.Fatal(err)
		}
		jdir := filepath.Join(d, journalDir)
		before := listing(t, jdir)
		_, err := Open(d, Options{Logger: quietLogger()})
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(paths[0])) {
			t.Fatalf("open with a damaged record mid-journal: %v; want ErrCorrupt naming %s", err, filepath.Base(paths[0]))
		}
		if after := listing(t, jdir); after != before {
			t.Errorf("a refused open changed the journal:\nbefore %s\nafter  %s", before, after)
		}
		b := openDir(t, d, Options{NoSync: true}) // Badger as it was
		if ids := activeIDs(t, b); len(ids) != 5 {
			t.Errorf("a refused open changed the store: %d allocations, want 5", len(ids))
		}
	})
	t.Run("missing segment", func(t *testing.T) {
		d := t.TempDir()
		copyTree(t, early, d, false)
		replaceJournal(t, dir, d)
		if err := os.Remove(filepath.Join(d, journalDir, filepath.Base(paths[0]))); err != nil {
			t.Fatal(err)
		}
		_, err := Open(d, Options{Logger: quietLogger()})
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "lost") {
			t.Fatalf("open with the first segment missing: %v; want ErrCorrupt saying records are lost", err)
		}
	})
	t.Run("stray file", func(t *testing.T) {
		d := t.TempDir()
		copyTree(t, dir, d, true)
		if err := os.WriteFile(filepath.Join(d, journalDir, "notes.txt"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(d, Options{Logger: quietLogger()}); !errors.Is(err, ErrNotStore) || !strings.Contains(err.Error(), "notes.txt") {
			t.Fatalf("open with a stray file in the journal: %v", err)
		}
	})
}

func listing(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			fi, _ := d.Info()
			fmt.Fprintf(&b, "%s:%d ", strings.TrimPrefix(path, dir), fi.Size())
		}
		return nil
	})
	return b.String()
}

// Full segments go once Badger has made their records durable: the journal
// stays small however much is written, and everything survives a restart.
func TestJournalSegmentsAreRecycled(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir, Options{JournalSegmentSize: MinJournalSegmentSize})
	mustCreate(t, s, names("a-", 0, 1500)...) // ~15 segments' worth
	waitFor(t, func() bool {
		segs, err := listSegments(filepath.Join(dir, journalDir))
		return err == nil && len(segs) <= maxRetired+2 // retired, current, ready
	})
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if segs, _ := listSegments(filepath.Join(dir, journalDir)); len(segs) > 2 {
		t.Errorf("%d segments after a sync, want the current one and the one ready", len(segs))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := openDir(t, dir, Options{JournalSegmentSize: MinJournalSegmentSize})
	if ids := activeIDs(t, r); len(ids) != 1500 {
		t.Fatalf("%d allocations after restart, want 1500", len(ids))
	}
}

// A failed journal write breaks the store: that write and every later one
// fail with an error that says so, reads go on, and what was acknowledged
// before is there after reopening.
func TestJournalWriteFailureStopsWrites(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "ok-000", "ok-001")
	s.jr.f.Close() // the disk goes away under the journal
	a := sampleAllocation("lost")
	if _, err := s.CreateAllocation(a); err == nil || !strings.Contains(err.Error(), "journal write failed") {
		t.Fatalf("create after the journal broke: %v", err)
	}
	if _, err := s.AppendEvent(Event{Kind: "x"}); err == nil {
		t.Fatal("event append after the journal broke succeeded")
	}
	if _, err := s.GetAllocation("ok-001"); err != nil {
		t.Fatalf("reads stop with the journal: %v", err)
	}
	_ = s.Close()
	r := openDir(t, dir, Options{})
	ids := activeIDs(t, r)
	if !ids["ok-000"] || !ids["ok-001"] {
		t.Fatalf("acknowledged allocations lost: %v", ids)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// encodeRecord is a record as journal.append writes it.
func encodeRecord(seq uint64, ops []byte) []byte {
	j := &journal{last: seq - 1}
	j.cond.L = &j.mu
	if _, err := j.append(ops); err != nil {
		panic(err)
	}
	return j.buf
}

// A segment of arbitrary bytes never panics the reader or the replay of
// what it reads: records come back as written up to the first damage, and
// their operations apply or fail with an error.
func FuzzJournalSegment(f *testing.F) {
	t := &wtx{on: true}
	t.record(opSet, []byte("k1"), []byte("v1"), 0, 0)
	t.record(opDelete, []byte("k2"), nil, 0, 0)
	t.record(opSet, []byte("k3"), bytes.Repeat([]byte{7}, 40), 12345, 1)
	good := append(encodeRecord(1, t.rec), encodeRecord(2, t.rec[:5])...)
	f.Add(good)
	f.Add(append(append([]byte(nil), good...), make([]byte, 64)...))
	f.Add(good[:len(good)-3])
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 40))
	db := memDB(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, next, damaged, err := scanSegment(data, nil, 0)
		if err != nil {
			t.Fatalf("a first segment read with no expectation failed: %v", err)
		}
		for i, r := range recs {
			if i > 0 && r.seq != recs[i-1].seq+1 {
				t.Fatalf("records %d, %d out of order", recs[i-1].seq, r.seq)
			}
		}
		if len(recs) > 0 && next != recs[len(recs)-1].seq+1 {
			t.Fatalf("next %d after record %d", next, recs[len(recs)-1].seq)
		}
		_ = damaged
		for _, r := range recs {
			txn := db.NewTransaction(true)
			_ = applyOps(txn, r.ops)
			txn.Discard()
		}
	})
}

func memDB(tb testing.TB) *badger.DB {
	tb.Helper()
	s, err := Open("", Options{InMemory: true, Logger: quietLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s.db
}

// Records read back are the records written; damage ends the reading.
func TestScanSegment(t *testing.T) {
	ops := []byte{opDelete, 2, 'k', 'x'}
	seg := append(encodeRecord(7, ops), encodeRecord(8, ops)...)
	seg = append(seg, make([]byte, 100)...)
	recs, next, damaged, err := scanSegment(seg, nil, 7)
	if err != nil || damaged != "" || len(recs) != 2 || next != 9 || !bytes.Equal(recs[1].ops, ops) {
		t.Fatalf("scan: %d records, next %d, damaged %q, err %v", len(recs), next, damaged, err)
	}
	if _, _, _, err := scanSegment(seg, nil, 5); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("a segment starting after a gap: %v", err)
	}
	bad := append([]byte(nil), seg...)
	bad[len(encodeRecord(7, ops))+recordHeader] ^= 1 // second record's body
	if recs, _, damaged, err := scanSegment(bad, nil, 7); err != nil || len(recs) != 1 || !strings.Contains(damaged, "checksum") {
		t.Fatalf("damaged second record: %d records, %q, %v", len(recs), damaged, err)
	}
}

// Value-log GC runs under the iterator that defers the deletion of
// rewritten files until they are synced: it succeeds, and the live module
// binaries survive a copy of the files as a crash would leave them.
func TestValueLogGCKeepsModules(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir, Options{ValueLogFileSize: MinValueLogFileSize, GCInterval: -1})
	body := func(v int) []byte { return bytes.Repeat([]byte{byte(v)}, 200<<10) }
	for v := 1; v <= 12; v++ {
		if err := s.PutModule(Module{Name: "m", Version: v, Kind: "placement", Wasm: body(v), State: "staged", CreatedAt: at(0)}); err != nil {
			t.Fatal(err)
		}
		if v > 2 {
			if err := s.DeleteModule("m", v-2); err != nil {
				t.Fatal(err)
			}
		}
	}
	vlogs := func(d string) int {
		m, _ := filepath.Glob(filepath.Join(d, "*.vlog"))
		return len(m)
	}
	// Badger learns what is garbage when compactions drop the deleted
	// keys: flush the memtable (close and reopen), then compact.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir, Options{ValueLogFileSize: MinValueLogFileSize, GCInterval: -1})
	if err := s.db.Flatten(1); err != nil {
		t.Fatal(err)
	}
	before := vlogs(dir)
	rewritten := 0
	for i := 0; i < 10; i++ {
		n, err := s.CollectGarbage()
		if err != nil {
			t.Fatal(err)
		}
		rewritten += n
	}
	// Whether Badger finds a file worth rewriting depends on its discard
	// statistics; when it does, the old file must be gone afterwards.
	if after := vlogs(dir); rewritten > 0 && after >= before {
		t.Errorf("value-log files %d before GC, %d after %d rewrites: the old ones were not deleted", before, after, rewritten)
	}
	t.Logf("%d value-log files, %d rewritten", before, rewritten)
	crashed := t.TempDir()
	copyTree(t, dir, crashed, true)
	for _, d := range []string{crashed} {
		r := openDir(t, d, Options{ValueLogFileSize: MinValueLogFileSize, GCInterval: -1})
		for _, v := range []int{11, 12} {
			if m, err := r.GetModule("m", v); err != nil || !bytes.Equal(m.Wasm, body(v)) {
				t.Fatalf("module version %d after GC and a crash: %v", v, err)
			}
		}
	}
}

// The probe writes through the journal's path and reports one latency a
// write; it leaves nothing behind and refuses arguments it cannot honour.
func TestProbeJournal(t *testing.T) {
	dir := t.TempDir()
	for _, buffered := range []bool{false, true} {
		old := bufferedJournal
		bufferedJournal = buffered
		res, err := ProbeJournal(dir, 50, 300, 0)
		bufferedJournal = old
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Latencies) != 50 {
			t.Fatalf("buffered=%v: %d latencies, want 50", buffered, len(res.Latencies))
		}
		if buffered && res.Direct {
			t.Error("buffered probe reports direct writes")
		}
		for i, d := range res.Latencies {
			if d <= 0 {
				t.Fatalf("write %d took %v", i, d)
			}
		}
	}
	// Paced: 20 writes at 1,000 a second cannot finish in less than 19 ms.
	t0 := time.Now()
	if _, err := ProbeJournal(dir, 20, 100, 1000); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el < 19*time.Millisecond {
		t.Errorf("20 writes paced at 1,000/s took %v", el)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the probe left %d entries behind in %s", len(left), dir)
	}
	for _, bad := range []struct {
		n, size int
		rate    float64
	}{{0, 100, 0}, {MaxProbeWrites + 1, 100, 0}, {10, 0, 0}, {10, MaxProbeRecord + 1, 0}, {1000, MaxProbeRecord, 0}, {10, 100, -1}} {
		if _, err := ProbeJournal(dir, bad.n, bad.size, bad.rate); !errors.Is(err, ErrInvalid) {
			t.Errorf("ProbeJournal(%d, %d, %v) = %v, want ErrInvalid", bad.n, bad.size, bad.rate, err)
		}
	}
}
