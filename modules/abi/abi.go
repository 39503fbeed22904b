// Package abi is version 1 of the contract between the Resource Manager and
// its strategy modules: WebAssembly modules that propose placements
// (placement modules) or score them (scoring modules). It is
// language-neutral: every value crosses the boundary as a flat,
// little-endian binary layout of u32, i32, u64 and f64 arrays in the guest's
// linear memory, which any language can read without a decoder library.
// docs/modules.md documents the layouts byte by byte; this package is the
// reference implementation of both sides (the host encodes with Append*,
// a Go guest decodes with Decode*, and the reverse for answers).
//
// A module exports:
//
//	memory                                  its linear memory
//	rm_abi_version() -> i32                 Version (1)
//	rm_kind() -> i32                        KindPlacement or KindScoring
//	rm_alloc(size i32) -> i32               a buffer of size bytes for the host to write
//	rm_load_device(ptr i32, len i32) -> i32 load a device view; Status
//	rm_place(ptr i32, len i32) -> i64       placement modules: candidates (see PackResult)
//	rm_score(ptr i32, len i32) -> i64       scoring modules: scores
//	_initialize()                           optional: run once before any other export
//
// The device view (topology and calibration) is loaded into an instance once
// per calibration epoch; each call carries only the request and the
// occupancy (and, for scoring, the candidates). A module is a pure function
// of what it is given: it may import only the WASI functions listed in
// AllowedImports, which the host implements without a filesystem, network,
// environment, arguments or real clock (see docs/modules.md).
//
// The package imports nothing but the standard library, so that a guest
// built from it stays small.
package abi

import (
	"fmt"
	"strings"
)

// Version is the ABI version this package implements; rm_abi_version must
// return it.
const Version = 1

// Kind is what a module does.
type Kind uint32

// Module kinds, as rm_kind returns them.
const (
	// KindPlacement modules propose candidate placements for a request
	// (export rm_place).
	KindPlacement Kind = 1
	// KindScoring modules score candidate placements (export rm_score).
	KindScoring Kind = 2
)

// String returns "placement" or "scoring".
func (k Kind) String() string {
	switch k {
	case KindPlacement:
		return "placement"
	case KindScoring:
		return "scoring"
	}
	return fmt.Sprintf("kind(%d)", uint32(k))
}

// MarshalText writes the kind's name (JSON, YAML); an unknown kind is
// written as "kind(N)", which UnmarshalText refuses.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name (see ParseKind).
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k == KindPlacement || k == KindScoring }

// ParseKind reads "placement" or "scoring" (case-insensitive).
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "placement", "topology":
		return KindPlacement, nil
	case "scoring", "noise", "score":
		return KindScoring, nil
	}
	return 0, fmt.Errorf("module kind %q: want placement or scoring", s)
}

// Names of the exports of a module.
const (
	ExportMemory     = "memory"
	ExportInitialize = "_initialize"
	ExportABIVersion = "rm_abi_version"
	ExportKind       = "rm_kind"
	ExportAlloc      = "rm_alloc"
	ExportLoadDevice = "rm_load_device"
	ExportPlace      = "rm_place"
	ExportScore      = "rm_score"
)

// CallExport is the export a module of kind k answers calls with.
func (k Kind) CallExport() string {
	if k == KindScoring {
		return ExportScore
	}
	return ExportPlace
}

// WASIModule is the only import module a module may use.
const WASIModule = "wasi_snapshot_preview1"

// AllowedImports are the WASI functions a module may import: exactly what
// the Go runtime (GOOS=wasip1, with fmt and os linked) needs, and nothing
// that reaches a file, a socket or the real clock. The host implements them
// as follows:
//
//	args_get, args_sizes_get          no arguments
//	environ_get, environ_sizes_get    no environment variables
//	clock_time_get, clock_res_get     wall clock fixed at 0 (1970-01-01T00:00:00Z);
//	                                  monotonic clock starts at 0 and advances 1 µs per reading
//	random_get                        deterministic: a ChaCha8 stream seeded by the host
//	                                  (the same for every instance of a module)
//	fd_write                          stdout and stderr only, kept (last 4 KiB) for diagnostics
//	fd_close, fd_fdstat_get,          on the three standard descriptors only
//	fd_fdstat_set_flags
//	fd_prestat_get,                   no preopened directories (EBADF)
//	fd_prestat_dir_name
//	poll_oneoff, sched_yield          return at once
//	proc_exit                         ends the instance (the host discards it)
//
// Any other import (path_open, fd_read, sock_*, an "env" function, ...)
// makes the host refuse the module.
var AllowedImports = []string{
	"args_get", "args_sizes_get",
	"environ_get", "environ_sizes_get",
	"clock_time_get", "clock_res_get",
	"random_get",
	"fd_write", "fd_close", "fd_fdstat_get", "fd_fdstat_set_flags",
	"fd_prestat_get", "fd_prestat_dir_name",
	"poll_oneoff", "sched_yield",
	"proc_exit",
}

// ImportAllowed reports whether a module may import function name from
// module mod.
func ImportAllowed(mod, name string) bool {
	if mod != WASIModule {
		return false
	}
	for _, a := range AllowedImports {
		if a == name {
			return true
		}
	}
	return false
}

// Status is what rm_load_device returns, and the negated error code of
// rm_place and rm_score (see PackResult).
type Status int32

// Status codes.
const (
	// StatusOK: success.
	StatusOK Status = 0
	// StatusBadInput: the guest could not decode its input.
	StatusBadInput Status = 1
	// StatusNoDevice: no device view is loaded, or the call is for another
	// epoch than the one loaded.
	StatusNoDevice Status = 2
	// StatusUnsupported: the module does not answer this call (a placement
	// module asked to score, ...).
	StatusUnsupported Status = 3
	// StatusFailed: the guest failed (an error or a panic of its own).
	StatusFailed Status = 4
)

// String describes the status.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusBadInput:
		return "bad input"
	case StatusNoDevice:
		return "no device view loaded for this epoch"
	case StatusUnsupported:
		return "call not supported by this module"
	case StatusFailed:
		return "module failed"
	}
	return fmt.Sprintf("status %d", int32(s))
}

// PackResult is what rm_place and rm_score return on success: the answer's
// address in the guest's memory in the high 32 bits and its length in bytes
// in the low 32 bits. The address must be below 2^31, so that the result
// is never negative.
func PackResult(ptr, length uint32) int64 { return int64(uint64(ptr)<<32 | uint64(length)) }

// ErrorResult is what rm_place and rm_score return on failure: the negated
// status.
func ErrorResult(s Status) int64 { return -int64(s) }

// UnpackResult splits a result of rm_place or rm_score. A negative result
// gives the guest's status (unknown codes are returned as they are, codes
// beyond 32 bits as StatusFailed) and a zero address and length.
func UnpackResult(r int64) (ptr, length uint32, s Status) {
	if r < 0 {
		if r < -1<<31 {
			return 0, 0, StatusFailed
		}
		return 0, 0, Status(-r)
	}
	return uint32(uint64(r) >> 32), uint32(uint64(r)), StatusOK
}
