package controller

import (
	"time"

	"github.com/eigen-os/rm/hal"
)

// Status is the controller's state now.
type Status struct {
	Controller         string
	Device             string
	Health             hal.Health
	Qubits             int
	AllocatedQubits    int
	FreeQubits         int
	Utilization        float64
	ActiveAllocations  int
	QueuedRequests     int
	ActiveReservations int
	CacheHitRate       float64
	Epoch              uint64
	StartedAt          time.Time
	Version            string
}

// Status reports health, load and queue.
func (c *Controller) Status() Status {
	m := c.dev.Model()
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Status{Controller: "rmd/" + c.devID, Device: c.devID, Health: c.dev.Health(), Qubits: m.N(),
		AllocatedQubits: c.occ.Used(), ActiveAllocations: len(c.allocs), QueuedRequests: len(c.queue),
		Epoch: m.Cal.Epoch, StartedAt: c.started, Version: Version}
	usable := 0
	for q, qc := range m.Cal.Qubits {
		if _, held := c.occ.Owner(q); qc.Usable && !held {
			usable++
		}
	}
	s.FreeQubits = usable
	if u := usable + s.AllocatedQubits; u > 0 {
		s.Utilization = float64(s.AllocatedQubits) / float64(u)
	}
	for _, r := range c.resv {
		if ActiveNow(r, now) {
			s.ActiveReservations++
		}
	}
	s.CacheHitRate = c.eng.Stats().HitRate
	return s
}

// Owners maps each held qubit to its allocation id.
func (c *Controller) Owners() map[int]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int]string{}
	for id, a := range c.allocs {
		for _, q := range a.Qubits {
			out[q] = id
		}
	}
	return out
}
