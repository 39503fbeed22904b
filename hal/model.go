// Package hal is the hardware abstraction layer: the device model (topology and
// calibration), the rules that decide which qubits and couplers are usable, and
// the Device interface through which the controller talks to a device.
//
// A Model is an immutable snapshot: a Topology (qubits, couplers, hop
// distances), which never changes for a device, and a Calibration (noise
// figures), which is replaced as a whole when the device is recalibrated. The
// calibration Epoch is a digest of every figure, so it changes whenever any
// figure changes and is equal for equal calibrations (also across restarts and
// across controllers).
//
// Figures that a calibration does not give are NaN (see Known). Times are in
// microseconds (T1, T2), durations in nanoseconds, frequencies in GHz, errors
// are probabilities in [0, 1].
package hal

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"time"
)

// NaN is the value of a figure that the calibration does not give.
var NaN = math.NaN()

// Known reports whether a figure was given (is not NaN).
func Known(x float64) bool { return !math.IsNaN(x) }

// BrokenThreshold: an error at or above it makes a qubit or coupler unusable.
const BrokenThreshold = 0.5

// Reasons an element is unusable. The empty string means usable.
const (
	ReasonNone          = ""
	ReasonErrorTooHigh  = "error >= 0.5"
	ReasonListedBroken  = "listed broken"
	ReasonMissingData   = "missing calibration"
	ReasonDeadQubit     = "dead qubit"
	ReasonEndpointDown  = "endpoint qubit unusable"
	ReasonInjectedFault = "injected fault"
)

// QubitInfo is the static part of a qubit: its index and the vendor's name.
type QubitInfo struct {
	Index int    `json:"index"`
	Name  string `json:"name"` // vendor's name: "0" (IBM), "4_2" (Google), "10" (Rigetti node id)
	// Row and Col place the qubit on a lattice when the vendor or the
	// generator does (Google's grid, synthetic lattices); -1 otherwise.
	Row int `json:"row"`
	Col int `json:"col"`
}

// Edge is an undirected coupler between qubits A < B.
type Edge struct {
	A int `json:"a"`
	B int `json:"b"`
}

// Topology is the static graph of a device. Build it with NewTopology; it is
// read-only afterwards and shared between calibration snapshots.
type Topology struct {
	Name     string      // device name, e.g. "ibm_sherbrooke"
	Vendor   string      // "ibm", "google", "rigetti", "synthetic"
	Family   string      // processor family, e.g. "Eagle r3", "heavy-hex"
	Native2Q string      // primary native 2-qubit gate: "cx", "ecr", "cz", "syc", ...
	Other2Q  []string    // further native 2-qubit gates (Google sqrt_iswap, Rigetti xy)
	Qubits   []QubitInfo // index i at position i
	Couplers []Edge      // undirected, sorted by (A, B), no duplicates

	adj    [][]int32 // neighbours of each qubit, ascending
	adjCpl [][]int32 // coupler index of each neighbour, parallel to adj
	dist   []uint16  // n*n hop distances over all couplers; Unreachable if none
}

// MaxQubits is the largest device a Topology holds (its hop-distance table
// grows with the square of the qubit count: 200 MB at this size).
const MaxQubits = 10000

// Unreachable is the hop distance between qubits in different components.
const Unreachable = math.MaxUint16

// NewTopology validates the graph and computes adjacency and hop distances.
// Couplers may be given in any order and direction; duplicates are merged.
func NewTopology(name, vendor, family, native2q string, qubits []QubitInfo, couplers []Edge) (*Topology, error) {
	n := len(qubits)
	if n == 0 {
		return nil, fmt.Errorf("device %q: no qubits", name)
	}
	if n > MaxQubits {
		return nil, fmt.Errorf("device %q: %d qubits is more than supported (%d)", name, n, MaxQubits)
	}
	for i, q := range qubits {
		if q.Index != i {
			return nil, fmt.Errorf("device %q: qubit at position %d has index %d", name, i, q.Index)
		}
	}
	seen := make(map[Edge]bool, len(couplers))
	edges := make([]Edge, 0, len(couplers))
	for _, e := range couplers {
		if e.A > e.B {
			e.A, e.B = e.B, e.A
		}
		if e.A < 0 || e.B >= n {
			return nil, fmt.Errorf("device %q: coupler (%d,%d) names a qubit outside 0..%d", name, e.A, e.B, n-1)
		}
		if e.A == e.B {
			return nil, fmt.Errorf("device %q: coupler (%d,%d) joins a qubit to itself", name, e.A, e.B)
		}
		if !seen[e] {
			seen[e] = true
			edges = append(edges, e)
		}
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].A != edges[j].A {
			return edges[i].A < edges[j].A
		}
		return edges[i].B < edges[j].B
	})
	t := &Topology{Name: name, Vendor: vendor, Family: family, Native2Q: native2q, Qubits: qubits, Couplers: edges}
	t.adj = make([][]int32, n)
	t.adjCpl = make([][]int32, n)
	for ci, e := range edges {
		t.adj[e.A] = append(t.adj[e.A], int32(e.B))
		t.adjCpl[e.A] = append(t.adjCpl[e.A], int32(ci))
		t.adj[e.B] = append(t.adj[e.B], int32(e.A))
		t.adjCpl[e.B] = append(t.adjCpl[e.B], int32(ci))
	}
	for q := range t.adj {
		sortPairs(t.adj[q], t.adjCpl[q])
	}
	t.computeDistances()
	return t, nil
}

func sortPairs(a, b []int32) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
			b[j], b[j-1] = b[j-1], b[j]
		}
	}
}

func (t *Topology) computeDistances() {
	n := len(t.Qubits)
	t.dist = make([]uint16, n*n)
	for i := range t.dist {
		t.dist[i] = Unreachable
	}
	queue := make([]int32, 0, n)
	for s := 0; s < n; s++ {
		row := t.dist[s*n : (s+1)*n]
		row[s] = 0
		queue = append(queue[:0], int32(s))
		for h := 0; h < len(queue); h++ {
			u := queue[h]
			du := row[u]
			for _, v := range t.adj[u] {
				if row[v] == Unreachable {
					row[v] = du + 1
					queue = append(queue, v)
				}
			}
		}
	}
}

// N is the number of qubits.
func (t *Topology) N() int { return len(t.Qubits) }

// Neighbors returns the neighbours of q in ascending order. Do not modify.
func (t *Topology) Neighbors(q int) []int32 { return t.adj[q] }

// NeighborCouplers returns the coupler index of each neighbour of q,
// parallel to Neighbors(q). Do not modify.
func (t *Topology) NeighborCouplers(q int) []int32 { return t.adjCpl[q] }

// Dist is the hop distance between a and b over all couplers (usable or not:
// crosstalk does not care whether a coupler is calibrated), or Unreachable.
func (t *Topology) Dist(a, b int) int { return int(t.dist[a*len(t.Qubits)+b]) }

// DistRow returns the hop distances from q to every qubit. Do not modify.
func (t *Topology) DistRow(q int) []uint16 {
	n := len(t.Qubits)
	return t.dist[q*n : (q+1)*n]
}

// CouplerIndex returns the index of the coupler between a and b, or -1.
func (t *Topology) CouplerIndex(a, b int) int {
	if a < 0 || b < 0 || a >= len(t.adj) || b >= len(t.adj) {
		return -1
	}
	for i, v := range t.adj[a] {
		if int(v) == b {
			return int(t.adjCpl[a][i])
		}
	}
	return -1
}

// QubitByName returns the index of the qubit with the vendor's name, or -1.
func (t *Topology) QubitByName(name string) int {
	for _, q := range t.Qubits {
		if q.Name == name {
			return q.Index
		}
	}
	return -1
}

// GateCal is the calibration of one 2-qubit gate on one coupler in one
// direction (Dir 0: A->B, 1: B->A, 2: symmetric, as Google and Rigetti give it).
type GateCal struct {
	Gate     string  `json:"gate"`
	Dir      uint8   `json:"dir"`
	Error    float64 `json:"error"`
	Duration float64 `json:"duration_ns"`
}

// Direction values of GateCal.Dir.
const (
	DirAB        = 0
	DirBA        = 1
	DirSymmetric = 2
)

// QubitCal holds the figures of one qubit.
type QubitCal struct {
	T1            float64 `json:"t1_us"`
	T2            float64 `json:"t2_us"`
	Frequency     float64 `json:"frequency_ghz"`
	Anharmonicity float64 `json:"anharmonicity_ghz"`
	Error1Q       float64 `json:"error_1q"`         // single-qubit gate error (IBM sx, Google RB Pauli, Rigetti 1-fRB)
	Duration1Q    float64 `json:"duration_1q_ns"`   // single-qubit gate duration
	ReadoutError  float64 `json:"readout_error"`    // mean assignment error
	P01           float64 `json:"prob_meas0_prep1"` // P(read 0 | prepared 1)
	P10           float64 `json:"prob_meas1_prep0"` // P(read 1 | prepared 0)
	ReadoutLength float64 `json:"readout_length_ns"`
	// Broken is set by the importer when the vendor lists the qubit as broken
	// or dead (a reason from the Reason* constants), or by fault injection.
	Broken string `json:"broken,omitempty"`

	// Usable and Reason are computed by Finalize.
	Usable bool   `json:"usable"`
	Reason string `json:"reason,omitempty"`
}

// CouplerCal holds the figures of one coupler.
type CouplerCal struct {
	Gates  []GateCal `json:"gates"`
	Broken string    `json:"broken,omitempty"` // set by importer or fault injection

	// Computed by Finalize. Error is the error used for ESP: the smallest
	// error of the primary native gate over both directions, or, when the
	// primary gate has no figure here, of another native gate.
	Error    float64 `json:"error"`
	Duration float64 `json:"duration_ns"` // duration of the gate that gives Error
	Gate     string  `json:"gate"`        // the gate that gives Error
	// Own reports whether the coupler is usable by its own figures;
	// Usable also requires both endpoints to be usable.
	OwnReason string `json:"own_reason,omitempty"`
	Usable    bool   `json:"usable"`
	Reason    string `json:"reason,omitempty"`
}

// Calibration is one snapshot of a device's noise figures, parallel to its
// Topology (Qubits[i] is qubit i, Couplers[c] is Topology.Couplers[c]).
type Calibration struct {
	Time     time.Time // when it was measured; zero when not recorded
	Qubits   []QubitCal
	Couplers []CouplerCal
	// Epoch is a digest of all the figures (set by Finalize).
	Epoch uint64
}

// Model is a device as the allocator sees it at one moment.
type Model struct {
	*Topology
	Cal *Calibration
}

// NewCalibration returns a calibration for t with every figure unknown.
func NewCalibration(t *Topology) *Calibration {
	c := &Calibration{Qubits: make([]QubitCal, t.N()), Couplers: make([]CouplerCal, len(t.Couplers))}
	for i := range c.Qubits {
		c.Qubits[i] = QubitCal{T1: NaN, T2: NaN, Frequency: NaN, Anharmonicity: NaN, Error1Q: NaN, Duration1Q: NaN,
			ReadoutError: NaN, P01: NaN, P10: NaN, ReadoutLength: NaN}
	}
	return c
}

// Finalize applies the usability rules to c and computes its Epoch, returning
// the Model. It must be called after the figures are filled in and again
// after any change (Clone first: a finalized Calibration is shared).
//
// Rules: a qubit is unusable when listed broken, when its readout error is
// missing or >= 0.5, or when its single-qubit error is >= 0.5. A coupler is
// unusable when listed broken, when no native 2-qubit gate has a figure on it,
// when that error is >= 0.5, or when either endpoint qubit is unusable.
func Finalize(t *Topology, c *Calibration) (*Model, error) {
	if len(c.Qubits) != t.N() || len(c.Couplers) != len(t.Couplers) {
		return nil, fmt.Errorf("device %q: calibration has %d qubits and %d couplers, topology %d and %d",
			t.Name, len(c.Qubits), len(c.Couplers), t.N(), len(t.Couplers))
	}
	for i := range c.Qubits {
		q := &c.Qubits[i]
		switch {
		case q.Broken != "":
			q.Reason = q.Broken
		case !Known(q.ReadoutError):
			q.Reason = ReasonMissingData
		case q.ReadoutError >= BrokenThreshold || (Known(q.Error1Q) && q.Error1Q >= BrokenThreshold):
			q.Reason = ReasonErrorTooHigh
		default:
			q.Reason = ReasonNone
		}
		q.Usable = q.Reason == ReasonNone
	}
	for ci := range c.Couplers {
		cc := &c.Couplers[ci]
		cc.Error, cc.Duration, cc.Gate = NaN, NaN, ""
		pick := func(gate string) {
			for _, g := range cc.Gates {
				if g.Gate == gate && Known(g.Error) && (!Known(cc.Error) || g.Error < cc.Error) {
					cc.Error, cc.Duration, cc.Gate = g.Error, g.Duration, g.Gate
				}
			}
		}
		pick(t.Native2Q)
		for _, g := range t.Other2Q {
			if Known(cc.Error) {
				break
			}
			pick(g)
		}
		switch {
		case cc.Broken != "":
			cc.OwnReason = cc.Broken
		case !Known(cc.Error):
			cc.OwnReason = ReasonMissingData
		case cc.Error >= BrokenThreshold:
			cc.OwnReason = ReasonErrorTooHigh
		default:
			cc.OwnReason = ReasonNone
		}
		e := t.Couplers[ci]
		cc.Reason = cc.OwnReason
		if cc.Reason == ReasonNone && (!c.Qubits[e.A].Usable || !c.Qubits[e.B].Usable) {
			cc.Reason = ReasonEndpointDown
		}
		cc.Usable = cc.Reason == ReasonNone
	}
	c.Epoch = c.digest()
	return &Model{Topology: t, Cal: c}, nil
}

func (c *Calibration) digest() uint64 {
	h := fnv.New64a()
	var b [8]byte
	f := func(x float64) {
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(x))
		h.Write(b[:])
	}
	s := func(x string) {
		h.Write([]byte(x))
		h.Write([]byte{0})
	}
	f(float64(c.Time.UnixNano()))
	for _, q := range c.Qubits {
		for _, x := range []float64{q.T1, q.T2, q.Frequency, q.Anharmonicity, q.Error1Q, q.Duration1Q, q.ReadoutError, q.P01, q.P10, q.ReadoutLength} {
			f(x)
		}
		s(q.Broken)
	}
	for _, cc := range c.Couplers {
		for _, g := range cc.Gates {
			s(g.Gate)
			h.Write([]byte{g.Dir})
			f(g.Error)
			f(g.Duration)
		}
		s(cc.Broken)
	}
	e := h.Sum64()
	if e == 0 {
		e = 1 // 0 means "no calibration"
	}
	return e
}

// Clone returns a deep copy of c that can be changed and finalized again.
func (c *Calibration) Clone() *Calibration {
	n := &Calibration{Time: c.Time, Epoch: c.Epoch, Qubits: append([]QubitCal(nil), c.Qubits...), Couplers: make([]CouplerCal, len(c.Couplers))}
	for i, cc := range c.Couplers {
		cc.Gates = append([]GateCal(nil), cc.Gates...)
		n.Couplers[i] = cc
	}
	return n
}

// QubitUsable reports whether qubit q may be allocated.
func (m *Model) QubitUsable(q int) bool { return m.Cal.Qubits[q].Usable }

// CouplerUsable reports whether coupler c may carry 2-qubit gates.
func (m *Model) CouplerUsable(c int) bool { return m.Cal.Couplers[c].Usable }

// Error2Q is the ESP error of the coupler between a and b, or NaN when they
// are not coupled or the coupler is unusable.
func (m *Model) Error2Q(a, b int) float64 {
	ci := m.CouplerIndex(a, b)
	if ci < 0 || !m.Cal.Couplers[ci].Usable {
		return NaN
	}
	return m.Cal.Couplers[ci].Error
}

// Summary is the headline figures of a model.
type Summary struct {
	Name                string   `json:"name"`
	Vendor              string   `json:"vendor"`
	Family              string   `json:"family"`
	Qubits              int      `json:"qubits"`
	Couplers            int      `json:"couplers"`
	Native2Q            string   `json:"native_2q"`
	Other2Q             []string `json:"other_2q,omitempty"`
	BrokenQubits        int      `json:"broken_qubits"`
	BrokenCouplers      int      `json:"broken_couplers"`
	UsableQubits        int      `json:"usable_qubits"`
	UsableCouplers      int      `json:"usable_couplers"`
	Median2QError       Figure   `json:"median_2q_error"`
	Median2QErrorUsable Figure   `json:"median_2q_error_usable"`
	Median2QErrorOwn    Figure   `json:"median_2q_error_own"`
	MedianReadoutError  Figure   `json:"median_readout_error"`
	Median1QError       Figure   `json:"median_1q_error"`
	MedianT1            Figure   `json:"median_t1_us"`
	MedianT2            Figure   `json:"median_t2_us"`
	CalibratedAt        string   `json:"calibrated_at,omitempty"`
	Epoch               uint64   `json:"epoch"`
}

// Summarize computes the headline figures. BrokenQubits counts qubits that
// are unusable; BrokenCouplers counts couplers unusable by their own figures
// (error >= 0.5, listed broken, or no 2-qubit figure), not those that are
// only unusable because an endpoint is. Median2QError is over every coupler
// with a figure of the primary native gate, broken ones included (as the
// vendors' own tables do); Median2QErrorUsable excludes unusable couplers;
// Median2QErrorOwn excludes only couplers broken by their own figures (the
// vendors' "broken excluded" median, which keeps couplers that only a dead
// endpoint makes unusable).
// Medians of unknown figures are NaN.
func (m *Model) Summarize() Summary {
	s := Summary{Name: m.Name, Vendor: m.Vendor, Family: m.Family, Qubits: m.N(), Couplers: len(m.Couplers),
		Native2Q: m.Native2Q, Other2Q: m.Other2Q, Epoch: m.Cal.Epoch}
	var e2, e2u, e2own, ro, e1, t1, t2 []float64
	for _, q := range m.Cal.Qubits {
		if !q.Usable {
			s.BrokenQubits++
		} else {
			s.UsableQubits++
		}
		add(&ro, q.ReadoutError)
		add(&e1, q.Error1Q)
		add(&t1, q.T1)
		add(&t2, q.T2)
	}
	for _, c := range m.Cal.Couplers {
		if c.OwnReason != ReasonNone {
			s.BrokenCouplers++
		}
		if c.Usable {
			s.UsableCouplers++
			add(&e2u, c.Error)
		}
		best := NaN
		for _, g := range c.Gates {
			if g.Gate == m.Native2Q && Known(g.Error) && (!Known(best) || g.Error < best) {
				best = g.Error
			}
		}
		add(&e2, best)
		if c.OwnReason == ReasonNone {
			add(&e2own, best)
		}
	}
	s.Median2QError, s.Median2QErrorUsable = Figure(Median(e2)), Figure(Median(e2u))
	s.Median2QErrorOwn = Figure(Median(e2own))
	s.MedianReadoutError, s.Median1QError = Figure(Median(ro)), Figure(Median(e1))
	s.MedianT1, s.MedianT2 = Figure(Median(t1)), Figure(Median(t2))
	if !m.Cal.Time.IsZero() {
		s.CalibratedAt = m.Cal.Time.UTC().Format(time.RFC3339)
	}
	return s
}

func add(xs *[]float64, x float64) {
	if Known(x) {
		*xs = append(*xs, x)
	}
}

// Median of xs (NaN when empty); xs is sorted in place.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return NaN
	}
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// Figure is a float64 that marshals to JSON null when unknown (NaN).
type Figure float64

// MarshalJSON writes null for NaN and infinities.
func (f Figure) MarshalJSON() ([]byte, error) {
	x := float64(f)
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(x)
}
