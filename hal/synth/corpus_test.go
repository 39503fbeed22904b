package synth

// Tests against the real calibration snapshots of the shared corpus
// (../shared/devices, or $RM_SHARED): IBM's graphs must be reproduced exactly
// and every profile's figures must be those of its source files. They skip
// when the corpus is absent. The files are read minimally here; the real
// importers live in hal/ibm, hal/google and hal/rigetti.

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/internal/corpus"
)

type ibmConf struct {
	NQubits     int      `json:"n_qubits"`
	CouplingMap [][2]int `json:"coupling_map"`
	BasisGates  []string `json:"basis_gates"`
}

type ibmParam struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

type ibmProps struct {
	Qubits [][]ibmParam `json:"qubits"`
	Gates  []struct {
		Qubits     []int      `json:"qubits"`
		Gate       string     `json:"gate"`
		Parameters []ibmParam `json:"parameters"`
	} `json:"gates"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func ibmEdges(t *testing.T, dev string) (map[hal.Edge]int, ibmConf) {
	t.Helper()
	var c ibmConf
	readJSON(t, filepath.Join(corpus.Devices(t), "ibm", dev, "conf_"+dev+".json"), &c)
	edges := map[hal.Edge]int{}
	for _, p := range c.CouplingMap {
		a, b := p[0], p[1]
		if a > b {
			a, b = b, a
		}
		edges[hal.Edge{A: a, B: b}]++
	}
	return edges, c
}

func modelEdges(m *hal.Model) map[hal.Edge]int {
	out := map[hal.Edge]int{}
	for _, e := range m.Couplers {
		out[e] = 1
	}
	return out
}

func TestIBMGraphsExact(t *testing.T) {
	for dev, n := range map[string]int{"kolkata": 27, "mumbai": 27, "manhattan": 65, "sherbrooke": 127, "torino": 133} {
		edges, conf := ibmEdges(t, dev)
		m, err := HeavyHex(n, 1)
		if err != nil {
			t.Fatal(err)
		}
		if conf.NQubits != m.N() || len(edges) != len(m.Couplers) {
			t.Errorf("%s: %d qubits %d couplers; heavyhex-%d has %d, %d", dev, conf.NQubits, len(edges), n, m.N(), len(m.Couplers))
		}
		mine := modelEdges(m)
		for e := range edges {
			if mine[e] == 0 {
				t.Errorf("%s has coupler %v, heavyhex-%d does not", dev, e, n)
			}
		}
		for e := range mine {
			if edges[e] == 0 {
				t.Errorf("heavyhex-%d has coupler %v, %s does not", n, e, dev)
			}
		}
		// Direction convention: entries per coupler as on the real chip.
		entries := len(conf.CouplingMap) / len(edges)
		for ci, cc := range m.Cal.Couplers {
			if len(cc.Gates) != entries {
				t.Fatalf("%s lists %d directions per coupler, heavyhex-%d coupler %d has %d", dev, entries, n, ci, len(cc.Gates))
			}
		}
		if !contains(conf.BasisGates, m.Native2Q) {
			t.Errorf("%s basis gates %v lack heavyhex-%d's %q", dev, conf.BasisGates, n, m.Native2Q)
		}
	}
	// Washington (Eagle r1) is Sherbrooke's graph less (8,9) and (109,114).
	wash, _ := ibmEdges(t, "washington")
	eagle, _ := HeavyHex(127, 1)
	missing := []hal.Edge{}
	for e := range modelEdges(eagle) {
		if wash[e] == 0 {
			missing = append(missing, e)
		}
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i].A < missing[j].A })
	if len(missing) != 2 || missing[0] != (hal.Edge{A: 8, B: 9}) || missing[1] != (hal.Edge{A: 109, B: 114}) || len(wash) != 142 {
		t.Errorf("washington vs heavyhex-127: missing %v, %d couplers", missing, len(wash))
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestAspen8GraphExact(t *testing.T) {
	var isa struct {
		Architecture struct {
			Nodes []struct {
				ID int `json:"node_id"`
			} `json:"nodes"`
			Edges []struct {
				IDs [2]int `json:"node_ids"`
			} `json:"edges"`
		} `json:"architecture"`
	}
	readJSON(t, filepath.Join(corpus.Devices(t), "rigetti", "aspen-8", "qcs-isa-Aspen-8.json"), &isa)
	m, err := Octagons(4, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(isa.Architecture.Nodes) != m.N() || len(isa.Architecture.Edges) != len(m.Couplers) {
		t.Fatalf("Aspen-8 %d nodes %d edges; octagons-4 %d, %d", len(isa.Architecture.Nodes), len(isa.Architecture.Edges), m.N(), len(m.Couplers))
	}
	for _, n := range isa.Architecture.Nodes {
		if m.QubitByName(strconv.Itoa(n.ID)) < 0 {
			t.Errorf("Aspen-8 node %d is not a qubit of octagons-4", n.ID)
		}
	}
	for _, e := range isa.Architecture.Edges {
		a, b := m.QubitByName(strconv.Itoa(e.IDs[0])), m.QubitByName(strconv.Itoa(e.IDs[1]))
		if a < 0 || b < 0 || m.CouplerIndex(a, b) < 0 {
			t.Errorf("Aspen-8 edge %v is not a coupler of octagons-4", e.IDs)
		}
	}
}

// source holds the robust statistics of one figure over a profile's source
// files: the range of their medians and of their ln-sigmas.
type source struct{ medLo, medHi, sigLo, sigHi float64 }

func (s *source) add(xs []float64) {
	med, sig := robust(xs)
	if s.medHi == 0 {
		*s = source{med, med, sig, sig}
		return
	}
	s.medLo, s.medHi = math.Min(s.medLo, med), math.Max(s.medHi, med)
	s.sigLo, s.sigHi = math.Min(s.sigLo, sig), math.Max(s.sigHi, sig)
}

// check: the profile's median within 15% of the sources' range, its sigma
// within 30% (when the sources spread at all).
func (s source) check(t *testing.T, what string, d Dist) {
	t.Helper()
	if s.medHi == 0 {
		t.Fatalf("%s: no source figures", what)
	}
	if d.Median < s.medLo/1.15 || d.Median > s.medHi*1.15 {
		t.Errorf("%s: profile median %.4g, source medians %.4g..%.4g", what, d.Median, s.medLo, s.medHi)
	}
	if s.sigHi > 0.05 && (d.Sigma < s.sigLo/1.3 || d.Sigma > s.sigHi*1.3) {
		t.Errorf("%s: profile ln-sigma %.3f, sources %.3f..%.3f", what, d.Sigma, s.sigLo, s.sigHi)
	}
}

func TestIBMProfilesMatchSources(t *testing.T) {
	for _, c := range []struct {
		p    *Profile
		devs []string
	}{{&falcon, []string{"kolkata", "mumbai"}}, {&hummingbird, []string{"manhattan"}},
		{&eagleR3, []string{"sherbrooke"}}, {&heronR1, []string{"torino"}}} {
		var e2, ro, e1, t1, ratio, share source
		for _, dev := range c.devs {
			_, conf := ibmEdges(t, dev)
			var props ibmProps
			readJSON(t, filepath.Join(corpus.Devices(t), "ibm", dev, "props_"+dev+".json"), &props)
			var ros, t1s, ratios, shares, e1s, e2s []float64
			for _, q := range props.Qubits {
				f := map[string]float64{}
				for _, p := range q {
					f[p.Name] = p.Value
				}
				if f["readout_error"] >= hal.BrokenThreshold {
					continue
				}
				ros = append(ros, f["readout_error"])
				t1s = append(t1s, f["T1"])
				ratios = append(ratios, f["T2"]/f["T1"])
				if s := f["prob_meas0_prep1"] + f["prob_meas1_prep0"]; s > 0 {
					shares = append(shares, f["prob_meas0_prep1"]/s)
				}
			}
			best := map[hal.Edge]float64{}
			for _, g := range props.Gates {
				var errv float64
				for _, p := range g.Parameters {
					if p.Name == "gate_error" {
						errv = p.Value
					}
				}
				switch {
				case g.Gate == "sx":
					e1s = append(e1s, errv)
				case contains(conf.BasisGates, g.Gate) && len(g.Qubits) == 2:
					e := hal.Edge{A: min(g.Qubits[0], g.Qubits[1]), B: max(g.Qubits[0], g.Qubits[1])}
					if v, ok := best[e]; !ok || errv < v {
						best[e] = errv
					}
				}
			}
			for _, v := range best {
				if v < hal.BrokenThreshold {
					e2s = append(e2s, v)
				}
			}
			e2.add(e2s)
			ro.add(ros)
			e1.add(e1s)
			t1.add(t1s)
			ratio.add(ratios)
			share.add(shares)
		}
		name := c.p.Name
		e2.check(t, name+" 2q error", c.p.Error2Q)
		ro.check(t, name+" readout", c.p.Readout)
		e1.check(t, name+" sx error", c.p.Error1Q)
		t1.check(t, name+" T1", c.p.T1)
		ratio.check(t, name+" T2/T1", c.p.T2Ratio)
		share.check(t, name+" P01 share", c.p.P01Share)
	}
}

func TestGoogleRigettiProfilesMatchSources(t *testing.T) {
	dir := corpus.Devices(t)
	var cal struct {
		Metrics struct {
			Metrics []struct {
				Name    string   `json:"name"`
				Targets []string `json:"targets"`
				Values  []struct {
					DoubleVal float64 `json:"doubleVal"`
				} `json:"values"`
			} `json:"metrics"`
		} `json:"metrics"`
	}
	readJSON(t, filepath.Join(dir, "google", "willow_pink", "willow_pink_d7v1-2024_08_16_calibration.json"), &cal)
	metric := map[string]map[string]float64{}
	for _, m := range cal.Metrics.Metrics {
		if metric[m.Name] == nil {
			metric[m.Name] = map[string]float64{}
		}
		key := ""
		for _, tg := range m.Targets {
			key += tg + ","
		}
		metric[m.Name][key] = m.Values[0].DoubleVal
	}
	vals := func(name string) []float64 {
		var out []float64
		for _, v := range metric[name] {
			out = append(out, v)
		}
		return out
	}
	var e2, e1, t1, ro, share source
	e2.add(vals("two_qubit_parallel_cz_gate_xeb_pauli_error_per_cycle"))
	e1.add(vals("single_qubit_rb_pauli_error_per_gate"))
	t1.add(vals("single_qubit_idle_t1_micros"))
	var ros, shares []float64
	for q, p00 := range metric["single_qubit_p00_error"] {
		p11 := metric["single_qubit_p11_error"][q]
		ros = append(ros, (p00+p11)/2)
		shares = append(shares, p11/(p00+p11))
	}
	ro.add(ros)
	share.add(shares)
	e2.check(t, "willow cz error", willow.Error2Q)
	e1.check(t, "willow 1q error", willow.Error1Q)
	t1.check(t, "willow T1", willow.T1)
	ro.check(t, "willow readout", willow.Readout)
	share.check(t, "willow P01 share", willow.P01Share)

	var isa struct {
		Instructions []struct {
			Name  string `json:"name"`
			Sites []struct {
				Characteristics []struct {
					Name  string  `json:"name"`
					Value float64 `json:"value"`
				} `json:"characteristics"`
			} `json:"sites"`
		} `json:"instructions"`
		Benchmarks []struct {
			Name  string `json:"name"`
			Sites []struct {
				Characteristics []struct {
					Name  string  `json:"name"`
					Value float64 `json:"value"`
				} `json:"characteristics"`
			} `json:"sites"`
		} `json:"benchmarks"`
	}
	readJSON(t, filepath.Join(dir, "rigetti", "aspen-8", "qcs-isa-Aspen-8.json"), &isa)
	errs := map[string][]float64{}
	for _, in := range isa.Instructions {
		for _, s := range in.Sites {
			for _, c := range s.Characteristics {
				errs[c.Name] = append(errs[c.Name], 1-c.Value)
			}
		}
	}
	for _, b := range isa.Benchmarks {
		if b.Name != "randomized_benchmark_1q" {
			continue
		}
		for _, s := range b.Sites {
			for _, c := range s.Characteristics {
				errs["fRB"] = append(errs["fRB"], 1-c.Value)
			}
		}
	}
	for _, c := range []struct {
		key string
		d   Dist
	}{{"fCZ", aspen.Error2Q}, {"fXY", aspen.Other2QError}, {"fRO", aspen.Readout}, {"fRB", aspen.Error1Q}} {
		var s source
		s.add(errs[c.key])
		s.check(t, "aspen 1-"+c.key, c.d)
	}
}
