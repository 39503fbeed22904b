package store

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Everything written survives Close and Open.
func TestReopenKeepsEverything(t *testing.T) {
	s, _ := openTemp(t, Options{})
	a := sampleAllocation("a1")
	if _, err := s.CreateAllocation(a); err != nil {
		t.Fatal(err)
	}
	rel := sampleAllocation("a2")
	if _, err := s.CreateAllocation(rel); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReleaseAllocation("a2", at(time.Minute), StateExpired); err != nil {
		t.Fatal(err)
	}
	res := Reservation{ID: "r1", Device: "d", Tenant: "t", Qubits: []int{1, 2}, Start: at(0), End: at(time.Hour), CreatedAt: at(-time.Hour)}
	if err := s.PutReservation(res); err != nil {
		t.Fatal(err)
	}
	q := QueuedRequest{ID: "q1", Tenant: "t", IdempotencyKey: "k", Priority: 3, Request: []byte("r"), EnqueuedAt: at(0), Deadline: at(time.Hour)}
	if _, err := s.Enqueue(q); err != nil {
		t.Fatal(err)
	}
	cal := CalibrationRecord{Device: "d", Epoch: 77, Time: at(0), Summary: []byte("sum")}
	if err := s.PutCalibration(cal); err != nil {
		t.Fatal(err)
	}
	seq, err := s.AppendEvent(Event{Time: at(0), Kind: "alloc", Subject: "a1", Detail: "granted", Data: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	mod := Module{Name: "noise", Version: 1, Kind: "noise", Wasm: []byte("\x00asm\x01\x00\x00\x00"), Signature: []byte("sig"), State: "verified", CreatedAt: at(0)}
	if err := s.PutModule(mod); err != nil {
		t.Fatal(err)
	}
	if err := s.SetActiveModule("noise", 1); err != nil {
		t.Fatal(err)
	}

	s = reopen(t, s, Options{})

	got, err := s.GetAllocation("a1")
	if err != nil {
		t.Fatal(err)
	}
	equalAllocation(t, *got, a)
	active, bad, err := s.ActiveAllocations()
	noBad(t, bad, err, "ActiveAllocations")
	if len(active) != 1 || active[0].ID != "a1" {
		t.Fatalf("active after reopen = %+v", active)
	}
	if got, err := s.GetAllocation("a2"); err != nil || got.State != StateExpired {
		t.Fatalf("a2 after reopen = %+v, %v", got, err)
	}
	if ex, err := s.CreateAllocation(a); err != nil || ex == nil {
		t.Fatalf("idempotency lost on reopen: %v, %v", ex, err)
	}
	gr, err := s.GetReservation("r1")
	if err != nil || !gr.End.Equal(res.End) || len(gr.Qubits) != 2 {
		t.Fatalf("reservation after reopen = %+v, %v", gr, err)
	}
	gq, err := s.GetQueued("q1")
	if err != nil || gq.Priority != 3 || !gq.Deadline.Equal(q.Deadline) {
		t.Fatalf("queued after reopen = %+v, %v", gq, err)
	}
	cals, bad, err := s.ListCalibrations("d", time.Time{})
	noBad(t, bad, err, "ListCalibrations")
	if len(cals) != 1 || cals[0].Epoch != 77 || string(cals[0].Summary) != "sum" {
		t.Fatalf("calibrations after reopen = %+v", cals)
	}
	evs, bad, err := s.Events(0, 0)
	noBad(t, bad, err, "Events")
	if len(evs) != 1 || evs[0].Seq != seq || evs[0].Detail != "granted" {
		t.Fatalf("events after reopen = %+v", evs)
	}
	am, err := s.ActiveModule("noise")
	if err != nil || am.Version != 1 || string(am.Wasm) != string(mod.Wasm) || am.State != "verified" {
		t.Fatalf("active module after reopen = %+v, %v", am, err)
	}
}

func TestOpenRejectsForeignDirectories(t *testing.T) {
	// A directory with other files in it is not touched.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{Logger: quietLogger()})
	mustErrIs(t, err, ErrNotStore, "directory with a file")
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error does not name the directory: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("Open wrote into a foreign directory: %d entries", len(entries))
	}

	// A file is not a directory.
	file := filepath.Join(dir, "notes.txt")
	_, err = Open(file, Options{Logger: quietLogger()})
	mustErrIs(t, err, ErrNotStore, "a file")
	if !strings.Contains(err.Error(), file) {
		t.Errorf("error does not name the file: %v", err)
	}

	// A Badger database of someone else (no schema marker).
	other := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(other).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("foreign"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(other, Options{Logger: quietLogger()})
	mustErrIs(t, err, ErrNotStore, "foreign Badger database")
	if !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), `"foreign"`) {
		t.Errorf("error should name the directory and the first key: %v", err)
	}

	// A damaged MANIFEST: an error naming the directory, no panic.
	s, bad := openTemp(t, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "MANIFEST"), []byte("garbage, not a manifest"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(bad, Options{Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("damaged MANIFEST: err = %v, want an error naming %s", err, bad)
	}
}

func TestOpenLockedInProcess(t *testing.T) {
	_, dir := openTemp(t, Options{})
	_, err := Open(dir, Options{Logger: quietLogger()})
	mustErrIs(t, err, ErrLocked, "second Open of the same directory")
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error does not name the directory: %v", err)
	}
}

func TestSchemaVersion(t *testing.T) {
	s, dir := openTemp(t, Options{})
	// Pretend a newer build wrote the store.
	v, _ := encodeUint(uint64(schemaVersion) + 1)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(markerKey, v) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "newer build") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open of a newer schema: err = %v", err)
	}
}

func TestClosedStore(t *testing.T) {
	s, _ := openTemp(t, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := s.CreateAllocation(sampleAllocation("x"))
	mustErrIs(t, err, ErrClosed, "CreateAllocation after Close")
	_, _, err = s.ActiveAllocations()
	mustErrIs(t, err, ErrClosed, "ActiveAllocations after Close")
	_, err = s.AppendEvent(Event{Kind: "k"})
	mustErrIs(t, err, ErrClosed, "AppendEvent after Close")
}

func TestInMemory(t *testing.T) {
	s, err := Open("", Options{InMemory: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateAllocation(sampleAllocation("m")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAllocation("m"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CollectGarbage(); err != nil || n != 0 {
		t.Fatalf("CollectGarbage in memory = %d, %v", n, err)
	}
	// In memory there is no value log: large values are refused cleanly.
	big := sampleAllocation("big")
	big.Request = make([]byte, 2*valueThreshold)
	_, err = s.CreateAllocation(big)
	mustErrIs(t, err, ErrInvalid, "oversized value in memory")

	_, err = Open(t.TempDir(), Options{InMemory: true})
	mustErrIs(t, err, ErrInvalid, "InMemory with a directory")
	_, err = Open("", Options{})
	mustErrIs(t, err, ErrInvalid, "no directory")
}

// Badger's routine INFO lines come out at debug level under
// component=badger, never at info or above.
func TestBadgerLogger(t *testing.T) {
	h := &captureHandler{level: levelTrace}
	s, _ := openTemp(t, Options{Logger: slog.New(h)})
	for i := 0; i < 3; i++ {
		if _, err := s.CreateAllocation(sampleAllocation(string(rune('a' + i)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var debug int
	for _, r := range h.records() {
		if !strings.Contains(r.attrs, "component=badger") {
			continue
		}
		if r.level >= slog.LevelInfo {
			t.Errorf("badger logged at %v: %q", r.level, r.msg)
		}
		if r.level == slog.LevelDebug {
			debug++
		}
		if strings.HasSuffix(r.msg, "\n") {
			t.Errorf("message keeps its newline: %q", r.msg)
		}
	}
	if debug == 0 {
		t.Fatalf("no badger messages at debug level; got %+v", h.records())
	}

	// The adapter maps each Badger level.
	h2 := &captureHandler{level: levelTrace}
	bl := &badgerLogger{l: slog.New(h2)}
	bl.Errorf("e %d\n", 1)
	bl.Warningf("w")
	bl.Infof("i")
	bl.Debugf("d")
	want := []slog.Level{slog.LevelError, slog.LevelWarn, slog.LevelDebug, levelTrace}
	got := h2.records()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].level != want[i] {
			t.Errorf("record %d (%q) at %v, want %v", i, got[i].msg, got[i].level, want[i])
		}
	}
	if got[0].msg != "e 1" {
		t.Errorf("formatted message = %q, want %q", got[0].msg, "e 1")
	}
}

// The GC schedule runs, and Close stops it.
func TestGCSchedule(t *testing.T) {
	s, _ := openTemp(t, Options{GCInterval: 5 * time.Millisecond, ValueLogFileSize: MinValueLogFileSize})
	// Big values go to the value log; overwrite them so that there is
	// garbage to collect.
	wasm := make([]byte, 200<<10)
	for v := 1; v <= 8; v++ {
		wasm[0] = byte(v)
		if err := s.PutModule(Module{Name: "m", Version: v, Wasm: wasm}); err != nil {
			t.Fatal(err)
		}
		if v > 1 {
			if err := s.DeleteModule("m", v-1); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.gcMu.Lock()
		runs := s.gcRuns
		s.gcMu.Unlock()
		if runs >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the GC schedule did not run within 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := s.CollectGarbage(); err != nil {
		t.Fatalf("CollectGarbage: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.gcDone:
	default:
		t.Fatal("GC goroutine still running after Close")
	}
	if m, err := openDir(t, s.Dir(), Options{}).GetModule("m", 8); err != nil || m.Wasm[0] != 8 {
		t.Fatalf("module after GC and reopen: %v", err)
	}
}

func TestSizeAndSync(t *testing.T) {
	s, _ := openTemp(t, Options{NoSync: true})
	if _, err := s.CreateAllocation(sampleAllocation("a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Size(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after Close: %v", err)
	}
}
