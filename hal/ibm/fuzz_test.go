package ibm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/internal/corpus"
)

// FuzzIBM feeds mutated configuration/properties pairs to Parse: it must
// return a model or an error naming one of the files, never panic.
func FuzzIBM(f *testing.F) {
	f.Add([]byte(tinyConf), []byte(tinyProps))
	f.Add([]byte(`{"n_qubits": 1, "coupling_map": [], "basis_gates": []}`), []byte(`{"qubits": [[]], "gates": []}`))
	if root := corpus.Root(); root != "" {
		dirs, _ := filepath.Glob(filepath.Join(root, "devices", "ibm", "*"))
		for _, d := range dirs {
			dev := filepath.Base(d)
			conf, err1 := os.ReadFile(filepath.Join(d, "conf_"+dev+".json"))
			props, err2 := os.ReadFile(filepath.Join(d, "props_"+dev+".json"))
			if err1 == nil && err2 == nil {
				f.Add(conf, props)
			}
		}
	}
	f.Fuzz(func(t *testing.T, conf, props []byte) {
		m, err := Parse(conf, props, "conf_x.json", "props_x.json")
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "conf_x.json: ") && !strings.HasPrefix(msg, "props_x.json: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		checkModel(t, m)
	})
}

// checkModel checks the invariants of an imported model.
func checkModel(t *testing.T, m *hal.Model) {
	t.Helper()
	if m.N() < 1 || len(m.Cal.Qubits) != m.N() || len(m.Cal.Couplers) != len(m.Couplers) || m.Cal.Epoch == 0 {
		t.Fatalf("inconsistent model: %d qubits, %d/%d couplers, epoch %d", m.N(), len(m.Cal.Couplers), len(m.Couplers), m.Cal.Epoch)
	}
	for ci, c := range m.Cal.Couplers {
		for _, g := range c.Gates {
			if g.Dir > hal.DirBA || g.Gate != m.Native2Q && !contains(m.Other2Q, g.Gate) {
				t.Fatalf("coupler %d gate %+v (native %q %v)", ci, g, m.Native2Q, m.Other2Q)
			}
		}
	}
	_ = m.Summarize()
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
