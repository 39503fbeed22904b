package synth

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eigen-os/rm/hal"
)

// Dist is the distribution of one figure across the qubits or couplers of a
// device: log-normal around Median with Sigma the standard deviation of ln x,
// clamped to [Min, Max] (a zero bound is no bound).
//
// Real calibrations have heavy tails that a log-normal fitted to their bulk
// misses (an Eagle's worst coupler is 10-15 times its median, a 5-sigma event
// at its fitted spread). With probability Tail a draw comes from the tail
// instead: |z| is tripled and pushed to the bad side, upward for errors and
// durations, downward for coherence times (TailDown).
//
// A zero Median means the vendor does not publish the figure: it is drawn as
// NaN (unknown), as in the real files.
type Dist struct {
	Median   float64
	Sigma    float64
	Min, Max float64
	Tail     float64
	TailDown bool
}

// Known reports whether the figure is given at all.
func (d Dist) Known() bool { return d.Median != 0 }

// draw returns one value. It consumes the same random numbers for every call
// of the same Dist, so a sequence of draws is reproducible from the seed.
func (d Dist) draw(r *rand.Rand) float64 {
	if !d.Known() {
		return hal.NaN
	}
	z := r.NormFloat64()
	if d.Tail > 0 && r.Float64() < d.Tail {
		z = 3 * math.Abs(z)
		if d.TailDown {
			z = -z
		}
	}
	x := d.Median * math.Exp(d.Sigma*z)
	if d.Min != 0 && x < d.Min {
		x = d.Min
	}
	if d.Max != 0 && x > d.Max {
		x = d.Max
	}
	return x
}

func (d Dist) validate(field string) error {
	switch {
	case math.IsNaN(d.Median) || math.IsInf(d.Median, 0):
		return fmt.Errorf("%s: median %v is not a number", field, d.Median)
	case d.Sigma < 0 || math.IsNaN(d.Sigma) || math.IsInf(d.Sigma, 0):
		return fmt.Errorf("%s: sigma %v must be a finite number >= 0", field, d.Sigma)
	case d.Tail < 0 || d.Tail > 1 || math.IsNaN(d.Tail):
		return fmt.Errorf("%s: tail probability %v is outside [0, 1]", field, d.Tail)
	case d.Min != 0 && d.Max != 0 && d.Min > d.Max:
		return fmt.Errorf("%s: min %v is above max %v", field, d.Min, d.Max)
	}
	return nil
}

// Directions says how a profile lists its 2-qubit gate on a coupler.
type Directions int

const (
	// OneWay lists one direction per coupler, chosen at random, as IBM's
	// ECR chips (Eagle r3) do.
	OneWay Directions = iota
	// BothWays lists both directions with the same error, as IBM's CX chips
	// (Falcon, Hummingbird, Eagle r1) and Heron's CZ do. The reverse
	// direction of a CX is longer by ReverseExtra.
	BothWays
	// Symmetric lists one symmetric entry, as Google, Rigetti and the
	// trapped-ion vendors do.
	Symmetric
)

// Profile is the noise of one processor family: the distribution of every
// figure and the rates of broken elements. Each profile says where its numbers
// come from (Source); the medians and spreads were computed from the shared
// corpus of real calibration snapshots (../shared/devices) with robust
// statistics (median, and sigma = 1.4826 * median absolute deviation of ln x),
// and a test checks them against those files when the corpus is present.
type Profile struct {
	Name       string // short identifier: "falcon", "eagle-r3", ...
	Source     string // where the figures come from
	Native2Q   string // primary native 2-qubit gate
	Other2Q    string // a second native 2-qubit gate, or ""
	Directions Directions
	// ReverseExtra is added to the duration of the reverse direction of a
	// BothWays gate (ns): IBM's reverse CX is the forward one wrapped in
	// single-qubit gates and is longer by exactly one sx pulse in every CX
	// file of the corpus (35.56 ns).
	ReverseExtra float64

	Error2Q      Dist // primary 2-qubit gate error
	Duration2Q   Dist // ns
	Other2QError Dist // error of Other2Q (same duration as the primary)

	Error1Q    Dist
	Duration1Q Dist // ns
	Readout    Dist // mean assignment error (P01 + P10) / 2
	// P01Share is P01 / (P01 + P10): above 0.5 when a prepared 1 is more
	// often read as 0 (T1 decay during readout). Unknown: P01 and P10 NaN.
	P01Share      Dist
	ReadoutLength Dist // ns
	T1            Dist // us
	// T2Ratio draws T2 as T1 * ratio, T2 directly when it is unknown. T2
	// is capped at 2 * T1 either way (the physical limit).
	T2Ratio       Dist
	T2            Dist // us
	Frequency     Dist // GHz
	Anharmonicity Dist // GHz (negative for transmons)

	// Rates of broken elements, each a probability per element.
	BrokenCouplers float64 // 2-qubit error set to 1.0 on all directions (IBM's marking)
	BadReadout     float64 // readout error >= 0.5 (a qubit stuck at 1, as Sherbrooke's qubit 84)
	DeadQubits     float64 // listed dead with no figures (Rigetti's dead nodes)
	// Rates of couplers whose calibration lacks a gate (Rigetti): neither
	// gate, only the primary, only Other2Q.
	MissingCouplers, PrimaryOnly, OtherOnly float64
}

// Validate checks that the profile can draw a calibration.
func (p Profile) Validate() error {
	if p.Native2Q == "" {
		return fmt.Errorf("profile %q: no native 2-qubit gate", p.Name)
	}
	if p.Directions < OneWay || p.Directions > Symmetric {
		return fmt.Errorf("profile %q: unknown directions value %d", p.Name, p.Directions)
	}
	if !p.Error2Q.Known() {
		return fmt.Errorf("profile %q: Error2Q must be given", p.Name)
	}
	if p.ReverseExtra < 0 || math.IsNaN(p.ReverseExtra) {
		return fmt.Errorf("profile %q: ReverseExtra %v must be >= 0", p.Name, p.ReverseExtra)
	}
	dists := []struct {
		name string
		d    Dist
	}{{"Error2Q", p.Error2Q}, {"Duration2Q", p.Duration2Q}, {"Other2QError", p.Other2QError},
		{"Error1Q", p.Error1Q}, {"Duration1Q", p.Duration1Q}, {"Readout", p.Readout}, {"P01Share", p.P01Share},
		{"ReadoutLength", p.ReadoutLength}, {"T1", p.T1}, {"T2Ratio", p.T2Ratio}, {"T2", p.T2},
		{"Frequency", p.Frequency}, {"Anharmonicity", p.Anharmonicity}}
	for _, x := range dists {
		if err := x.d.validate(x.name); err != nil {
			return fmt.Errorf("profile %q: %w", p.Name, err)
		}
	}
	if p.P01Share.Known() && (p.P01Share.Max == 0 || p.P01Share.Max >= 1 || p.P01Share.Min <= 0) {
		return fmt.Errorf("profile %q: P01Share needs bounds inside (0, 1), got [%v, %v]", p.Name, p.P01Share.Min, p.P01Share.Max)
	}
	if p.Other2Q == "" && p.Other2QError.Known() {
		return fmt.Errorf("profile %q: Other2QError given without Other2Q", p.Name)
	}
	if p.Other2Q != "" && !p.Other2QError.Known() {
		return fmt.Errorf("profile %q: Other2Q %q has no Other2QError", p.Name, p.Other2Q)
	}
	rates := []struct {
		name string
		v    float64
	}{{"BrokenCouplers", p.BrokenCouplers}, {"BadReadout", p.BadReadout}, {"DeadQubits", p.DeadQubits},
		{"MissingCouplers", p.MissingCouplers}, {"PrimaryOnly", p.PrimaryOnly}, {"OtherOnly", p.OtherOnly}}
	for _, x := range rates {
		if !(x.v >= 0 && x.v <= 1) {
			return fmt.Errorf("profile %q: %s rate %v is outside [0, 1]", p.Name, x.name, x.v)
		}
	}
	if p.MissingCouplers+p.PrimaryOnly+p.OtherOnly > 1 {
		return fmt.Errorf("profile %q: MissingCouplers + PrimaryOnly + OtherOnly exceed 1", p.Name)
	}
	if (p.PrimaryOnly > 0 || p.OtherOnly > 0) && p.Other2Q == "" {
		return fmt.Errorf("profile %q: PrimaryOnly/OtherOnly need an Other2Q gate", p.Name)
	}
	return nil
}

// Bounds shared by the superconducting profiles: errors stay below the broken
// threshold unless a broken element is drawn on purpose, and never reach 0.
const (
	minErr = 1e-5
	maxErr = 0.3
)

// The sx pulse of Falcon, Hummingbird and Eagle r1 (ns), which is also the
// extra length of a reverse CX in every CX file of the corpus.
const sxFalcon = 35.555555555555557

// falcon: IBM Falcon r5 (27 qubits), from ibmq_kolkata (r5.11, 2021-12-09) and
// ibmq_mumbai (r5.1, 2021-03-13). CX in both directions.
var falcon = Profile{
	Name:         "falcon",
	Source:       "ibmq_kolkata + ibmq_mumbai (Falcon r5, 27 qubits)",
	Native2Q:     "cx",
	Directions:   BothWays,
	ReverseExtra: sxFalcon,
	// cx error medians 0.0075 (kolkata) and 0.0065 (mumbai); ln-sigma 0.45 and 0.37;
	// 7-11% of couplers beyond +2.5 sigma; worst 5-8x the median.
	Error2Q: Dist{Median: 0.0070, Sigma: 0.41, Min: minErr, Max: maxErr, Tail: 0.06},
	// cx length medians 380 ns (kolkata) and 402 ns (mumbai), ln-sigma 0.34 and 0.24.
	Duration2Q: Dist{Median: 390, Sigma: 0.29, Min: 190, Max: 1400},
	// sx error medians 0.00020 and 0.00024, ln-sigma 0.27 and 0.20.
	Error1Q:    Dist{Median: 0.00022, Sigma: 0.24, Min: minErr, Max: 0.02, Tail: 0.05},
	Duration1Q: Dist{Median: sxFalcon},
	// readout medians 0.0096 (kolkata) and 0.0216 (mumbai): the geometric mean;
	// ln-sigma 0.47 and 0.46. P01 share 0.57 and 0.59.
	Readout:       Dist{Median: 0.0144, Sigma: 0.46, Min: 0.002, Max: 0.2, Tail: 0.05},
	P01Share:      Dist{Median: 0.58, Sigma: 0.16, Min: 0.2, Max: 0.95},
	ReadoutLength: Dist{Median: 675.56}, // kolkata (mumbai: 3552)
	// T1 medians 111 and 112 us, ln-sigma 0.16 and 0.21, a few low outliers.
	T1: Dist{Median: 111, Sigma: 0.18, Min: 10, Max: 400, Tail: 0.05, TailDown: true},
	// T2/T1 medians 0.73 and 1.23, ln-sigma 0.64 and 0.46.
	T2Ratio:       Dist{Median: 0.95, Sigma: 0.55, Min: 0.05},
	Frequency:     Dist{Median: 5.0, Sigma: 0.027, Min: 4.5, Max: 5.5},        // 5.10 and 4.89 GHz
	Anharmonicity: Dist{Median: -0.337, Sigma: 0.008, Min: -0.40, Max: -0.30}, // -0.343 and -0.331 GHz
	// No broken coupler in either file (0 of 56); 2% keeps Falcons mostly clean,
	// at the low end of IBM's rate (washington 2.1%).
	BrokenCouplers: 0.02,
	BadReadout:     0.005,
}

// hummingbird: IBM Hummingbird r2 (65 qubits), from ibmq_manhattan (2021-03-15).
var hummingbird = Profile{
	Name:         "hummingbird",
	Source:       "ibmq_manhattan (Hummingbird r2, 65 qubits)",
	Native2Q:     "cx",
	Directions:   BothWays,
	ReverseExtra: sxFalcon,
	// cx error median 0.0136 over the 50 working couplers, ln-sigma 0.27.
	Error2Q:    Dist{Median: 0.0136, Sigma: 0.27, Min: minErr, Max: maxErr, Tail: 0.06},
	Duration2Q: Dist{Median: 373, Sigma: 0.22, Min: 220, Max: 750}, // cx length median 373 ns
	Error1Q:    Dist{Median: 0.00042, Sigma: 0.34, Min: minErr, Max: 0.02, Tail: 0.09},
	Duration1Q: Dist{Median: sxFalcon},
	// readout median 0.0236, ln-sigma 0.78 (worst 17x); P01 share 0.73.
	Readout:       Dist{Median: 0.0236, Sigma: 0.78, Min: 0.003, Max: 0.45, Tail: 0.05},
	P01Share:      Dist{Median: 0.73, Sigma: 0.18, Min: 0.15, Max: 0.95},
	ReadoutLength: Dist{Median: 5351.1},
	// T1 median 62 us, ln-sigma 0.22; T2/T1 median 1.39, ln-sigma 0.25.
	T1:            Dist{Median: 62, Sigma: 0.22, Min: 10, Max: 200, Tail: 0.09, TailDown: true},
	T2Ratio:       Dist{Median: 1.39, Sigma: 0.25, Min: 0.1},
	Frequency:     Dist{Median: 4.80, Sigma: 0.028, Min: 4.4, Max: 5.2},
	Anharmonicity: Dist{Median: -0.332, Sigma: 0.006, Min: -0.36, Max: -0.31},
	// Manhattan lists 22 of its 72 couplers broken (30%), a chip near its
	// retirement; 6% is the rate of the Eagles and Heron of the corpus.
	BrokenCouplers: 0.06,
	BadReadout:     0.008,
}

// eagleR3: IBM Eagle r3 (127 qubits), from ibm_sherbrooke (2025-02-26). ECR,
// one direction per coupler. Also the noise of the larger ECR-era chips
// (Osprey, Condor) and of generic heavy-hex sizes: no snapshot of those is in
// the corpus.
var eagleR3 = Profile{
	Name:       "eagle-r3",
	Source:     "ibm_sherbrooke (Eagle r3, 127 qubits)",
	Native2Q:   "ecr",
	Directions: OneWay,
	// ecr error median 0.0075 over working couplers, ln-sigma 0.40; worst 16x.
	// (Eagle r1 washington, cx: 0.0112.)
	Error2Q:    Dist{Median: 0.0075, Sigma: 0.40, Min: minErr, Max: maxErr, Tail: 0.05},
	Duration2Q: Dist{Median: 533.33}, // every ecr but a few is 533.33 ns
	// sx error median 0.00024, ln-sigma 0.61, worst 56x.
	Error1Q:    Dist{Median: 0.00024, Sigma: 0.61, Min: minErr, Max: 0.03, Tail: 0.05},
	Duration1Q: Dist{Median: 56.889},
	// readout median 0.0198, ln-sigma 0.93 (robust), worst 17x. Sherbrooke's
	// P01 share is 0.40: unlike the older chips, a prepared 0 is read as 1 more
	// often than the reverse (washington, Eagle r1: 0.58).
	Readout:       Dist{Median: 0.0198, Sigma: 0.93, Min: 0.002, Max: 0.45, Tail: 0.03},
	P01Share:      Dist{Median: 0.40, Sigma: 0.43, Min: 0.05, Max: 0.95},
	ReadoutLength: Dist{Median: 1216},
	// T1 median 278 us, ln-sigma 0.29; T2/T1 median 0.65, ln-sigma 0.9.
	T1:            Dist{Median: 278, Sigma: 0.29, Min: 20, Max: 700, Tail: 0.03, TailDown: true},
	T2Ratio:       Dist{Median: 0.65, Sigma: 0.9, Min: 0.01},
	Frequency:     Dist{Median: 4.794, Sigma: 0.019, Min: 4.4, Max: 5.1},
	Anharmonicity: Dist{Median: -0.311, Sigma: 0.006, Min: -0.33, Max: -0.27},
	// 9 of 144 couplers broken (6.25%; washington 3 of 142, 2.1%): 5%.
	// 1 of 127 qubits reads stuck at 1 (0.8%).
	BrokenCouplers: 0.05,
	BadReadout:     0.008,
}

// heronR1: IBM Heron r1 (133 qubits), from ibm_torino (2025-02-26). CZ, listed
// in both directions with equal errors and durations. Heron publishes no
// qubit frequency or anharmonicity: they are unknown here too.
var heronR1 = Profile{
	Name:       "heron-r1",
	Source:     "ibm_torino (Heron r1, 133 qubits)",
	Native2Q:   "cz",
	Directions: BothWays,
	// cz error median 0.0041 over working couplers, ln-sigma 0.41; worst 17x.
	Error2Q:    Dist{Median: 0.0041, Sigma: 0.41, Min: minErr, Max: maxErr, Tail: 0.08},
	Duration2Q: Dist{Median: 68},
	Error1Q:    Dist{Median: 0.00027, Sigma: 0.51, Min: minErr, Max: 0.03, Tail: 0.07},
	Duration1Q: Dist{Median: 32},
	// readout median 0.0229, ln-sigma 1.04; P01 share 0.49.
	Readout:       Dist{Median: 0.0229, Sigma: 1.04, Min: 0.003, Max: 0.45},
	P01Share:      Dist{Median: 0.49, Sigma: 0.40, Min: 0.05, Max: 0.95},
	ReadoutLength: Dist{Median: 1560},
	// T1 median 185 us, ln-sigma 0.35, 12% low outliers; T2/T1 0.87, ln-sigma 0.48.
	T1:      Dist{Median: 185, Sigma: 0.35, Min: 3, Max: 500, Tail: 0.08, TailDown: true},
	T2Ratio: Dist{Median: 0.87, Sigma: 0.48, Min: 0.05},
	// 11 of 150 couplers broken (7.3%): 6%. 1 of 133 qubits unreadable.
	BrokenCouplers: 0.06,
	BadReadout:     0.008,
}

// willow: Google Willow, "d7" CZ configuration (105 qubits), from
// willow_pink_d7v1 (2024-08-16). Google gives T1 but no T2 and no qubit
// frequencies; its device specs leave unusable qubits and couplers out
// instead of listing them broken, so a grid has no broken elements.
var willow = Profile{
	Name:       "willow",
	Source:     "willow_pink_d7v1 (Google Willow, 105 qubits)",
	Native2Q:   "cz",
	Directions: Symmetric,
	// parallel CZ XEB Pauli error per cycle: median 0.0034, ln-sigma 0.52
	// (Sycamore-class rainbow/weber syc: 0.0088/0.0187).
	Error2Q:    Dist{Median: 0.0034, Sigma: 0.52, Min: 1e-4, Max: 0.1, Tail: 0.03},
	Duration2Q: Dist{Median: 42}, // spec: cz 42 ns
	// single-qubit RB Pauli error: median 0.00040, ln-sigma 0.51.
	Error1Q:    Dist{Median: 0.00040, Sigma: 0.51, Min: minErr, Max: 0.01, Tail: 0.03},
	Duration1Q: Dist{Median: 25}, // spec: phased_xz 25 ns
	// readout (p00 + p11) / 2: median 0.0073, ln-sigma 0.21; the p11 (P01)
	// share is 0.74.
	Readout:       Dist{Median: 0.0073, Sigma: 0.21, Min: 0.002, Max: 0.05},
	P01Share:      Dist{Median: 0.745, Sigma: 0.11, Min: 0.4, Max: 0.95},
	ReadoutLength: Dist{Median: 600}, // spec: meas 600 ns
	// idle T1: median 70 us, ln-sigma 0.12, a few low.
	T1: Dist{Median: 70.2, Sigma: 0.12, Min: 20, Max: 150, Tail: 0.03, TailDown: true},
}

// aspen: Rigetti Aspen-8 (32 qubits), from its QCS instruction-set
// architecture. CZ and XY, symmetric. The ISA gives fidelities only: no T1,
// T2, durations, frequencies or P01/P10, so those are unknown here too.
var aspen = Profile{
	Name:       "aspen",
	Source:     "qcs-isa-Aspen-8 (Rigetti Aspen-8, 32 qubits)",
	Native2Q:   "cz",
	Other2Q:    "xy",
	Directions: Symmetric,
	// 1 - fCZ: median 0.049, ln-sigma 1.09 (0.009 .. 0.32).
	Error2Q: Dist{Median: 0.049, Sigma: 1.0, Min: 0.005, Max: 0.4},
	// 1 - fXY: median 0.041, ln-sigma 0.72.
	Other2QError: Dist{Median: 0.041, Sigma: 0.72, Min: 0.005, Max: 0.4},
	// 1 - fRB: median 0.0018, ln-sigma 0.87.
	Error1Q: Dist{Median: 0.0018, Sigma: 0.87, Min: 1e-4, Max: 0.1},
	// 1 - fRO: median 0.049, ln-sigma 0.46.
	Readout: Dist{Median: 0.049, Sigma: 0.46, Min: 0.01, Max: 0.3, Tail: 0.05},
	// 2 dead qubits of 32; of 38 couplers 4 have no 2-qubit figure, 4 only
	// CZ, 2 only XY.
	DeadQubits:      0.05,
	MissingCouplers: 0.10,
	PrimaryOnly:     0.10,
	OtherOnly:       0.05,
}

// yb171 is the hyperfine qubit frequency of 171Yb+ (GHz), the ion IonQ uses.
const yb171 = 12.642812118

// ion: a trapped-ion processor (IonQ Aria class). No snapshot is in the
// corpus: the figures are IonQ Aria's published system figures (Azure Quantum
// provider page: T1 10-100 s, T2 1 s, 1q gate 135 us, 2q gate 600 us,
// fidelities 1q 99.95%, 2q 99.6%, SPAM 99.61%), with the 2-qubit error
// centred on 1% so that the bulk spans the 0.5-2% typical of ion devices.
// Mølmer-Sørensen gate, symmetric. Readout asymmetry and length are not
// published: unknown.
var ion = Profile{
	Name:       "ion",
	Source:     "IonQ Aria published system figures (no snapshot in the corpus)",
	Native2Q:   "ms",
	Directions: Symmetric,
	Error2Q:    Dist{Median: 0.010, Sigma: 0.35, Min: 0.002, Max: 0.05},
	Duration2Q: Dist{Median: 600e3, Sigma: 0.05}, // 600 us
	Error1Q:    Dist{Median: 0.0005, Sigma: 0.3, Min: 5e-5, Max: 0.005},
	Duration1Q: Dist{Median: 135e3, Sigma: 0.05}, // 135 us
	Readout:    Dist{Median: 0.005, Sigma: 0.3, Min: 0.001, Max: 0.03},
	// T1 10-100 s as +-2 sigma around 31.6 s; T2 about 1 s.
	T1:        Dist{Median: 31.6e6, Sigma: 0.58, Min: 5e6, Max: 300e6},
	T2:        Dist{Median: 1e6, Sigma: 0.3, Min: 0.2e6, Max: 5e6},
	Frequency: Dist{Median: yb171},
}

var profiles = []*Profile{&falcon, &hummingbird, &eagleR3, &heronR1, &willow, &aspen, &ion}

// Profiles returns the built-in noise profiles (copies: changing them changes
// nothing here).
func Profiles() []Profile {
	out := make([]Profile, len(profiles))
	for i, p := range profiles {
		out[i] = *p
	}
	return out
}

// LookupProfile returns the built-in profile with that name.
func LookupProfile(name string) (Profile, error) {
	for _, p := range profiles {
		if p.Name == name {
			return *p, nil
		}
	}
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = p.Name
	}
	return Profile{}, fmt.Errorf("unknown noise profile %q (known: %v)", name, names)
}
