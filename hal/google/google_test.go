package google

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/internal/corpus"
)

// readme holds the figures of /work/shared/devices/README.md, to 4 decimals.
var readme = []struct {
	dev, name          string
	qubits, couplers   int
	native             string
	other              []string
	med2q, med2qUsable float64
	medRO              float64
	medOther           float64 // median of the other gate (sqrt_iswap), or 0
	date               string
}{
	{"rainbow", "rainbow", 23, 32, "syc", []string{"sqrt_iswap"}, 0.0088, 0.0088, 0.0336, 0.0137, "2021-11-16"},
	{"weber", "weber", 53, 86, "syc", []string{"sqrt_iswap"}, 0.0187, 0.0187, 0.0320, 0.0212, "2021-11-03"},
	{"willow_pink", "willow_pink_d7v1", 105, 182, "cz", nil, 0.0034, 0.0034, 0.0073, 0, "2024-08-16"},
}

func near4(got, want float64) bool { return math.Abs(got-want) <= 5e-5+1e-12 }

func dir(t testing.TB, dev string) string {
	t.Helper()
	return filepath.Join(corpus.Devices(t), "google", dev)
}

func load(t testing.TB, dev string) *hal.Model {
	t.Helper()
	m, err := Load(dir(t, dev))
	if err != nil {
		t.Fatalf("Load(%s): %v", dev, err)
	}
	return m
}

func TestDevicesMatchREADME(t *testing.T) {
	for _, w := range readme {
		t.Run(w.dev, func(t *testing.T) {
			m := load(t, w.dev)
			s := m.Summarize()
			if s.Name != w.name || s.Vendor != "google" || s.Family != "grid" {
				t.Errorf("name/vendor/family %q/%q/%q", s.Name, s.Vendor, s.Family)
			}
			if s.Qubits != w.qubits || s.Couplers != w.couplers || s.Native2Q != w.native || strings.Join(s.Other2Q, ",") != strings.Join(w.other, ",") {
				t.Errorf("qubits %d couplers %d native %q other %v, want %d %d %q %v", s.Qubits, s.Couplers, s.Native2Q, s.Other2Q, w.qubits, w.couplers, w.native, w.other)
			}
			if !near4(float64(s.Median2QError), w.med2q) || !near4(float64(s.Median2QErrorUsable), w.med2qUsable) {
				t.Errorf("median 2q error %.6f (usable %.6f), want %.4f (%.4f)", s.Median2QError, s.Median2QErrorUsable, w.med2q, w.med2qUsable)
			}
			if !near4(float64(s.MedianReadoutError), w.medRO) {
				t.Errorf("median readout error %.6f, want %.4f", s.MedianReadoutError, w.medRO)
			}
			if s.BrokenCouplers != 0 || s.BrokenQubits != 0 {
				t.Errorf("broken couplers %d qubits %d, want none", s.BrokenCouplers, s.BrokenQubits)
			}
			if got := m.Cal.Time.Format("2006-01-02"); got != w.date {
				t.Errorf("calibration date %s, want %s", got, w.date)
			}
			if len(w.other) > 0 {
				var xs []float64
				for _, c := range m.Cal.Couplers {
					for _, g := range c.Gates {
						if g.Gate == w.other[0] {
							xs = append(xs, g.Error)
						}
					}
				}
				if len(xs) != w.couplers || !near4(hal.Median(xs), w.medOther) {
					t.Errorf("%s: %d figures, median %.6f, want %d, %.4f", w.other[0], len(xs), hal.Median(xs), w.couplers, w.medOther)
				}
			}
			for ci, c := range m.Cal.Couplers {
				if len(c.Gates) != 1+len(w.other) {
					t.Fatalf("coupler %v gates %+v", m.Couplers[ci], c.Gates)
				}
				for _, g := range c.Gates {
					// Entangler angle metrics are ignored: they can be negative.
					if g.Dir != hal.DirSymmetric || !(g.Error > 0 && g.Error < 0.5) || !hal.Known(g.Duration) {
						t.Fatalf("coupler %v gate %+v", m.Couplers[ci], g)
					}
				}
			}
			for i, q := range m.Cal.Qubits {
				if !hal.Known(q.T1) || !hal.Known(q.Error1Q) || !hal.Known(q.ReadoutError) || hal.Known(q.T2) || hal.Known(q.Frequency) {
					t.Fatalf("qubit %d figures %+v", i, q)
				}
				if q.ReadoutError != (q.P01+q.P10)/2 || q.Duration1Q != 25 {
					t.Fatalf("qubit %d readout %v P01 %v P10 %v, 1q %v ns", i, q.ReadoutError, q.P01, q.P10, q.Duration1Q)
				}
			}
		})
	}
}

func TestGridNames(t *testing.T) {
	m := load(t, "rainbow")
	i := m.QubitByName("4_2")
	if i != 2 || m.Qubits[i].Row != 4 || m.Qubits[i].Col != 2 {
		t.Fatalf("4_2: index %d info %+v, want index 2 (file order), row 4, col 2", i, m.Qubits[max(i, 0)])
	}
	if m.Qubits[0].Name != "3_2" || m.CouplerIndex(0, 2) < 0 {
		t.Errorf("qubit 0 %+v; 3_2-4_2 coupled: %v", m.Qubits[0], m.CouplerIndex(0, 2) >= 0)
	}
	// Qubits keep the spec's order, which is not sorted on willow_pink.
	spec, err := os.ReadFile(mustGlob(t, dir(t, "willow_pink"), "*.proto.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, line := range strings.Split(string(spec), "\n") {
		if id, ok := strings.CutPrefix(line, `valid_qubits: "`); ok {
			order = append(order, strings.TrimSuffix(id, `"`))
		}
	}
	w := load(t, "willow_pink")
	if len(order) != w.N() {
		t.Fatalf("%d valid_qubits lines, %d qubits", len(order), w.N())
	}
	for i, id := range order {
		if w.Qubits[i].Name != id {
			t.Fatalf("qubit %d is %q, spec line %d says %q", i, w.Qubits[i].Name, i, id)
		}
	}
	for _, c := range w.Couplers {
		a, b := w.Qubits[c.A], w.Qubits[c.B]
		if abs(a.Row-b.Row)+abs(a.Col-b.Col) != 1 {
			t.Fatalf("coupler %s-%s joins qubits that are not grid neighbours", a.Name, b.Name)
		}
	}
}

func abs(x int) int { return max(x, -x) }

func mustGlob(t *testing.T, d, pattern string) string {
	t.Helper()
	ms, _ := filepath.Glob(filepath.Join(d, pattern))
	if len(ms) != 1 {
		t.Fatalf("%s/%s: %d matches", d, pattern, len(ms))
	}
	return ms[0]
}

// weber 3_2 has p11 error 0.5752 but a mean readout error below 0.5.
func TestWeberOutlierUsable(t *testing.T) {
	m := load(t, "weber")
	q := m.Cal.Qubits[m.QubitByName("3_2")]
	if !q.Usable || q.P01 != 0.5752 || q.P10 != 0.0898 || math.Abs(q.ReadoutError-0.3325) > 1e-12 {
		t.Errorf("3_2: %+v", q)
	}
}

func TestDurations(t *testing.T) {
	r := load(t, "rainbow")
	for _, g := range r.Cal.Couplers[0].Gates {
		want := map[string]float64{"syc": 12, "sqrt_iswap": 32}[g.Gate]
		if g.Duration != want {
			t.Errorf("rainbow %s duration %v ns, want %v", g.Gate, g.Duration, want)
		}
	}
	// 4 ms meas is a placeholder: unknown.
	if hal.Known(r.Cal.Qubits[0].ReadoutLength) {
		t.Errorf("rainbow readout length %v, want unknown", r.Cal.Qubits[0].ReadoutLength)
	}
	w := load(t, "willow_pink")
	if d := w.Cal.Couplers[0].Gates[0].Duration; d != 42 {
		t.Errorf("willow cz %v ns, want 42", d)
	}
	if d := w.Cal.Qubits[0].ReadoutLength; d != 600 {
		t.Errorf("willow readout %v ns, want 600", d)
	}
}

func TestEpochs(t *testing.T) {
	a, b := load(t, "weber"), load(t, "weber")
	if a.Cal.Epoch == 0 || a.Cal.Epoch != b.Cal.Epoch {
		t.Errorf("epochs %d %d", a.Cal.Epoch, b.Cal.Epoch)
	}
	if load(t, "rainbow").Cal.Epoch == a.Cal.Epoch {
		t.Error("rainbow and weber share an epoch")
	}
}

func TestDateFromName(t *testing.T) {
	cases := map[string]string{
		"rainbow_2021_11_16_calibration.json":              "2021-11-16",
		"x/willow_pink_d7v1-2024_08_16_calibration.json":   "2024-08-16",
		"weber_calibration.json":                           "",
		"chip_2021_13_45_calibration.json":                 "",
		"chip_1999_01_02_then_2021_03_04_calibration.json": "2021-03-04",
	}
	for name, want := range cases {
		got := dateFromName(name)
		if (want == "" && !got.IsZero()) || (want != "" && got.Format("2006-01-02") != want) {
			t.Errorf("%s: %v, want %q", name, got, want)
		}
	}
	for name, want := range map[string]string{
		"rainbow_2021_11_16_calibration.json":            "rainbow",
		"willow_pink_d7v1-2024_08_16_calibration.json":   "willow_pink_d7v1",
		"2024_08_16_calibration.json":                    "google",
		"sycamore_calibration.json":                      "sycamore",
		"/a/b/weber_2021_11_03_calibration.json":         "weber",
		"rainbow_2021_12_10_device_spec.proto.txt":       "google",
		"weber_2021_12_10_device_spec_for_grid_device.x": "google",
	} {
		if got := deviceName(name, "spec.proto.txt"); got != want {
			t.Errorf("deviceName(%s) = %q, want %q", name, got, want)
		}
	}
}

// tinySpec and tinyCal are a hand-written 3-qubit line in both spec forms.
const tinySpec = `# a tiny grid
valid_qubits: "0_0"
valid_qubits: "q0_1"   # Cirq also writes a q prefix
valid_qubits: '0_2'
valid_targets {
  name: "meas_targets"
  target_ordering: SUBSET_PERMUTATION
  targets { ids: "0_0" ids: "0_1" ids: "0_2" }
}
valid_targets <
  name: "2_qubit_targets"
  target_ordering: SYMMETRIC
  targets { ids: ["0_0", "0_1"] }
  targets: { ids: "0_1"; ids: "0_2" }
>
valid_gates { gate_duration_picos: 42000 cz {} }
valid_gates { gate_duration_picos: 600000 meas {} }
valid_gates { gate_duration_picos: 25000 phased_xz {} }
valid_gate_sets {
  name: "sqrt_iswap"
  valid_gates { id: "fsim_pi_4" number_of_qubits: 2 gate_duration_picos: 32000 }
}
`

const tinyCal = `{"timestampMs": "1700000000000", "metrics": [
 {"name": "single_qubit_p00_error", "targets": ["0_0"], "values": [{"doubleVal": 0.01}]},
 {"name": "single_qubit_p11_error", "targets": ["0_0"], "values": [{"doubleVal": 0.03}]},
 {"name": "parallel_p00_error", "targets": ["q0_1"], "values": [{"doubleVal": 0.02}]},
 {"name": "parallel_p11_error", "targets": ["0_1"], "values": [{"doubleVal": 0.04}]},
 {"name": "single_qubit_idle_t1_micros", "targets": ["0_2"], "values": [{"int64Val": "20"}]},
 {"name": "single_qubit_rb_pauli_error_per_gate", "targets": ["0_0"], "values": [{"doubleVal": 0.001}]},
 {"name": "two_qubit_parallel_cz_gate_xeb_pauli_error_per_cycle", "targets": ["0_0", "0_1"], "values": [{"doubleVal": 0.005}]},
 {"name": "two_qubit_cz_gate_xeb_pauli_error_per_cycle", "targets": ["0_1", "0_2"], "values": [{"doubleVal": 0.007}]},
 {"name": "two_qubit_parallel_sqrt_iswap_gate_xeb_pauli_error_per_cycle", "targets": ["0_2", "0_1"], "values": [{"doubleVal": 0.009}]},
 {"name": "two_qubit_parallel_sqrt_iswap_gate_xeb_pauli_error_per_cycle", "targets": ["0_1", "0_2"], "values": [{"doubleVal": 0.008}]},
 {"name": "two_qubit_parallel_syc_gate_xeb_pauli_error_per_cycle", "targets": ["0_1", "0_2"], "values": [{"doubleVal": 0.001}]},
 {"name": "two_qubit_parallel_cz_gate_xeb_entangler_theta_error_per_cycle", "targets": ["0_1", "0_0"], "values": [{"doubleVal": -0.3}]},
 {"name": "some_future_metric", "targets": [], "values": [{"stringVal": "x"}]}
]}`

func TestTinyDevice(t *testing.T) {
	m, err := Parse([]byte(tinyCal), []byte(tinySpec), "tiny_calibration.json", "tiny_device_spec_for_grid_device.proto.txt")
	if err != nil {
		t.Fatal(err)
	}
	// cz leads (syc is not in the spec, so its figure is ignored);
	// fsim_pi_4 of the gate-set form is sqrt_iswap.
	if m.N() != 3 || len(m.Couplers) != 2 || m.Native2Q != "cz" || strings.Join(m.Other2Q, ",") != "sqrt_iswap" || m.Name != "tiny" {
		t.Fatalf("topology %+v", m.Topology)
	}
	if m.Qubits[1].Name != "0_1" || m.Qubits[1].Col != 1 {
		t.Errorf("qubit 1 %+v", m.Qubits[1])
	}
	if !m.Cal.Time.Equal(time.UnixMilli(1700000000000)) {
		t.Errorf("time %v: timestampMs wins over the file name", m.Cal.Time)
	}
	q := m.Cal.Qubits
	if q[0].ReadoutError != 0.02 || q[0].P10 != 0.01 || q[0].P01 != 0.03 || q[0].ReadoutLength != 600 || q[0].Error1Q != 0.001 || q[0].Duration1Q != 25 {
		t.Errorf("qubit 0 %+v", q[0])
	}
	if math.Abs(q[1].ReadoutError-0.03) > 1e-15 { // parallel figures when single-qubit ones are absent
		t.Errorf("qubit 1 %+v", q[1])
	}
	if q[2].T1 != 20 || hal.Known(q[2].ReadoutError) || q[2].Usable {
		t.Errorf("qubit 2 %+v", q[2])
	}
	c01, c12 := m.Cal.Couplers[0], m.Cal.Couplers[1]
	if c01.Error != 0.005 || c01.Gate != "cz" || c01.Duration != 42 || len(c01.Gates) != 1 {
		t.Errorf("coupler 0_0-0_1 %+v", c01)
	}
	// Isolated cz figure when no parallel one; sqrt_iswap given in both
	// orders keeps the smaller.
	if c12.Error != 0.007 || len(c12.Gates) != 2 || c12.Gates[1].Error != 0.008 || c12.Gates[1].Duration != 32 {
		t.Errorf("coupler 0_1-0_2 %+v", c12)
	}
}

func TestBadInput(t *testing.T) {
	cal, err := os.ReadFile(mustGlob(t, dir(t, "rainbow"), "*_calibration.json"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := os.ReadFile(mustGlob(t, dir(t, "rainbow"), "*.proto.txt"))
	if err != nil {
		t.Fatal(err)
	}
	const calName, specName = "rainbow_2021_11_16_calibration.json", "rainbow_spec.proto.txt"
	withMetric := func(m string) []byte {
		return []byte(strings.Replace(string(cal), `"metrics": [`, `"metrics": [`+m+",", 1))
	}
	cases := []struct {
		name      string
		cal, spec []byte
		want      []string
	}{
		{"truncated calibration", cal[:len(cal)/3], spec, []string{calName, "truncated"}},
		{"malformed calibration", []byte(strings.Replace(string(cal), `"targets": [`, `"targets": [,`, 1)), spec, []string{calName, "line 7, column 21", "field metrics.metrics[0].targets[0]"}},
		{"empty calibration", nil, spec, []string{calName, "expected an object"}},
		{"no metrics", []byte(`{"cirq_type": "Calibration"}`), spec, []string{calName, "field metrics: missing"}},
		{"metrics wrong type", []byte(`{"metrics": "none"}`), spec, []string{calName, "field metrics", "expected a list of metrics or an object holding one, found a string"}},
		{"target not in spec", []byte(strings.Replace(string(cal), `"3_2"`, `"42_42"`, 1)), spec, []string{calName, "metric single_qubit_p00_error", "metrics.metrics[0]", `"42_42"`, "not a qubit"}},
		{"pair not a coupler", withMetric(`{"name": "two_qubit_parallel_sycamore_gate_xeb_pauli_error_per_cycle", "targets": ["3_2", "9_4"], "values": [{"doubleVal": 0.01}]}`), spec,
			[]string{calName, "metric two_qubit_parallel_sycamore_gate_xeb_pauli_error_per_cycle", "pair 3_2-9_4 is not a coupler"}},
		{"value wrong type", withMetric(`{"name": "single_qubit_p00_error", "targets": ["3_2"], "values": [{"doubleVal": "low"}]}`), spec,
			[]string{calName, "metric single_qubit_p00_error", "target 3_2", "expected a number"}},
		{"no value", withMetric(`{"name": "single_qubit_idle_t1_micros", "targets": ["4_1"], "values": []}`), spec,
			[]string{calName, "metric single_qubit_idle_t1_micros", "no values"}},
		{"targets wrong type", withMetric(`{"name": "single_qubit_p00_error", "targets": "3_2", "values": [{"doubleVal": 0.1}]}`), spec,
			[]string{calName, "field metrics.metrics[0].targets", "expected a list, found a string"}},
		{"bad timestamp", []byte(`{"timestampMs": "soon", "metrics": []}`), spec, []string{calName, "timestampMs", `"soon"`}},
		{"truncated spec", cal, spec[:len(spec)-10], []string{specName, "unexpected end of file"}},
		{"malformed spec", cal, []byte(strings.Replace(string(spec), `ids: "3_2"`, `ids: "3_2`, 1)), []string{specName, "line 28", "newline inside a string"}},
		{"spec without qubits", cal, []byte(`valid_gates { cz {} }`), []string{specName, "valid_qubits", "no qubits"}},
		{"spec target unknown", cal, []byte(strings.Replace(string(spec), `ids: "9_4"`, `ids: "9_9"`, 1)), []string{specName, `"9_9" is not among valid_qubits`}},
		{"spec duplicate qubit", cal, []byte(`valid_qubits: "1_1"` + "\n" + `valid_qubits: "q1_1"`), []string{specName, "line 2", "listed twice"}},
		{"spec bad duration", cal, []byte(strings.Replace(string(spec), "gate_duration_picos: 12000", "gate_duration_picos: fast", 1)), []string{specName, "gate_duration_picos", `"fast"`}},
		{"spec deep nesting", cal, []byte(strings.Repeat("a {", 100)), []string{specName, "nested more than"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Parse(c.cal, c.spec, calName, specName)
			if err == nil {
				t.Fatalf("no error (model %v)", m.Summarize())
			}
			t.Log(err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadFolderErrors(t *testing.T) {
	src := dir(t, "rainbow")
	cal := mustGlob(t, src, "*_calibration.json")
	b, err := os.ReadFile(cal)
	if err != nil {
		t.Fatal(err)
	}
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, filepath.Base(cal)), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(d); err == nil || !strings.Contains(err.Error(), "no *_device_spec_for_grid_device.proto.txt") {
		t.Errorf("calibration without spec: %v", err)
	}
	if err := os.WriteFile(filepath.Join(d, "other_calibration.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(d); err == nil || !strings.Contains(err.Error(), "several calibrations") {
		t.Errorf("two calibrations: %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no Google device files") {
		t.Errorf("empty folder: %v", err)
	}
}

// The textproto reader handles the constructs of both spec forms.
func TestTextProto(t *testing.T) {
	fs, err := parseTextProto([]byte("a: 1 b: -2.5e3 c: \"x\\\"y\" 'z' d: ENUM e < f: [1, 2] g { } > h: { }"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(fs)
	want := `[{"Name":"a","Line":1,"Value":"1","Quoted":false,"Fields":null},{"Name":"b","Line":1,"Value":"-2.5e3","Quoted":false,"Fields":null},` +
		`{"Name":"c","Line":1,"Value":"x\"yz","Quoted":true,"Fields":null},{"Name":"d","Line":1,"Value":"ENUM","Quoted":false,"Fields":null},` +
		`{"Name":"e","Line":1,"Value":"","Quoted":false,"Fields":[{"Name":"f","Line":1,"Value":"1","Quoted":false,"Fields":null},` +
		`{"Name":"f","Line":1,"Value":"2","Quoted":false,"Fields":null},{"Name":"g","Line":1,"Value":"","Quoted":false,"Fields":[]}]},` +
		`{"Name":"h","Line":1,"Value":"","Quoted":false,"Fields":[]}]`
	if string(got) != want {
		t.Errorf("parsed\n%s\nwant\n%s", got, want)
	}
	for src, msg := range map[string]string{
		"a 1":        "expected ':' or '{'",
		"a: [1 2]":   "expected ',' or ']'",
		"a { b: 1":   "unexpected end of file",
		"a: \"\\q\"": `unknown escape \q`,
		"1: 2":       "expected a field name",
		"a: }":       "expected a value",
	} {
		if _, err := parseTextProto([]byte(src)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", src, err, msg)
		}
	}
}
