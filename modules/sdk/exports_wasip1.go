//go:build wasip1

package sdk

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"github.com/eigen-os/rm/modules/abi"
)

// inbuf is the buffer rm_alloc hands to the host. Go's collector does not
// move objects, and the global keeps it alive.
var inbuf []byte

//go:wasmexport rm_abi_version
func rmABIVersion() int32 { return abi.Version }

//go:wasmexport rm_kind
func rmKind() int32 {
	if registered == nil {
		return 0
	}
	return int32(registered.kind)
}

// rm_alloc returns a buffer of at least size bytes, 8-byte aligned, that
// belongs to the host until the next rm_alloc. It reuses the last buffer
// when it is large enough.
//
//go:wasmexport rm_alloc
func rmAlloc(size int32) int32 {
	if size < 0 {
		return 0
	}
	if cap(inbuf) < int(size) || cap(inbuf) == 0 {
		inbuf = make([]byte, max(int(size), 64))
	}
	inbuf = inbuf[:cap(inbuf)]
	return int32(uintptr(unsafe.Pointer(&inbuf[0])))
}

// input returns the bytes [ptr, ptr+n) of the rm_alloc buffer.
func input(ptr, n int32) ([]byte, error) {
	if len(inbuf) == 0 || n < 0 {
		return nil, errors.New("no input buffer: call rm_alloc first")
	}
	base := int64(uintptr(unsafe.Pointer(&inbuf[0])))
	off := int64(ptr) - base
	if off < 0 || off+int64(n) > int64(len(inbuf)) {
		return nil, errors.New("input outside the buffer rm_alloc returned")
	}
	return inbuf[off : off+int64(n)], nil
}

//go:wasmexport rm_load_device
func rmLoadDevice(ptr, n int32) int32 {
	if registered == nil {
		return int32(abi.StatusUnsupported)
	}
	b, err := input(ptr, n)
	if err == nil {
		err = registered.LoadDevice(b)
	}
	if err != nil {
		report("rm_load_device", err)
	}
	return int32(StatusOf(err))
}

func result(call string, answer []byte, err error) int64 {
	if err != nil {
		report(call, err)
		return abi.ErrorResult(StatusOf(err))
	}
	if len(answer) == 0 {
		report(call, errors.New("empty answer"))
		return abi.ErrorResult(abi.StatusFailed)
	}
	return abi.PackResult(uint32(uintptr(unsafe.Pointer(&answer[0]))), uint32(len(answer)))
}

//go:wasmexport rm_place
func rmPlace(ptr, n int32) int64 {
	if registered == nil {
		return abi.ErrorResult(abi.StatusUnsupported)
	}
	b, err := input(ptr, n)
	var answer []byte
	if err == nil {
		answer, err = registered.Place(b)
	} else {
		err = statusErr(abi.StatusBadInput, err)
	}
	return result("rm_place", answer, err)
}

//go:wasmexport rm_score
func rmScore(ptr, n int32) int64 {
	if registered == nil {
		return abi.ErrorResult(abi.StatusUnsupported)
	}
	b, err := input(ptr, n)
	var answer []byte
	if err == nil {
		answer, err = registered.Score(b)
	} else {
		err = statusErr(abi.StatusBadInput, err)
	}
	return result("rm_score", answer, err)
}

// report writes err to stderr, where the host keeps it for diagnostics.
func report(call string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", call, err)
}
