package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/eigen-os/rm/internal/corpus"
)

// TestCircuitJSONMatchesSummary runs `rmctl circuit --json` in-process on a
// few workloads and compares its output with summary.csv.
func TestCircuitJSONMatchesSummary(t *testing.T) {
	dir := corpus.Workloads(t)
	f, err := os.Open(filepath.Join(dir, "summary.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{}
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, h := range recs[0] {
			row[h] = rec[i]
		}
		want[filepath.Base(row["file"])] = row
	}
	// A chain, a custom 5-qubit gate only, the largest file, broadcast and custom 3q gates.
	for _, name := range []string{"qpe_n9.qasm", "qec_sm_n5.qasm", "32.qasm", "adder_n10.qasm"} {
		t.Run(name, func(t *testing.T) {
			row, ok := want[name]
			if !ok {
				t.Fatalf("%s not in summary.csv", name)
			}
			path := filepath.Join(dir, row["file"])
			var out, errb bytes.Buffer
			if code := run([]string{"circuit", "--json", path}, &out, &errb); code != 0 {
				t.Fatalf("exit %d, stderr %s", code, errb.String())
			}
			var got map[string]any
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
			}
			if got["file"] != path {
				t.Errorf("file = %v, want %s", got["file"], path)
			}
			for _, col := range []string{"qubits", "twoq_gates", "pairs", "threeq_gates"} {
				w, _ := strconv.Atoi(row[col])
				if g, ok := got[col].(float64); !ok || int(g) != w {
					t.Errorf("%s = %v, summary.csv says %d", col, got[col], w)
				}
			}
			if got["custom_gates"] != row["custom_gates"] {
				t.Errorf("custom_gates = %v, summary.csv says %s", got["custom_gates"], row["custom_gates"])
			}
			list, ok := got["pair_list"].([]any)
			if !ok {
				t.Fatalf("pair_list = %v", got["pair_list"])
			}
			if n, _ := strconv.Atoi(row["pairs"]); len(list) != n {
				t.Errorf("pair_list has %d entries, pairs = %d", len(list), n)
			}
			sum, prevA, prevB := 0, -1, -1
			for _, e := range list {
				p := e.([]any)
				a, b, c := int(p[0].(float64)), int(p[1].(float64)), int(p[2].(float64))
				if a >= b || a < prevA || a == prevA && b <= prevB {
					t.Fatalf("pair_list not sorted pairs a < b: %v", list)
				}
				prevA, prevB = a, b
				sum += c
			}
			if w, _ := strconv.Atoi(row["twoq_gates"]); sum != w {
				t.Errorf("pair counts sum to %d, twoq_gates = %d", sum, w)
			}
			for _, k := range []string{"manyq_gates", "pairs_incl_3q", "measured", "oneq_gates"} {
				if _, ok := got[k].(float64); !ok {
					t.Errorf("%s missing or not a number: %v", k, got[k])
				}
			}

			// The table form shows the same figures.
			out.Reset()
			if code := run([]string{"circuit", path}, &out, &errb); code != 0 {
				t.Fatalf("table: exit %d, stderr %s", code, errb.String())
			}
			for _, s := range []string{"qubits           " + row["qubits"], "2q gates         " + row["twoq_gates"], "distinct pairs   " + row["pairs"]} {
				if !strings.Contains(out.String(), s) {
					t.Errorf("table lacks %q:\n%s", s, out.String())
				}
			}
		})
	}
}

func TestCircuitKnownFigures(t *testing.T) {
	path := filepath.Join(corpus.Workloads(t), "qasmbench", "qec_sm_n5.qasm")
	var out, errb bytes.Buffer
	if code := run([]string{"circuit", path, "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var got struct {
		ManyQ    int     `json:"manyq_gates"`
		Clique   int     `json:"pairs_incl_3q"`
		Measured int     `json:"measured"`
		OneQ     int     `json:"oneq_gates"`
		Pairs    [][]int `json:"pair_list"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	// README: one 5-qubit syndrome application, 10 pairs incl. 3q+; x q[0] and
	// three conditional x; every qubit measured.
	if got.ManyQ != 1 || got.Clique != 10 || got.Measured != 5 || got.OneQ != 4 || got.Pairs == nil || len(got.Pairs) != 0 {
		t.Errorf("got %+v", got)
	}
}

func TestCircuitErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.qasm")
	if err := os.WriteFile(bad, []byte("OPENQASM 2.0;\nqreg q[2];\ncx q[0],q[2];\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"circuit", "--json", bad}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	var got map[string]string
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("stdout is not a JSON error: %v\n%s", err, out.String())
	}
	for _, s := range []string{bad + ":3:11:", "index 2 out of range"} {
		if !strings.Contains(got["error"], s) || !strings.Contains(errb.String(), s) {
			t.Errorf("error %q / stderr %q lacks %q", got["error"], errb.String(), s)
		}
	}

	out.Reset()
	errb.Reset()
	if code := run([]string{"circuit", bad}, &out, &errb); code != 1 || out.Len() != 0 || !strings.Contains(errb.String(), bad+":3:11:") {
		t.Errorf("table mode: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}

	out.Reset()
	errb.Reset()
	if code := run([]string{"circuit"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "FILE.qasm") {
		t.Errorf("no file: exit %d, stderr %q", code, errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"circuit", "--json", filepath.Join(dir, "missing.qasm")}, &out, &errb); code != 1 || !strings.Contains(out.String(), "missing.qasm") {
		t.Errorf("missing file: exit %d, stdout %q", code, out.String())
	}
}
