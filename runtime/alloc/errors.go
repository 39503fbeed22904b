package alloc

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the engine returns wraps one of them, so that
// callers can test with errors.Is and read the detail with errors.As.
var (
	// ErrBadRequest: the request is malformed (see *RequestError).
	ErrBadRequest = errors.New("bad request")
	// ErrTooFewQubits: fewer usable, free, buffer-respecting qubits than requested.
	ErrTooFewQubits = errors.New("too few free qubits")
	// ErrNoRegion: enough free qubits, but no connected region that can hold
	// the request's shape (or, with NoRouting, no embedding of it).
	ErrNoRegion = errors.New("no region with the shape")
	// ErrFloor: a placement exists but its ESP is below the fidelity floor.
	ErrFloor = errors.New("fidelity floor not reachable")
	// ErrInvalidPlacement: a placement breaks a rule (see *PlacementError).
	ErrInvalidPlacement = errors.New("invalid placement")
	// ErrConflict: a commit conflicts with the occupancy (qubit taken, buffer
	// broken, task already present).
	ErrConflict = errors.New("occupancy conflict")
	// ErrModel: the device model cannot be used by the engine.
	ErrModel = errors.New("unusable device model")
)

// RequestError says which field of a request is wrong and why.
type RequestError struct {
	Field string // e.g. "qubits", "shape", "graph.pairs[3]"
	Msg   string
}

func (e *RequestError) Error() string { return "bad request: " + e.Field + ": " + e.Msg }

// Unwrap makes errors.Is(err, ErrBadRequest) true.
func (e *RequestError) Unwrap() error { return ErrBadRequest }

func badRequest(field, format string, args ...any) error {
	return &RequestError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// InfeasibleError says why a valid request cannot be placed now. Reason is
// ErrTooFewQubits, ErrNoRegion or ErrFloor.
type InfeasibleError struct {
	Reason error
	Need   int // qubits requested
	Free   int // qubits available to the request (usable, free, outside every buffer)
	// Largest is the size of the largest connected region of available
	// qubits (over usable couplers); -1 when not computed.
	Largest int
	// BestESP is the best ESP found when Reason is ErrFloor (and the floor).
	BestESP float64
	Floor   float64
	// Best is the best placement found when Reason is ErrFloor.
	Best *Placement
	// Detail adds context (e.g. "shape ring:6 does not embed; routing disabled").
	Detail string
}

func (e *InfeasibleError) Error() string {
	var s string
	switch e.Reason {
	case ErrTooFewQubits:
		s = fmt.Sprintf("too few free qubits: need %d, %d available (usable, free, outside isolation buffers)", e.Need, e.Free)
	case ErrNoRegion:
		s = fmt.Sprintf("no region with the shape: need %d qubits, %d available", e.Need, e.Free)
		if e.Largest >= 0 {
			s += fmt.Sprintf(", largest connected free region %d", e.Largest)
		}
	case ErrFloor:
		s = fmt.Sprintf("fidelity floor not reachable: best ESP %.6g < floor %.6g", e.BestESP, e.Floor)
	default:
		s = fmt.Sprint(e.Reason)
	}
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Unwrap returns the reason, so errors.Is(err, ErrNoRegion) works.
func (e *InfeasibleError) Unwrap() error { return e.Reason }

// PlacementError says which rule a placement breaks and where.
type PlacementError struct {
	Logical  int // logical qubit concerned, or -1
	Physical int // physical qubit concerned, or -1
	Msg      string
}

func (e *PlacementError) Error() string {
	s := "invalid placement"
	if e.Logical >= 0 {
		s += fmt.Sprintf(": logical %d", e.Logical)
	}
	if e.Physical >= 0 {
		s += fmt.Sprintf(": qubit %d", e.Physical)
	}
	return s + ": " + e.Msg
}

// Unwrap makes errors.Is(err, ErrInvalidPlacement) true.
func (e *PlacementError) Unwrap() error { return ErrInvalidPlacement }

func invalid(logical, physical int, format string, args ...any) error {
	return &PlacementError{Logical: logical, Physical: physical, Msg: fmt.Sprintf(format, args...)}
}
