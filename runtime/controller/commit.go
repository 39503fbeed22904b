package controller

import (
	"sync"
	"time"

	"github.com/eigen-os/rm/store"
)

// committer is the controller's group commit: one goroutine that takes the
// allocation writes (grants and releases) queued by concurrent callers,
// writes all of them in one store batch (one synced transaction), and wakes
// each caller with its own result. There is no artificial delay: while one
// batch is being synced, the next one gathers, and it is written as soon as
// the previous one is done (as Badger's own write loop does).
//
// Writing a batch needs nothing of the controller (it never takes mu), so a
// caller may wait for it while holding mu.
type committer struct {
	st *store.Store
	// observe, when set, is told the size of each batch and how long
	// writing it took.
	observe func(items int, took time.Duration)

	mu      sync.Mutex
	pending []*commitReq
	closed  bool
	wake    chan struct{} // capacity 1: "pending is not empty, or closed"
	done    chan struct{} // closed when the loop has returned
}

// commitReq is one caller's write and, once done is closed, its result.
type commitReq struct {
	w    store.AllocationWrite
	res  store.AllocationResult
	done chan struct{}
}

func newCommitter(st *store.Store, observe func(items int, took time.Duration)) *committer {
	k := &committer{st: st, observe: observe, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go k.loop()
	return k
}

// write queues w for the next batch and waits until that batch is durable
// (or failed). The wait is not cancellable: once queued, the write happens,
// and the caller must see its result to keep memory and store in step.
// After close it fails with ErrShuttingDown, writing nothing.
func (k *committer) write(w store.AllocationWrite) store.AllocationResult {
	r := &commitReq{w: w, done: make(chan struct{})}
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return store.AllocationResult{Err: ErrShuttingDown}
	}
	k.pending = append(k.pending, r)
	k.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
	<-r.done
	return r.res
}

// loop writes batches until close, then writes what is still pending and
// returns.
func (k *committer) loop() {
	defer close(k.done)
	var batch []*commitReq
	var writes []store.AllocationWrite
	for {
		k.mu.Lock()
		for len(k.pending) == 0 && !k.closed {
			k.mu.Unlock()
			<-k.wake
			k.mu.Lock()
		}
		if len(k.pending) == 0 { // closed and flushed
			k.mu.Unlock()
			return
		}
		// Swap the slices: callers append to the one we wrote last time.
		batch, k.pending = k.pending, batch[:0]
		k.mu.Unlock()

		writes = writes[:0]
		for _, r := range batch {
			writes = append(writes, r.w)
		}
		t0 := time.Now()
		res := k.st.WriteAllocations(writes)
		if k.observe != nil {
			k.observe(len(batch), time.Since(t0))
		}
		for i, r := range batch {
			r.res = res[i]
			close(r.done)
			batch[i] = nil
		}
		clear(writes) // drop references to the records
	}
}

// close refuses new writes, waits until everything queued before is written,
// and stops the loop. Closing twice is harmless.
func (k *committer) close() {
	k.mu.Lock()
	k.closed = true
	k.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default:
	}
	<-k.done
}
