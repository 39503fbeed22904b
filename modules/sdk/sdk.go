// Package sdk is the Go guest SDK of the module ABI (modules/abi): it turns a
// plain Go function into a strategy module.
//
//	package main
//
//	import (
//		"github.com/eigen-os/rm/modules/abi"
//		"github.com/eigen-os/rm/modules/sdk"
//	)
//
//	func init() { sdk.RegisterPlacement(place) }
//
//	func place(dev *abi.Device, occ *abi.Occupancy, req *abi.Request, out *abi.Candidates) error {
//		... out.Add(mapping, cost, routed) ...
//		return nil
//	}
//
//	func main() {}
//
// Build it as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o strategy.wasm ./path/to/strategy
//
// Register from an init function: a reactor's main is never called. The
// SDK exports the ABI's functions (rm_abi_version, rm_kind, rm_alloc,
// rm_load_device, rm_place, rm_score) when built for wasip1; on any other
// platform the same Module runs natively, which is how a strategy is tested
// (Module.LoadDevice, Module.Place and Module.Score take and return the
// ABI's bytes).
//
// A strategy must be a pure function of its arguments: the host gives the
// guest no files, no network, no environment and a clock that does not
// move with real time. Errors and panics are reported to the host (the
// message goes to stderr, which the host keeps for diagnostics) and the
// host falls back to its built-in strategy.
package sdk

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/eigen-os/rm/modules/abi"
)

// PlaceFunc proposes candidate placements for req into out (at most
// out.Max(); each of req.Qubits device qubits). dev is the device view
// of the current epoch, occ the occupancy with req's buffer applied:
// occ.Available(q) says whether the request may use q. Returning no
// candidate is not an error.
type PlaceFunc func(dev *abi.Device, occ *abi.Occupancy, req *abi.Request, out *abi.Candidates) error

// ScoreFunc scores each candidate of cands into out[i] (len(out) ==
// cands.Len()).
type ScoreFunc func(dev *abi.Device, occ *abi.Occupancy, req *abi.Request, cands *abi.Candidates, out []abi.Score) error

// LoadFunc is called once per calibration epoch with the new device view,
// before any call on it: the place to precompute what does not depend on
// the request. An error leaves the module without a device (its calls fail
// until the next load).
type LoadFunc func(dev *abi.Device) error

// StatusError is an error with the ABI status the guest reports for it.
type StatusError struct {
	Status abi.Status
	Err    error
}

func (e *StatusError) Error() string { return e.Status.String() + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *StatusError) Unwrap() error { return e.Err }

func statusErr(s abi.Status, err error) error { return &StatusError{Status: s, Err: err} }

// StatusOf is the status a guest reports for err (StatusOK for nil,
// StatusFailed for errors without a status).
func StatusOf(err error) abi.Status {
	if err == nil {
		return abi.StatusOK
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return abi.StatusFailed
}

// Module is a strategy and the guest side of the ABI's calls. It is not
// safe for concurrent use (an instance serves one call at a time).
type Module struct {
	kind  abi.Kind
	place PlaceFunc
	score ScoreFunc
	load  LoadFunc

	dev    *abi.Device
	req    abi.Request
	occ    abi.Occupancy
	cands  abi.Candidates
	out    abi.Candidates
	scores []abi.Score
	answer []byte
}

// NewPlacement returns a placement module that answers with f.
func NewPlacement(f PlaceFunc) *Module { return &Module{kind: abi.KindPlacement, place: f} }

// NewScoring returns a scoring module that answers with f.
func NewScoring(f ScoreFunc) *Module { return &Module{kind: abi.KindScoring, score: f} }

// OnLoad sets the function called with each new device view; it returns m.
func (m *Module) OnLoad(f LoadFunc) *Module {
	m.load = f
	return m
}

// Kind is the module's kind.
func (m *Module) Kind() abi.Kind { return m.kind }

// Device is the device view loaded last (nil before the first).
func (m *Module) Device() *abi.Device { return m.dev }

// LoadDevice decodes a device view and makes it current.
func (m *Module) LoadDevice(view []byte) (err error) {
	defer recoverTo(&err)
	d, err := abi.DecodeDevice(view)
	if err != nil {
		m.dev = nil
		return statusErr(abi.StatusBadInput, err)
	}
	if m.load != nil {
		if err := m.load(d); err != nil {
			m.dev = nil
			return statusErr(abi.StatusFailed, fmt.Errorf("loading device view of epoch %d: %w", d.Epoch, err))
		}
	}
	m.dev = d
	return nil
}

func (m *Module) decode(in []byte, cands *abi.Candidates) error {
	if m.dev == nil {
		return statusErr(abi.StatusNoDevice, errors.New("no device view loaded"))
	}
	if err := abi.DecodeCall(in, &m.req, &m.occ, cands); err != nil {
		return statusErr(abi.StatusBadInput, err)
	}
	if m.req.Epoch != m.dev.Epoch {
		return statusErr(abi.StatusNoDevice, fmt.Errorf("call for epoch %d, device view of epoch %d loaded", m.req.Epoch, m.dev.Epoch))
	}
	if len(m.occ.Status) != m.dev.N() {
		return statusErr(abi.StatusBadInput, fmt.Errorf("call for a device of %d qubits, device view has %d", len(m.occ.Status), m.dev.N()))
	}
	return nil
}

// Place answers a placement call: in is the call input, the result the
// encoded candidates (valid until the next call on m).
func (m *Module) Place(in []byte) (answer []byte, err error) {
	defer recoverTo(&err)
	if m.kind != abi.KindPlacement {
		return nil, statusErr(abi.StatusUnsupported, errors.New("not a placement module"))
	}
	if err := m.decode(in, nil); err != nil {
		return nil, err
	}
	m.out.Reset(m.req.Qubits, m.req.MaxCandidates)
	if err := m.place(m.dev, &m.occ, &m.req, &m.out); err != nil {
		return nil, statusErr(abi.StatusFailed, err)
	}
	m.answer = abi.AppendCandidates(m.answer[:0], &m.out)
	return m.answer, nil
}

// Score answers a scoring call: in is the call input (with candidates), the
// result the encoded scores (valid until the next call on m).
func (m *Module) Score(in []byte) (answer []byte, err error) {
	defer recoverTo(&err)
	if m.kind != abi.KindScoring {
		return nil, statusErr(abi.StatusUnsupported, errors.New("not a scoring module"))
	}
	if err := m.decode(in, &m.cands); err != nil {
		return nil, err
	}
	nc := m.cands.Len()
	if cap(m.scores) < nc {
		m.scores = make([]abi.Score, nc)
	}
	m.scores = m.scores[:nc]
	clear(m.scores)
	if err := m.score(m.dev, &m.occ, &m.req, &m.cands, m.scores); err != nil {
		return nil, statusErr(abi.StatusFailed, err)
	}
	m.answer = abi.AppendScores(m.answer[:0], m.scores)
	return m.answer, nil
}

// recoverTo turns a panic of the strategy into a StatusFailed error with
// its stack.
func recoverTo(err *error) {
	if r := recover(); r != nil {
		*err = statusErr(abi.StatusFailed, fmt.Errorf("panic: %v\n%s", r, debug.Stack()))
	}
}

// registered is the module the exports serve.
var registered *Module

// RegisterPlacement makes f the strategy of this placement module. Call it
// once, from an init function.
func RegisterPlacement(f PlaceFunc) *Module {
	register(NewPlacement(f))
	return registered
}

// RegisterScoring makes f the strategy of this scoring module. Call it
// once, from an init function.
func RegisterScoring(f ScoreFunc) *Module {
	register(NewScoring(f))
	return registered
}

func register(m *Module) {
	if registered != nil {
		// A build mistake, not an input: the host refuses the module
		// (rm_kind returns 0) and shows this message.
		fmt.Fprintf(os.Stderr, "sdk: a %s strategy is already registered; a module has exactly one\n", registered.kind)
		registered = &Module{}
		return
	}
	registered = m
}

// Registered returns the registered module (nil when none is).
func Registered() *Module { return registered }
