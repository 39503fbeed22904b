package main

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eigen-os/rm/internal/corpus"
)

func TestDeviceShowJSON(t *testing.T) {
	dir := corpus.Devices(t)
	cases := []struct {
		dev                string
		qubits, couplers   int
		native             string
		median2q, medianRO float64
		brokenQ, brokenC   int
	}{
		{"ibm/sherbrooke", 127, 144, "ecr", 0.0078, 0.0198, 1, 9},
		{"ibm/torino", 133, 150, "cz", 0.0042, 0.0229, 1, 11},
		{"google/willow_pink", 105, 182, "cz", 0.0034, 0.0073, 0, 0},
		{"rigetti/aspen-8", 32, 38, "cz", 0.0491, 0.0490, 2, 4},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		if code := run([]string{"device", "show", "--device", filepath.Join(dir, tc.dev), "--json"}, &out, &errb); code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.dev, code, errb.String())
		}
		var got struct {
			Name           string  `json:"name"`
			Qubits         int     `json:"qubits"`
			Couplers       int     `json:"couplers"`
			Native         string  `json:"native_2q"`
			BrokenQubits   int     `json:"broken_qubits"`
			BrokenCouplers int     `json:"broken_couplers"`
			Median2Q       float64 `json:"median_2q_error"`
			MedianRO       float64 `json:"median_readout_error"`
			Epoch          uint64  `json:"epoch"`
		}
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v\n%s", tc.dev, err, out.String())
		}
		if got.Qubits != tc.qubits || got.Couplers != tc.couplers || got.Native != tc.native || got.BrokenQubits != tc.brokenQ ||
			got.BrokenCouplers != tc.brokenC || math.Abs(got.Median2Q-tc.median2q) > 5e-5 || math.Abs(got.MedianRO-tc.medianRO) > 5e-5 ||
			got.Epoch == 0 || got.Name == "" {
			t.Errorf("%s: %+v", tc.dev, got)
		}
	}
}

func TestDeviceShowSyntheticAndErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"device", "show", "--device", "synthetic:heavyhex-1121"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "1121") {
		t.Errorf("table: %s", out.String())
	}
	for _, bad := range []string{t.TempDir(), "synthetic:heavyhex-0", "/no/such/folder"} {
		out.Reset()
		errb.Reset()
		if code := run([]string{"device", "show", "--json", "--device", bad}, &out, &errb); code == 0 {
			t.Errorf("%s: exit 0", bad)
		}
		if !strings.Contains(out.String(), `"error"`) || errb.Len() == 0 {
			t.Errorf("%s: no error reported: %q %q", bad, out.String(), errb.String())
		}
	}
}
