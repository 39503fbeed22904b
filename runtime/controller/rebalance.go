package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/eigen-os/rm/store"
)

// QueuedTask is a request waiting in this controller's queue.
type QueuedTask struct {
	ID       string
	Tenant   string
	Key      string // idempotency key (one is made up when the client gave none)
	Params   AllocateParams
	Waiting  time.Duration
	Priority int
}

// QueuedTasks lists the waiting requests, in queue order.
func (c *Controller) QueuedTasks() []QueuedTask {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	out := make([]QueuedTask, 0, len(c.queue))
	for _, w := range c.queue {
		if w.p.IdempotencyKey == "" {
			var b [9]byte
			_, _ = rand.Read(b[:])
			w.p.IdempotencyKey = "q-" + hex.EncodeToString(b[:])
		}
		out = append(out, QueuedTask{ID: w.id, Tenant: w.caller.Tenant, Key: w.p.IdempotencyKey, Params: w.p,
			Waiting: now.Sub(w.enqueued), Priority: w.p.Priority})
	}
	return out
}

// RemoteGrant is what another controller granted for a moved request.
type RemoteGrant struct {
	ID, Device string
	Qubits     []int
	ESP        float64
	Swaps      int
	LeaseEnd   time.Time
}

// ErrNotQueued: the request is no longer waiting (granted or expired).
var ErrNotQueued = errors.New("request is not queued")

// MoveQueued takes a waiting request out of the queue and asks move to
// place it on another device (rebalancing; running tasks are never moved).
// On success the waiting caller gets the remote grant; on failure the
// request goes back to its place in the queue. When the request ended while
// move ran, the error wraps ErrNotQueued and the caller must withdraw what
// move obtained.
func (c *Controller) MoveQueued(ctx context.Context, id string, move func(ctx context.Context, t QueuedTask) (RemoteGrant, error)) error {
	c.mu.Lock()
	var w *waiter
	for _, x := range c.queue {
		if x.id == id {
			w = x
		}
	}
	if w == nil {
		c.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotQueued, id)
	}
	c.removeWaiterLocked(w)
	c.updateGauges()
	t := QueuedTask{ID: w.id, Tenant: w.caller.Tenant, Key: w.p.IdempotencyKey, Params: w.p, Waiting: c.now().Sub(w.enqueued), Priority: w.p.Priority}
	c.mu.Unlock()

	rg, err := move(ctx, t)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if w.grant == nil && w.err == nil { // still waiting: back in line
			c.queue = append(c.queue, w)
			c.sortQueueLocked()
			c.updateGauges()
		}
		return err
	}
	if w.grant != nil || w.err != nil {
		// The caller stopped waiting while the move ran: the caller of
		// MoveQueued must withdraw the remote grant.
		return fmt.Errorf("%w: %s ended while it was being moved", ErrNotQueued, id)
	}
	a := &store.Allocation{ID: rg.ID, Device: rg.Device, Tenant: w.caller.Tenant, TaskID: w.p.TaskID,
		IdempotencyKey: w.p.IdempotencyKey, Qubits: rg.Qubits, Shape: w.p.Shape, ESP: rg.ESP, Swaps: rg.Swaps,
		Priority: w.p.Priority, CreatedAt: c.now(), LeaseExpires: rg.LeaseEnd, Duration: w.p.Duration, State: store.StateActive}
	w.finish(&Grant{Allocation: a, Strategy: "rebalanced:" + rg.Device, Remote: true, QueuedFor: c.now().Sub(w.enqueued)}, nil)
	_, _ = c.st.Dequeue(w.id)
	go c.appendEvent("moved", w.id, fmt.Sprintf("queued request of tenant %s moved to %s as %s", w.caller.Tenant, rg.Device, rg.ID))
	return nil
}
