package controller

import (
	"sync"
	"time"

	"github.com/eigen-os/rm/store"
)

// committer is the controller's group commit for allocation writes (grants
// and releases). There is no goroutine of its own: the first caller to find
// no commit in progress becomes the leader, takes every write queued so
// far, commits them to the store in one transaction, and passes the lead to
// the first caller that queued meanwhile. Then every caller of the batch
// waits, on its own goroutine, until the batch is durable (the store's
// journal writes concurrent batches to disk together). So a commit never
// waits for the disk write of the one before it, and a lone call costs no
// hand-over between goroutines.
//
// Writing a batch needs nothing of the controller (it never takes mu), so a
// caller may wait for it while holding mu.
type committer struct {
	st *store.Store
	// observe, when set, is told the size of each batch and how long
	// committing it took.
	observe func(items int, took time.Duration)

	mu      sync.Mutex
	pending []*commitReq
	leading bool // a caller is committing a batch
	closed  bool
	idle    sync.Cond // signalled when leading becomes false
}

// commitReq is one caller's write and, once committed is closed, its
// result and the ticket to wait for.
type commitReq struct {
	w         store.AllocationWrite
	res       store.AllocationResult
	ticket    store.Ticket
	committed chan struct{} // closed by the leader that committed it
	lead      chan struct{} // closed to make this caller the next leader
}

func newCommitter(st *store.Store, observe func(items int, took time.Duration)) *committer {
	k := &committer{st: st, observe: observe}
	k.idle.L = &k.mu
	return k
}

// write queues w for the next batch and waits until that batch is durable
// (or failed). The wait is not cancellable: once queued, the write happens,
// and the caller must see its result to keep memory and store in step.
// After close it fails with ErrShuttingDown, writing nothing.
func (k *committer) write(w store.AllocationWrite) store.AllocationResult {
	r := &commitReq{w: w, committed: make(chan struct{}), lead: make(chan struct{})}
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return store.AllocationResult{Err: ErrShuttingDown}
	}
	k.pending = append(k.pending, r)
	if k.leading {
		k.mu.Unlock()
		select {
		case <-r.committed:
		case <-r.lead:
			k.mu.Lock()
			k.commitLocked()
		}
	} else {
		k.leading = true
		k.commitLocked()
	}
	if err := k.st.Wait(r.ticket); err != nil && r.res.Err == nil {
		r.res = store.AllocationResult{Err: err}
	}
	return r.res
}

// commitLocked, called by the leader with mu held, commits the pending
// writes and passes the lead on (or gives it up). It returns with mu
// released.
func (k *committer) commitLocked() {
	batch := k.pending
	k.pending = nil
	k.mu.Unlock()

	writes := make([]store.AllocationWrite, len(batch))
	for i, r := range batch {
		writes[i] = r.w
	}
	t0 := time.Now()
	res, ticket := k.st.CommitAllocations(writes)
	if k.observe != nil {
		k.observe(len(batch), time.Since(t0))
	}
	for i, r := range batch {
		r.res, r.ticket = res[i], ticket
		close(r.committed)
	}

	k.mu.Lock()
	if len(k.pending) > 0 {
		close(k.pending[0].lead) // it commits the next batch
	} else {
		k.leading = false
		k.idle.Broadcast()
	}
	k.mu.Unlock()
}

// close refuses new writes and waits until everything queued before is
// committed. Closing twice is harmless.
func (k *committer) close() {
	k.mu.Lock()
	k.closed = true
	for k.leading {
		k.idle.Wait()
	}
	k.mu.Unlock()
}
