package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/store"
)

// Event is one entry of the controller's event log.
type Event = store.Event

// broadcaster fans events out to subscribers without ever blocking the
// controller: a subscriber that falls behind loses events (counted).
type broadcaster struct {
	mu      sync.Mutex
	subs    map[chan Event]struct{}
	dropped uint64
	closed  bool
}

func newBroadcaster() *broadcaster { return &broadcaster{subs: map[chan Event]struct{}{}} }

func (b *broadcaster) publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- e:
		default:
			b.dropped++
		}
	}
}

func (b *broadcaster) subscribe(ctx context.Context, buf int) <-chan Event {
	ch := make(chan Event, buf)
	b.mu.Lock()
	if b.closed {
		close(ch)
		b.mu.Unlock()
		return ch
	}
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
		b.mu.Unlock()
	}()
	return ch
}

func (b *broadcaster) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		delete(b.subs, ch)
		close(ch)
	}
}

// appendEvent queues an event for the log. The writer goroutine stores it
// (assigning its sequence number) and publishes it, so that the callers on
// the allocation path never wait for the event log's disk write: the
// allocation itself is durable before it is acknowledged; an event lost in
// a crash is only a diagnostic.
func (c *Controller) appendEvent(kind, subject, detail string) {
	e := Event{Time: c.now(), Kind: kind, Subject: subject, Detail: detail}
	c.log.Debug("event", "kind", kind, "subject", subject, "detail", detail)
	c.evMu.Lock()
	defer c.evMu.Unlock()
	if c.evClosed {
		return
	}
	select {
	case c.evq <- e:
	default:
		c.writeEvent(e) // queue full: write inline rather than lose it
	}
}

// eventWriter stores and publishes queued events in order, in batches of
// what queues up within eventGather (one transaction per batch).
func (c *Controller) eventWriter() {
	defer close(c.evDone)
	// Events are published once durable; their writes do not wait for the
	// disk (the store joins them to the next grant's write), so the next
	// batch is committed meanwhile and the publisher keeps their order.
	pub := make(chan func(), 64)
	published := make(chan struct{})
	go func() {
		defer close(published)
		for publish := range pub {
			publish()
		}
	}()
	defer func() {
		close(pub)
		<-published
	}()
	// A batch gathers for up to eventGather after its first event: one
	// transaction for a burst of grants and releases instead of one each.
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	for e := range c.evq {
		batch := make([]Event, 1, 16)
		batch[0] = e
		gather.Reset(eventGather)
	drain:
		for len(batch) < 256 {
			select {
			case e, ok := <-c.evq:
				if !ok {
					break drain
				}
				batch = append(batch, e)
			case <-gather.C:
				break drain
			}
		}
		gather.Stop()
		pub <- c.startEvents(batch)
	}
}

// eventGather is how long the event writer waits for more events before it
// writes a batch.
const eventGather = 2 * time.Millisecond

func (c *Controller) writeEvent(e Event) { c.startEvents([]Event{e})() }

// startEvents commits a batch of events and returns the function that
// waits until they are durable and publishes them.
func (c *Controller) startEvents(batch []Event) func() {
	wait := c.st.AppendEventsAsync(batch)
	return func() { c.publishEvents(batch, wait) }
}

func (c *Controller) publishEvents(batch []Event, wait func() ([]uint64, error)) {
	seqs, err := wait()
	if err != nil {
		c.log.Error("event log write failed", "events", len(batch), "first", batch[0].Kind, "err", err)
	}
	for i, e := range batch {
		if err == nil {
			e.Seq = seqs[i]
		}
		c.events.publish(e)
	}
}

// closeEvents flushes the queued events and stops the writer.
func (c *Controller) closeEvents() {
	c.evMu.Lock()
	if !c.evClosed {
		c.evClosed = true
		close(c.evq)
	}
	c.evMu.Unlock()
	<-c.evDone
}

// Subscribe streams events: first the stored ones from fromSeq (when > 0),
// then live ones, until ctx ends.
func (c *Controller) Subscribe(ctx context.Context, fromSeq uint64) (<-chan Event, error) {
	live := c.events.subscribe(ctx, 256)
	if fromSeq == 0 {
		return live, nil
	}
	past, _, err := c.st.Events(fromSeq, 10000)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	out := make(chan Event, 256)
	go func() {
		defer close(out)
		last := uint64(0)
		for _, e := range past {
			select {
			case out <- e:
				last = e.Seq
			case <-ctx.Done():
				return
			}
		}
		for e := range live {
			if e.Seq != 0 && e.Seq <= last {
				continue
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// watchDevice follows the device's events: a new calibration epoch swaps
// the engine's model and is kept in the calibration history; faults and
// health changes are logged as events; an offline device coming back is
// reconciled.
func (c *Controller) watchDevice(ctx context.Context, ch <-chan hal.Event) {
	defer c.wg.Done()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-prune.C:
			cutoff := c.now().Add(-c.cfg.Monitoring.MetricsRetention.D())
			if _, err := c.st.PruneCalibrations(cutoff); err != nil {
				c.log.Warn("calibration history prune failed", "err", err)
			}
			if _, err := c.st.PruneEvents(cutoff); err != nil {
				c.log.Warn("event log prune failed", "err", err)
			}
		case e, ok := <-ch:
			if !ok {
				return
			}
			switch e.Kind {
			case hal.EventCalibration, hal.EventFault, hal.EventRepair:
				m := c.dev.Model()
				c.mu.Lock()
				if err := c.eng.SetModel(m); err != nil {
					c.log.Error("new calibration refused by the engine", "err", err)
				}
				// A broken qubit under a running task is not preempted: the
				// task keeps it, and validation refuses new placements on it.
				c.drainQueueLocked(ctx)
				c.updateGauges()
				c.mu.Unlock()
				c.recordCalibration(m)
				if c.mods != nil { // load the new device view into the module instances
					go func() { _ = c.mods.Warm(ctx, m) }()
				}
				c.changed()
				c.appendEvent(string(e.Kind), fmt.Sprintf("%016x", m.Cal.Epoch), e.Detail)
			case hal.EventHealth:
				c.appendEvent("health", string(e.Health), e.Detail)
				if e.Health != hal.HealthOffline {
					c.mu.Lock()
					if err := c.reconcile(ctx); err != nil {
						c.log.Warn("reconcile after health change failed", "err", err)
					}
					c.mu.Unlock()
				}
			}
		}
	}
}

// recordCalibration keeps the calibration in the history (retention:
// monitoring.metrics_retention).
func (c *Controller) recordCalibration(m *hal.Model) {
	sum, _ := json.Marshal(m.Summarize())
	at := m.Cal.Time
	if at.IsZero() {
		at = c.now()
	}
	if err := c.st.PutCalibration(store.CalibrationRecord{Device: c.devID, Epoch: m.Cal.Epoch, Time: at, Summary: sum}); err != nil {
		c.log.Warn("calibration history write failed", "err", err)
	}
	c.met.CalibrationEvents.Inc()
	c.met.CalibrationEpoch.Set(float64(m.Cal.Epoch & (1<<52 - 1)))
}

// Record logs an event from outside the controller (strategy modules, the
// fleet) on the controller's event log and stream.
func (c *Controller) Record(kind, subject, detail string) { c.appendEvent(kind, subject, detail) }
