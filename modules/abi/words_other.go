//go:build !(wasm || amd64 || arm64 || 386)

package abi

// words is nil on big-endian platforms and those that may not load
// unaligned words: callers read bytes with encoding/binary.
func words(b []byte) []uint32 { return nil }
