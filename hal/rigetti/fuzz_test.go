package rigetti

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/internal/corpus"
)

// FuzzRigetti feeds mutated ISAs to Parse: it must return a model or an
// error naming the file, never panic.
func FuzzRigetti(f *testing.F) {
	f.Add([]byte(tinyISA))
	f.Add([]byte(`{"architecture": {"nodes": [{"node_id": 1}], "edges": []}, "instructions": []}`))
	if root := corpus.Root(); root != "" {
		files, _ := filepath.Glob(filepath.Join(root, "devices", "rigetti", "*", "*.json"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, "isa.json")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "isa.json: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if m.N() < 1 || len(m.Cal.Qubits) != m.N() || len(m.Cal.Couplers) != len(m.Couplers) || m.Cal.Epoch == 0 {
			t.Fatalf("inconsistent model")
		}
		for _, c := range m.Cal.Couplers {
			for _, g := range c.Gates {
				if !(g.Error >= 0 && g.Error <= 1) || g.Dir != hal.DirSymmetric {
					t.Fatalf("gate %+v", g)
				}
			}
		}
		_ = m.Summarize()
	})
}
