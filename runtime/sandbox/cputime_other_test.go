//go:build !linux

package sandbox

import "time"

// threadCPU is not measured on this platform.
func threadCPU() time.Duration { return 0 }
