package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/internal/corpus"
	"github.com/eigen-os/rm/runtime/alloc"
)

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestPlaceJSON(t *testing.T) {
	dev := filepath.Join(corpus.Devices(t), "ibm", "sherbrooke")
	code, out, errs := runCmd("place", "--device", dev, "--qubits", "5", "--shape", "linear", "--occupied", "0-10,120", "--buffer", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	var got placeJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got.Mapping) != 5 || len(got.QubitNames) != 5 || got.ESP <= 0 || got.ESP > 1 || got.Strategy != alloc.StrategyExact ||
		!got.Optimal || got.Device != "ibm_sherbrooke" || got.Epoch == 0 || got.ElapsedUS <= 0 || got.Swaps != 0 {
		t.Errorf("output %+v", got)
	}
	m, err := loadDevice(dev)
	if err != nil {
		t.Fatal(err)
	}
	occ := alloc.NewOccupancy(m.Topology)
	held, _ := alloc.ParseQubitList("0-10,120", m.N())
	if err := occ.Commit(alloc.Holding{Task: "o", Qubits: held}); err != nil {
		t.Fatal(err)
	}
	req := &alloc.Request{Qubits: 5, Shape: alloc.Shape{Kind: alloc.ShapeLinear}, Buffer: 1}
	if err := alloc.Validate(m, req, occ, nil, got.Mapping); err != nil {
		t.Errorf("placement %v: %v", got.Mapping, err)
	}
	for i, q := range got.Mapping {
		if m.Qubits[q].Name != got.QubitNames[i] {
			t.Errorf("qubit_names[%d] = %q, qubit %d is %q", i, got.QubitNames[i], q, m.Qubits[q].Name)
		}
	}
	// The readable form says the same.
	code, out, _ = runCmd("place", "--device", dev, "--qubits", "5", "--shape", "linear", "--occupied", "0-10,120", "--buffer", "1")
	if code != 0 || !strings.Contains(out, "ESP") || !strings.Contains(out, "proven optimal") {
		t.Errorf("text output (%d): %s", code, out)
	}
}

func TestPlaceCircuitAndSynthetic(t *testing.T) {
	qasm := filepath.Join(corpus.Workloads(t), "qasmbench", "qpe_n9.qasm")
	code, out, errs := runCmd("place", "--device", "synthetic:heavyhex-127@3", "--circuit", qasm, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	var got placeJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Mapping) != 9 || got.ESP <= 0 {
		t.Fatalf("%v: %s", err, out)
	}
}

func TestPlaceErrors(t *testing.T) {
	dev := filepath.Join(corpus.Devices(t), "ibm", "belem")
	for _, c := range []struct {
		args   []string
		code   int
		reason string
		msg    string
	}{
		{[]string{"--qubits", "0", "--shape", "linear"}, 2, "bad_request", "qubits"},
		{[]string{"--qubits", "-2", "--shape", "linear"}, 2, "bad_request", "qubits"},
		{[]string{"--qubits", "6", "--shape", "linear"}, 2, "bad_request", "only 5 qubits"},
		{[]string{"--qubits", "3", "--shape", "hexagon"}, 2, "bad_request", "unknown shape"},
		{[]string{"--qubits", "5", "--shape", "grid:2x3"}, 2, "bad_request", "grid:2x3 has 6 qubits"},
		{[]string{"--qubits", "3", "--shape", "linear", "--occupied", "1,x"}, 2, "bad_request", "--occupied"},
		{[]string{"--qubits", "3", "--shape", "linear", "--occupied", "7"}, 2, "bad_request", "outside 0..4"},
		{[]string{"--qubits", "3", "--shape", "linear", "--buffer", "-1"}, 2, "bad_request", "buffer"},
		{[]string{"--qubits", "3"}, 2, "bad_request", "--shape"},
		{[]string{"--qubits", "4", "--shape", "linear", "--occupied", "1,2"}, 1, "too_few_qubits", "need 4, 3 available"},
		{[]string{"--qubits", "3", "--shape", "ring", "--no-routing"}, 1, "no_region", "routing is disabled"},
		{[]string{"--qubits", "3", "--shape", "linear", "--floor", "0.9999"}, 1, "floor_not_reachable", "best ESP"},
	} {
		args := append([]string{"place", "--device", dev, "--json"}, c.args...)
		code, out, errs := runCmd(args...)
		var got placeErrorJSON
		_ = json.Unmarshal([]byte(out), &got)
		if code != c.code || got.Reason != c.reason || !strings.Contains(got.Error, c.msg) || !strings.Contains(errs, c.msg) {
			t.Errorf("%v: exit %d, %+v (stderr %q); want exit %d, reason %s, %q", c.args, code, got, errs, c.code, c.reason, c.msg)
		}
		if c.reason == "floor_not_reachable" && (got.BestESP == nil || *got.BestESP <= 0) {
			t.Errorf("%v: no best_esp in %s", c.args, out)
		}
	}
	if code, _, _ := runCmd("place", "--device", filepath.Join(dev, "nope"), "--qubits", "2", "--shape", "linear"); code == 0 {
		t.Error("missing device folder: exit 0")
	}
}

func TestBenchPlace(t *testing.T) {
	dev := filepath.Join(corpus.Devices(t), "ibm", "kolkata")
	for _, model := range []string{"random", "tasks"} {
		code, out, errs := runCmd("bench", "place", "--device", dev, "--qubits", "4", "--shape", "linear", "--occupancy", "0.3",
			"--iterations", "200", "--seed", "3", "--buffer", "1", "--repeat", "0.5", "--occupancy-model", model, "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s %s", model, code, out, errs)
		}
		var got benchPlaceJSON
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if got.Iterations != 200 || got.P50US <= 0 || got.P99US < got.P50US || got.MaxUS < got.P99US ||
			got.Failures == 200 || got.MeanESP <= 0 || got.CacheHitRate < 0.3 || got.CacheHitRate > 0.7 || got.Occupancies >= 200 {
			t.Errorf("%s: %+v", model, got)
		}
	}
	// Seeded: equal runs give equal figures other than timing.
	a := benchQuality(t, dev)
	if b := benchQuality(t, dev); a != b {
		t.Errorf("two seeded runs differ: %+v vs %+v", a, b)
	}
	for _, bad := range [][]string{{"--occupancy", "1.5"}, {"--repeat", "-1"}, {"--iterations", "0"}, {"--occupancy-model", "x"}} {
		args := append([]string{"bench", "place", "--device", dev, "--qubits", "3", "--shape", "linear"}, bad...)
		if code, _, _ := runCmd(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}

type benchFigures struct {
	failures          int
	esp, hits, swaps  float64
	optimal, occupied int
}

func benchQuality(t *testing.T, dev string) benchFigures {
	code, out, _ := runCmd("bench", "place", "--device", dev, "--qubits", "5", "--shape", "star", "--occupancy", "0.2",
		"--iterations", "100", "--seed", "9", "--repeat", "0.25", "--json")
	var got benchPlaceJSON
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("exit %d: %s", code, out)
	}
	return benchFigures{got.Failures, got.MeanESP, got.CacheHitRate, got.MeanSwaps, got.Optimal, got.Occupancies}
}

// TestTasksOccupancy checks the "tasks" occupancy model keeps buffers.
func TestTasksOccupancy(t *testing.T) {
	m, err := loadDevice("synthetic:heavyhex-127")
	if err != nil {
		t.Fatal(err)
	}
	occ := tasksOccupancy(m, 0.4, 1, newRand(5))
	if occ.Used() < 20 {
		t.Fatalf("only %d qubits held", occ.Used())
	}
	hs := occ.Holdings()
	for i, a := range hs {
		for _, b := range hs[i+1:] {
			for _, x := range a.Qubits {
				for _, y := range b.Qubits {
					if m.Dist(x, y) <= 1 {
						t.Fatalf("%s and %s adjacent at %d, %d", a.Task, b.Task, x, y)
					}
				}
			}
		}
	}
	_ = hal.Unreachable
}

// TestBenchPlaceBoth: --strategy both times the built-in engine and the
// built-in modules on the same requests and reports each and the ratio;
// one algorithm in two deployments gives the same placements.
func TestBenchPlaceBoth(t *testing.T) {
	dir := t.TempDir()
	for _, kind := range []string{"placement", "scoring"} {
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", filepath.Join(dir, kind+".wasm"), "../../modules/builtin/"+kind)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", kind, err, b)
		}
	}
	code, out, errs := runCmd("bench", "place", "--device", "synthetic:heavyhex-127", "--qubits", "5", "--shape", "linear",
		"--occupancy", "0.5", "--iterations", "150", "--seed", "2", "--strategy", "both", "--no-cache",
		"--placement-module", filepath.Join(dir, "placement.wasm"), "--scoring-module", filepath.Join(dir, "scoring.wasm"), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	var got benchPlaceBothJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	n, w := got.Native, got.Wasm
	if n.Strategy != "native" || w.Strategy != "wasm" || n.Iterations != 150 || w.Iterations != 150 {
		t.Fatalf("%+v", got)
	}
	if n.Failures != w.Failures || math.Abs(n.MeanESP-w.MeanESP) > 1e-9 || n.MeanESP <= 0 {
		t.Errorf("native and modules differ: failures %d/%d, mean ESP %v/%v", n.Failures, w.Failures, n.MeanESP, w.MeanESP)
	}
	if r := got.Ratio["p50"]; !(r > 0) || math.Abs(r-w.P50US/n.P50US) > 1e-9 {
		t.Errorf("ratio %v, p50 %v / %v", got.Ratio, w.P50US, n.P50US)
	}
	// And without --json, a table of each and the ratio.
	code, out, _ = runCmd("bench", "place", "--device", "synthetic:heavyhex-127", "--qubits", "3", "--shape", "linear",
		"--iterations", "20", "--strategy", "both",
		"--placement-module", filepath.Join(dir, "placement.wasm"), "--scoring-module", filepath.Join(dir, "scoring.wasm"))
	if code != 0 || !strings.Contains(out, "wasm / native: p50") || strings.Count(out, "latency us") != 2 {
		t.Errorf("exit %d:\n%s", code, out)
	}
}
