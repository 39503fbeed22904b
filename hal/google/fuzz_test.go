package google

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/internal/corpus"
)

// FuzzGoogle feeds mutated calibration/specification pairs to Parse: it
// must return a model or an error naming one of the files, never panic.
func FuzzGoogle(f *testing.F) {
	f.Add([]byte(tinyCal), []byte(tinySpec))
	f.Add([]byte(`{"metrics":{"metrics":[]}}`), []byte(`valid_qubits: "0_0"`))
	if root := corpus.Root(); root != "" {
		dirs, _ := filepath.Glob(filepath.Join(root, "devices", "google", "*"))
		for _, d := range dirs {
			cals, _ := filepath.Glob(filepath.Join(d, "*"+CalibrationSuffix))
			specs, _ := filepath.Glob(filepath.Join(d, "*"+SpecSuffix))
			if len(cals) != 1 || len(specs) != 1 {
				continue
			}
			cal, err1 := os.ReadFile(cals[0])
			spec, err2 := os.ReadFile(specs[0])
			if err1 == nil && err2 == nil {
				f.Add(cal, spec)
			}
		}
	}
	f.Fuzz(func(t *testing.T, cal, spec []byte) {
		m, err := Parse(cal, spec, "x_calibration.json", "x_spec.proto.txt")
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "x_calibration.json: ") && !strings.HasPrefix(msg, "x_spec.proto.txt: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if m.N() < 1 || len(m.Cal.Qubits) != m.N() || len(m.Cal.Couplers) != len(m.Couplers) || m.Cal.Epoch == 0 {
			t.Fatalf("inconsistent model: %d qubits, %d/%d couplers, epoch %d", m.N(), len(m.Cal.Couplers), len(m.Couplers), m.Cal.Epoch)
		}
		for ci, c := range m.Cal.Couplers {
			for _, g := range c.Gates {
				if g.Dir != hal.DirSymmetric || !hal.Known(g.Error) {
					t.Fatalf("coupler %d gate %+v", ci, g)
				}
			}
		}
		_ = m.Summarize()
	})
}
