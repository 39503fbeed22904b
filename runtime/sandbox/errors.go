package sandbox

import (
	"errors"
	"fmt"
	"strings"

	"github.com/eigen-os/rm/modules/abi"
)

// Causes of a failed module call. Every error a call returns wraps one of
// them (test with errors.Is; read the detail with errors.As and
// *CallError). On any of them the caller falls back to its built-in
// strategy; the host has already discarded the instance and counted the
// failure.
var (
	// ErrTrap: the guest trapped (unreachable, out-of-bounds access, stack
	// overflow, a Go panic that exits, ...) or exited.
	ErrTrap = errors.New("module trapped")
	// ErrTimeout: the call outlived its deadline and was stopped.
	ErrTimeout = errors.New("module call timed out")
	// ErrMemory: the guest ran out of memory (its memory limit reached).
	ErrMemory = errors.New("module ran out of memory")
	// ErrInvalidAnswer: the answer broke the ABI or a placement rule
	// (duplicate, out of range, held, buffered, uncoupled qubits, a score
	// that is not a probability, an answer too large), or the guest
	// reported an error status.
	ErrInvalidAnswer = errors.New("module answer invalid")
	// ErrQuarantined: the module failed too often recently and is not
	// called until its quarantine ends.
	ErrQuarantined = errors.New("module quarantined")
	// ErrNoModule: no module of the kind is active (use the built-in
	// strategy).
	ErrNoModule = errors.New("no active module")
	// ErrClosed: the module version was closed (replaced or shut down).
	ErrClosed = errors.New("module closed")
	// ErrRejected: a module was refused at push or load (see *RejectError).
	ErrRejected = errors.New("module rejected")
	// ErrNoEarlierVersion: a rollback found no version to return to.
	ErrNoEarlierVersion = errors.New("no earlier version to return to")
)

// CallError is a failed call of a module.
type CallError struct {
	Module  string
	Version int
	Kind    abi.Kind
	// Op is what failed: "instantiate", "load device", "place" or "score".
	Op string
	// Cause is ErrTrap, ErrTimeout, ErrMemory, ErrInvalidAnswer or
	// ErrQuarantined.
	Cause error
	// Detail says what happened (the wazero error, the broken rule, ...).
	Detail string
	// Stderr is the tail of what the guest wrote to stdout and stderr
	// (e.g. a Go panic and its stack), when anything.
	Stderr string
}

func (e *CallError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s@%d (%s): %s: %v", e.Module, e.Version, e.Kind, e.Op, e.Cause)
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		if len(s) > 600 {
			s = "..." + s[len(s)-600:]
		}
		b.WriteString("; guest output: ")
		b.WriteString(s)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *CallError) Unwrap() error { return e.Cause }

// Checks a module must pass at push or load; RejectError.Check names one.
const (
	CheckName        = "name"        // module name or version malformed
	CheckSize        = "size"        // binary larger than the limit
	CheckSignature   = "signature"   // missing or not by a trusted key
	CheckWasm        = "wasm"        // not a valid WebAssembly module (or over the memory limit)
	CheckImports     = "imports"     // imports something the ABI does not allow
	CheckExports     = "exports"     // an ABI export missing or of the wrong type
	CheckInstantiate = "instantiate" // instantiation or _initialize failed
	CheckABIVersion  = "abi-version" // rm_abi_version is not abi.Version
	CheckKind        = "kind"        // rm_kind unknown or not the kind expected
	CheckConformance = "conformance" // a golden problem answered wrongly
	CheckExists      = "exists"      // the version is already stored
)

// RejectError says why a module was refused.
type RejectError struct {
	Module  string
	Version int
	Check   string // one of the Check* constants
	Detail  string
}

func (e *RejectError) Error() string {
	v := ""
	if e.Version > 0 {
		v = fmt.Sprintf("@%d", e.Version)
	}
	return fmt.Sprintf("module %s%s rejected: %s: %s", e.Module, v, e.Check, e.Detail)
}

// Unwrap makes errors.Is(err, ErrRejected) true.
func (e *RejectError) Unwrap() error { return ErrRejected }

func reject(name string, version int, check, format string, args ...any) error {
	return &RejectError{Module: name, Version: version, Check: check, Detail: fmt.Sprintf(format, args...)}
}

// causeLabel is the metrics label of a failure cause.
func causeLabel(cause error) string {
	switch {
	case errors.Is(cause, ErrTimeout):
		return "timeout"
	case errors.Is(cause, ErrMemory):
		return "memory"
	case errors.Is(cause, ErrInvalidAnswer):
		return "invalid_answer"
	case errors.Is(cause, ErrQuarantined):
		return "quarantined"
	case errors.Is(cause, ErrTrap):
		return "trap"
	}
	return "other"
}
