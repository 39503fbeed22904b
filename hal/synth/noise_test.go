package synth

import (
	"math"
	"strings"
	"testing"

	"github.com/eigen-os/rm/hal"
)

// robust returns the median of xs and the robust standard deviation of ln x
// (1.4826 * median absolute deviation), the statistics the profiles were
// fitted with.
func robust(xs []float64) (median, sigma float64) {
	if len(xs) == 0 {
		return hal.NaN, hal.NaN
	}
	ys := append([]float64(nil), xs...)
	median = hal.Median(ys)
	logs := make([]float64, 0, len(xs))
	for _, x := range xs {
		logs = append(logs, math.Log(math.Abs(x)))
	}
	m := hal.Median(append([]float64(nil), logs...))
	for i := range logs {
		logs[i] = math.Abs(logs[i] - m)
	}
	return median, 1.4826 * hal.Median(logs)
}

// checkMedian fails when the median of xs is not within the tolerance of
// want: 12%, or four standard errors of a log-normal median when that is
// larger (1.2533 sigma / sqrt(n) in ln units).
func checkMedian(t *testing.T, what string, xs []float64, d Dist) {
	t.Helper()
	if len(xs) < 100 {
		t.Fatalf("%s: only %d samples", what, len(xs))
	}
	med, sig := robust(xs)
	tol := math.Max(0.12, 4*1.2533*d.Sigma/math.Sqrt(float64(len(xs))))
	if r := med / d.Median; math.Abs(math.Log(r)) > tol {
		t.Errorf("%s: median %.4g, profile %.4g (ratio %.3f, tolerance %.0f%%)", what, med, d.Median, r, 100*tol)
	}
	if d.Sigma >= 0.1 {
		if r := sig / d.Sigma; r < 0.65 || r > 1.35 {
			t.Errorf("%s: ln-sigma %.3f, profile %.3f", what, sig, d.Sigma)
		}
	}
}

// checkRate fails when k of n is not within 4.5 binomial standard deviations
// of rate p.
func checkRate(t *testing.T, what string, k, n int, p float64) {
	t.Helper()
	mean := p * float64(n)
	sd := math.Sqrt(float64(n) * p * (1 - p))
	if math.Abs(float64(k)-mean) > 4.5*sd+0.5 {
		t.Errorf("%s: %d of %d (%.2f%%), profile rate %.2f%%", what, k, n, 100*float64(k)/float64(n), 100*p)
	}
}

// bigModel draws profile p on the Condor lattice (1121 qubits, 1320
// couplers), enough samples for the statistics.
func bigModel(t *testing.T, p *Profile, seed int64) *hal.Model {
	t.Helper()
	tp, err := topologyFromSites("stats-"+p.Name, "test", p, ibmLattice(21, 43, true, false))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Noise(tp, *p, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNoiseStatistics(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.Name, func(t *testing.T) {
			m := bigModel(t, p, 11)
			var e2, eo, ro, e1, t1, ratio, t2, share, rolen, d1, d2, freq, anh []float64
			bad, dead := 0, 0
			for _, q := range m.Cal.Qubits {
				if q.Broken == hal.ReasonDeadQubit {
					dead++
					continue
				}
				if q.ReadoutError >= hal.BrokenThreshold {
					bad++
					if p.P01Share.Known() && (q.P10 != 1 || q.P01 < 0 || q.P01 > 0.13) {
						t.Fatalf("bad-readout qubit P01 %v P10 %v, want a qubit stuck at 1", q.P01, q.P10)
					}
					continue
				}
				ro = append(ro, q.ReadoutError)
				add := func(xs *[]float64, x float64, d Dist, name string) {
					if hal.Known(x) != d.Known() {
						t.Fatalf("%s known=%v, profile gives it: %v", name, hal.Known(x), d.Known())
					}
					if hal.Known(x) {
						*xs = append(*xs, x)
					}
				}
				add(&e1, q.Error1Q, p.Error1Q, "Error1Q")
				add(&d1, q.Duration1Q, p.Duration1Q, "Duration1Q")
				add(&t1, q.T1, p.T1, "T1")
				add(&rolen, q.ReadoutLength, p.ReadoutLength, "ReadoutLength")
				add(&freq, q.Frequency, p.Frequency, "Frequency")
				add(&anh, q.Anharmonicity, p.Anharmonicity, "Anharmonicity")
				if hal.Known(q.T2) {
					if q.T2 > 2*q.T1*(1+1e-12) {
						t.Fatalf("T2 %v > 2*T1 %v", q.T2, q.T1)
					}
					t2 = append(t2, q.T2)
					ratio = append(ratio, q.T2/q.T1)
				} else if p.T2.Known() || p.T2Ratio.Known() {
					t.Fatalf("T2 unknown although the profile gives it")
				}
				if hal.Known(q.P01) != p.P01Share.Known() {
					t.Fatalf("P01 known=%v, profile share known=%v", hal.Known(q.P01), p.P01Share.Known())
				}
				if hal.Known(q.P01) {
					if math.Abs((q.P01+q.P10)/2-q.ReadoutError) > 1e-12 {
						t.Fatalf("readout %v is not (P01 %v + P10 %v) / 2", q.ReadoutError, q.P01, q.P10)
					}
					share = append(share, q.P01/(q.P01+q.P10))
				}
			}
			broken, missing, primaryOnly, otherOnly := 0, 0, 0, 0
			for _, cc := range m.Cal.Couplers {
				var prim, oth []hal.GateCal
				for _, g := range cc.Gates {
					if g.Gate == p.Native2Q {
						prim = append(prim, g)
					} else if g.Gate == p.Other2Q {
						oth = append(oth, g)
					} else {
						t.Fatalf("coupler gate %q is neither %q nor %q", g.Gate, p.Native2Q, p.Other2Q)
					}
				}
				switch {
				case len(prim) == 0 && len(oth) == 0:
					missing++
					continue
				case len(oth) == 0 && p.Other2Q != "":
					primaryOnly++
				case len(prim) == 0:
					otherOnly++
				}
				isBroken := false
				for _, g := range cc.Gates {
					isBroken = isBroken || g.Error == 1
				}
				if isBroken {
					broken++
					for _, g := range cc.Gates {
						if g.Error != 1 {
							t.Fatalf("broken coupler has a gate with error %v, want 1 on all", g.Error)
						}
					}
					if cc.OwnReason != hal.ReasonErrorTooHigh {
						t.Fatalf("broken coupler own reason %q", cc.OwnReason)
					}
					continue
				}
				if len(prim) > 0 {
					e2 = append(e2, prim[0].Error)
					if hal.Known(prim[0].Duration) != p.Duration2Q.Known() {
						t.Fatalf("2q duration known=%v, profile %v", hal.Known(prim[0].Duration), p.Duration2Q.Known())
					}
					if hal.Known(prim[0].Duration) {
						d2 = append(d2, math.Min(prim[0].Duration, prim[len(prim)-1].Duration))
					}
					wantDirs := map[Directions]int{OneWay: 1, BothWays: 2, Symmetric: 1}[p.Directions]
					if len(prim) != wantDirs {
						t.Fatalf("%d entries of %s per coupler, want %d", len(prim), p.Native2Q, wantDirs)
					}
				}
				if len(oth) > 0 {
					eo = append(eo, oth[0].Error)
				}
			}
			nq, nc := len(m.Cal.Qubits), len(m.Cal.Couplers)
			checkMedian(t, "2q error", e2, p.Error2Q)
			checkMedian(t, "readout error", ro, p.Readout)
			if p.Other2Q != "" {
				checkMedian(t, p.Other2Q+" error", eo, p.Other2QError)
			}
			for _, x := range []struct {
				name string
				xs   []float64
				d    Dist
			}{{"1q error", e1, p.Error1Q}, {"1q duration", d1, p.Duration1Q}, {"2q duration", d2, p.Duration2Q},
				{"T1", t1, p.T1}, {"T2/T1", ratio, p.T2Ratio}, {"T2", t2, p.T2}, {"P01 share", share, p.P01Share},
				{"readout length", rolen, p.ReadoutLength}, {"frequency", freq, p.Frequency}, {"anharmonicity", anh, p.Anharmonicity}} {
				if x.d.Known() {
					checkMedian(t, x.name, x.xs, x.d)
				}
			}
			checkRate(t, "broken couplers", broken, nc-missing, p.BrokenCouplers)
			checkRate(t, "bad-readout qubits", bad, nq-dead, p.BadReadout)
			checkRate(t, "dead qubits", dead, nq, p.DeadQubits)
			checkRate(t, "couplers without 2q figure", missing, nc, p.MissingCouplers)
			checkRate(t, "primary-only couplers", primaryOnly, nc, p.PrimaryOnly)
			checkRate(t, "other-only couplers", otherOnly, nc, p.OtherOnly)
		})
	}
}

// The direction of readout asymmetry follows each family's snapshot: P01 >
// P10 on Falcon, Hummingbird and Willow; the reverse on Sherbrooke (Eagle r3).
func TestReadoutAsymmetry(t *testing.T) {
	for _, c := range []struct {
		p         *Profile
		p01Larger bool
	}{{&falcon, true}, {&hummingbird, true}, {&willow, true}, {&eagleR3, false}} {
		m := bigModel(t, c.p, 5)
		larger := 0
		for _, q := range m.Cal.Qubits {
			if q.ReadoutError < hal.BrokenThreshold && q.P01 > q.P10 {
				larger++
			}
		}
		if got := larger > m.N()/2; got != c.p01Larger {
			t.Errorf("%s: P01 > P10 on %d of %d qubits", c.p.Name, larger, m.N())
		}
	}
}

func TestNoiseDeterministic(t *testing.T) {
	for _, p := range profiles {
		tp, err := topologyFromSites("det-"+p.Name, "test", p, ibmLattice(7, 15, true, false))
		if err != nil {
			t.Fatal(err)
		}
		draw := func(seed int64) *hal.Model {
			m, err := Noise(tp, *p, seed)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		a, b, c := draw(42), draw(42), draw(43)
		if a.Cal.Epoch != b.Cal.Epoch || !sameFigures(a.Cal, b.Cal) {
			t.Errorf("%s: same seed, different models (epochs %x %x)", p.Name, a.Cal.Epoch, b.Cal.Epoch)
		}
		if a.Cal.Epoch == c.Cal.Epoch || sameFigures(a.Cal, c.Cal) {
			t.Errorf("%s: seeds 42 and 43 give the same model", p.Name)
		}
	}
}

// sameFigures compares two calibrations bit for bit (NaN equals NaN).
func sameFigures(a, b *hal.Calibration) bool {
	eq := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	if len(a.Qubits) != len(b.Qubits) || len(a.Couplers) != len(b.Couplers) || !a.Time.Equal(b.Time) {
		return false
	}
	for i, q := range a.Qubits {
		r := b.Qubits[i]
		if !eq(q.T1, r.T1) || !eq(q.T2, r.T2) || !eq(q.Frequency, r.Frequency) || !eq(q.Anharmonicity, r.Anharmonicity) ||
			!eq(q.Error1Q, r.Error1Q) || !eq(q.Duration1Q, r.Duration1Q) || !eq(q.ReadoutError, r.ReadoutError) ||
			!eq(q.P01, r.P01) || !eq(q.P10, r.P10) || !eq(q.ReadoutLength, r.ReadoutLength) || q.Broken != r.Broken {
			return false
		}
	}
	for i, c := range a.Couplers {
		d := b.Couplers[i]
		if len(c.Gates) != len(d.Gates) || c.Broken != d.Broken {
			return false
		}
		for j, g := range c.Gates {
			h := d.Gates[j]
			if g.Gate != h.Gate || g.Dir != h.Dir || !eq(g.Error, h.Error) || !eq(g.Duration, h.Duration) {
				return false
			}
		}
	}
	return true
}

func TestNoiseRejects(t *testing.T) {
	tp, err := topologyFromSites("t", "test", &eagleR3, ibmLattice(2, 7, true, false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Noise(nil, eagleR3, 1); err == nil {
		t.Error("nil topology: no error")
	}
	if _, err := Noise(tp, falcon, 1); err == nil || !strings.Contains(err.Error(), `"ecr"`) {
		t.Errorf("gate mismatch: %v", err)
	}
	bad := []func(p *Profile){
		func(p *Profile) { p.Native2Q = "" },
		func(p *Profile) { p.Error2Q = Dist{} },
		func(p *Profile) { p.Readout.Sigma = -1 },
		func(p *Profile) { p.T1.Min, p.T1.Max = 10, 5 },
		func(p *Profile) { p.Error1Q.Median = math.NaN() },
		func(p *Profile) { p.BrokenCouplers = 1.5 },
		func(p *Profile) { p.BadReadout = math.NaN() },
		func(p *Profile) { p.Directions = 7 },
		func(p *Profile) { p.P01Share.Max = 1.2 },
		func(p *Profile) { p.Other2QError = Dist{Median: 0.01} },
		func(p *Profile) { p.PrimaryOnly = 0.1 },
		func(p *Profile) { p.ReverseExtra = -1 },
		func(p *Profile) { p.Error2Q.Tail = 2 },
	}
	for i, f := range bad {
		p := eagleR3
		f(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("bad profile %d: Validate passed", i)
		}
		if _, err := Noise(tp, p, 1); err == nil {
			t.Errorf("bad profile %d: Noise passed", i)
		}
	}
}

func TestProfiles(t *testing.T) {
	names := map[string]bool{}
	for _, p := range Profiles() {
		if err := p.Validate(); err != nil {
			t.Error(err)
		}
		if p.Source == "" || names[p.Name] {
			t.Errorf("profile %q: empty source or duplicate name", p.Name)
		}
		names[p.Name] = true
		q, err := LookupProfile(p.Name)
		if err != nil || q.Name != p.Name {
			t.Errorf("LookupProfile(%q) = %q, %v", p.Name, q.Name, err)
		}
	}
	if _, err := LookupProfile("osprey"); err == nil || !strings.Contains(err.Error(), "eagle-r3") {
		t.Errorf("unknown profile: %v", err)
	}
	// Profiles returns copies.
	ps := Profiles()
	ps[0].Error2Q.Median = 0.9
	if p, _ := LookupProfile(ps[0].Name); p.Error2Q.Median == 0.9 {
		t.Error("changing a returned profile changed the built-in one")
	}
}

// A few broken elements on every IBM-like device, at IBM's rates.
func TestBrokenElementsIBM(t *testing.T) {
	totalC, totalQ, brokenC, badQ := 0, 0, 0, 0
	for seed := int64(1); seed <= 20; seed++ {
		m, err := HeavyHex(127, seed)
		if err != nil {
			t.Fatal(err)
		}
		s := m.Summarize()
		brokenC += s.BrokenCouplers
		badQ += s.BrokenQubits
		totalC += s.Couplers
		totalQ += s.Qubits
		if s.BrokenCouplers == 0 || s.BrokenCouplers > 20 {
			t.Errorf("heavyhex-127@%d: %d broken couplers of 144", seed, s.BrokenCouplers)
		}
		for ci, cc := range m.Cal.Couplers {
			e := m.Couplers[ci]
			if !cc.Usable && cc.Reason == hal.ReasonEndpointDown && (m.QubitUsable(e.A) && m.QubitUsable(e.B)) {
				t.Fatalf("coupler %v unusable for an endpoint although both are usable", e)
			}
		}
	}
	checkRate(t, "Eagle broken couplers over 20 seeds", brokenC, totalC, eagleR3.BrokenCouplers)
	checkRate(t, "Eagle bad-readout qubits over 20 seeds", badQ, totalQ, eagleR3.BadReadout)
	if badQ == 0 {
		t.Error("no bad-readout qubit in 20 Eagles")
	}
}
