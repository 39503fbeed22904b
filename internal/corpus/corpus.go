// Package corpus finds the shared test corpora (real device calibrations and
// benchmark circuits) that tests read. They are other people's data and are
// never copied into this repository: they live in ../shared beside the
// checkout, or wherever $RM_SHARED points.
package corpus

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Root returns the shared corpus folder, or "" when it is absent.
func Root() string {
	if d := os.Getenv("RM_SHARED"); d != "" {
		if isDir(d) {
			return d
		}
		return ""
	}
	// ../shared relative to the repository root (this file is internal/corpus/corpus.go).
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	d := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared")
	if isDir(d) {
		return filepath.Clean(d)
	}
	return ""
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// Require returns the path of sub (e.g. "devices" or "workloads") inside the
// shared corpus, or skips the test saying why when it is absent.
func Require(tb testing.TB, sub string) string {
	tb.Helper()
	r := Root()
	if r == "" {
		tb.Skipf("shared corpus absent: set RM_SHARED or put it at ../shared (needed: %s)", sub)
	}
	p := filepath.Join(r, sub)
	if !isDir(p) {
		tb.Skipf("shared corpus at %s has no %s folder", r, sub)
	}
	return p
}

// Devices returns the folder of the real device snapshots, or skips.
func Devices(tb testing.TB) string { tb.Helper(); return Require(tb, "devices") }

// Workloads returns the folder of the benchmark circuits, or skips.
func Workloads(tb testing.TB) string { tb.Helper(); return Require(tb, "workloads") }
