package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestAllocationRoundTrip(t *testing.T) {
	s, _ := openTemp(t, Options{})
	want := sampleAllocation("a1")
	if ex, err := s.CreateAllocation(want); err != nil || ex != nil {
		t.Fatalf("CreateAllocation = %v, %v; want nil, nil", ex, err)
	}
	got, err := s.GetAllocation("a1")
	if err != nil {
		t.Fatal(err)
	}
	equalAllocation(t, *got, want)
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
	}

	// Zero and minimal values survive too: no lease, no idempotency key,
	// empty state meaning active, times outside the int64-nanosecond range.
	min := Allocation{ID: "a2", Qubits: []int{0}, CreatedAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		LeaseExpires: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}
	if _, err := s.CreateAllocation(min); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetAllocation("a2")
	if err != nil {
		t.Fatal(err)
	}
	min.State = StateActive
	equalAllocation(t, *got, min)

	if _, err := s.GetAllocation("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetAllocation(unknown) err = %v, want ErrNotFound", err)
	}
}

func TestCreateAllocationIdempotent(t *testing.T) {
	s, _ := openTemp(t, Options{})
	first := sampleAllocation("first")
	first.IdempotencyKey = "k"
	if _, err := s.CreateAllocation(first); err != nil {
		t.Fatal(err)
	}
	retry := sampleAllocation("second")
	retry.IdempotencyKey = "k"
	retry.Qubits = []int{7, 8}
	ex, err := s.CreateAllocation(retry)
	if err != nil {
		t.Fatal(err)
	}
	if ex == nil || ex.ID != "first" {
		t.Fatalf("retry returned %+v, want the first allocation", ex)
	}
	if _, err := s.GetAllocation("second"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retry wrote a second allocation (err = %v)", err)
	}
	all, bad, err := s.ListAllocations(AllocationFilter{})
	noBad(t, bad, err, "ListAllocations")
	if len(all) != 1 {
		t.Fatalf("%d allocations stored, want 1", len(all))
	}

	// The same key of another tenant is another request.
	other := sampleAllocation("third")
	other.IdempotencyKey, other.Tenant = "k", "tenant-b"
	if ex, err := s.CreateAllocation(other); err != nil || ex != nil {
		t.Fatalf("other tenant: %v, %v", ex, err)
	}

	// A retry after release still gets the first answer, not a new grant.
	if _, err := s.ReleaseAllocation("first", at(time.Minute), StateReleased); err != nil {
		t.Fatal(err)
	}
	ex, err = s.CreateAllocation(retry)
	if err != nil || ex == nil || ex.ID != "first" || ex.State != StateReleased {
		t.Fatalf("retry after release = %+v, %v; want the released first allocation", ex, err)
	}
	found, err := s.FindByIdempotencyKey("tenant-a", "k")
	if err != nil || found.ID != "first" {
		t.Fatalf("FindByIdempotencyKey = %+v, %v", found, err)
	}
	if _, err := s.FindByIdempotencyKey("tenant-a", "other"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FindByIdempotencyKey(unknown) err = %v", err)
	}
}

func TestCreateAllocationRejects(t *testing.T) {
	s, _ := openTemp(t, Options{})
	if _, err := s.CreateAllocation(sampleAllocation("x")); err != nil {
		t.Fatal(err)
	}
	dup := sampleAllocation("x")
	dup.IdempotencyKey = "another"
	_, err := s.CreateAllocation(dup)
	mustErrIs(t, err, ErrExists, "same ID, other key")

	for name, mod := range map[string]func(*Allocation){
		"empty ID":        func(a *Allocation) { a.ID = "" },
		"no qubits":       func(a *Allocation) { a.Qubits = nil },
		"negative qubit":  func(a *Allocation) { a.Qubits = []int{1, -2} },
		"repeated qubit":  func(a *Allocation) { a.Qubits = []int{1, 2, 1} },
		"unknown state":   func(a *Allocation) { a.State = "zombie" },
		"negative length": func(a *Allocation) { a.Duration = -time.Second },
		"long tenant":     func(a *Allocation) { a.Tenant = string(make([]byte, maxKeyPart+1)) },
		"huge request":    func(a *Allocation) { a.Request = make([]byte, DefaultValueLogFileSize+1) },
	} {
		a := sampleAllocation("bad-" + name)
		mod(&a)
		if _, err := s.CreateAllocation(a); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestReleaseAllocation(t *testing.T) {
	s, _ := openTemp(t, Options{})
	if _, err := s.CreateAllocation(sampleAllocation("r")); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReleaseAllocation("r", at(time.Minute), StateReleased)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StateReleased || !got.ReleasedAt.Equal(at(time.Minute)) {
		t.Fatalf("released = %+v", got)
	}
	// Again, even as "expired" and at another time: unchanged, no error.
	again, err := s.ReleaseAllocation("r", at(time.Hour), StateExpired)
	if err != nil {
		t.Fatal(err)
	}
	if again.State != StateReleased || !again.ReleasedAt.Equal(at(time.Minute)) {
		t.Fatalf("second release changed the record: %+v", again)
	}
	active, bad, err := s.ActiveAllocations()
	noBad(t, bad, err, "ActiveAllocations")
	if len(active) != 0 {
		t.Fatalf("released allocation still active: %+v", active)
	}
	_, err = s.ReleaseAllocation("ghost", at(0), StateReleased)
	mustErrIs(t, err, ErrNotFound, "release unknown")
	_, err = s.ReleaseAllocation("r", at(0), StateActive)
	mustErrIs(t, err, ErrInvalid, "release to active")

	// Zero time means now.
	if _, err := s.CreateAllocation(sampleAllocation("e")); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	got, err = s.ReleaseAllocation("e", time.Time{}, StateExpired)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StateExpired || got.ReleasedAt.Before(before) {
		t.Fatalf("expired = %+v", got)
	}
}

func TestRenewAllocation(t *testing.T) {
	s, _ := openTemp(t, Options{})
	if _, err := s.CreateAllocation(sampleAllocation("l")); err != nil {
		t.Fatal(err)
	}
	got, err := s.RenewAllocation("l", at(2*time.Hour))
	if err != nil || !got.LeaseExpires.Equal(at(2*time.Hour)) {
		t.Fatalf("renew = %+v, %v", got, err)
	}
	stored, _ := s.GetAllocation("l")
	if !stored.LeaseExpires.Equal(at(2 * time.Hour)) {
		t.Fatalf("renewal not stored: %v", stored.LeaseExpires)
	}
	if _, err := s.ReleaseAllocation("l", at(0), StateReleased); err != nil {
		t.Fatal(err)
	}
	_, err = s.RenewAllocation("l", at(3*time.Hour))
	mustErrIs(t, err, ErrNotActive, "renew released")
	_, err = s.RenewAllocation("none", at(3*time.Hour))
	mustErrIs(t, err, ErrNotFound, "renew unknown")
}

func TestListAllocationsFilter(t *testing.T) {
	s, _ := openTemp(t, Options{})
	for i, spec := range []struct{ tenant, device string }{{"t1", "d1"}, {"t2", "d1"}, {"t1", "d2"}, {"t1", "d1"}} {
		a := sampleAllocation(fmt.Sprintf("a%d", i))
		a.Tenant, a.Device = spec.tenant, spec.device
		a.CreatedAt = at(time.Duration(10-i) * time.Second) // reverse of ID order
		if _, err := s.CreateAllocation(a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ReleaseAllocation("a0", at(time.Hour), StateReleased); err != nil {
		t.Fatal(err)
	}
	ids := func(as []Allocation) string {
		out := []string{}
		for _, a := range as {
			out = append(out, a.ID)
		}
		return fmt.Sprint(out)
	}
	for _, c := range []struct {
		f    AllocationFilter
		want string
	}{
		{AllocationFilter{}, "[a3 a2 a1 a0]"},
		{AllocationFilter{Tenant: "t1"}, "[a3 a2 a0]"},
		{AllocationFilter{Tenant: "t1", ActiveOnly: true}, "[a3 a2]"},
		{AllocationFilter{Device: "d1", ActiveOnly: true}, "[a3 a1]"},
		{AllocationFilter{Tenant: "t9"}, "[]"},
	} {
		got, bad, err := s.ListAllocations(c.f)
		noBad(t, bad, err, "ListAllocations")
		if ids(got) != c.want {
			t.Errorf("ListAllocations(%+v) = %s, want %s", c.f, ids(got), c.want)
		}
	}
}

func TestPruneAllocations(t *testing.T) {
	s, _ := openTemp(t, Options{})
	for _, id := range []string{"old", "new", "live"} {
		if _, err := s.CreateAllocation(sampleAllocation(id)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ReleaseAllocation("old", at(time.Hour), StateReleased); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReleaseAllocation("new", at(3*time.Hour), StateExpired); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneAllocations(at(2 * time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneAllocations = %d, %v; want 1", n, err)
	}
	if _, err := s.GetAllocation("old"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pruned allocation still there (err %v)", err)
	}
	if _, err := s.FindByIdempotencyKey("tenant-a", "key-old"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("idempotency entry of pruned allocation still there (err %v)", err)
	}
	for _, id := range []string{"new", "live"} {
		if _, err := s.GetAllocation(id); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	// A request retried after the prune is new.
	if ex, err := s.CreateAllocation(sampleAllocation("old")); err != nil || ex != nil {
		t.Fatalf("recreate after prune: %v, %v", ex, err)
	}
	// Active allocations are never pruned, whatever their age.
	if n, err := s.PruneAllocations(at(100 * time.Hour)); err != nil || n != 1 {
		t.Fatalf("second prune = %d, %v; want 1 (only \"new\")", n, err)
	}
}

func TestActiveQubitOwners(t *testing.T) {
	s, _ := openTemp(t, Options{})
	put := func(id, device string, qubits ...int) {
		a := sampleAllocation(id)
		a.Device, a.Qubits = device, qubits
		if _, err := s.CreateAllocation(a); err != nil {
			t.Fatal(err)
		}
	}
	put("a", "d1", 0, 1, 2)
	put("b", "d1", 2, 3) // double grant of d1/2: the store records what it is told
	put("c", "d2", 0, 1) // other device: no conflict
	put("gone", "d1", 3)
	if _, err := s.ReleaseAllocation("gone", at(0), StateReleased); err != nil {
		t.Fatal(err)
	}
	owners, bad, err := s.ActiveQubitOwners()
	noBad(t, bad, err, "ActiveQubitOwners")
	if len(owners) != 6 {
		t.Errorf("%d qubits owned, want 6: %v", len(owners), owners)
	}
	if got := owners[DeviceQubit{"d1", 3}]; fmt.Sprint(got) != "[b]" {
		t.Errorf("owners of d1/3 = %v, want [b]", got)
	}
	conf := owners.Conflicts()
	if len(conf) != 1 || conf[0].Device != "d1" || conf[0].Qubit != 2 || fmt.Sprint(conf[0].Allocations) != "[a b]" {
		t.Fatalf("Conflicts = %+v, want d1/2 held by [a b]", conf)
	}
}

// Eight goroutines race to create the same request: exactly one allocation
// results and everyone gets it.
func TestConcurrentCreateSameKey(t *testing.T) {
	s, _ := openTemp(t, Options{})
	const n = 8
	var wg sync.WaitGroup
	created := make([]bool, n)
	ids := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			a := sampleAllocation(fmt.Sprintf("g%d", i))
			a.IdempotencyKey = "shared"
			<-start
			ex, err := s.CreateAllocation(a)
			errs[i] = err
			if ex == nil {
				created[i], ids[i] = true, a.ID
			} else {
				ids[i] = ex.ID
			}
		}(i)
	}
	close(start)
	wg.Wait()
	winners := 0
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if created[i] {
			winners++
		}
		if ids[i] != ids[0] {
			t.Errorf("goroutine %d got %s, goroutine 0 got %s", i, ids[i], ids[0])
		}
	}
	if winners != 1 {
		t.Fatalf("%d goroutines created an allocation, want 1", winners)
	}
	all, bad, err := s.ListAllocations(AllocationFilter{})
	noBad(t, bad, err, "ListAllocations")
	if len(all) != 1 {
		t.Fatalf("%d allocations stored, want 1", len(all))
	}
}

func TestGrantQueued(t *testing.T) {
	s, _ := openTemp(t, Options{})
	q := QueuedRequest{ID: "q1", Tenant: "tenant-a", IdempotencyKey: "key-a1", Priority: 1, Request: []byte("req")}
	if _, err := s.Enqueue(q); err != nil {
		t.Fatal(err)
	}
	if ex, err := s.GrantQueued("q1", sampleAllocation("a1")); err != nil || ex != nil {
		t.Fatalf("GrantQueued = %v, %v", ex, err)
	}
	if _, err := s.GetQueued("q1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("granted request still queued (err %v)", err)
	}
	if _, err := s.GetAllocation("a1"); err != nil {
		t.Fatal(err)
	}
	// The queue entry is gone: granting again writes nothing and returns
	// the allocation through its idempotency key.
	again := sampleAllocation("a1-again")
	again.IdempotencyKey = "key-a1"
	ex, err := s.GrantQueued("q1", again)
	if err != nil || ex == nil || ex.ID != "a1" {
		t.Fatalf("second grant = %+v, %v; want the first allocation", ex, err)
	}
	// No queue entry and no idempotent answer: nothing is written.
	a := sampleAllocation("a2")
	a.IdempotencyKey = ""
	_, err = s.GrantQueued("q-missing", a)
	mustErrIs(t, err, ErrNotFound, "grant of an unqueued request")
	if _, err := s.GetAllocation("a2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed grant wrote an allocation (err %v)", err)
	}
	// A stale queue entry of a request granted before is dropped.
	if _, err := s.Enqueue(QueuedRequest{ID: "q2", Tenant: "tenant-a", IdempotencyKey: "key-a1"}); err != nil {
		t.Fatal(err)
	}
	stale := sampleAllocation("a3")
	stale.IdempotencyKey = "key-a1"
	ex, err = s.GrantQueued("q2", stale)
	if err != nil || ex == nil || ex.ID != "a1" {
		t.Fatalf("grant of a stale entry = %+v, %v", ex, err)
	}
	if _, err := s.GetQueued("q2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stale entry still queued (err %v)", err)
	}
}
