package alloc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/hal/synth"
	"github.com/eigen-os/rm/internal/corpus"
)

// TestWorkloads places every workload circuit (interaction graph with gate
// counts, single-qubit counts and measured qubits) on ibm_sherbrooke and a
// synthetic 1,121-qubit heavy-hex device, validates the placement, and
// compares the default budget's ESP with a 20x budget's (the anytime
// search continues the same sequence, so the long one is never worse).
func TestWorkloads(t *testing.T) {
	dir := filepath.Join(corpus.Workloads(t), "qasmbench")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".qasm") {
			files = append(files, e.Name())
		}
	}
	sort.Strings(files)
	big, err := synth.HeavyHex(1121, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, m := range []*hal.Model{device(t, "ibm/sherbrooke"), big} {
		e := mustEngine(t, m, Options{CacheSize: -1, MaxTime: -1})
		for _, f := range files {
			req := circuitRequest(t, filepath.Join(dir, f))
			pl, err := e.Place(ctx, req, nil, nil)
			if err != nil {
				if errors.Is(err, ErrTooFewQubits) && req.Qubits > m.N()-5 {
					t.Logf("%s %-22s %3d qubits: %v", m.Name, f, req.Qubits, err)
					continue
				}
				t.Errorf("%s %s: %v", m.Name, f, err)
				continue
			}
			if verr := Validate(m, req, nil, nil, pl.Mapping); verr != nil {
				t.Errorf("%s %s: %v", m.Name, f, verr)
			}
			line := ""
			if !testing.Short() && req.Qubits <= 33 && m.N() < 200 {
				long := *req
				long.Budget = 20 * e.opts.DefaultBudget
				lp, err := e.Place(ctx, &long, nil, nil)
				if err != nil {
					t.Errorf("%s %s long budget: %v", m.Name, f, err)
					continue
				}
				if lp.ESP < pl.ESP*(1-1e-12) {
					t.Errorf("%s %s: long budget ESP %.6g < default %.6g", m.Name, f, lp.ESP, pl.ESP)
				}
				line = "  long budget: ESP " + fmtG(lp.ESP) + " swaps " + itoa(lp.Swaps) + " ratio " + fmtG(pl.ESP/lp.ESP)
			}
			t.Logf("%s %-22s %3d qubits %3d pairs: %-7s optimal=%-5v ESP %s swaps %4d nodes %7d%s",
				m.Name, f, req.Qubits, len(req.Graph.Pairs), pl.Strategy, pl.Optimal, fmtG(pl.ESP), pl.Swaps, pl.Nodes, line)
		}
	}
}

func fmtG(x float64) string {
	return strings.TrimSpace(strings.Replace(sprintf("%.4g", x), "e-0", "e-", 1))
}
