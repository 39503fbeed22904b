package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/runtime/alloc"
	"github.com/eigen-os/rm/store"
)

// ReserveParams asks for qubits kept for one tenant over a window: exactly
// one of Count (the controller picks a compact region of good qubits),
// Qubits (a region), or Whole (the whole device).
type ReserveParams struct {
	Tenant     string
	Count      int
	Qubits     []int
	Whole      bool
	Start, End time.Time
}

// Reserve creates a reservation (admin only). During the window only the
// tenant's tasks may use the qubits; running tasks of others are never
// preempted, so reserved qubits they hold become the tenant's as they end.
func (c *Controller) Reserve(ctx context.Context, caller Caller, p ReserveParams) (*store.Reservation, error) {
	if !caller.Admin {
		return nil, fmt.Errorf("%w: reservations need the admin role", ErrPermission)
	}
	if p.Tenant == "" {
		return nil, fmt.Errorf("%w: tenant is required", ErrInvalid)
	}
	kinds := 0
	if p.Count > 0 {
		kinds++
	}
	if len(p.Qubits) > 0 {
		kinds++
	}
	if p.Whole {
		kinds++
	}
	if kinds != 1 {
		return nil, fmt.Errorf("%w: give exactly one of count, qubits and whole_device", ErrInvalid)
	}
	now := c.now()
	if p.Start.IsZero() {
		p.Start = now
	}
	if p.End.IsZero() || !p.End.After(p.Start) {
		return nil, fmt.Errorf("%w: the window must end after it starts", ErrInvalid)
	}
	if !p.End.After(now) {
		return nil, fmt.Errorf("%w: the window has already ended", ErrInvalid)
	}
	m := c.dev.Model()
	var evSubject, evDetail string
	defer func() { // runs after the unlock below
		if evSubject != "" {
			c.appendEvent("reserved", evSubject, evDetail)
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case p.Whole:
		p.Qubits = nil
	case p.Count > 0:
		if p.Count > m.N() {
			return nil, fmt.Errorf("%w: count %d is more than the device's %d qubits", ErrInvalid, p.Count, m.N())
		}
		// A compact region: the best "none"-shaped placement would scatter,
		// so ask for a connected one (linear first, then routed) that avoids
		// other reservations overlapping the window.
		req := alloc.Request{Qubits: p.Count, Shape: alloc.Shape{Kind: alloc.ShapeLinear}, Buffer: 0}
		blocked := c.reservedDuringLocked(p.Start, p.End, p.Tenant)
		res, err := c.eng.Place(ctx, &req, alloc.NewOccupancy(m.Topology), blocked)
		if err != nil {
			return nil, fmt.Errorf("%w: no region of %d qubits to reserve: %v", ErrNoFit, p.Count, err)
		}
		p.Qubits = append([]int(nil), res.Mapping...)
		sort.Ints(p.Qubits)
	default:
		seen := map[int]bool{}
		for _, q := range p.Qubits {
			if q < 0 || q >= m.N() {
				return nil, fmt.Errorf("%w: qubit %d is not on the device (0..%d)", ErrInvalid, q, m.N()-1)
			}
			if seen[q] {
				return nil, fmt.Errorf("%w: qubit %d listed twice", ErrInvalid, q)
			}
			seen[q] = true
		}
	}
	// Overlapping reservations of other tenants on shared qubits conflict.
	for _, r := range c.resv {
		if r.Tenant == p.Tenant || !overlaps(r.Start, r.End, p.Start, p.End) {
			continue
		}
		if r.Qubits == nil || p.Qubits == nil || intersects(r.Qubits, p.Qubits) {
			return nil, fmt.Errorf("%w: overlaps reservation %s of tenant %s", ErrConflict, r.ID, r.Tenant)
		}
	}
	r := &store.Reservation{ID: newID("r"), Device: c.devID, Tenant: p.Tenant, Qubits: p.Qubits, Count: p.Count,
		Start: p.Start, End: p.End, CreatedAt: now}
	if err := c.st.PutReservation(*r); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	c.resv[r.ID] = r
	if err := c.dev.ReserveSlot(ctx, hal.TimeSlot{Owner: r.ID, Qubits: r.Qubits, Start: r.Start, End: r.End}); err != nil {
		c.log.Warn("device slot reservation failed", "id", r.ID, "err", err)
	}
	what := fmt.Sprintf("%d qubits", len(r.Qubits))
	if r.Qubits == nil {
		what = "the whole device"
	}
	evSubject = r.ID
	evDetail = fmt.Sprintf("%s for tenant %s from %s to %s", what, r.Tenant, r.Start.Format(time.RFC3339), r.End.Format(time.RFC3339))
	return r, nil
}

func (c *Controller) reservedDuringLocked(start, end time.Time, tenant string) []int {
	var out []int
	for _, r := range c.resv {
		if r.Tenant == tenant || !overlaps(r.Start, r.End, start, end) {
			continue
		}
		if r.Qubits == nil {
			for q := 0; q < c.occ.N(); q++ {
				out = append(out, q)
			}
			return out
		}
		out = append(out, r.Qubits...)
	}
	return out
}

func overlaps(s1, e1, s2, e2 time.Time) bool {
	return (e2.IsZero() || s1.Before(e2)) && (e1.IsZero() || s2.Before(e1))
}

func intersects(a, b []int) bool {
	set := make(map[int]bool, len(a))
	for _, q := range a {
		set[q] = true
	}
	for _, q := range b {
		if set[q] {
			return true
		}
	}
	return false
}

// CancelReservation cancels a reservation (admin only); idempotent.
func (c *Controller) CancelReservation(ctx context.Context, caller Caller, id string) (*store.Reservation, error) {
	if !caller.Admin {
		return nil, fmt.Errorf("%w: reservations need the admin role", ErrPermission)
	}
	r, err := c.st.CancelReservation(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: reservation %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	c.mu.Lock()
	delete(c.resv, id)
	c.drainQueueLocked(ctx)
	c.updateGauges()
	c.mu.Unlock()
	c.appendEvent("reservation_cancelled", id, "tenant "+r.Tenant)
	return r, nil
}

// Reservations lists reservations: the caller's own, or all for an admin.
func (c *Controller) Reservations(caller Caller, includePast bool) ([]*store.Reservation, error) {
	all, _, err := c.st.ListReservations(time.Time{})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	now := c.now()
	var out []*store.Reservation
	for i := range all {
		r := &all[i]
		if !caller.Admin && r.Tenant != caller.Tenant {
			continue
		}
		if !includePast && (r.Cancelled || (!r.End.IsZero() && !now.Before(r.End))) {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}

// ActiveNow reports whether a reservation holds its qubits at time t.
func ActiveNow(r *store.Reservation, t time.Time) bool {
	return !r.Cancelled && !t.Before(r.Start) && (r.End.IsZero() || t.Before(r.End))
}
