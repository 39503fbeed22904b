package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestReservations(t *testing.T) {
	s, _ := openTemp(t, Options{})
	whole := Reservation{ID: "whole", Device: "d", Tenant: "t", Qubits: nil, Start: at(0), End: at(time.Hour)}
	some := Reservation{ID: "some", Device: "d", Tenant: "t", Qubits: []int{5, 6}, Start: at(30 * time.Minute), CreatedAt: at(-time.Hour)}
	none := Reservation{ID: "none", Device: "d", Qubits: []int{}, Count: 4, Start: at(2 * time.Hour), End: at(3 * time.Hour)}
	for _, r := range []Reservation{whole, some, none} {
		if err := s.PutReservation(r); err != nil {
			t.Fatal(err)
		}
	}
	// nil (whole device) and empty lists stay apart.
	if r, err := s.GetReservation("whole"); err != nil || r.Qubits != nil || !r.End.Equal(whole.End) || r.CreatedAt.IsZero() {
		t.Fatalf("whole = %+v, %v", r, err)
	}
	if r, err := s.GetReservation("none"); err != nil || r.Qubits == nil || len(r.Qubits) != 0 || r.Count != 4 {
		t.Fatalf("none = %+v, %v", r, err)
	}
	if r, err := s.GetReservation("some"); err != nil || !reflect.DeepEqual(r.Qubits, []int{5, 6}) || !r.CreatedAt.Equal(some.CreatedAt) {
		t.Fatalf("some = %+v, %v", r, err)
	}
	ids := func(rs []Reservation) string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return fmt.Sprint(out)
	}
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "[whole some none]"},
		{at(-time.Minute), "[]"},
		{at(0), "[whole]"},
		{at(45 * time.Minute), "[whole some]"},
		{at(time.Hour), "[some]"}, // End is exclusive
		{at(2 * time.Hour), "[some none]"},
	} {
		got, bad, err := s.ListReservations(c.t)
		noBad(t, bad, err, "ListReservations")
		if ids(got) != c.want {
			t.Errorf("ListReservations(%v) = %s, want %s", c.t, ids(got), c.want)
		}
	}

	r, err := s.CancelReservation("some")
	if err != nil || !r.Cancelled {
		t.Fatalf("cancel = %+v, %v", r, err)
	}
	if r, err := s.CancelReservation("some"); err != nil || !r.Cancelled {
		t.Fatalf("second cancel = %+v, %v", r, err)
	}
	if got, _, _ := s.ListReservations(at(45 * time.Minute)); ids(got) != "[whole]" {
		t.Errorf("cancelled reservation still active: %s", ids(got))
	}
	_, err = s.CancelReservation("ghost")
	mustErrIs(t, err, ErrNotFound, "cancel unknown")
	_, err = s.GetReservation("ghost")
	mustErrIs(t, err, ErrNotFound, "get unknown")

	// Replace by ID.
	whole.End = at(4 * time.Hour)
	if err := s.PutReservation(whole); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.GetReservation("whole"); !r.End.Equal(at(4 * time.Hour)) {
		t.Fatalf("replacement not stored: %+v", r)
	}

	for name, bad := range map[string]Reservation{
		"no ID":          {Start: at(0)},
		"end <= start":   {ID: "x", Start: at(time.Hour), End: at(time.Hour)},
		"negative count": {ID: "x", Count: -1},
		"repeated qubit": {ID: "x", Qubits: []int{1, 1}},
	} {
		if err := s.PutReservation(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}

	// Prune: "none" ended at 3h, "some" is cancelled and was created at -1h;
	// "whole" ends at 4h.
	n, err := s.PruneReservations(at(3*time.Hour + time.Second))
	if err != nil || n != 2 {
		t.Fatalf("PruneReservations = %d, %v; want 2", n, err)
	}
	if got, _, _ := s.ListReservations(time.Time{}); ids(got) != "[whole]" {
		t.Fatalf("after prune: %s", ids(got))
	}
}

func TestQueue(t *testing.T) {
	s, _ := openTemp(t, Options{})
	reqs := []QueuedRequest{
		{ID: "low", Tenant: "t", Priority: 1, EnqueuedAt: at(0)},
		{ID: "high-late", Tenant: "t", Priority: 9, EnqueuedAt: at(2 * time.Second), Deadline: at(time.Hour)},
		{ID: "high-early", Tenant: "t", IdempotencyKey: "k", Priority: 9, EnqueuedAt: at(time.Second), Request: []byte("req")},
		{ID: "mid", Tenant: "t", Priority: 5, EnqueuedAt: at(-time.Second)},
	}
	for _, q := range reqs {
		if ex, err := s.Enqueue(q); err != nil || ex != nil {
			t.Fatalf("Enqueue(%s) = %v, %v", q.ID, ex, err)
		}
	}
	got, bad, err := s.ListQueue()
	noBad(t, bad, err, "ListQueue")
	var order []string
	for _, q := range got {
		order = append(order, q.ID)
	}
	if fmt.Sprint(order) != "[high-early high-late mid low]" {
		t.Fatalf("queue order = %v", order)
	}
	if !got[0].EnqueuedAt.Equal(at(time.Second)) || string(got[0].Request) != "req" || !got[1].Deadline.Equal(at(time.Hour)) {
		t.Fatalf("fields lost: %+v", got[:2])
	}

	// Idempotent enqueue.
	ex, err := s.Enqueue(QueuedRequest{ID: "retry", Tenant: "t", IdempotencyKey: "k"})
	if err != nil || ex == nil || ex.ID != "high-early" {
		t.Fatalf("idempotent enqueue = %+v, %v", ex, err)
	}
	if _, err := s.GetQueued("retry"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retry was queued (err %v)", err)
	}
	_, err = s.Enqueue(QueuedRequest{ID: "low", Tenant: "t"})
	mustErrIs(t, err, ErrExists, "enqueue of a queued ID")
	_, err = s.Enqueue(QueuedRequest{})
	mustErrIs(t, err, ErrInvalid, "enqueue without ID")

	// Dequeue frees the idempotency key.
	q, err := s.Dequeue("high-early")
	if err != nil || q.ID != "high-early" {
		t.Fatalf("Dequeue = %+v, %v", q, err)
	}
	_, err = s.Dequeue("high-early")
	mustErrIs(t, err, ErrNotFound, "second Dequeue")
	if ex, err := s.Enqueue(QueuedRequest{ID: "retry", Tenant: "t", IdempotencyKey: "k"}); err != nil || ex != nil {
		t.Fatalf("enqueue after dequeue = %+v, %v", ex, err)
	}
	// Enqueue fills in EnqueuedAt.
	if q, err := s.GetQueued("retry"); err != nil || q.EnqueuedAt.IsZero() {
		t.Fatalf("EnqueuedAt not set: %+v, %v", q, err)
	}
}

func TestCalibrations(t *testing.T) {
	s, _ := openTemp(t, Options{NoSync: true})
	for i, c := range []CalibrationRecord{
		{Device: "d1", Epoch: 1, Time: at(0), Summary: []byte("a")},
		{Device: "d1", Epoch: 2, Time: at(time.Hour)},
		{Device: "d2", Epoch: 9, Time: at(30 * time.Minute)},
		{Device: "d1", Epoch: 3, Time: at(2 * time.Hour)},
		{Device: "d1", Epoch: 3, Time: at(-time.Hour)},                              // negative offsets sort first
		{Device: "d1x", Epoch: 4, Time: at(time.Minute)},                            // a name with d1 as prefix
		{Device: "d1", Epoch: 0, Time: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}, // before 1970
	} {
		if err := s.PutCalibration(c); err != nil {
			t.Fatalf("PutCalibration #%d: %v", i, err)
		}
	}
	epochs := func(cs []CalibrationRecord) string {
		out := []string{}
		for _, c := range cs {
			out = append(out, fmt.Sprintf("%s/%d", c.Device, c.Epoch))
		}
		return fmt.Sprint(out)
	}
	for _, c := range []struct {
		device string
		since  time.Time
		want   string
	}{
		{"d1", time.Time{}, "[d1/0 d1/3 d1/1 d1/2 d1/3]"},
		{"d1", at(0), "[d1/1 d1/2 d1/3]"},
		{"d1", at(time.Second), "[d1/2 d1/3]"},
		{"d2", time.Time{}, "[d2/9]"},
		{"", at(0), "[d1/1 d1x/4 d2/9 d1/2 d1/3]"},
		{"nope", time.Time{}, "[]"},
	} {
		got, bad, err := s.ListCalibrations(c.device, c.since)
		noBad(t, bad, err, "ListCalibrations")
		if epochs(got) != c.want {
			t.Errorf("ListCalibrations(%q, %v) = %s, want %s", c.device, c.since, epochs(got), c.want)
		}
	}
	if got, _, _ := s.ListCalibrations("d1", at(0)); string(got[0].Summary) != "a" {
		t.Errorf("summary lost: %+v", got[0])
	}
	latest, err := s.LatestCalibration("d1")
	if err != nil || latest.Epoch != 3 || !latest.Time.Equal(at(2*time.Hour)) {
		t.Fatalf("LatestCalibration = %+v, %v", latest, err)
	}
	_, err = s.LatestCalibration("nope")
	mustErrIs(t, err, ErrNotFound, "LatestCalibration of an unknown device")

	n, err := s.PruneCalibrations(at(time.Hour))
	if err != nil || n != 5 {
		t.Fatalf("PruneCalibrations = %d, %v; want 5", n, err)
	}
	got, bad, err := s.ListCalibrations("", time.Time{})
	noBad(t, bad, err, "ListCalibrations")
	if epochs(got) != "[d1/2 d1/3]" {
		t.Fatalf("after prune: %s", epochs(got))
	}
	if err := s.PutCalibration(CalibrationRecord{Device: "d"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("calibration without time: %v", err)
	}
}

// With a retention TTL, records older than the retention vanish without a
// prune; younger ones stay.
func TestCalibrationAndEventTTL(t *testing.T) {
	s, _ := openTemp(t, Options{CalibrationTTL: 7 * 24 * time.Hour, EventTTL: 24 * time.Hour, NoSync: true})
	now := time.Now()
	for _, c := range []CalibrationRecord{
		{Device: "d", Epoch: 1, Time: now.Add(-8 * 24 * time.Hour)},
		{Device: "d", Epoch: 2, Time: now.Add(-6 * 24 * time.Hour)},
		{Device: "d", Epoch: 3, Time: now},
	} {
		if err := s.PutCalibration(c); err != nil {
			t.Fatal(err)
		}
	}
	got, bad, err := s.ListCalibrations("d", time.Time{})
	noBad(t, bad, err, "ListCalibrations")
	if len(got) != 2 || got[0].Epoch != 2 {
		t.Fatalf("calibrations with TTL = %+v, want epochs 2 and 3", got)
	}
	if _, err := s.AppendEvent(Event{Kind: "old", Time: now.Add(-25 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendEvent(Event{Kind: "new", Time: now}); err != nil {
		t.Fatal(err)
	}
	evs, bad, err := s.Events(0, 0)
	noBad(t, bad, err, "Events")
	if len(evs) != 1 || evs[0].Kind != "new" || evs[0].Seq != 2 {
		t.Fatalf("events with TTL = %+v", evs)
	}
}

func TestEvents(t *testing.T) {
	s, _ := openTemp(t, Options{NoSync: true})
	if s.LastEventSeq() != 0 {
		t.Fatalf("LastEventSeq of a new store = %d", s.LastEventSeq())
	}
	for i := 1; i <= 10; i++ {
		seq, err := s.AppendEvent(Event{Time: at(time.Duration(i) * time.Minute), Kind: "k", Subject: fmt.Sprint(i), Seq: 999})
		if err != nil {
			t.Fatal(err)
		}
		if seq != uint64(i) {
			t.Fatalf("event %d got seq %d", i, seq)
		}
	}
	evs, bad, err := s.Events(4, 3)
	noBad(t, bad, err, "Events")
	if len(evs) != 3 || evs[0].Seq != 4 || evs[2].Seq != 6 || evs[0].Subject != "4" || !evs[0].Time.Equal(at(4*time.Minute)) {
		t.Fatalf("Events(4, 3) = %+v", evs)
	}
	if evs, _, _ := s.Events(11, 0); len(evs) != 0 {
		t.Fatalf("Events past the end = %+v", evs)
	}

	n, err := s.PruneEvents(at(5 * time.Minute))
	if err != nil || n != 4 {
		t.Fatalf("PruneEvents = %d, %v; want 4", n, err)
	}
	evs, _, _ = s.Events(0, 0)
	if len(evs) != 6 || evs[0].Seq != 5 {
		t.Fatalf("after prune: first %+v, %d events", evs[0], len(evs))
	}

	// Monotonic across reopen, even when every event was pruned.
	s = reopen(t, s, Options{NoSync: true})
	if got := s.LastEventSeq(); got != 10 {
		t.Fatalf("LastEventSeq after reopen = %d, want 10", got)
	}
	if seq, err := s.AppendEvent(Event{Kind: "k"}); err != nil || seq != 11 {
		t.Fatalf("append after reopen = %d, %v; want 11", seq, err)
	}
	if n, err := s.PruneEvents(time.Now().Add(time.Hour)); err != nil || n != 7 {
		t.Fatalf("prune all = %d, %v; want 7", n, err)
	}
	s = reopen(t, s, Options{NoSync: true})
	if seq, err := s.AppendEvent(Event{Kind: "k"}); err != nil || seq != 12 {
		t.Fatalf("append after pruning everything and reopening = %d, %v; want 12", seq, err)
	}
	evs, _, _ = s.Events(0, 0)
	if len(evs) != 1 || evs[0].Time.IsZero() {
		t.Fatalf("AppendEvent did not stamp the time: %+v", evs)
	}
}

func TestModules(t *testing.T) {
	s, _ := openTemp(t, Options{})
	wasm1 := []byte("\x00asm\x01\x00\x00\x00 version one")
	wasm2 := make([]byte, 300<<10) // goes to the value log
	copy(wasm2, "\x00asm\x01\x00\x00\x00")
	sum2 := sha256.Sum256(wasm2)
	if err := s.PutModule(Module{Name: "topo", Version: 1, Kind: "topology", Wasm: wasm1, State: "verified"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutModule(Module{Name: "topo", Version: 2, Kind: "topology", Wasm: wasm2, SHA256: hex.EncodeToString(sum2[:]), Size: int64(len(wasm2)), Signature: []byte("sig")}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutModule(Module{Name: "topology", Version: 1, Wasm: wasm1}); err != nil {
		t.Fatal(err)
	}
	m, err := s.GetModule("topo", 1)
	if err != nil || string(m.Wasm) != string(wasm1) || m.Size != int64(len(wasm1)) || m.Kind != "topology" || m.CreatedAt.IsZero() {
		t.Fatalf("GetModule(topo, 1) = %+v, %v", m, err)
	}
	if sum := sha256.Sum256(wasm1); m.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("SHA256 = %s", m.SHA256)
	}
	err = s.PutModule(Module{Name: "topo", Version: 1, Wasm: wasm1})
	mustErrIs(t, err, ErrExists, "second put of a version")
	for name, bad := range map[string]Module{
		"no name":      {Version: 1, Wasm: wasm1},
		"version 0":    {Name: "x", Wasm: wasm1},
		"no binary":    {Name: "x", Version: 1},
		"wrong digest": {Name: "x", Version: 1, Wasm: wasm1, SHA256: hex.EncodeToString(sum2[:])},
		"wrong size":   {Name: "x", Version: 1, Wasm: wasm1, Size: 3},
		"too large":    {Name: "x", Version: 1, Wasm: make([]byte, DefaultValueLogFileSize+1)},
	} {
		if err := s.PutModule(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}

	hist, bad, err := s.ModuleHistory("topo")
	noBad(t, bad, err, "ModuleHistory")
	if len(hist) != 2 || hist[0].Version != 1 || hist[1].Version != 2 || hist[0].Wasm != nil || string(hist[1].Signature) != "sig" {
		t.Fatalf("ModuleHistory = %+v", hist)
	}
	all, bad, err := s.ListModules()
	noBad(t, bad, err, "ListModules")
	if len(all) != 3 {
		t.Fatalf("ListModules = %d modules", len(all))
	}

	_, err = s.ActiveModule("topo")
	mustErrIs(t, err, ErrNotFound, "ActiveModule before activation")
	err = s.SetActiveModule("topo", 3)
	mustErrIs(t, err, ErrNotFound, "activating a missing version")
	if err := s.SetActiveModule("topo", 2); err != nil {
		t.Fatal(err)
	}
	am, err := s.ActiveModule("topo")
	if err != nil || am.Version != 2 || len(am.Wasm) != len(wasm2) {
		t.Fatalf("ActiveModule = %v, %v", am, err)
	}
	act, bad, err := s.ActiveModules()
	noBad(t, bad, err, "ActiveModules")
	if !reflect.DeepEqual(act, map[string]int{"topo": 2}) {
		t.Fatalf("ActiveModules = %v", act)
	}
	// Roll back.
	if err := s.SetActiveModule("topo", 1); err != nil {
		t.Fatal(err)
	}
	if m, err := s.SetModuleState("topo", 2, "retired"); err != nil || m.State != "retired" {
		t.Fatalf("SetModuleState = %+v, %v", m, err)
	}
	if m, _ := s.GetModule("topo", 2); m.State != "retired" || len(m.Wasm) != len(wasm2) {
		t.Fatalf("state change lost or binary damaged: %+v", m.State)
	}
	err = s.DeleteModule("topo", 1)
	mustErrIs(t, err, ErrInvalid, "deleting the active version")
	if err := s.DeleteModule("topo", 2); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetModule("topo", 2)
	mustErrIs(t, err, ErrNotFound, "deleted version")
	err = s.DeleteModule("topo", 2)
	mustErrIs(t, err, ErrNotFound, "deleting twice")
	if err := s.ClearActiveModule("topo"); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearActiveModule("topo"); err != nil {
		t.Fatalf("clearing twice: %v", err)
	}
	_, err = s.ActiveModule("topo")
	mustErrIs(t, err, ErrNotFound, "ActiveModule after clearing")
}
