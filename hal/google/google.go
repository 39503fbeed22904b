// Package google imports Google Quantum AI device snapshots as Cirq
// publishes them: a device specification in protobuf text format
// (*_device_spec_for_grid_device.proto.txt: qubits, couplers, gates and their
// durations) and a calibration (*_calibration.json: Cirq's Calibration, a
// list of named metrics per qubit and per pair).
//
// Mapping to the hal model:
//
//   - Qubits are the spec's valid_qubits in file order. Grid ids "r_c" (Cirq
//     GridQubit, optionally written "qr_c") are named "r_c" with Row and Col
//     set; any other id keeps its text and Row = Col = -1.
//   - Couplers are the two-qubit targets of the spec's SYMMETRIC (or
//     ASYMMETRIC) target sets, such as 2_qubit_targets.
//   - Native 2-qubit gates are the spec's 2-qubit gates (syc, sqrt_iswap, cz;
//     the older gate-set spec's fsim_pi_4 is sqrt_iswap) that the calibration
//     gives figures for. The primary one is the first of syc, cz, sqrt_iswap:
//     syc on the Sycamore-class rainbow and weber, cz on Willow. A gate that
//     the spec lists but the calibration never measures (cz on rainbow and
//     weber) is left out of Other2Q: it would never supply a figure, and
//     listing it would suggest a scored alternative that does not exist.
//     Metrics of gates the spec does not list are ignored.
//   - The 2-qubit error of a gate is its
//     two_qubit_parallel_<gate>_gate_xeb_pauli_error_per_cycle (the isolated
//     two_qubit_<gate>_gate_xeb_pauli_error_per_cycle when the file has no
//     parallel figure for the pair), one hal.GateCal with Dir DirSymmetric
//     per coupler and gate; the duration is the spec's gate_duration_picos
//     in ns. The XEB entangler theta/phi metrics are angle errors, not
//     probabilities, and are ignored.
//   - Readout: P10 = single_qubit_p00_error (read 1 having prepared 0),
//     P01 = single_qubit_p11_error, ReadoutError = their mean (parallel_p00
//     and parallel_p11 when the single-qubit figures are absent). T1 is
//     single_qubit_idle_t1_micros, Error1Q single_qubit_rb_pauli_error_per_gate,
//     Duration1Q the phased_xz duration. There is no T2 or frequency.
//   - ReadoutLength is the spec's meas duration, except that durations above
//     MaxReadoutNs are treated as placeholders and left unknown: rainbow and
//     weber list meas at 4,000,000,000 ps (4 ms), which is no real readout.
//   - Time is the snapshot's timestampMs when the JSON has one; otherwise the
//     date in the calibration file name (rainbow_2021_11_16_calibration.json
//     is 2021-11-16 UTC); otherwise zero (not recorded).
//
// Every metric target must be a qubit (and every pair a coupler) of the
// spec; anything else is an error naming the file and the metric.
package google

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/internal/jsonscan"
)

// Vendor is the Topology.Vendor of every model this package builds.
const Vendor = "google"

// MaxQubits bounds the qubit count the importer accepts (the topology keeps
// an n*n distance table).
const MaxQubits = 4096

// MaxReadoutNs is the longest meas duration taken as a real readout time;
// longer ones are placeholders (see the package comment).
const MaxReadoutNs = 100_000

// CalibrationSuffix and SpecSuffix are the file name endings Find looks for.
const (
	CalibrationSuffix = "_calibration.json"
	SpecSuffix        = ".proto.txt"
	specMarker        = "device_spec"
)

// primaryOrder lists the 2-qubit gates the importer knows, in the order
// used to pick the primary one.
var primaryOrder = []string{"syc", "cz", "sqrt_iswap"}

// Load reads the calibration and the device specification in dir.
func Load(dir string) (*hal.Model, error) {
	calPath, specPath, err := Find(dir)
	if err != nil {
		return nil, err
	}
	cal, err := os.ReadFile(calPath)
	if err != nil {
		return nil, err
	}
	spec, err := os.ReadFile(specPath)
	if err != nil {
		return nil, err
	}
	return Parse(cal, spec, calPath, specPath)
}

// IsCalibration reports whether name is a calibration file name.
func IsCalibration(name string) bool { return strings.HasSuffix(name, CalibrationSuffix) }

// IsSpec reports whether name is a device specification file name.
func IsSpec(name string) bool {
	return strings.HasSuffix(name, SpecSuffix) && strings.Contains(name, specMarker)
}

// Find returns the calibration and specification files of the single
// device in dir.
func Find(dir string) (calPath, specPath string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", "", err
	}
	var cals, specs []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		switch n := e.Name(); {
		case IsCalibration(n):
			cals = append(cals, n)
		case IsSpec(n):
			specs = append(specs, n)
		}
	}
	switch {
	case len(cals) == 1 && len(specs) == 1:
		return filepath.Join(dir, cals[0]), filepath.Join(dir, specs[0]), nil
	case len(cals) > 1:
		return "", "", fmt.Errorf("%s: holds several calibrations (%s): expected one *%s per folder", dir, strings.Join(cals, ", "), CalibrationSuffix)
	case len(specs) > 1:
		return "", "", fmt.Errorf("%s: holds several device specifications (%s): expected one per folder", dir, strings.Join(specs, ", "))
	case len(cals) == 1:
		return "", "", fmt.Errorf("%s: has %s but no *_device_spec_for_grid_device%s (the device specification): expected both files", dir, cals[0], SpecSuffix)
	case len(specs) == 1:
		return "", "", fmt.Errorf("%s: has %s but no *%s (the calibration): expected both files", dir, specs[0], CalibrationSuffix)
	default:
		return "", "", fmt.Errorf("%s: no Google device files: expected *%s and *_device_spec_for_grid_device%s", dir, CalibrationSuffix, SpecSuffix)
	}
}

// spec is what the importer takes from a device specification.
type spec struct {
	ids      []string       // canonical qubit ids, file order
	index    map[string]int // canonical id -> index
	couplers []hal.Edge
	gates    map[string]float64 // canonical gate name -> duration in ns (NaN when not given)
}

// Parse builds a model from the bytes of a calibration and a specification.
// calName and specName name the files in messages; the calibration date
// comes from calName when the JSON holds no timestamp.
func Parse(calData, specData []byte, calName, specName string) (*hal.Model, error) {
	sp, err := parseSpec(specData, specName)
	if err != nil {
		return nil, err
	}
	n := len(sp.ids)
	qubits := make([]hal.QubitInfo, n)
	allGrid := true
	for i, id := range sp.ids {
		qubits[i] = hal.QubitInfo{Index: i, Name: id, Row: -1, Col: -1}
		if r, c, ok := gridID(id); ok {
			qubits[i].Row, qubits[i].Col = r, c
		} else {
			allGrid = false
		}
	}
	fam := ""
	if allGrid {
		fam = "grid"
	}
	topo, err := hal.NewTopology(deviceName(calName, specName), Vendor, fam, "", qubits, sp.couplers)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", specName, err)
	}

	figs := newFigures(n, len(topo.Couplers))
	stamp, err := readCalibration(calData, func(m *metric) error {
		if err := figs.add(m, topo, sp, specName); err != nil {
			return fmt.Errorf("line %d: metric %s (%s): %w", m.line(), m.name, m.d.Path(), err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", calName, err)
	}

	// Native gates: calibrated and (when the spec lists gates) in the spec.
	var natives []string
	specHas2Q := false
	for _, g := range primaryOrder {
		if _, ok := sp.gates[g]; ok {
			specHas2Q = true
		}
	}
	for _, g := range primaryOrder {
		_, inSpec := sp.gates[g]
		if figs.pairs[g] != nil && (inSpec || !specHas2Q) {
			natives = append(natives, g)
		}
	}
	if len(natives) == 0 {
		for _, g := range primaryOrder {
			if _, ok := sp.gates[g]; ok {
				natives = append(natives, g) // no figures: every coupler lacks data
				break
			}
		}
	}
	if len(natives) > 0 {
		topo.Native2Q = natives[0]
		if len(natives) > 1 {
			topo.Other2Q = append([]string(nil), natives[1:]...)
		}
	}

	cal := hal.NewCalibration(topo)
	dur1q := durationOf(sp.gates, "phased_xz")
	readLen := durationOf(sp.gates, "meas")
	if readLen > MaxReadoutNs {
		readLen = hal.NaN
	}
	for i := range cal.Qubits {
		q := &cal.Qubits[i]
		q.T1 = figs.q[qT1][i]
		q.Error1Q = figs.q[qRB][i]
		if hal.Known(q.Error1Q) {
			q.Duration1Q = dur1q
		}
		q.P10 = either(figs.q[qP00][i], figs.q[qParP00][i])
		q.P01 = either(figs.q[qP11][i], figs.q[qParP11][i])
		if hal.Known(q.P10) && hal.Known(q.P01) {
			q.ReadoutError = (q.P10 + q.P01) / 2
			q.ReadoutLength = readLen
		}
	}
	for _, g := range natives {
		pf := figs.pairs[g]
		if pf == nil {
			continue
		}
		d := durationOf(sp.gates, g)
		for ci := range cal.Couplers {
			if e := either(pf[ci].parallel, pf[ci].isolated); hal.Known(e) {
				cal.Couplers[ci].Gates = append(cal.Couplers[ci].Gates, hal.GateCal{Gate: g, Dir: hal.DirSymmetric, Error: e, Duration: d})
			}
		}
	}
	if !stamp.IsZero() {
		cal.Time = stamp
	} else {
		cal.Time = dateFromName(calName)
	}
	return hal.Finalize(topo, cal)
}

// Per-qubit metrics the importer reads.
const (
	qT1 = iota
	qP00
	qP11
	qParP00
	qParP11
	qRB
	nQubitMetrics
)

var qubitMetrics = map[string]int{
	"single_qubit_idle_t1_micros":          qT1,
	"single_qubit_p00_error":               qP00,
	"single_qubit_p11_error":               qP11,
	"parallel_p00_error":                   qParP00,
	"parallel_p11_error":                   qParP11,
	"single_qubit_rb_pauli_error_per_gate": qRB,
}

type pairFig struct{ parallel, isolated float64 }

// figures collects the metrics by qubit and coupler.
type figures struct {
	q     [nQubitMetrics][]float64
	pairs map[string][]pairFig // gate -> per coupler
	nc    int
	idx   [2]int
}

func newFigures(n, nc int) *figures {
	f := &figures{pairs: map[string][]pairFig{}, nc: nc}
	for k := range f.q {
		f.q[k] = make([]float64, n)
		for i := range f.q[k] {
			f.q[k][i] = hal.NaN
		}
	}
	return f
}

// add checks a metric's targets against the spec and keeps its figure
// when the importer uses it.
func (f *figures) add(m *metric, topo *hal.Topology, sp *spec, specName string) error {
	var idx []int
	if len(m.targets) <= 2 {
		idx = f.idx[:0]
	}
	for _, t := range m.targets {
		i, ok := sp.index[string(t)]
		if !ok {
			if i, ok = sp.index[canonID(string(t))]; !ok {
				return fmt.Errorf("target %q is not a qubit of %s", t, specName)
			}
		}
		idx = append(idx, i)
	}
	switch len(idx) {
	case 1:
		k, ok := qubitMetrics[string(m.name)]
		if !ok {
			return nil
		}
		v, err := m.value()
		if err != nil {
			return fmt.Errorf("target %s: %w", m.targets[0], err)
		}
		if dst := f.q[k]; !hal.Known(dst[idx[0]]) {
			dst[idx[0]] = v // the first figure of a qubit wins
		}
	case 2:
		ci := topo.CouplerIndex(idx[0], idx[1])
		if ci < 0 {
			return fmt.Errorf("pair %s-%s is not a coupler of %s", m.targets[0], m.targets[1], specName)
		}
		gate, parallel, ok := pauliMetric(string(m.name))
		if !ok {
			return nil // average/incoherent errors, entangler angles, ...
		}
		v, err := m.value()
		if err != nil {
			return fmt.Errorf("targets %s-%s: %w", m.targets[0], m.targets[1], err)
		}
		pf := f.pairs[gate]
		if pf == nil {
			pf = make([]pairFig, f.nc)
			for i := range pf {
				pf[i] = pairFig{hal.NaN, hal.NaN}
			}
			f.pairs[gate] = pf
		}
		dst := &pf[ci].isolated
		if parallel {
			dst = &pf[ci].parallel
		}
		if !hal.Known(*dst) || v < *dst {
			*dst = v // both orders given: the smaller error, as for ESP
		}
	}
	return nil
}

func either(a, b float64) float64 {
	if hal.Known(a) {
		return a
	}
	return b
}

func durationOf(gates map[string]float64, g string) float64 {
	if d, ok := gates[g]; ok {
		return d
	}
	return hal.NaN
}

// pauliMetric recognises two_qubit_[parallel_]<gate>_gate_xeb_pauli_error_per_cycle.
func pauliMetric(name string) (gate string, parallel, ok bool) {
	const prefix, suffix = "two_qubit_", "_gate_xeb_pauli_error_per_cycle"
	if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) || len(name) <= len(prefix)+len(suffix) {
		return "", false, false
	}
	g := name[len(prefix) : len(name)-len(suffix)]
	if rest, ok := strings.CutPrefix(g, "parallel_"); ok && rest != "" {
		return canonGate(rest), true, true
	}
	return canonGate(g), false, true
}

// canonGate maps the gate names of metrics and of both spec formats to the
// names the model uses.
func canonGate(g string) string {
	switch g {
	case "sycamore", "syc":
		return "syc"
	case "fsim_pi_4", "sqrt_iswap":
		return "sqrt_iswap"
	case "inv_fsim_pi_4", "sqrt_iswap_inv":
		return "sqrt_iswap_inv"
	case "xyz", "phased_xz":
		return "phased_xz"
	}
	return g
}

var gridRE = regexp.MustCompile(`^q?(-?[0-9]+)_(-?[0-9]+)$`)

// gridID parses a Cirq GridQubit proto id ("4_2" or "q4_2").
func gridID(id string) (row, col int, ok bool) {
	m := gridRE.FindStringSubmatch(id)
	if m == nil {
		return 0, 0, false
	}
	r, err1 := strconv.Atoi(m[1])
	c, err2 := strconv.Atoi(m[2])
	if err1 != nil || err2 != nil || r < -1<<20 || r > 1<<20 || c < -1<<20 || c > 1<<20 {
		return 0, 0, false
	}
	return r, c, true
}

// canonID writes grid ids as "r_c"; other ids are kept as they are.
func canonID(id string) string {
	if r, c, ok := gridID(id); ok {
		return strconv.Itoa(r) + "_" + strconv.Itoa(c)
	}
	return id
}

var dateRE = regexp.MustCompile(`(\d{4})_(\d{2})_(\d{2})`)

// dateFromName reads the last YYYY_MM_DD in a file name (UTC midnight), or
// returns zero.
func dateFromName(path string) time.Time {
	ms := dateRE.FindAllStringSubmatch(filepath.Base(path), -1)
	if len(ms) == 0 {
		return time.Time{}
	}
	m := ms[len(ms)-1]
	t, err := time.Parse("2006_01_02", m[1]+"_"+m[2]+"_"+m[3])
	if err != nil {
		return time.Time{}
	}
	return t
}

var nameDateRE = regexp.MustCompile(`[-_]?\d{4}_\d{2}_\d{2}$`)

// deviceName derives the device name from the calibration file name
// ("willow_pink_d7v1-2024_08_16_calibration.json" -> "willow_pink_d7v1").
func deviceName(calName, specName string) string {
	for _, p := range []struct{ path, suffix string }{{calName, CalibrationSuffix}, {specName, "_device_spec_for_grid_device" + SpecSuffix}, {specName, "_device_spec" + SpecSuffix}} {
		b := filepath.Base(p.path)
		if !strings.HasSuffix(b, p.suffix) {
			continue
		}
		b = nameDateRE.ReplaceAllString(strings.TrimSuffix(b, p.suffix), "")
		if b != "" {
			return b
		}
	}
	return "google"
}

// parseSpec reads the qubits, couplers and gates of a device specification.
func parseSpec(data []byte, file string) (*spec, error) {
	root, err := parseTextProto(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	sp := &spec{index: map[string]int{}, gates: map[string]float64{}}
	for _, f := range all(root, "valid_qubits") {
		if f.isMsg() || !f.Quoted {
			return nil, fmt.Errorf("%s: line %d: field valid_qubits: expected a quoted qubit id", file, f.Line)
		}
		id := canonID(f.Value)
		if id == "" {
			return nil, fmt.Errorf("%s: line %d: field valid_qubits: empty qubit id", file, f.Line)
		}
		if _, dup := sp.index[id]; dup {
			return nil, fmt.Errorf("%s: line %d: field valid_qubits: qubit %q listed twice", file, f.Line, f.Value)
		}
		if len(sp.ids) >= MaxQubits {
			return nil, fmt.Errorf("%s: line %d: field valid_qubits: more than %d qubits", file, f.Line, MaxQubits)
		}
		sp.index[id] = len(sp.ids)
		sp.ids = append(sp.ids, id)
	}
	if len(sp.ids) == 0 {
		return nil, fmt.Errorf("%s: field valid_qubits: missing (no qubits)", file)
	}
	for _, ts := range all(root, "valid_targets") {
		if !ts.isMsg() {
			return nil, fmt.Errorf("%s: line %d: field valid_targets: expected a message", file, ts.Line)
		}
		if o := first(ts.Fields, "target_ordering"); o != nil && o.Value != "SYMMETRIC" && o.Value != "ASYMMETRIC" {
			continue // SUBSET_PERMUTATION sets (measurement) are not couplers
		}
		for _, t := range all(ts.Fields, "targets") {
			if !t.isMsg() {
				return nil, fmt.Errorf("%s: line %d: field targets: expected a message", file, t.Line)
			}
			ids := all(t.Fields, "ids")
			if len(ids) != 2 {
				continue
			}
			var e [2]int
			for k, f := range ids {
				i, ok := sp.index[canonID(f.Value)]
				if !ok {
					return nil, fmt.Errorf("%s: line %d: field targets.ids: %q is not among valid_qubits", file, f.Line, f.Value)
				}
				e[k] = i
			}
			if e[0] == e[1] {
				return nil, fmt.Errorf("%s: line %d: field targets: pair joins qubit %q to itself", file, t.Line, ids[0].Value)
			}
			sp.couplers = append(sp.couplers, hal.Edge{A: e[0], B: e[1]})
		}
	}
	// Gates: GridDeviceSpecification (valid_gates { gate_duration_picos: N  syc {} })
	// and the older gate-set form (valid_gate_sets { valid_gates { id: "syc" gate_duration_picos: N } }).
	addGate := func(name string, dur *field) error {
		d := hal.NaN
		if dur != nil {
			v, err := strconv.ParseFloat(dur.Value, 64)
			if dur.isMsg() || dur.Quoted || err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
				return fmt.Errorf("%s: line %d: field gate_duration_picos: %q is not a duration in picoseconds", file, dur.Line, dur.Value)
			}
			d = v / 1000 // ps -> ns
		}
		name = canonGate(name)
		if old, ok := sp.gates[name]; !ok || (!hal.Known(old) && hal.Known(d)) {
			sp.gates[name] = d
		}
		return nil
	}
	for _, g := range all(root, "valid_gates") {
		if !g.isMsg() {
			return nil, fmt.Errorf("%s: line %d: field valid_gates: expected a message", file, g.Line)
		}
		dur := first(g.Fields, "gate_duration_picos")
		for _, f := range g.Fields {
			if f.isMsg() {
				if err := addGate(f.Name, dur); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, set := range all(root, "valid_gate_sets") {
		if !set.isMsg() {
			continue
		}
		for _, g := range all(set.Fields, "valid_gates") {
			if !g.isMsg() {
				continue
			}
			if id := first(g.Fields, "id"); id != nil && !id.isMsg() && id.Value != "" {
				if err := addGate(id.Value, first(g.Fields, "gate_duration_picos")); err != nil {
					return nil, err
				}
			}
		}
	}
	return sp, nil
}

// metric is one entry of a Cirq calibration as it is read. Its byte
// slices alias the input.
type metric struct {
	name    []byte
	targets [][]byte
	val     float64
	valErr  error
	d       *jsonscan.Decoder
	off     int // offset of the metric in the file
}

// line is the line of the metric in the file (computed on demand: it is
// only needed for messages).
func (m *metric) line() int {
	l, _ := m.d.LineCol(m.off)
	return l
}

// value returns the metric's figure or the reason it has none.
func (m *metric) value() (float64, error) { return m.val, m.valErr }

// readCalibration reads a Cirq Calibration JSON ({"cirq_type":
// "Calibration", "metrics": {"metrics": [...]}}) or a bare MetricsSnapshot
// ({"timestampMs": ..., "metrics": [...]}), calling fn for each metric, and
// returns the snapshot's time (zero when not given).
func readCalibration(data []byte, fn func(*metric) error) (time.Time, error) {
	d := jsonscan.NewDecoder(data)
	var stamp time.Time
	seen := false
	m := &metric{d: d}
	readList := func() error {
		seen = true
		return d.Array(func(int) error {
			m.off = d.Offset()
			if err := readMetric(d, m); err != nil {
				return err
			}
			return fn(m)
		})
	}
	readStamp := func() error {
		t, err := readMillis(d)
		if err == nil && !t.IsZero() {
			stamp = t
		}
		return err
	}
	err := d.Object(func(key string) error {
		switch key {
		case "metrics":
			switch d.Kind() {
			case jsonscan.Array:
				return readList()
			case jsonscan.Object:
			default:
				return d.Errorf("expected a list of metrics or an object holding one, found %s", d.Found())
			}
			return d.Object(func(key string) error {
				switch key {
				case "metrics":
					return readList()
				case "timestampMs", "timestamp_ms":
					return readStamp()
				}
				return nil
			})
		case "timestampMs", "timestamp_ms":
			return readStamp()
		}
		return nil
	})
	if err == nil {
		err = d.Finish()
	}
	if err == nil && !seen {
		err = errors.New("field metrics: missing, expected a list of metrics")
	}
	return stamp, err
}

// readMillis reads a time in milliseconds since 1970 (a number or, as
// protobuf's JSON mapping writes int64, a string).
func readMillis(d *jsonscan.Decoder) (time.Time, error) {
	if d.Null() {
		return time.Time{}, nil
	}
	var s string
	if d.Kind() == jsonscan.String {
		v, err := d.String()
		if err != nil {
			return time.Time{}, err
		}
		s = v
	} else {
		b, err := d.Raw()
		if err != nil {
			return time.Time{}, err
		}
		s = string(b)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > 1e15 {
		return time.Time{}, d.Errorf("%q is not a time in milliseconds", s)
	}
	if v == 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(v).UTC(), nil
}

// readMetric reads {"name", "targets", "values"} into m (reusing it).
func readMetric(d *jsonscan.Decoder, m *metric) error {
	m.name, m.targets, m.val, m.valErr = nil, m.targets[:0], hal.NaN, nil
	hasValue := false
	err := d.Object(func(key string) error {
		if d.Null() {
			return nil
		}
		var err error
		switch key {
		case "name":
			m.name, err = d.Bytes()
		case "targets":
			err = d.Array(func(int) error {
				t, err := d.Bytes()
				m.targets = append(m.targets, t)
				return err
			})
		case "values":
			err = d.Array(func(i int) error {
				if i > 0 {
					return nil // every metric has one value; later ones are skipped
				}
				hasValue = true
				return readValue(d, m)
			})
		}
		return err
	})
	if err == nil && !hasValue {
		m.valErr = errors.New("no values")
	}
	return err
}

// readValue reads a {"doubleVal": x} (or int64Val) value object. A value of
// another kind is kept as an error, reported only if the metric is used.
func readValue(d *jsonscan.Decoder, m *metric) error {
	found := false
	m.valErr = errors.New("values[0] has no doubleVal or int64Val")
	if d.Kind() != jsonscan.Object {
		m.valErr = d.Errorf("expected a value object")
		return d.Skip()
	}
	return d.Object(func(key string) error {
		switch key {
		case "doubleVal", "double_val", "int64Val", "int64_val":
		default:
			return nil
		}
		if found {
			return nil
		}
		found = true
		switch d.Kind() {
		case jsonscan.Number:
			m.val, m.valErr = d.Float()
			return nil
		case jsonscan.String:
			if strings.HasPrefix(key, "int64") {
				s, err := d.String()
				if err != nil {
					return err
				}
				if v, err := strconv.ParseInt(s, 10, 64); err == nil {
					m.val, m.valErr = float64(v), nil
					return nil
				}
			}
		}
		m.valErr = d.Errorf("expected a number")
		return nil
	})
}
