package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eigen-os/rm/store"
)

// idleCommitter is a committer whose lead the test holds, so that writes
// queue up; lead(k) commits them as one batch.
func idleCommitter(t *testing.T, observe func(int, time.Duration)) (*committer, *store.Store) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	k := newCommitter(st, observe)
	k.leading = true
	return k, st
}

// lead commits what is queued, as the leader the test was.
func lead(k *committer) {
	k.mu.Lock()
	k.commitLocked()
}

// queueAll starts one writer per item and waits until all of them are
// queued; results arrive in res once the test leads.
func queueAll(t *testing.T, k *committer, writes []store.AllocationWrite, res []store.AllocationResult, wg *sync.WaitGroup) {
	t.Helper()
	for i := range writes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res[i] = k.write(writes[i])
		}(i)
	}
	waitFor(t, func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return len(k.pending) == len(writes)
	})
}

func storeAllocation(id, key string, qubits ...int) store.Allocation {
	return store.Allocation{ID: id, Device: "d", Tenant: "alice", IdempotencyKey: key, Qubits: qubits,
		CreatedAt: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), State: store.StateActive}
}

// Writes queued together go out in one batch, and each caller gets its own
// result: a failing item fails alone.
func TestCommitterBatchesAndAnswersEachCaller(t *testing.T) {
	var mu sync.Mutex
	var batches []int
	k, st := idleCommitter(t, func(n int, _ time.Duration) {
		mu.Lock()
		batches = append(batches, n)
		mu.Unlock()
	})
	for _, a := range []store.Allocation{storeAllocation("old", "", 0), storeAllocation("taken", "", 1)} {
		if _, err := st.CreateAllocation(a); err != nil {
			t.Fatal(err)
		}
	}
	writes := []store.AllocationWrite{
		store.CreateWrite(storeAllocation("a1", "k1", 10)),
		store.CreateWrite(storeAllocation("a2", "", 11)),
		store.CreateWrite(storeAllocation("taken", "k3", 12)), // ID in use
		store.CreateWrite(storeAllocation("a4", "same", 13)),
		store.CreateWrite(storeAllocation("a5", "same", 14)), // same key: one of a4, a5 wins
		store.ReleaseWrite("old", time.Time{}, store.StateReleased),
		store.ReleaseWrite("ghost", time.Time{}, store.StateReleased),
	}
	res := make([]store.AllocationResult, len(writes))
	var wg sync.WaitGroup
	queueAll(t, k, writes, res, &wg)
	lead(k)
	wg.Wait()
	k.close()

	mu.Lock()
	if len(batches) != 1 || batches[0] != len(writes) {
		t.Errorf("batches %v, want one of %d", batches, len(writes))
	}
	mu.Unlock()
	for _, i := range []int{0, 1} {
		if res[i].Err != nil || res[i].Existing != nil {
			t.Errorf("write %d = %+v, want written", i, res[i])
		}
	}
	if !errors.Is(res[2].Err, store.ErrExists) {
		t.Errorf("write of a taken ID: err = %v, want ErrExists", res[2].Err)
	}
	switch {
	case res[3].Err != nil || res[4].Err != nil:
		t.Errorf("same-key writes failed: %v / %v", res[3].Err, res[4].Err)
	case (res[3].Existing == nil) == (res[4].Existing == nil):
		t.Errorf("same-key writes: existing %v and %v, want exactly one answered with the other", res[3].Existing, res[4].Existing)
	case res[3].Existing != nil && res[3].Existing.ID != "a5", res[4].Existing != nil && res[4].Existing.ID != "a4":
		t.Errorf("same-key write answered with the wrong allocation: %+v %+v", res[3].Existing, res[4].Existing)
	}
	if r := res[5]; r.Err != nil || r.Released == nil || r.Released.State != store.StateReleased {
		t.Errorf("release = %+v", r)
	}
	if !errors.Is(res[6].Err, store.ErrNotFound) {
		t.Errorf("release of an unknown allocation: err = %v, want ErrNotFound", res[6].Err)
	}
	active, bad, err := st.ActiveAllocations()
	if err != nil || len(bad) > 0 {
		t.Fatal(err, bad)
	}
	if len(active) != 4 { // taken, a1, a2, and one of a4/a5
		t.Fatalf("%d active allocations, want 4: %+v", len(active), active)
	}
}

// Close writes what was queued before it, then refuses new writes.
func TestCommitterCloseFlushesThenRefuses(t *testing.T) {
	k, st := idleCommitter(t, nil)
	writes := make([]store.AllocationWrite, 5)
	for i := range writes {
		writes[i] = store.CreateWrite(storeAllocation(fmt.Sprintf("f%d", i), "", i))
	}
	res := make([]store.AllocationResult, len(writes))
	var wg sync.WaitGroup
	queueAll(t, k, writes, res, &wg)
	closed := make(chan struct{})
	go func() { k.close(); close(closed) }()
	waitFor(t, func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.closed
	})
	go lead(k) // commits after close was asked for: close waits for it
	<-closed
	wg.Wait()
	for i, r := range res {
		if r.Err != nil {
			t.Errorf("queued write %d: %v", i, r.Err)
		}
	}
	all, _, err := st.ListAllocations(store.AllocationFilter{})
	if err != nil || len(all) != len(writes) {
		t.Fatalf("%d allocations stored (err %v), want %d", len(all), err, len(writes))
	}
	if r := k.write(store.CreateWrite(storeAllocation("late", "", 9))); !errors.Is(r.Err, ErrShuttingDown) {
		t.Fatalf("write after close: %+v, want ErrShuttingDown", r)
	}
	if _, err := st.GetAllocation("late"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("write after close reached the store (err %v)", err)
	}
	k.close() // twice: harmless
}

// Concurrent requests with one idempotency key, whichever batches they land
// in, make one allocation that holds its qubits once; every caller gets it.
func TestConcurrentSameKeyOneGrant(t *testing.T) {
	f := newFixture(t, "heavyhex-127", nil)
	ctx := context.Background()
	const n = 8
	grants := make([]*Grant, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			grants[i], errs[i] = f.c.Allocate(ctx, alice, params(5, "one"))
		}(i)
	}
	close(start)
	wg.Wait()
	fresh := 0
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if grants[i].Allocation.ID != grants[0].Allocation.ID {
			t.Fatalf("caller %d got %s, caller 0 got %s", i, grants[i].Allocation.ID, grants[0].Allocation.ID)
		}
		if !grants[i].Replayed {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d callers were granted afresh, want 1", fresh)
	}
	if st := f.c.Status(); st.ActiveAllocations != 1 || st.AllocatedQubits != 5 {
		t.Fatalf("status %+v: want one allocation of 5 qubits (no hold left behind)", st)
	}
	all, _, err := f.st.ListAllocations(store.AllocationFilter{})
	if err != nil || len(all) != 1 {
		t.Fatalf("%d allocations stored (err %v), want 1", len(all), err)
	}
}

// A release after Close is refused with ErrShuttingDown and changes
// nothing: the allocation is still active after a restart.
func TestReleaseAfterCloseRefused(t *testing.T) {
	f := newFixture(t, "heavyhex-27", nil)
	ctx := context.Background()
	g, err := f.c.Allocate(ctx, alice, params(3, ""))
	if err != nil {
		t.Fatal(err)
	}
	c := f.c
	c.Close()
	if _, _, err := c.Release(ctx, alice, g.Allocation.ID); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("release after close: err = %v, want ErrShuttingDown", err)
	}
	if _, err := c.Allocate(ctx, alice, params(3, "")); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("allocate after close: err = %v, want ErrShuttingDown", err)
	}
	f.restart()
	a, err := f.c.Get(alice, g.Allocation.ID)
	if err != nil || a.State != store.StateActive {
		t.Fatalf("after restart: %+v, %v; want still active", a, err)
	}
}
