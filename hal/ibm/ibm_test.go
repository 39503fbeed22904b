package ibm

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

// readme holds the figures of /work/shared/devices/README.md ("Devices" and
// "Summary statistics"), to 4 decimals.
var readme = []struct {
	dev, name, family  string
	qubits, couplers   int
	native             string
	med2q, med2qUsable float64 // median 2q error; broken excluded
	medRO              float64
	brokenC, brokenQ   int
	date               string
}{
	{"belem", "ibmq_belem", "Falcon r4T", 5, 4, "cx", 0.0143, 0.0143, 0.0320, 0, 0, "2021-03-15"},
	{"nairobi", "ibm_nairobi", "Falcon r5.11H", 7, 6, "cx", 0.0078, 0.0078, 0.0223, 0, 0, "2024-05-27"},
	{"guadalupe", "ibmq_guadalupe", "Falcon r4P", 16, 16, "cx", 0.0101, 0.0101, 0.0162, 0, 0, "2021-04-20"},
	{"kolkata", "ibmq_kolkata", "Falcon r5.11", 27, 28, "cx", 0.0075, 0.0075, 0.0096, 0, 0, "2021-12-09"},
	{"mumbai", "ibmq_mumbai", "Falcon r5.1", 27, 28, "cx", 0.0065, 0.0065, 0.0216, 0, 0, "2021-03-13"},
	{"manhattan", "ibmq_manhattan", "Hummingbird r2", 65, 72, "cx", 0.0187, 0.0136, 0.0236, 22, 0, "2021-03-15"},
	{"sherbrooke", "ibm_sherbrooke", "Eagle r3", 127, 144, "ecr", 0.0078, 0.0075, 0.0198, 9, 1, "2025-02-26"},
	{"washington", "ibm_washington", "Eagle r1", 127, 142, "cx", 0.0115, 0.0112, 0.0147, 3, 0, "2022-04-12"},
	{"torino", "ibm_torino", "Heron r1", 133, 150, "cz", 0.0042, 0.0041, 0.0229, 11, 1, "2025-02-26"},
}

// near4 reports whether got rounds to want at 4 decimals.
func near4(got hal.Figure, want float64) bool { return math.Abs(float64(got)-want) <= 5e-5+1e-12 }

func dir(t testing.TB, dev string) string {
	t.Helper()
	return filepath.Join(corpus.Devices(t), "ibm", dev)
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
			if s.Name != w.name || s.Vendor != "ibm" || s.Family != w.family {
				t.Errorf("name/vendor/family = %q/%q/%q, want %q/ibm/%q", s.Name, s.Vendor, s.Family, w.name, w.family)
			}
			if s.Qubits != w.qubits || s.Couplers != w.couplers || s.Native2Q != w.native || len(s.Other2Q) != 0 {
				t.Errorf("qubits %d couplers %d native %q other %v, want %d %d %q none", s.Qubits, s.Couplers, s.Native2Q, s.Other2Q, w.qubits, w.couplers, w.native)
			}
			if !near4(s.Median2QError, w.med2q) {
				t.Errorf("median 2q error %.6f, want %.4f", s.Median2QError, w.med2q)
			}
			if !near4(s.Median2QErrorUsable, w.med2qUsable) {
				t.Errorf("median 2q error, broken excluded %.6f, want %.4f", s.Median2QErrorUsable, w.med2qUsable)
			}
			if !near4(s.MedianReadoutError, w.medRO) {
				t.Errorf("median readout error %.6f, want %.4f", s.MedianReadoutError, w.medRO)
			}
			if s.BrokenCouplers != w.brokenC || s.BrokenQubits != w.brokenQ {
				t.Errorf("broken couplers %d qubits %d, want %d %d", s.BrokenCouplers, s.BrokenQubits, w.brokenC, w.brokenQ)
			}
			if got := m.Cal.Time.Format("2006-01-02"); got != w.date {
				t.Errorf("calibration date %s, want %s", got, w.date)
			}
			if m.Cal.Epoch == 0 {
				t.Error("epoch is 0")
			}
			// Every broken coupler here has gate_error exactly 1 (README quirk 1),
			// and every coupler has a figure.
			for ci, c := range m.Cal.Couplers {
				switch c.OwnReason {
				case hal.ReasonNone:
				case hal.ReasonErrorTooHigh:
					if c.Error != 1 {
						t.Errorf("coupler %v broken with error %v, want 1", m.Couplers[ci], c.Error)
					}
				default:
					t.Errorf("coupler %v: own reason %q", m.Couplers[ci], c.OwnReason)
				}
			}
			for i, q := range m.Cal.Qubits {
				if m.Qubits[i].Name != itoa(i) || m.Qubits[i].Row != -1 {
					t.Fatalf("qubit %d info %+v", i, m.Qubits[i])
				}
				if !hal.Known(q.T1) || !hal.Known(q.T2) || !hal.Known(q.ReadoutError) || !hal.Known(q.P01) || !hal.Known(q.P10) ||
					!hal.Known(q.ReadoutLength) || !hal.Known(q.Error1Q) || !hal.Known(q.Duration1Q) {
					t.Fatalf("qubit %d lacks a figure: %+v", i, q)
				}
			}
		})
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// The bad qubits of README quirk 2 are the broken ones.
func TestBadQubits(t *testing.T) {
	for dev, q := range map[string]int{"sherbrooke": 84, "torino": 86} {
		m := load(t, dev)
		for i, qc := range m.Cal.Qubits {
			if (i == q) == qc.Usable {
				t.Errorf("%s qubit %d usable=%v (reason %q)", dev, i, qc.Usable, qc.Reason)
			}
		}
		if r := m.Cal.Qubits[q].Reason; r != hal.ReasonErrorTooHigh {
			t.Errorf("%s qubit %d reason %q", dev, q, r)
		}
	}
	m := load(t, "sherbrooke")
	if q := m.Cal.Qubits[84]; q.P10 != 1 || q.P01 != 0 || q.ReadoutError != 0.5 {
		t.Errorf("sherbrooke 84 readout %v P01 %v P10 %v", q.ReadoutError, q.P01, q.P10)
	}
}

// belem cx4_3 (554.7 ns) and cx3_4 (590.2 ns): equal errors, durations kept
// per direction.
func TestDirectionsKeepDurations(t *testing.T) {
	m := load(t, "belem")
	ci := m.CouplerIndex(4, 3)
	if ci < 0 || m.Couplers[ci] != (hal.Edge{A: 3, B: 4}) {
		t.Fatalf("coupler (3,4) index %d", ci)
	}
	gates := m.Cal.Couplers[ci].Gates
	if len(gates) != 2 {
		t.Fatalf("coupler (3,4) gates %+v, want both directions", gates)
	}
	var ab, ba *hal.GateCal
	for i := range gates {
		switch gates[i].Dir {
		case hal.DirAB:
			ab = &gates[i]
		case hal.DirBA:
			ba = &gates[i]
		}
	}
	if ab == nil || ba == nil || ab.Gate != "cx" || ba.Gate != "cx" {
		t.Fatalf("gates %+v", gates)
	}
	if math.Abs(ba.Duration-554.667) > 0.01 || math.Abs(ab.Duration-590.222) > 0.01 {
		t.Errorf("cx4_3 %v ns (want 554.7), cx3_4 %v ns (want 590.2)", ba.Duration, ab.Duration)
	}
	if ab.Error != ba.Error || math.Abs(ab.Error-0.01474875752789484) > 1e-15 {
		t.Errorf("errors %v %v", ab.Error, ba.Error)
	}
	if c := m.Cal.Couplers[ci]; c.Error != ab.Error || c.Gate != "cx" || c.Duration != 554.6666666666666 {
		t.Errorf("coupler figure %v %q %v: want the smaller error, the first direction's duration on a tie", c.Error, c.Gate, c.Duration)
	}
}

// Eagle r3 lists one direction per coupler.
func TestOneDirectionList(t *testing.T) {
	m := load(t, "sherbrooke")
	dirs := map[uint8]int{}
	for ci, c := range m.Cal.Couplers {
		if len(c.Gates) != 1 || c.Gates[0].Gate != "ecr" {
			t.Fatalf("coupler %v gates %+v, want one ecr entry", m.Couplers[ci], c.Gates)
		}
		dirs[c.Gates[0].Dir]++
	}
	if dirs[hal.DirAB]+dirs[hal.DirBA] != 144 || dirs[hal.DirAB] == 0 || dirs[hal.DirBA] == 0 {
		t.Errorf("directions %v: want 144 entries in both orientations", dirs)
	}
}

// rawProps decodes a props file independently of the importer.
type rawProps struct {
	Qubits [][]struct {
		Name  string   `json:"name"`
		Value *float64 `json:"value"`
	} `json:"qubits"`
	Gates []struct {
		Qubits     []int  `json:"qubits"`
		Gate       string `json:"gate"`
		Parameters []struct {
			Name  string  `json:"name"`
			Value float64 `json:"value"`
		} `json:"parameters"`
	} `json:"gates"`
}

func readRaw(t *testing.T, dev string) rawProps {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir(t, dev), "props_"+dev+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var p rawProps
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// Heron: rzz (error 1 everywhere) and rx are ignored, frequency is absent,
// Error1Q is the sx figure.
func TestHeron(t *testing.T) {
	m := load(t, "torino")
	if m.Native2Q != "cz" || len(m.Other2Q) != 0 {
		t.Fatalf("native %q other %v", m.Native2Q, m.Other2Q)
	}
	for ci, c := range m.Cal.Couplers {
		for _, g := range c.Gates {
			if g.Gate != "cz" {
				t.Fatalf("coupler %v has a %q figure", m.Couplers[ci], g.Gate)
			}
		}
	}
	raw := readRaw(t, "torino")
	sx, rzz := 0, 0
	for _, g := range raw.Gates {
		switch g.Gate {
		case "sx":
			for _, p := range g.Parameters {
				if p.Name == "gate_error" && m.Cal.Qubits[g.Qubits[0]].Error1Q != p.Value {
					t.Errorf("qubit %d Error1Q %v, sx gate_error %v", g.Qubits[0], m.Cal.Qubits[g.Qubits[0]].Error1Q, p.Value)
				}
				if p.Name == "gate_length" && m.Cal.Qubits[g.Qubits[0]].Duration1Q != p.Value {
					t.Errorf("qubit %d Duration1Q %v, sx gate_length %v", g.Qubits[0], m.Cal.Qubits[g.Qubits[0]].Duration1Q, p.Value)
				}
			}
			sx++
		case "rzz":
			rzz++
		}
	}
	if sx != 133 || rzz != 300 {
		t.Fatalf("test premise: %d sx and %d rzz entries", sx, rzz)
	}
	for i, q := range m.Cal.Qubits {
		if hal.Known(q.Frequency) || hal.Known(q.Anharmonicity) {
			t.Fatalf("qubit %d frequency %v anharmonicity %v, want NaN", i, q.Frequency, q.Anharmonicity)
		}
	}
	// JSON integers: readout_length 1560 and gate_error 1.
	if q := m.Cal.Qubits[0]; q.ReadoutLength != 1560 {
		t.Errorf("qubit 0 readout length %v, want 1560", q.ReadoutLength)
	}
}

// Every figure of every qubit equals the file's, looked up by name.
func TestQubitFiguresByName(t *testing.T) {
	for _, dev := range []string{"belem", "sherbrooke", "torino"} {
		m := load(t, dev)
		raw := readRaw(t, dev)
		for i, recs := range raw.Qubits {
			q := m.Cal.Qubits[i]
			for _, r := range recs {
				want := *r.Value
				var got float64
				switch r.Name {
				case "T1":
					got = q.T1
				case "T2":
					got = q.T2
				case "frequency":
					got = q.Frequency
				case "anharmonicity":
					got = q.Anharmonicity
				case "readout_error":
					got = q.ReadoutError
				case "prob_meas0_prep1":
					got = q.P01
				case "prob_meas1_prep0":
					got = q.P10
				case "readout_length":
					got = q.ReadoutLength
				default:
					continue
				}
				if got != want {
					t.Errorf("%s qubit %d %s = %v, file %v", dev, i, r.Name, got, want)
				}
			}
		}
	}
}

func TestLoadTwiceSameEpoch(t *testing.T) {
	a, b := load(t, "washington"), load(t, "washington")
	if a.Cal.Epoch == 0 || a.Cal.Epoch != b.Cal.Epoch {
		t.Errorf("epochs %d and %d", a.Cal.Epoch, b.Cal.Epoch)
	}
	if c := load(t, "sherbrooke"); c.Cal.Epoch == a.Cal.Epoch {
		t.Error("washington and sherbrooke share an epoch")
	}
}

// tinyConf and tinyProps are a hand-written 3-qubit device.
const tinyConf = `{"backend_name": "tiny", "n_qubits": 3, "basis_gates": ["cx", "id", "rz", "sx", "x", "reset"],
 "coupling_map": [[0, 1], [1, 0], [1, 2]], "clops": null, "processor_type": {"family": "Toy", "revision": 1}}`

const tinyProps = `{"backend_name": "tiny", "last_update_date": "2025-02-26T15:32:18.348815-05:00",
 "qubits": [
  [{"name": "T1", "unit": "us", "value": 100}, {"name": "readout_error", "unit": "", "value": 0.02}, {"name": "readout_length", "unit": "us", "value": 1.5}],
  [{"name": "T1", "unit": "ms", "value": 0.2}, {"name": "prob_meas0_prep1", "unit": "", "value": 0.04}, {"name": "prob_meas1_prep0", "unit": "", "value": 0.02}],
  [{"name": "frequency", "unit": "MHz", "value": 5000}, {"name": "readout_error", "unit": "", "value": null}]],
 "gates": [
  {"qubits": [0], "gate": "sx", "name": "sx0", "parameters": [{"name": "gate_error", "unit": "", "value": 0.001}, {"name": "gate_length", "unit": "ns", "value": 35}]},
  {"qubits": [1], "gate": "id", "name": "id1", "parameters": [{"name": "gate_error", "unit": "", "value": 0.003}, {"name": "gate_length", "unit": "ns", "value": 30}]},
  {"qubits": [1], "gate": "x", "name": "x1", "parameters": [{"name": "gate_error", "unit": "", "value": 0.002}, {"name": "gate_length", "unit": "ns", "value": 36}]},
  {"qubits": [0, 1], "gate": "cx", "name": "cx0_1", "parameters": [{"name": "gate_error", "unit": "", "value": 0.01}, {"name": "gate_length", "unit": "ns", "value": 300}]},
  {"qubits": [1, 0], "gate": "cx", "name": "cx1_0", "parameters": [{"name": "gate_error", "unit": "", "value": 0.012}, {"name": "gate_length", "unit": "ns", "value": 310}]},
  {"qubits": [1, 2], "gate": "cx", "name": "cx1_2", "parameters": [{"name": "gate_error", "unit": "", "value": 1}, {"name": "gate_length", "unit": "ns", "value": 320}]},
  {"qubits": [0, 1], "gate": "rzz", "name": "rzz0_1", "parameters": [{"name": "gate_error", "unit": "", "value": "n/a"}]},
  {"qubits": [2], "gate": "reset", "name": "reset2", "parameters": [{"name": "gate_length", "unit": "ns", "value": 1000}]}]}`

func TestTinyDevice(t *testing.T) {
	m, err := Parse([]byte(tinyConf), []byte(tinyProps), "conf_tiny.json", "props_tiny.json")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "tiny" || m.Family != "Toy r1" || m.Native2Q != "cx" || m.N() != 3 || len(m.Couplers) != 2 {
		t.Fatalf("topology %+v", m.Topology)
	}
	want := time.Date(2025, 2, 26, 20, 32, 18, 348815000, time.UTC)
	if !m.Cal.Time.Equal(want) {
		t.Errorf("time %v, want %v (microseconds kept)", m.Cal.Time, want)
	}
	q := m.Cal.Qubits
	if q[0].Error1Q != 0.001 || q[0].Duration1Q != 35 || q[0].ReadoutLength != 1500 || q[0].T1 != 100 {
		t.Errorf("qubit 0 %+v", q[0])
	}
	// No sx on qubit 1: x is preferred to id. Units converted. Readout error
	// from the two conditional probabilities.
	if q[1].Error1Q != 0.002 || q[1].Duration1Q != 36 || q[1].T1 != 200 || math.Abs(q[1].ReadoutError-0.03) > 1e-15 {
		t.Errorf("qubit 1 %+v", q[1])
	}
	// Qubit 2: null readout error, frequency in MHz, no 1q gate.
	if hal.Known(q[2].ReadoutError) || q[2].Frequency != 5 || hal.Known(q[2].Error1Q) || q[2].Usable || q[2].Reason != hal.ReasonMissingData {
		t.Errorf("qubit 2 %+v", q[2])
	}
	c01 := m.Cal.Couplers[m.CouplerIndex(0, 1)]
	if len(c01.Gates) != 2 || c01.Error != 0.01 || c01.Duration != 300 || !c01.Usable {
		t.Errorf("coupler (0,1) %+v", c01)
	}
	c12 := m.Cal.Couplers[m.CouplerIndex(1, 2)]
	if len(c12.Gates) != 1 || c12.Gates[0].Dir != hal.DirAB || c12.OwnReason != hal.ReasonErrorTooHigh {
		t.Errorf("coupler (1,2) %+v", c12)
	}
}

// Qiskit's optional "operational" property: on a qubit record or as a gate
// parameter, boolean or 0/1.
func TestOperationalFlag(t *testing.T) {
	props := strings.Replace(tinyProps, `{"name": "T1", "unit": "us", "value": 100},`,
		`{"name": "T1", "unit": "us", "value": 100}, {"name": "operational", "unit": "", "value": false},`, 1)
	props = strings.Replace(props, `"name": "cx1_0", "parameters": [`, `"name": "cx1_0", "parameters": [{"name": "operational", "value": 0},`, 1)
	props = strings.Replace(props, `"name": "cx1_2", "parameters": [`, `"name": "cx1_2", "parameters": [{"name": "operational", "value": false},`, 1)
	props = strings.Replace(props, `"name": "x1", "parameters": [`, `"name": "x1", "parameters": [{"name": "operational", "value": true},`, 1)
	m, err := Parse([]byte(tinyConf), []byte(props), "conf_tiny.json", "props_tiny.json")
	if err != nil {
		t.Fatal(err)
	}
	if q := m.Cal.Qubits[0]; q.Broken != hal.ReasonListedBroken || q.Usable {
		t.Errorf("qubit 0 listed not operational: %+v", q)
	}
	if q := m.Cal.Qubits[1]; q.Broken != "" || !q.Usable {
		t.Errorf("qubit 1 (x1 operational): %+v", q)
	}
	c01 := m.Cal.Couplers[m.CouplerIndex(0, 1)]
	if len(c01.Gates) != 1 || c01.Gates[0].Dir != hal.DirAB || c01.Broken != "" {
		t.Errorf("coupler (0,1): one direction down, the other kept: %+v", c01)
	}
	c12 := m.Cal.Couplers[m.CouplerIndex(1, 2)]
	if len(c12.Gates) != 0 || c12.Broken != hal.ReasonListedBroken || c12.OwnReason != hal.ReasonListedBroken {
		t.Errorf("coupler (1,2): only direction down: %+v", c12)
	}
	bad := strings.Replace(tinyProps, `"name": "cx1_0", "parameters": [`, `"name": "cx1_0", "parameters": [{"name": "operational", "value": "yes"},`, 1)
	if _, err := Parse([]byte(tinyConf), []byte(bad), "conf_tiny.json", "props_tiny.json"); err == nil || !strings.Contains(err.Error(), "cx1_0") {
		t.Errorf("string operational flag: %v", err)
	}
}

// The native gate is whichever of cx, ecr, cz the basis lists; gates such
// as rzz or rzx in the basis (fractional-gate backends) are not read.
func TestNativeGateChoice(t *testing.T) {
	cases := []struct {
		basis  []string
		counts map[string]int
		want   string
	}{
		{[]string{"id", "rz", "sx", "x", "cx", "reset", "rx", "rzx", "rzz"}, nil, "cx"},
		{[]string{"cz", "id", "rx", "rz", "rzz", "sx", "x"}, map[string]int{"rzz": 300, "cz": 300}, "cz"},
		{[]string{"ecr", "cx"}, map[string]int{"ecr": 10, "cx": 2}, "ecr,cx"},
		{[]string{"ecr", "cx"}, nil, "cx,ecr"},
		{[]string{"u1", "u2", "u3"}, nil, ""},
	}
	for _, c := range cases {
		if got := strings.Join(nativeGates(c.basis, c.counts), ","); got != c.want {
			t.Errorf("%v %v: %q, want %q", c.basis, c.counts, got, c.want)
		}
	}
}

// mutate decodes a real file, applies f and re-encodes it.
func mutate(t *testing.T, data []byte, f func(map[string]any)) []byte {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	f(v)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func belemFiles(t *testing.T) (conf, props []byte) {
	t.Helper()
	d := dir(t, "belem")
	conf, err := os.ReadFile(filepath.Join(d, "conf_belem.json"))
	if err != nil {
		t.Fatal(err)
	}
	props, err = os.ReadFile(filepath.Join(d, "props_belem.json"))
	if err != nil {
		t.Fatal(err)
	}
	return conf, props
}

func TestBadInput(t *testing.T) {
	conf, props := belemFiles(t)
	firstGate := func(v map[string]any, gate string) map[string]any {
		for _, g := range v["gates"].([]any) {
			if gm := g.(map[string]any); gm["gate"] == gate {
				return gm
			}
		}
		t.Fatalf("no %s gate", gate)
		return nil
	}
	cases := []struct {
		name        string
		conf, props []byte
		want        []string // substrings of the error
	}{
		{"truncated props", conf, props[:len(props)/2], []string{"props_belem.json", "line 1, column", "truncated"}},
		{"truncated conf", conf[:100], props, []string{"conf_belem.json", "truncated"}},
		{"malformed props", conf, []byte(strings.Replace(string(props), `"qubits": [[`, `"qubits": [[}`, 1)), []string{"props_belem.json", "field qubits[0]", "expected"}},
		{"empty conf", nil, props, []string{"conf_belem.json", "expected an object"}},
		{"not an object", []byte(`[1, 2]`), props, []string{"conf_belem.json", "expected an object, found a list"}},
		{"trailing garbage", append(append([]byte{}, conf...), "}"...), props, []string{"conf_belem.json", "after the end"}},
		{"no n_qubits", mutate(t, conf, func(v map[string]any) { delete(v, "n_qubits") }), props, []string{"conf_belem.json", "n_qubits", "missing"}},
		{"null n_qubits", mutate(t, conf, func(v map[string]any) { v["n_qubits"] = nil }), props, []string{"conf_belem.json", "n_qubits", "missing or null"}},
		{"zero n_qubits", mutate(t, conf, func(v map[string]any) { v["n_qubits"] = 0 }), props, []string{"conf_belem.json", "n_qubits", "outside"}},
		{"huge n_qubits", mutate(t, conf, func(v map[string]any) { v["n_qubits"] = 1e6 }), props, []string{"conf_belem.json", "n_qubits", "outside 1..4096"}},
		{"string n_qubits", mutate(t, conf, func(v map[string]any) { v["n_qubits"] = "5" }), props, []string{"conf_belem.json", "field n_qubits", "expected an integer, found a string"}},
		{"fractional n_qubits", mutate(t, conf, func(v map[string]any) { v["n_qubits"] = 4.5 }), props, []string{"conf_belem.json", "field n_qubits", "expected an integer"}},
		{"no coupling_map", mutate(t, conf, func(v map[string]any) { delete(v, "coupling_map") }), props, []string{"conf_belem.json", "coupling_map", "missing"}},
		{"no basis_gates", mutate(t, conf, func(v map[string]any) { delete(v, "basis_gates") }), props, []string{"conf_belem.json", "basis_gates", "missing"}},
		{"no 2q basis gate", mutate(t, conf, func(v map[string]any) { v["basis_gates"] = []string{"id", "sx"} }), props, []string{"conf_belem.json", "basis_gates", "no 2-qubit gate"}},
		{"coupler to a nonexistent qubit", mutate(t, conf, func(v map[string]any) {
			v["coupling_map"] = append(v["coupling_map"].([]any), []int{4, 5})
		}), props, []string{"conf_belem.json", "coupling_map[8]", "qubit 5", "n_qubits 5"}},
		{"negative qubit", mutate(t, conf, func(v map[string]any) { v["coupling_map"] = [][]int{{-1, 0}} }), props, []string{"conf_belem.json", "coupling_map[0]", "qubit -1"}},
		{"coupler triple", mutate(t, conf, func(v map[string]any) { v["coupling_map"] = [][]int{{0, 1, 2}} }), props, []string{"conf_belem.json", "coupling_map[0]", "3 qubits"}},
		{"self loop", mutate(t, conf, func(v map[string]any) { v["coupling_map"] = [][]int{{1, 1}} }), props, []string{"conf_belem.json", "coupling_map[0]", "itself"}},
		{"coupling_map wrong type", mutate(t, conf, func(v map[string]any) { v["coupling_map"] = "0-1" }), props, []string{"conf_belem.json", "field coupling_map", "expected a list, found a string"}},
		{"no qubits", conf, mutate(t, props, func(v map[string]any) { delete(v, "qubits") }), []string{"props_belem.json", "field qubits", "missing"}},
		{"qubit count mismatch", conf, mutate(t, props, func(v map[string]any) { v["qubits"] = v["qubits"].([]any)[:4] }), []string{"props_belem.json", "lists 4 qubits", "n_qubits of", "is 5"}},
		{"no gates", conf, mutate(t, props, func(v map[string]any) { delete(v, "gates") }), []string{"props_belem.json", "field gates", "missing"}},
		{"T1 wrong type", conf, mutate(t, props, func(v map[string]any) {
			v["qubits"].([]any)[2].([]any)[0].(map[string]any)["value"] = "88 us"
		}), []string{"props_belem.json", "qubit 2", "T1", "field qubits[2][0].value", "expected a number, found a string"}},
		{"unknown unit", conf, mutate(t, props, func(v map[string]any) {
			v["qubits"].([]any)[1].([]any)[0].(map[string]any)["unit"] = "fortnights"
		}), []string{"props_belem.json", "qubit 1", "T1", `unknown unit "fortnights"`}},
		{"gate error wrong type", conf, mutate(t, props, func(v map[string]any) {
			firstGate(v, "cx")["parameters"].([]any)[0].(map[string]any)["value"] = []int{1}
		}), []string{"props_belem.json", "(cx", "parameters[0].value", "expected a number, found a list"}},
		{"2q gate off the coupling map", conf, mutate(t, props, func(v map[string]any) {
			g := firstGate(v, "cx")
			g["qubits"] = []int{0, 4}
			g["name"] = "cx0_4"
		}), []string{"props_belem.json", "cx0_4", "pair (0,4) is not in coupling_map of conf_belem.json"}},
		{"2q gate on a nonexistent qubit", conf, mutate(t, props, func(v map[string]any) {
			g := firstGate(v, "cx")
			g["qubits"] = []int{0, 9}
			g["name"] = "cx0_9"
		}), []string{"props_belem.json", "cx0_9", "(0,9)"}},
		{"1q gate on a nonexistent qubit", conf, mutate(t, props, func(v map[string]any) {
			g := firstGate(v, "sx")
			g["qubits"] = []int{7}
		}), []string{"props_belem.json", "sx", "qubit 7 is outside"}},
		{"gate qubits wrong type", conf, mutate(t, props, func(v map[string]any) { firstGate(v, "cx")["qubits"] = "0,1" }), []string{"props_belem.json", "qubits", "expected a list, found a string"}},
		{"bad date", conf, mutate(t, props, func(v map[string]any) { v["last_update_date"] = "yesterday" }), []string{"props_belem.json", "last_update_date", `"yesterday"`}},
		{"other backend", conf, mutate(t, props, func(v map[string]any) { v["backend_name"] = "ibmq_lima" }), []string{"props_belem.json", "backend_name", "ibmq_lima", "ibmq_belem"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Parse(c.conf, c.props, "conf_belem.json", "props_belem.json")
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
	conf, props := belemFiles(t)
	write := func(d, name string, b []byte) {
		if err := os.WriteFile(filepath.Join(d, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	onlyConf := t.TempDir()
	write(onlyConf, "conf_belem.json", conf)
	if _, err := Load(onlyConf); err == nil || !strings.Contains(err.Error(), "no props_belem.json") {
		t.Errorf("conf without props: %v", err)
	}
	onlyProps := t.TempDir()
	write(onlyProps, "props_belem.json", props)
	if _, err := Load(onlyProps); err == nil || !strings.Contains(err.Error(), "no conf_belem.json") {
		t.Errorf("props without conf: %v", err)
	}
	two := t.TempDir()
	for _, n := range []string{"belem", "lima"} {
		write(two, "conf_"+n+".json", conf)
		write(two, "props_"+n+".json", props)
	}
	if _, err := Load(two); err == nil || !strings.Contains(err.Error(), "several IBM devices (belem, lima)") {
		t.Errorf("two devices: %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "expected conf_<name>.json and props_<name>.json") {
		t.Errorf("empty folder: %v", err)
	}
	// A renamed pair (as qiskit's conf_alt_lima.json) loads.
	alt := t.TempDir()
	write(alt, "conf_alt_belem.json", conf)
	write(alt, "props_alt_belem.json", props)
	write(alt, "defs_alt_belem.json", []byte(`{}`))
	if m, err := Load(alt); err != nil || m.Name != "ibmq_belem" {
		t.Errorf("renamed pair: %v", err)
	}
}
