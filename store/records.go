package store

import (
	"fmt"
	"time"
)

// Allocation states.
const (
	// StateActive: the allocation holds its qubits.
	StateActive = "active"
	// StateReleased: the task released the qubits.
	StateReleased = "released"
	// StateExpired: the lease ran out and the controller took the qubits back.
	StateExpired = "expired"
)

// maxKeyPart bounds IDs, tenants, idempotency keys, device and module names:
// they become parts of keys.
const maxKeyPart = 1024

// Allocation is a grant of physical qubits to a task. The store keeps every
// allocation, active or not, until PruneAllocations removes finished ones, so
// that a retried request finds its first answer.
type Allocation struct {
	ID             string        // unique, chosen by the controller
	Device         string        // device the qubits belong to
	Tenant         string        // owner; with IdempotencyKey identifies a request
	TaskID         string        // the caller's task id
	IdempotencyKey string        // empty: the request is not idempotent
	Qubits         []int         // physical qubit indices; at least one, distinct, >= 0
	Shape          string        // requested connectivity, e.g. "line:5" or "graph"
	Request        []byte        // the encoded request, opaque to the store
	ESP            float64       // estimated success probability of the placement
	Swaps          int           // routing swaps the placement needs (0 when it embeds)
	Priority       int           // scheduling priority
	Epoch          uint64        // calibration epoch the placement was scored against
	CreatedAt      time.Time     // when the allocation was granted
	LeaseExpires   time.Time     // zero: no lease
	Duration       time.Duration // requested duration
	State          string        // StateActive, StateReleased or StateExpired ("" means active)
	ReleasedAt     time.Time     // when it left StateActive; zero while active
}

// Reservation books qubits (or the whole device) for a time window.
type Reservation struct {
	ID        string
	Device    string
	Tenant    string
	Qubits    []int // nil: the whole device; the store keeps nil and empty apart
	Count     int   // number of qubits wanted when Qubits does not list them
	Start     time.Time
	End       time.Time // zero: open-ended
	CreatedAt time.Time
	Cancelled bool
}

// QueuedRequest is a request that waits for qubits.
type QueuedRequest struct {
	ID             string
	Tenant         string
	IdempotencyKey string // empty: not idempotent
	Priority       int    // higher first
	Request        []byte // the encoded request, opaque to the store
	EnqueuedAt     time.Time
	Deadline       time.Time // zero: waits forever
}

// CalibrationRecord is one entry of a device's calibration history.
type CalibrationRecord struct {
	Device  string
	Epoch   uint64
	Time    time.Time // when the calibration took effect; required
	Summary []byte    // encoded summary, opaque to the store
}

// Event is one entry of the append-only event log.
type Event struct {
	Seq     uint64 // assigned by AppendEvent: 1, 2, 3, ... never reused
	Time    time.Time
	Kind    string
	Subject string
	Detail  string
	Data    []byte
}

// Module is a WebAssembly strategy module. A (Name, Version) pair is written
// once; only its State changes afterwards.
type Module struct {
	Name      string
	Version   int    // 1 .. 2^32-1
	Kind      string // e.g. "topology" or "noise"
	SHA256    string // lower-case hex digest of Wasm; computed when empty, checked when given
	Size      int64  // len(Wasm); computed when zero, checked when given
	Wasm      []byte // nil in listings; filled by GetModule and ActiveModule
	Signature []byte
	State     string // free-form life-cycle state, e.g. "verified", "retired"
	CreatedAt time.Time
}

func checkKeyPart(what, s string, required bool) error {
	if required && s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if len(s) > maxKeyPart {
		return fmt.Errorf("%s is %d bytes long (at most %d)", what, len(s), maxKeyPart)
	}
	return nil
}

// checkQubits: distinct, non-negative indices.
func checkQubits(qs []int) error {
	seen := make(map[int]bool, len(qs))
	for i, q := range qs {
		if q < 0 {
			return fmt.Errorf("Qubits[%d] = %d: negative qubit index", i, q)
		}
		if seen[q] {
			return fmt.Errorf("Qubits[%d] = %d: qubit listed twice", i, q)
		}
		seen[q] = true
	}
	return nil
}

func (a *Allocation) validate() error {
	if err := checkKeyPart("ID", a.ID, true); err != nil {
		return err
	}
	if err := checkKeyPart("Tenant", a.Tenant, false); err != nil {
		return err
	}
	if err := checkKeyPart("IdempotencyKey", a.IdempotencyKey, false); err != nil {
		return err
	}
	if _, ok := stateCodes[a.State]; !ok {
		return fmt.Errorf("State %q: want %q, %q or %q", a.State, StateActive, StateReleased, StateExpired)
	}
	if len(a.Qubits) == 0 {
		return fmt.Errorf("Qubits is empty")
	}
	if err := checkQubits(a.Qubits); err != nil {
		return err
	}
	if a.Duration < 0 {
		return fmt.Errorf("Duration %v is negative", a.Duration)
	}
	if a.Swaps < 0 {
		return fmt.Errorf("Swaps %d is negative", a.Swaps)
	}
	return nil
}

func (r *Reservation) validate() error {
	if err := checkKeyPart("ID", r.ID, true); err != nil {
		return err
	}
	if r.Count < 0 {
		return fmt.Errorf("Count %d is negative", r.Count)
	}
	if err := checkQubits(r.Qubits); err != nil {
		return err
	}
	if !r.Start.IsZero() && !r.End.IsZero() && !r.End.After(r.Start) {
		return fmt.Errorf("End %s is not after Start %s", r.End.Format(time.RFC3339Nano), r.Start.Format(time.RFC3339Nano))
	}
	return nil
}

// activeAt reports whether the reservation is in force at t.
func (r *Reservation) activeAt(t time.Time) bool {
	return !r.Cancelled && !t.Before(r.Start) && (r.End.IsZero() || t.Before(r.End))
}

func (q *QueuedRequest) validate() error {
	if err := checkKeyPart("ID", q.ID, true); err != nil {
		return err
	}
	if err := checkKeyPart("Tenant", q.Tenant, false); err != nil {
		return err
	}
	return checkKeyPart("IdempotencyKey", q.IdempotencyKey, false)
}

func (c *CalibrationRecord) validate() error {
	if err := checkKeyPart("Device", c.Device, true); err != nil {
		return err
	}
	if c.Time.IsZero() {
		return fmt.Errorf("Time is zero")
	}
	return nil
}
