// Package ibm imports IBM Quantum backend snapshots: the backend
// configuration (conf_<name>.json: qubit count, coupling map, basis gates)
// and the backend properties (props_<name>.json: T1, T2, readout and gate
// errors), as Qiskit's fake backends and the IBM Quantum API publish them.
//
// The importer reads only the native 2-qubit gate of basis_gates (cx, ecr or
// cz), so gates that a properties file lists outside the basis (Heron's rx
// and its uncalibrated rzz, whose gate_error is 1 everywhere) never mark
// anything broken. Figures are looked up by name, never by position, and a
// figure that the file does not give stays NaN (Heron has no frequency).
// Numbers may be JSON integers or floats; null values mean "not given".
//
// The shared IBM snapshots have no "operational" flag: a broken coupler
// shows up as gate_error 1 and a bad qubit as a readout error >= 0.5, which
// hal.Finalize turns into unusable elements. Snapshots that do carry
// Qiskit's optional "operational" property (a qubit record, or a gate
// parameter; true/false or 1/0) are honoured: a qubit that is not
// operational, or whose sx/x/id gate is not, is listed broken
// (hal.ReasonListedBroken); a direction of the native 2-qubit gate that is
// not operational is dropped, and a coupler left with no direction is
// listed broken.
package ibm

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/internal/jsonscan"
)

// Vendor is the Topology.Vendor of every model this package builds.
const Vendor = "ibm"

// MaxQubits bounds the qubit count the importer accepts. The topology keeps
// an n*n hop-distance table, so a hostile n_qubits must not reach it.
const MaxQubits = 4096

// native2Q lists the gates that can be a backend's native 2-qubit gate, in
// the order used to break ties.
var native2Q = []string{"cx", "ecr", "cz"}

// oneQGates lists the gates whose gate_error gives Error1Q and whose
// gate_length gives Duration1Q, in order of preference.
var oneQGates = []string{"sx", "x", "id"}

// Load reads conf_<name>.json and props_<name>.json from dir and returns the
// finalized model. When dir holds several devices, or a configuration
// without its properties, it returns an error naming the files.
func Load(dir string) (*hal.Model, error) {
	confPath, propsPath, err := Find(dir)
	if err != nil {
		return nil, err
	}
	conf, err := os.ReadFile(confPath)
	if err != nil {
		return nil, err
	}
	props, err := os.ReadFile(propsPath)
	if err != nil {
		return nil, err
	}
	return Parse(conf, props, confPath, propsPath)
}

// Find returns the paths of the configuration and properties files of the
// single device in dir: conf_<name>.json and props_<name>.json with the same
// <name>.
func Find(dir string) (confPath, propsPath string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", "", err
	}
	confs := map[string]string{}
	props := map[string]string{}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		n := e.Name()
		if !strings.HasSuffix(n, ".json") {
			continue
		}
		switch {
		case strings.HasPrefix(n, "conf_"):
			confs[strings.TrimSuffix(strings.TrimPrefix(n, "conf_"), ".json")] = n
		case strings.HasPrefix(n, "props_"):
			props[strings.TrimSuffix(strings.TrimPrefix(n, "props_"), ".json")] = n
		}
	}
	var pairs, lonely []string
	for name, c := range confs {
		if _, ok := props[name]; ok {
			pairs = append(pairs, name)
		} else {
			lonely = append(lonely, c)
		}
	}
	sort.Strings(pairs)
	sort.Strings(lonely)
	switch {
	case len(pairs) == 1:
		return filepath.Join(dir, confs[pairs[0]]), filepath.Join(dir, props[pairs[0]]), nil
	case len(pairs) > 1:
		return "", "", fmt.Errorf("%s: holds several IBM devices (%s): expected one conf_<name>.json and props_<name>.json per folder",
			dir, strings.Join(pairs, ", "))
	case len(lonely) > 0:
		name := strings.TrimSuffix(strings.TrimPrefix(lonely[0], "conf_"), ".json")
		return "", "", fmt.Errorf("%s: has %s but no props_%s.json (the calibration): expected both files", dir, lonely[0], name)
	case len(props) > 0:
		var ps []string
		for _, p := range props {
			ps = append(ps, p)
		}
		sort.Strings(ps)
		name := strings.TrimSuffix(strings.TrimPrefix(ps[0], "props_"), ".json")
		return "", "", fmt.Errorf("%s: has %s but no conf_%s.json (the configuration): expected both files", dir, ps[0], name)
	default:
		return "", "", fmt.Errorf("%s: no IBM backend files: expected conf_<name>.json and props_<name>.json", dir)
	}
}

// conf is what the importer takes from conf_<name>.json.
type conf struct {
	name     string
	n        int
	hasN     bool
	coupling [][]int
	hasMap   bool
	basis    []string
	hasBasis bool
	family   string
}

// figure is a number read from a record, or the error to report should the
// record turn out to be one the importer uses. A JSON boolean reads as 1 or
// 0 with boolean set (the "operational" flag may be either).
type figure struct {
	v       float64
	err     error
	boolean bool
}

// off reports whether an "operational" figure says the element is down.
func (f figure) off() bool { return (f.err == nil || f.boolean) && f.v == 0 }

// record is a {name, date, unit, value} entry of props_<name>.json.
type record struct {
	name  []byte // aliases the input
	unit  []byte
	value figure
}

// gateEntry is an element of props' gates list that the importer may use.
type gateEntry struct {
	index  int
	gate   string
	name   string
	qubits []int
	errV   figure
	lenV   figure
	lenU   []byte
	oper   figure // "operational" parameter; NaN when absent
}

// props is what the importer takes from props_<name>.json.
type props struct {
	name      string
	date      string
	qubits    [][]record
	hasQubits bool
	gates     []gateEntry
	hasGates  bool
	counts2q  map[string]int // entries per 2-qubit gate name
}

// Parse builds a model from the bytes of a configuration and a properties
// file. confName and propsName name the files in error messages.
func Parse(confData, propsData []byte, confName, propsName string) (*hal.Model, error) {
	c, err := parseConf(confData)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", confName, err)
	}
	p, err := parseProps(propsData)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", propsName, err)
	}

	// Configuration: qubits, coupling map, native gate.
	if !c.hasN {
		return nil, fmt.Errorf("%s: field n_qubits: missing or null", confName)
	}
	n := c.n
	if n <= 0 || n > MaxQubits {
		return nil, fmt.Errorf("%s: field n_qubits: %d is outside 1..%d", confName, n, MaxQubits)
	}
	if !c.hasMap {
		return nil, fmt.Errorf("%s: field coupling_map: missing or null", confName)
	}
	if !c.hasBasis {
		return nil, fmt.Errorf("%s: field basis_gates: missing or null", confName)
	}
	couplers := make([]hal.Edge, 0, len(c.coupling))
	inMap := make(map[hal.Edge]bool, len(c.coupling))
	for i, pair := range c.coupling {
		if len(pair) != 2 {
			return nil, fmt.Errorf("%s: field coupling_map[%d]: has %d qubits, expected a pair", confName, i, len(pair))
		}
		for _, q := range pair {
			if q < 0 || q >= n {
				return nil, fmt.Errorf("%s: field coupling_map[%d]: qubit %d is outside 0..%d (n_qubits %d)", confName, i, q, n-1, n)
			}
		}
		if pair[0] == pair[1] {
			return nil, fmt.Errorf("%s: field coupling_map[%d]: joins qubit %d to itself", confName, i, pair[0])
		}
		e := undirected(pair[0], pair[1])
		if !inMap[e] {
			inMap[e] = true
			couplers = append(couplers, e)
		}
	}
	gates2q := nativeGates(c.basis, p.counts2q)
	if len(gates2q) == 0 && len(couplers) > 0 {
		return nil, fmt.Errorf("%s: field basis_gates: %q names no 2-qubit gate (expected one of %s)",
			confName, c.basis, strings.Join(native2Q, ", "))
	}
	primary := ""
	if len(gates2q) > 0 {
		primary = gates2q[0]
	}
	name := c.name
	if name == "" {
		name = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(confName), "conf_"), ".json")
	}
	if p.name != "" && c.name != "" && p.name != c.name {
		return nil, fmt.Errorf("%s: field backend_name: %q does not match %q of %s", propsName, p.name, c.name, confName)
	}

	// Check the qubit list before building the topology, whose distance
	// table is quadratic in n_qubits.
	if !p.hasQubits {
		return nil, fmt.Errorf("%s: field qubits: missing or null", propsName)
	}
	if len(p.qubits) != n {
		return nil, fmt.Errorf("%s: field qubits: lists %d qubits, but n_qubits of %s is %d", propsName, len(p.qubits), confName, n)
	}
	if !p.hasGates {
		return nil, fmt.Errorf("%s: field gates: missing or null", propsName)
	}

	qubits := make([]hal.QubitInfo, n)
	for i := range qubits {
		qubits[i] = hal.QubitInfo{Index: i, Name: strconv.Itoa(i), Row: -1, Col: -1}
	}
	topo, err := hal.NewTopology(name, Vendor, c.family, primary, qubits, couplers)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", confName, err)
	}
	if len(gates2q) > 1 {
		topo.Other2Q = append([]string(nil), gates2q[1:]...)
	}

	// Properties: per-qubit figures.
	cal := hal.NewCalibration(topo)
	for qi, recs := range p.qubits {
		if err := fillQubit(&cal.Qubits[qi], recs); err != nil {
			return nil, fmt.Errorf("%s: qubit %d: %w", propsName, qi, err)
		}
	}

	// Properties: gates. Single-qubit figures come from the most preferred
	// 1q gate that gives an error; 2q figures only from native gates.
	listedDown := map[int]bool{} // couplers with a direction listed as not operational
	rank1q := make([]int, n)     // preference rank of the gate that gave Error1Q
	for i := range rank1q {
		rank1q[i] = len(oneQGates)
	}
	for gi := range p.gates {
		g := &p.gates[gi]
		where := func() string {
			if g.name != "" {
				return fmt.Sprintf("%s: gates[%d] (%s)", propsName, g.index, g.name)
			}
			return fmt.Sprintf("%s: gates[%d] (gate %s)", propsName, g.index, g.gate)
		}
		if r := indexOf(oneQGates, g.gate); r >= 0 {
			if len(g.qubits) != 1 {
				return nil, fmt.Errorf("%s: field qubits: %s acts on %d qubits, expected 1", where(), g.gate, len(g.qubits))
			}
			q := g.qubits[0]
			if q < 0 || q >= n {
				return nil, fmt.Errorf("%s: field qubits: qubit %d is outside 0..%d (n_qubits %d)", where(), q, n-1, n)
			}
			errV, lenV, err := g.figures()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where(), err)
			}
			if g.oper.off() {
				cal.Qubits[q].Broken = hal.ReasonListedBroken // the vendor lists the gate as down
			}
			if r < rank1q[q] && hal.Known(errV) {
				rank1q[q] = r
				cal.Qubits[q].Error1Q = errV
				cal.Qubits[q].Duration1Q = lenV
			}
			continue
		}
		if indexOf(gates2q, g.gate) < 0 {
			continue // rx, rzz outside the basis, ...: not used
		}
		if len(g.qubits) != 2 {
			return nil, fmt.Errorf("%s: field qubits: %s acts on %d qubits, expected 2", where(), g.gate, len(g.qubits))
		}
		a, b := g.qubits[0], g.qubits[1]
		if a < 0 || a >= n || b < 0 || b >= n || a == b {
			return nil, fmt.Errorf("%s: field qubits: (%d,%d) is not a pair of distinct qubits in 0..%d", where(), a, b, n-1)
		}
		ci := topo.CouplerIndex(a, b)
		if ci < 0 {
			return nil, fmt.Errorf("%s: field qubits: pair (%d,%d) is not in coupling_map of %s", where(), a, b, confName)
		}
		errV, lenV, err := g.figures()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where(), err)
		}
		if g.oper.off() {
			listedDown[ci] = true // not a usable direction; no figure kept
			continue
		}
		dir := uint8(hal.DirAB)
		if a > b {
			dir = hal.DirBA
		}
		gc := hal.GateCal{Gate: g.gate, Dir: dir, Error: errV, Duration: lenV}
		cc := &cal.Couplers[ci]
		replaced := false
		for k := range cc.Gates {
			if cc.Gates[k].Gate == gc.Gate && cc.Gates[k].Dir == gc.Dir {
				cc.Gates[k] = gc // a later entry for the same direction wins
				replaced = true
			}
		}
		if !replaced {
			cc.Gates = append(cc.Gates, gc)
		}
	}

	for ci := range listedDown {
		if len(cal.Couplers[ci].Gates) == 0 {
			cal.Couplers[ci].Broken = hal.ReasonListedBroken
		}
	}

	if p.date != "" {
		t, err := parseTime(p.date)
		if err != nil {
			return nil, fmt.Errorf("%s: field last_update_date: %w", propsName, err)
		}
		cal.Time = t
	}
	m, err := hal.Finalize(topo, cal)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", propsName, err)
	}
	return m, nil
}

// parseConf reads the fields of a configuration the importer needs; it
// checks the syntax of the whole file.
func parseConf(data []byte) (*conf, error) {
	c := &conf{}
	d := jsonscan.NewDecoder(data)
	err := d.Object(func(key string) error {
		if d.Null() {
			return nil // null conf keys (clops, quantum_volume) mean "not given"
		}
		var err error
		switch key {
		case "backend_name":
			c.name, err = d.String()
		case "n_qubits":
			c.n, err = d.Int()
			c.hasN = true
		case "coupling_map":
			c.hasMap = true
			c.coupling = [][]int{}
			err = d.Array(func(int) error {
				pair := make([]int, 0, 2)
				err := d.Array(func(int) error {
					q, err := d.Int()
					pair = append(pair, q)
					return err
				})
				c.coupling = append(c.coupling, pair)
				return err
			})
		case "basis_gates":
			c.hasBasis = true
			c.basis = []string{}
			err = d.Array(func(int) error {
				g, err := d.String()
				c.basis = append(c.basis, g)
				return err
			})
		case "processor_type":
			if d.Kind() != jsonscan.Object {
				return nil // informative only: skipped when not an object
			}
			var fam, rev, seg string
			err = d.Object(func(k string) error {
				switch k {
				case "family":
					fam = scalar(d)
				case "revision":
					rev = scalar(d)
				case "segment":
					seg = scalar(d)
				}
				return nil
			})
			if fam != "" {
				c.family = fam
				if rev != "" {
					c.family += " r" + rev + seg
				}
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, d.Finish()
}

// scalar reads a string or a number as text; anything else is skipped
// (and gives "").
func scalar(d *jsonscan.Decoder) string {
	switch d.Kind() {
	case jsonscan.String:
		s, _ := d.String()
		return s
	case jsonscan.Number:
		b, _ := d.Raw()
		return string(b)
	}
	return ""
}

// parseProps reads the fields of a properties file the importer needs; it
// checks the syntax of the whole file.
func parseProps(data []byte) (*props, error) {
	p := &props{counts2q: map[string]int{}}
	d := jsonscan.NewDecoder(data)
	err := d.Object(func(key string) error {
		if d.Null() {
			return nil
		}
		var err error
		switch key {
		case "backend_name":
			p.name, err = d.String()
		case "last_update_date":
			p.date, err = d.String()
		case "qubits":
			p.hasQubits = true
			p.qubits = [][]record{}
			err = d.Array(func(int) error {
				recs := []record{}
				err := d.Array(func(int) error {
					r, err := readRecord(d)
					recs = append(recs, r)
					return err
				})
				p.qubits = append(p.qubits, recs)
				return err
			})
		case "gates":
			p.hasGates = true
			err = d.Array(func(i int) error { return readGate(d, p, i) })
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, d.Finish()
}

// readRecord reads a {name, date, unit, value} object.
func readRecord(d *jsonscan.Decoder) (record, error) {
	r := record{value: figure{v: hal.NaN}}
	err := d.Object(func(key string) error {
		var err error
		switch key {
		case "name":
			if !d.Null() {
				r.name, err = d.Bytes()
			}
		case "unit":
			if !d.Null() {
				r.unit, err = d.Bytes()
			}
		case "value":
			r.value = readFigure(d)
		}
		return err
	})
	return r, err
}

// readFigure reads a number (null is NaN). Any other value is skipped and
// kept as an error, reported only if the figure is used.
func readFigure(d *jsonscan.Decoder) figure {
	switch d.Kind() {
	case jsonscan.Null:
		d.Null()
		return figure{v: hal.NaN}
	case jsonscan.Number:
		v, err := d.Float()
		return figure{v: v, err: err}
	case jsonscan.Bool:
		err := d.Errorf("expected a number, found a boolean")
		b, _ := d.Bool()
		if b {
			return figure{v: 1, err: err, boolean: true}
		}
		return figure{v: 0, err: err, boolean: true}
	}
	return figure{v: hal.NaN, err: d.Errorf("expected a number, found %s", d.Found())}
}

// readGate reads one element of props' gates list and keeps it when its
// gate is one the importer may use.
func readGate(d *jsonscan.Decoder, p *props, index int) error {
	g := gateEntry{index: index, errV: figure{v: hal.NaN}, lenV: figure{v: hal.NaN}, oper: figure{v: hal.NaN}}
	var gateName []byte
	err := d.Object(func(key string) error {
		if d.Null() {
			return nil
		}
		var err error
		switch key {
		case "gate":
			gateName, err = d.Bytes()
		case "name":
			g.name, err = d.String()
		case "qubits":
			g.qubits = make([]int, 0, 2)
			err = d.Array(func(int) error {
				q, err := d.Int()
				g.qubits = append(g.qubits, q)
				return err
			})
		case "parameters":
			err = d.Array(func(int) error {
				r, err := readRecord(d)
				switch string(r.name) {
				case "gate_error":
					g.errV = r.value
				case "gate_length":
					g.lenV, g.lenU = r.value, r.unit
				case "operational":
					g.oper = r.value
				}
				return err
			})
		}
		return err
	})
	if err != nil {
		return err
	}
	if len(g.qubits) == 2 {
		p.counts2q[string(gateName)]++
	}
	if indexOf(oneQGates, string(gateName)) >= 0 || indexOf(native2Q, string(gateName)) >= 0 {
		g.gate = string(gateName)
		p.gates = append(p.gates, g)
	}
	return nil
}

// figures returns the gate_error and the gate_length (ns) of a gate entry,
// NaN when absent.
func (g *gateEntry) figures() (errV, lenV float64, err error) {
	if g.oper.err != nil && !g.oper.boolean {
		return 0, 0, g.oper.err
	}
	if g.errV.err != nil {
		return 0, 0, g.errV.err
	}
	if g.lenV.err != nil {
		return 0, 0, g.lenV.err
	}
	scale, ok := nanoseconds(string(g.lenU))
	if !ok {
		return 0, 0, fmt.Errorf("gate_length: unknown unit %q", g.lenU)
	}
	return g.errV.v, g.lenV.v * scale, nil
}

// nativeGates returns the 2-qubit gates of basis that the importer reads,
// the primary first: the one with the most entries in the properties (ties
// broken by the order of native2Q).
func nativeGates(basis []string, counts map[string]int) []string {
	var out []string
	for _, g := range native2Q {
		if indexOf(basis, g) >= 0 {
			out = append(out, g)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return counts[out[i]] > counts[out[j]] })
	return out
}

// fillQubit sets the figures of one qubit from its records.
func fillQubit(q *hal.QubitCal, recs []record) error {
	for _, r := range recs {
		var dst *float64
		var conv func(unit string) (float64, bool)
		switch string(r.name) {
		case "T1":
			dst, conv = &q.T1, microseconds
		case "T2":
			dst, conv = &q.T2, microseconds
		case "frequency":
			dst, conv = &q.Frequency, gigahertz
		case "anharmonicity":
			dst, conv = &q.Anharmonicity, gigahertz
		case "readout_error":
			dst, conv = &q.ReadoutError, probability
		case "prob_meas0_prep1":
			dst, conv = &q.P01, probability
		case "prob_meas1_prep0":
			dst, conv = &q.P10, probability
		case "readout_length":
			dst, conv = &q.ReadoutLength, nanoseconds
		case "operational":
			if r.value.err != nil && !r.value.boolean {
				return fmt.Errorf("operational: %w", r.value.err)
			}
			if r.value.off() {
				q.Broken = hal.ReasonListedBroken
			}
			continue
		default:
			continue
		}
		if r.value.err != nil {
			return fmt.Errorf("%s: %w", r.name, r.value.err)
		}
		scale, ok := conv(string(r.unit))
		if !ok {
			return fmt.Errorf("%s: unknown unit %q", r.name, r.unit)
		}
		*dst = r.value.v * scale
	}
	if !hal.Known(q.ReadoutError) && hal.Known(q.P01) && hal.Known(q.P10) {
		q.ReadoutError = (q.P01 + q.P10) / 2
	}
	return nil
}

func microseconds(unit string) (float64, bool) {
	switch unit {
	case "us", "µs", "μs", "":
		return 1, true
	case "ns":
		return 1e-3, true
	case "ms":
		return 1e3, true
	case "s":
		return 1e6, true
	}
	return 0, false
}

func nanoseconds(unit string) (float64, bool) {
	switch unit {
	case "ns", "":
		return 1, true
	case "us", "µs", "μs":
		return 1e3, true
	case "ms":
		return 1e6, true
	case "s":
		return 1e9, true
	}
	return 0, false
}

func gigahertz(unit string) (float64, bool) {
	switch unit {
	case "GHz", "":
		return 1, true
	case "MHz":
		return 1e-3, true
	case "kHz":
		return 1e-6, true
	case "Hz":
		return 1e-9, true
	}
	return 0, false
}

// probability accepts any unit: IBM writes "" for unitless figures.
func probability(string) (float64, bool) { return 1, true }

// parseTime reads IBM's ISO-8601 timestamps, with or without fractional
// seconds and UTC offset (no offset means UTC).
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO-8601 timestamp", s)
}

func undirected(a, b int) hal.Edge {
	if a > b {
		a, b = b, a
	}
	return hal.Edge{A: a, B: b}
}

func indexOf(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return -1
}
