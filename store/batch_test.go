package store

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// ids lists the IDs of allocations, sorted.
func allocationIDs(as []Allocation) string {
	out := make([]string, len(as))
	for i := range as {
		out[i] = as[i].ID
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// Two creations with the same idempotency key in one batch make one
// allocation: the second item is answered with the first.
func TestWriteAllocationsSameKeyTwice(t *testing.T) {
	s, _ := openTemp(t, Options{})
	first, second := sampleAllocation("k1"), sampleAllocation("k2")
	first.IdempotencyKey, second.IdempotencyKey = "shared", "shared"
	second.Qubits = []int{9}
	res := s.WriteAllocations([]AllocationWrite{CreateWrite(first), CreateWrite(second)})
	if len(res) != 2 {
		t.Fatalf("%d results for 2 items", len(res))
	}
	if res[0].Err != nil || res[0].Existing != nil {
		t.Fatalf("first item = %+v; want written", res[0])
	}
	if res[1].Err != nil || res[1].Existing == nil || res[1].Existing.ID != "k1" {
		t.Fatalf("second item = %+v; want Existing = k1", res[1])
	}
	equalAllocation(t, *res[1].Existing, first)
	all, bad, err := s.ListAllocations(AllocationFilter{})
	noBad(t, bad, err, "ListAllocations")
	if got := allocationIDs(all); got != "k1" {
		t.Fatalf("stored allocations = [%s], want [k1]", got)
	}
	found, err := s.FindByIdempotencyKey("tenant-a", "shared")
	if err != nil || found.ID != "k1" {
		t.Fatalf("FindByIdempotencyKey = %+v, %v; want k1", found, err)
	}

	// The same ID twice (different keys): the second is ErrExists.
	a, b := sampleAllocation("dup"), sampleAllocation("dup")
	b.IdempotencyKey = "another"
	res = s.WriteAllocations([]AllocationWrite{CreateWrite(a), CreateWrite(b)})
	if res[0].Err != nil || res[0].Existing != nil {
		t.Fatalf("first dup = %+v", res[0])
	}
	mustErrIs(t, res[1].Err, ErrExists, "same ID twice in a batch")
	if _, err := s.FindByIdempotencyKey("tenant-a", "another"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed item wrote its idempotency entry (err %v)", err)
	}
}

// A batch of good and bad items: each bad one fails alone, with the error
// its single-item method gives, and writes nothing; the good ones are
// written, and everything is still there after a reopen.
func TestWriteAllocationsMixed(t *testing.T) {
	s, _ := openTemp(t, Options{})
	if _, err := s.CreateAllocation(sampleAllocation("old")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAllocation(sampleAllocation("gone")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReleaseAllocation("gone", at(time.Minute), StateReleased); err != nil {
		t.Fatal(err)
	}
	for _, q := range []QueuedRequest{
		{ID: "q-ok", Tenant: "tenant-a", IdempotencyKey: "key-granted"},
		{ID: "q-taken", Tenant: "tenant-a", IdempotencyKey: "key-q-taken"},
		{ID: "q-stale", Tenant: "tenant-a", IdempotencyKey: "key-old"},
	} {
		if _, err := s.Enqueue(q); err != nil {
			t.Fatal(err)
		}
	}
	noQubits := sampleAllocation("bad")
	noQubits.Qubits = nil
	granted := sampleAllocation("granted")
	takenID := sampleAllocation("old") // ID taken by a stored allocation
	takenID.IdempotencyKey = "key-q-taken"
	stale := sampleAllocation("stale")
	stale.IdempotencyKey = "key-old" // answered before: the queue entry goes
	unqueued := sampleAllocation("unqueued")
	unqueued.IdempotencyKey = ""
	withQueue := CreateWrite(sampleAllocation("confused"))
	withQueue.QueueID = "q-ok"

	batch := []AllocationWrite{
		0:  CreateWrite(sampleAllocation("new1")),
		1:  CreateWrite(noQubits),
		2:  GrantQueuedWrite("q-ok", granted),
		3:  GrantQueuedWrite("q-taken", takenID),
		4:  GrantQueuedWrite("q-missing", unqueued),
		5:  GrantQueuedWrite("q-stale", stale),
		6:  ReleaseWrite("new1", at(2*time.Minute), StateReleased), // created at 0
		7:  ReleaseWrite("new1", at(3*time.Minute), StateExpired),  // idempotent
		8:  ReleaseWrite("ghost", at(0), StateReleased),
		9:  ReleaseWrite("old", at(0), StateActive),
		10: ReleaseWrite("gone", at(time.Hour), StateExpired),
		11: GrantQueuedWrite("", sampleAllocation("noqueue")),
		12: withQueue,
		13: {Kind: WriteKind(9), Allocation: sampleAllocation("kind")},
		14: CreateWrite(sampleAllocation("new2")),
	}
	res := s.WriteAllocations(batch)
	if len(res) != len(batch) {
		t.Fatalf("%d results for %d items", len(res), len(batch))
	}
	for _, i := range []int{0, 2, 14} {
		if res[i].Err != nil || res[i].Existing != nil || res[i].Released != nil {
			t.Errorf("item %d = %+v; want written", i, res[i])
		}
	}
	for i, want := range map[int]error{1: ErrInvalid, 3: ErrExists, 4: ErrNotFound, 8: ErrNotFound,
		9: ErrInvalid, 11: ErrInvalid, 12: ErrInvalid, 13: ErrInvalid} {
		mustErrIs(t, res[i].Err, want, fmt.Sprintf("item %d (%s)", i, batch[i].Kind))
		if res[i].Existing != nil || res[i].Released != nil {
			t.Errorf("failed item %d carries a record: %+v", i, res[i])
		}
	}
	if !strings.Contains(res[4].Err.Error(), `"q-missing"`) || !strings.Contains(res[3].Err.Error(), `create allocation "old"`) {
		t.Errorf("errors do not name their records: %v / %v", res[4].Err, res[3].Err)
	}
	if res[5].Err != nil || res[5].Existing == nil || res[5].Existing.ID != "old" {
		t.Errorf("stale grant = %+v; want Existing = old", res[5])
	}
	if r := res[6].Released; res[6].Err != nil || r == nil || r.State != StateReleased || !r.ReleasedAt.Equal(at(2*time.Minute)) {
		t.Errorf("release of new1 = %+v, %v", r, res[6].Err)
	}
	if r := res[7].Released; res[7].Err != nil || r == nil || r.State != StateReleased || !r.ReleasedAt.Equal(at(2*time.Minute)) {
		t.Errorf("second release of new1 changed it: %+v, %v", r, res[7].Err)
	}
	if r := res[10].Released; res[10].Err != nil || r == nil || r.State != StateReleased || !r.ReleasedAt.Equal(at(time.Minute)) {
		t.Errorf("release of an allocation released before = %+v, %v", r, res[10].Err)
	}

	check := func(s *Store, when string) {
		t.Helper()
		all, bad, err := s.ListAllocations(AllocationFilter{})
		noBad(t, bad, err, when+": ListAllocations")
		if got, want := allocationIDs(all), "gone granted new1 new2 old"; got != want {
			t.Fatalf("%s: stored [%s], want [%s]", when, got, want)
		}
		active, bad, err := s.ActiveAllocations()
		noBad(t, bad, err, when+": ActiveAllocations")
		if got, want := allocationIDs(active), "granted new2 old"; got != want {
			t.Fatalf("%s: active [%s], want [%s]", when, got, want)
		}
		queue, bad, err := s.ListQueue()
		noBad(t, bad, err, when+": ListQueue")
		if len(queue) != 1 || queue[0].ID != "q-taken" {
			t.Fatalf("%s: queue = %+v; want only q-taken (its grant failed)", when, queue)
		}
		if a, err := s.FindByIdempotencyKey("tenant-a", "key-granted"); err != nil || a.ID != "granted" {
			t.Fatalf("%s: granted by key = %+v, %v", when, a, err)
		}
		if _, err := s.FindByIdempotencyKey("tenant-a", "key-q-taken"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: failed grant left an idempotency entry (err %v)", when, err)
		}
		for _, id := range []string{"bad", "unqueued", "stale", "noqueue", "confused", "kind"} {
			if _, err := s.GetAllocation(id); !errors.Is(err, ErrNotFound) {
				t.Fatalf("%s: %s was written (err %v)", when, id, err)
			}
		}
		if a, _ := s.GetAllocation("new1"); a == nil || a.State != StateReleased {
			t.Fatalf("%s: new1 = %+v; want released", when, a)
		}
	}
	check(s, "before reopen")
	check(reopen(t, s, Options{}), "after reopen")
}

// A batch larger than one Badger transaction is split, in order: every item
// is written, and an idempotency key taken in an early part answers a
// creation in a later part.
func TestWriteAllocationsSplitsLargeBatches(t *testing.T) {
	s, _ := openTemp(t, Options{MemTableSize: MinMemTableSize}) // ~150 KB per transaction
	const n = 40
	batch := make([]AllocationWrite, 0, n+2)
	for i := 0; i < n; i++ {
		a := sampleAllocation(fmt.Sprintf("big-%02d", i))
		a.Request = make([]byte, 30<<10) // in the LSM tree: counts fully towards the limit
		a.Request[0] = byte(i)
		batch = append(batch, CreateWrite(a))
	}
	again := sampleAllocation("again")
	again.IdempotencyKey = "key-big-00"
	batch = append(batch, CreateWrite(again), ReleaseWrite("big-00", at(time.Minute), StateReleased))
	res := s.WriteAllocations(batch)
	for i, r := range res[:n] {
		if r.Err != nil || r.Existing != nil {
			t.Fatalf("item %d = %+v", i, r)
		}
	}
	if r := res[n]; r.Err != nil || r.Existing == nil || r.Existing.ID != "big-00" {
		t.Fatalf("retry in a later part = %+v; want Existing = big-00", r)
	}
	if r := res[n+1]; r.Err != nil || r.Released == nil || r.Released.State != StateReleased {
		t.Fatalf("release in a later part = %+v", r)
	}
	s = reopen(t, s, Options{MemTableSize: MinMemTableSize})
	all, bad, err := s.ListAllocations(AllocationFilter{})
	noBad(t, bad, err, "ListAllocations")
	if len(all) != n {
		t.Fatalf("%d allocations stored, want %d", len(all), n)
	}
	for _, a := range all {
		var i int
		fmt.Sscanf(a.ID, "big-%d", &i)
		if len(a.Request) != 30<<10 || a.Request[0] != byte(i) {
			t.Fatalf("%s: request of %d bytes starting %d", a.ID, len(a.Request), a.Request[0])
		}
	}
}

// Concurrent batches creating the same requests: each key makes exactly
// one allocation (transaction conflicts are retried), and every caller gets
// that allocation.
func TestWriteAllocationsConcurrent(t *testing.T) {
	s, _ := openTemp(t, Options{})
	const writers, keys = 4, 10
	results := make([][]AllocationResult, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			batch := make([]AllocationWrite, keys)
			for k := 0; k < keys; k++ {
				a := sampleAllocation(fmt.Sprintf("w%d-k%d", w, k))
				a.IdempotencyKey = fmt.Sprintf("key-%d", k)
				batch[k] = CreateWrite(a)
			}
			<-start
			results[w] = s.WriteAllocations(batch)
		}(w)
	}
	close(start)
	wg.Wait()
	for k := 0; k < keys; k++ {
		owner, created := "", 0
		for w := 0; w < writers; w++ {
			r := results[w][k]
			if r.Err != nil {
				t.Fatalf("writer %d key %d: %v", w, k, r.Err)
			}
			id := fmt.Sprintf("w%d-k%d", w, k)
			if r.Existing == nil {
				created++
			} else {
				id = r.Existing.ID
			}
			if owner == "" {
				owner = id
			} else if id != owner {
				t.Fatalf("key %d: writer %d got %s, another got %s", k, w, id, owner)
			}
		}
		if created != 1 {
			t.Fatalf("key %d: %d allocations created, want 1", k, created)
		}
	}
	all, bad, err := s.ListAllocations(AllocationFilter{})
	noBad(t, bad, err, "ListAllocations")
	if len(all) != keys {
		t.Fatalf("%d allocations stored, want %d", len(all), keys)
	}
}

// A corrupt queued record fails its grant only; the corrupt record stays
// (as GrantQueued leaves it), and the other items are written.
func TestWriteAllocationsCorruptQueueEntry(t *testing.T) {
	s, _ := openTemp(t, Options{})
	put(t, s, queueKey("q-junk"), garbage)
	a, b := sampleAllocation("a"), sampleAllocation("b")
	res := s.WriteAllocations([]AllocationWrite{GrantQueuedWrite("q-junk", a), CreateWrite(b)})
	wantCorrupt(t, res[0].Err, `queue "q-junk"`)
	if res[1].Err != nil {
		t.Fatalf("good item failed: %v", res[1].Err)
	}
	if _, err := s.GetAllocation("a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed grant wrote its allocation (err %v)", err)
	}
	if _, err := s.GetAllocation("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetQueued("q-junk"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt queue entry changed: err %v", err)
	}
}

// ReleaseAllocations releases many, each as ReleaseAllocation would; a closed
// store fails every item.
func TestReleaseAllocations(t *testing.T) {
	s, _ := openTemp(t, Options{})
	for _, id := range []string{"r1", "r2"} {
		if _, err := s.CreateAllocation(sampleAllocation(id)); err != nil {
			t.Fatal(err)
		}
	}
	res := s.ReleaseAllocations([]string{"r1", "nope", "r2", "r1"}, at(time.Minute), StateExpired)
	for _, i := range []int{0, 2, 3} {
		if r := res[i].Released; res[i].Err != nil || r == nil || r.State != StateExpired || !r.ReleasedAt.Equal(at(time.Minute)) {
			t.Errorf("item %d = %+v, %v", i, r, res[i].Err)
		}
	}
	mustErrIs(t, res[1].Err, ErrNotFound, "release unknown")
	active, bad, err := s.ActiveAllocations()
	noBad(t, bad, err, "ActiveAllocations")
	if len(active) != 0 {
		t.Fatalf("still active: %+v", active)
	}
	for _, r := range s.ReleaseAllocations([]string{"r1", "r2"}, time.Time{}, "done") {
		mustErrIs(t, r.Err, ErrInvalid, "release to an unknown state")
	}
	if len(s.ReleaseAllocations(nil, time.Time{}, StateReleased)) != 0 {
		t.Fatal("results for an empty batch")
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	res = s.WriteAllocations([]AllocationWrite{CreateWrite(sampleAllocation("late")), ReleaseWrite("r1", time.Time{}, StateReleased)})
	for i, r := range res {
		mustErrIs(t, r.Err, ErrClosed, fmt.Sprintf("item %d after Close", i))
	}
}
