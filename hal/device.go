package hal

import (
	"context"
	"errors"
	"time"
)

// Health is the state of a device as a whole.
type Health string

// Health values.
const (
	HealthOnline      Health = "online"      // serving
	HealthDegraded    Health = "degraded"    // serving, with faults injected or reported
	HealthCalibrating Health = "calibrating" // a calibration is running; serving on the last one
	HealthOffline     Health = "offline"     // not serving: nothing can be bound
)

// EventKind says what changed on a device.
type EventKind string

// Event kinds.
const (
	EventCalibration EventKind = "calibration"  // a new calibration epoch
	EventFault       EventKind = "fault"        // a qubit or coupler broke
	EventRepair      EventKind = "repair"       // a fault was cleared
	EventHealth      EventKind = "health"       // the device health changed
	EventIsolate     EventKind = "isolate"      // qubits were bound to an owner
	EventReleaseQ    EventKind = "release"      // qubits were released
	EventReserveSlot EventKind = "reserve_slot" // a time slot was reserved
)

// Event is something that happened on a device.
type Event struct {
	Kind     EventKind `json:"kind"`
	Time     time.Time `json:"time"`
	Epoch    uint64    `json:"epoch,omitempty"`    // calibration epoch after the event
	Health   Health    `json:"health,omitempty"`   // health after the event
	Qubits   []int     `json:"qubits,omitempty"`   // qubits concerned
	Couplers []Edge    `json:"couplers,omitempty"` // couplers concerned
	Owner    string    `json:"owner,omitempty"`    // allocation that owns the qubits
	Detail   string    `json:"detail,omitempty"`
}

// TimeSlot is a window of device time reserved for an owner on some qubits
// (nil Qubits: the whole device).
type TimeSlot struct {
	Owner  string    `json:"owner"`
	Qubits []int     `json:"qubits,omitempty"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
}

// Binding is what a device holds for one owner: its qubits and slots.
type Binding struct {
	Owner  string
	Qubits []int
}

// Errors a Device returns; wrap them with detail.
var (
	ErrOffline  = errors.New("device offline")
	ErrConflict = errors.New("qubits already bound to another owner")
	ErrNotFound = errors.New("no such binding")
	ErrRange    = errors.New("qubit out of range")
)

// Device is what the controller needs from a quantum device: its model, its
// health and events, and the binding of qubits and time to tasks. The
// controller is the only writer of a device's bindings; the device keeps them
// so that, after a controller restart, the two can be reconciled.
//
// Implementations must be safe for concurrent use.
type Device interface {
	// ID is a stable identifier of the device (its name).
	ID() string
	// Model returns the current snapshot. It is immutable; a new calibration
	// gives a new Model with a new Epoch.
	Model() *Model
	// Health returns the device's health now.
	Health() Health
	// Subscribe returns a channel of events until ctx ends. Slow receivers
	// lose events (the channel is buffered), never block the device.
	Subscribe(ctx context.Context) <-chan Event
	// Isolate binds qubits to owner: the control electronics keep them for
	// that task. Binding the same qubits to the same owner again is a no-op.
	Isolate(ctx context.Context, owner string, qubits []int) error
	// Release unbinds whatever owner holds; releasing an unknown owner is a
	// no-op (release is idempotent).
	Release(ctx context.Context, owner string) error
	// ReserveSlot reserves device time for an owner.
	ReserveSlot(ctx context.Context, slot TimeSlot) error
	// Bindings lists what the device holds, for reconciliation at start-up.
	Bindings(ctx context.Context) ([]Binding, error)
	// RequestCalibration asks the device to recalibrate; the new epoch is
	// announced as an EventCalibration.
	RequestCalibration(ctx context.Context) error
}
