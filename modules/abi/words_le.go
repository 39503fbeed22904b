//go:build wasm || amd64 || arm64 || 386

package abi

import "unsafe"

// words views b (a multiple of 4 bytes) as little-endian 32-bit words
// without copying, on little-endian platforms when b is 4-byte aligned
// (nil otherwise: callers then read bytes with encoding/binary). A guest
// decodes its per-qubit arrays on every call, and the Go compiler does not
// merge byte loads into word loads for WebAssembly.
func words(b []byte) []uint32 {
	if len(b) < 4 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 != 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
}
