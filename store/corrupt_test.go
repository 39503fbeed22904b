package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// put writes raw bytes under a key, bypassing the store's encoding.
func put(t *testing.T, s *Store, key, val []byte) {
	t.Helper()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(key, val) }); err != nil {
		t.Fatal(err)
	}
}

var garbage = []byte{0xff, 0x13, 0x37, 0x00, 0xde, 0xad, 0xbe, 0xef}

// wantCorrupt checks that err is a *CorruptError naming the key.
func wantCorrupt(t *testing.T, err error, key string) {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want a *CorruptError", err)
	}
	if !strings.Contains(err.Error(), key) {
		t.Fatalf("error %q does not name %s", err, key)
	}
}

func TestCorruptAllocations(t *testing.T) {
	s, _ := openTemp(t, Options{})
	for _, id := range []string{"good1", "good2"} {
		if _, err := s.CreateAllocation(sampleAllocation(id)); err != nil {
			t.Fatal(err)
		}
	}
	// Garbage bytes, indexed as active.
	put(t, s, allocationKey("junk"), garbage)
	put(t, s, activeKey("junk"), nil)
	// Valid CBOR of another allocation under this ID.
	other := sampleAllocation("elsewhere")
	enc, _ := encodeAllocation(&other)
	put(t, s, allocationKey("moved"), enc)
	// Valid CBOR, impossible record (no qubits, unknown state code).
	put(t, s, allocationKey("empty"), []byte{0xa1, 0x01, 0x65, 'e', 'm', 'p', 't', 'y'})
	put(t, s, allocationKey("state"), []byte{0xa2, 0x01, 0x65, 's', 't', 'a', 't', 'e', 0x10, 0x09})
	// An index entry without a record.
	put(t, s, activeKey("ghost"), nil)
	// An idempotency entry naming garbage.
	put(t, s, idempotencyKey("tenant-a", "junk-key"), garbage)

	_, err := s.GetAllocation("junk")
	wantCorrupt(t, err, `allocation "junk"`)
	_, err = s.GetAllocation("moved")
	wantCorrupt(t, err, `allocation "moved"`)

	all, bad, err := s.ListAllocations(AllocationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || len(bad) != 4 {
		t.Fatalf("ListAllocations: %d good, %d bad (%v); want 2 good, 4 bad", len(all), len(bad), bad)
	}
	for _, e := range bad {
		if !errors.Is(e, ErrCorrupt) {
			t.Errorf("bad entry %v is not ErrCorrupt", e)
		}
	}
	active, bad, err := s.ActiveAllocations()
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 2 || len(bad) != 2 {
		t.Fatalf("ActiveAllocations: %d good, %d bad (%v); want 2 and 2", len(active), len(bad), bad)
	}
	joined := errors.Join(bad...).Error()
	if !strings.Contains(joined, `allocation "junk"`) || !strings.Contains(joined, `active-index "ghost"`) {
		t.Fatalf("bad records not named: %s", joined)
	}
	owners, bad, err := s.ActiveQubitOwners()
	if err != nil || len(bad) != 2 || len(owners) != 3 || len(owners.Conflicts()) != 3 {
		t.Fatalf("ActiveQubitOwners = %v, %v, %v", owners, bad, err)
	}

	// A request whose idempotency entry is damaged is refused, not granted
	// a second time.
	a := sampleAllocation("new")
	a.IdempotencyKey = "junk-key"
	_, err = s.CreateAllocation(a)
	wantCorrupt(t, err, `idempotency tenant "tenant-a" key "junk-key"`)
	if _, err := s.GetAllocation("new"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("allocation written despite the damaged entry (err %v)", err)
	}

	// Releasing a damaged record reports it and changes nothing.
	_, err = s.ReleaseAllocation("junk", at(0), StateReleased)
	wantCorrupt(t, err, `allocation "junk"`)

	// The store still opens: the controller can start and report.
	s = reopen(t, s, Options{})
	if active, bad, err := s.ActiveAllocations(); err != nil || len(active) != 2 || len(bad) != 2 {
		t.Fatalf("after reopen: %d good, %d bad, %v", len(active), len(bad), err)
	}
}

func TestCorruptOtherRecords(t *testing.T) {
	s, _ := openTemp(t, Options{NoSync: true})
	if err := s.PutReservation(Reservation{ID: "r", Start: at(0)}); err != nil {
		t.Fatal(err)
	}
	put(t, s, reservationKey("bad"), garbage)
	if got, bad, err := s.ListReservations(time.Time{}); err != nil || len(got) != 1 || len(bad) != 1 {
		t.Fatalf("ListReservations = %d good, %v, %v", len(got), bad, err)
	}
	_, err := s.GetReservation("bad")
	wantCorrupt(t, err, `reservation "bad"`)

	if _, err := s.Enqueue(QueuedRequest{ID: "q"}); err != nil {
		t.Fatal(err)
	}
	put(t, s, queueKey("bad"), garbage)
	if got, bad, err := s.ListQueue(); err != nil || len(got) != 1 || len(bad) != 1 {
		t.Fatalf("ListQueue = %d good, %v, %v", len(got), bad, err)
	}
	// Dequeue removes a damaged entry and reports it.
	_, err = s.Dequeue("bad")
	wantCorrupt(t, err, `queue "bad"`)
	if _, err := s.GetQueued("bad"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("damaged entry still queued (err %v)", err)
	}

	if err := s.PutCalibration(CalibrationRecord{Device: "d", Epoch: 1, Time: at(0)}); err != nil {
		t.Fatal(err)
	}
	put(t, s, calibrationKey("d", at(time.Hour), 2), garbage)
	if got, bad, err := s.ListCalibrations("d", time.Time{}); err != nil || len(got) != 1 || len(bad) != 1 {
		t.Fatalf("ListCalibrations = %d good, %v, %v", len(got), bad, err)
	}
	_, err = s.LatestCalibration("d")
	wantCorrupt(t, err, `calibration device "d"`)
	if n, err := s.PruneCalibrations(at(2 * time.Hour)); err != nil || n != 2 {
		t.Fatalf("PruneCalibrations with a damaged record = %d, %v; want 2", n, err)
	}

	if _, err := s.AppendEvent(Event{Kind: "k"}); err != nil {
		t.Fatal(err)
	}
	put(t, s, eventKey(2), garbage)
	if got, bad, err := s.Events(0, 0); err != nil || len(got) != 1 || len(bad) != 1 {
		t.Fatalf("Events = %d good, %v, %v", len(got), bad, err)
	} else {
		wantCorrupt(t, bad[0], "event 2")
	}

	if err := s.PutModule(Module{Name: "m", Version: 1, Wasm: []byte("wasm")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetActiveModule("m", 1); err != nil {
		t.Fatal(err)
	}
	put(t, s, moduleKey(kindModuleWasm, "m", 1), []byte("tampered"))
	_, err = s.GetModule("m", 1)
	wantCorrupt(t, err, `module-wasm "m" version 1`)
	_, err = s.ActiveModule("m")
	wantCorrupt(t, err, `module-wasm "m" version 1`)
	put(t, s, moduleKey(kindModule, "m", 2), garbage)
	if got, bad, err := s.ModuleHistory("m"); err != nil || len(got) != 1 || len(bad) != 1 {
		t.Fatalf("ModuleHistory = %d good, %v, %v", len(got), bad, err)
	}
	put(t, s, activeModuleKey("n"), garbage)
	if act, bad, err := s.ActiveModules(); err != nil || len(act) != 1 || len(bad) != 1 {
		t.Fatalf("ActiveModules = %v, %v, %v", act, bad, err)
	}

	// A damaged event counter does not keep the store from opening; the
	// sequence continues after the last event.
	put(t, s, counterKey(eventCounter), garbage)
	s = reopen(t, s, Options{NoSync: true})
	if seq, err := s.AppendEvent(Event{Kind: "k"}); err != nil || seq != 3 {
		t.Fatalf("append after a damaged counter = %d, %v; want 3", seq, err)
	}
}
