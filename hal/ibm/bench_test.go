package ibm

import (
	"path/filepath"
	"testing"

	"github.com/eigen-os/rm/internal/corpus"
)

func benchLoad(b *testing.B, dev string) {
	dir := filepath.Join(corpus.Devices(b), "ibm", dev)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadBelem(b *testing.B)      { benchLoad(b, "belem") }
func BenchmarkLoadSherbrooke(b *testing.B) { benchLoad(b, "sherbrooke") }
func BenchmarkLoadTorino(b *testing.B)     { benchLoad(b, "torino") }
