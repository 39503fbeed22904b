package google

import (
	"path/filepath"
	"testing"

	"github.com/eigen-os/rm/internal/corpus"
)

func benchLoad(b *testing.B, dev string) {
	dir := filepath.Join(corpus.Devices(b), "google", dev)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadRainbow(b *testing.B)    { benchLoad(b, "rainbow") }
func BenchmarkLoadWeber(b *testing.B)      { benchLoad(b, "weber") }
func BenchmarkLoadWillowPink(b *testing.B) { benchLoad(b, "willow_pink") }
