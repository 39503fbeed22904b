// Package rigetti imports Rigetti QCS instruction-set architectures (the
// InstructionSetArchitecture JSON that QCS serves and pyQuil caches, e.g.
// qcs-isa-Aspen-8.json): nodes and edges (topology) plus per-site
// fidelities of each instruction and benchmark.
//
// Mapping to the hal model:
//
//   - Node ids need not be contiguous (Aspen-8: 0-7, 10-17, 20-27, 30-37).
//     Qubit index = rank of the node id in ascending order; Name = the id as
//     text. Couplers are architecture.edges.
//   - Every figure is a fidelity: error = 1 - value. The characteristic's
//     "error" field is the uncertainty of the estimate and is ignored.
//   - ReadoutError = 1 - fRO of the MEASURE site. Error1Q = 1 - fRB of the
//     randomized_benchmark_1q benchmark (randomized_benchmark_simultaneous_1q
//     when the former has no figure for the qubit). The ISA gives no T1, T2,
//     frequencies, durations or per-outcome readout errors: they stay NaN.
//   - Each 2-qubit instruction (CZ, XY, CPHASE, ISWAP, ...) is a gate named
//     in lower case, with its error 1 - f<NAME> (fCZ, fXY, ...) as a
//     hal.GateCal with Dir DirSymmetric; when a site has several such
//     figures (several parameter values) the best one is kept. Native2Q is
//     "cz" when the ISA has CZ sites (otherwise the 2-qubit instruction with
//     the most sites); Other2Q are the others, sorted ("xy" on Aspen-8).
//   - A node with no single-node site in any instruction (RX, RZ, I,
//     MEASURE, ...) is a dead qubit: Broken = hal.ReasonDeadQubit. The 2-qubit
//     sites that involve it (Aspen-8: CZ on (30,31) and (31,32)) are kept as
//     data; hal.Finalize makes those couplers unusable because an endpoint is.
//   - Time is the latest characteristic timestamp. Timestamps before 1971
//     (Aspen-8 has only 1970-01-01T00:00:00+00:00) mean "not recorded"; when
//     none is later, Time is zero.
//
// A 2-qubit site on nodes that are not an edge, or a site or edge naming an
// unknown node, is an error naming the file and the field.
package rigetti

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
const Vendor = "rigetti"

// MaxQubits bounds the node count the importer accepts (the topology keeps
// an n*n distance table).
const MaxQubits = 4096

// FilePrefix is the name prefix of the ISA files pyQuil writes.
const FilePrefix = "qcs-isa-"

// fidelitySlack is how far above 1 a fidelity may be (fit noise) before it
// is rejected; such values count as error 0.
const fidelitySlack = 1e-6

// recorded is the earliest timestamp taken as a real calibration time.
var recorded = time.Date(1971, 1, 1, 0, 0, 0, 0, time.UTC)

// Load reads the ISA in dir: qcs-isa-*.json or, failing that, the single
// .json file whose top level has "architecture" and "instructions".
func Load(dir string) (*hal.Model, error) {
	path, err := Find(dir)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Find returns the path of the single ISA file in dir.
func Find(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var named, other []string
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(n, ".json") {
			continue
		}
		if strings.HasPrefix(n, FilePrefix) {
			named = append(named, n)
		} else {
			other = append(other, n)
		}
	}
	switch len(named) {
	case 1:
		return filepath.Join(dir, named[0]), nil
	case 0:
	default:
		return "", fmt.Errorf("%s: holds several ISAs (%s): expected one per folder", dir, strings.Join(named, ", "))
	}
	var isas []string
	for _, n := range other {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err == nil && IsISA(data) {
			isas = append(isas, n)
		}
	}
	switch len(isas) {
	case 1:
		return filepath.Join(dir, isas[0]), nil
	case 0:
		return "", fmt.Errorf("%s: no Rigetti ISA: expected %s<name>.json or a .json file with \"architecture\" and \"instructions\"", dir, FilePrefix)
	default:
		return "", fmt.Errorf("%s: holds several ISAs (%s): expected one per folder", dir, strings.Join(isas, ", "))
	}
}

// IsISA reports whether data is a JSON object with "architecture" and
// "instructions" members (a peek at the keys; the values are not checked).
func IsISA(data []byte) bool {
	d := jsonscan.NewDecoder(data)
	var arch, ins bool
	err := d.Object(func(key string) error {
		switch key {
		case "architecture":
			arch = true
		case "instructions":
			ins = true
		}
		return nil
	})
	return err == nil && arch && ins
}

// characteristic is one figure of a site.
type characteristic struct {
	name  string
	value float64
	isNum bool
	stamp string
	nodes []int  // the characteristic's own node_ids, nil when absent
	path  string // field path, for messages
}

type site struct {
	nodes []int
	chars []characteristic
	path  string
}

// operation is an instruction or a benchmark.
type operation struct {
	name  string
	sites []site
	path  string
}

type isa struct {
	name         string
	family       string
	nodes        []int
	nodePaths    []string
	edges        [][]int
	edgePaths    []string
	hasArch      bool
	hasNodes     bool
	instructions []operation
	hasIns       bool
	benchmarks   []operation
}

// Parse builds a model from the bytes of an ISA; name names the file in
// messages.
func Parse(data []byte, name string) (*hal.Model, error) {
	x, err := parseISA(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !x.hasArch {
		return nil, fmt.Errorf("%s: field architecture: missing or null", name)
	}
	if !x.hasNodes || len(x.nodes) == 0 {
		return nil, fmt.Errorf("%s: field architecture.nodes: missing or empty", name)
	}
	if !x.hasIns {
		return nil, fmt.Errorf("%s: field instructions: missing or null", name)
	}
	if len(x.nodes) > MaxQubits {
		return nil, fmt.Errorf("%s: field architecture.nodes: %d nodes, more than %d", name, len(x.nodes), MaxQubits)
	}

	// Nodes: index = rank of the id.
	index := make(map[int]int, len(x.nodes))
	for i, id := range x.nodes {
		if _, dup := index[id]; dup {
			return nil, fmt.Errorf("%s: field %s: node %d listed twice", name, x.nodePaths[i], id)
		}
		index[id] = 0
	}
	ids := append([]int(nil), x.nodes...)
	sort.Ints(ids)
	qubits := make([]hal.QubitInfo, len(ids))
	for i, id := range ids {
		index[id] = i
		qubits[i] = hal.QubitInfo{Index: i, Name: strconv.Itoa(id), Row: -1, Col: -1}
	}
	lookup := func(id int, path string) (int, error) {
		i, ok := index[id]
		if !ok {
			return 0, fmt.Errorf("%s: field %s: node %d is not in architecture.nodes", name, path, id)
		}
		return i, nil
	}

	couplers := make([]hal.Edge, 0, len(x.edges))
	for k, e := range x.edges {
		if len(e) != 2 {
			return nil, fmt.Errorf("%s: field %s: has %d nodes, expected 2", name, x.edgePaths[k], len(e))
		}
		a, err := lookup(e[0], x.edgePaths[k])
		if err != nil {
			return nil, err
		}
		b, err := lookup(e[1], x.edgePaths[k])
		if err != nil {
			return nil, err
		}
		if a == b {
			return nil, fmt.Errorf("%s: field %s: joins node %d to itself", name, x.edgePaths[k], e[0])
		}
		couplers = append(couplers, hal.Edge{A: a, B: b})
	}

	// 2-qubit instructions and live nodes.
	live := make([]bool, len(ids))
	sites2q := map[string]int{}
	for _, op := range x.instructions {
		for _, s := range op.sites {
			for _, id := range s.nodes {
				if _, err := lookup(id, s.path); err != nil {
					return nil, err
				}
			}
			switch len(s.nodes) {
			case 1:
				live[index[s.nodes[0]]] = true
			case 2:
				sites2q[op.name]++
			}
		}
	}
	primary := ""
	if _, ok := sites2q["CZ"]; ok {
		primary = "CZ"
	} else {
		for g, k := range sites2q {
			if primary == "" || k > sites2q[primary] || (k == sites2q[primary] && g < primary) {
				primary = g
			}
		}
	}
	var others []string
	for g := range sites2q {
		if g != primary {
			others = append(others, strings.ToLower(g))
		}
	}
	sort.Strings(others)

	devName := x.name
	if devName == "" {
		devName = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(name), FilePrefix), ".json")
	}
	topo, err := hal.NewTopology(devName, Vendor, x.family, strings.ToLower(primary), qubits, couplers)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	topo.Other2Q = others

	cal := hal.NewCalibration(topo)
	var latest time.Time
	stamp := func(c *characteristic) error {
		if c.stamp == "" {
			return nil
		}
		t, err := time.Parse(time.RFC3339Nano, c.stamp)
		if err != nil {
			// QCS writes RFC 3339; a time without a zone is taken as UTC.
			if t, err = time.Parse("2006-01-02T15:04:05.999999999", c.stamp); err != nil {
				return fmt.Errorf("%s: field %s.timestamp: %q is not an RFC 3339 time", name, c.path, c.stamp)
			}
		}
		if !t.Before(recorded) && t.After(latest) {
			latest = t
		}
		return nil
	}
	// errorOf returns 1 - the fidelity of a characteristic.
	errorOf := func(c *characteristic) (float64, error) {
		if !c.isNum {
			return 0, fmt.Errorf("%s: field %s.value: missing or not a number", name, c.path)
		}
		if c.value < 0 || c.value > 1+fidelitySlack {
			return 0, fmt.Errorf("%s: field %s.value: fidelity %v is outside 0..1", name, c.path, c.value)
		}
		if err := stamp(c); err != nil {
			return 0, err
		}
		return max(0, 1-c.value), nil
	}

	for _, op := range x.instructions {
		for _, s := range op.sites {
			switch {
			case op.name == "MEASURE" && len(s.nodes) == 1:
				for ci := range s.chars {
					c := &s.chars[ci]
					if c.name != "fRO" {
						continue
					}
					e, err := errorOf(c)
					if err != nil {
						return nil, err
					}
					cal.Qubits[index[s.nodes[0]]].ReadoutError = e
				}
			case len(s.nodes) == 2:
				a, b := index[s.nodes[0]], index[s.nodes[1]]
				ci := topo.CouplerIndex(a, b)
				if ci < 0 {
					return nil, fmt.Errorf("%s: field %s: %s on nodes (%d,%d), which are not an edge of architecture.edges",
						name, s.path, op.name, s.nodes[0], s.nodes[1])
				}
				best := hal.NaN
				for k := range s.chars {
					c := &s.chars[k]
					if c.name != "f"+op.name {
						continue
					}
					e, err := errorOf(c)
					if err != nil {
						return nil, err
					}
					if !hal.Known(best) || e < best {
						best = e
					}
				}
				if hal.Known(best) {
					cc := &cal.Couplers[ci]
					cc.Gates = append(cc.Gates, hal.GateCal{Gate: strings.ToLower(op.name), Dir: hal.DirSymmetric, Error: best, Duration: hal.NaN})
				}
			}
		}
	}

	// Single-qubit RB: the isolated benchmark first, the simultaneous one
	// for qubits it does not cover.
	for _, bench := range []string{"randomized_benchmark_1q", "randomized_benchmark_simultaneous_1q"} {
		for _, op := range x.benchmarks {
			if op.name != bench {
				continue
			}
			for _, s := range op.sites {
				for k := range s.chars {
					c := &s.chars[k]
					if c.name != "fRB" {
						continue
					}
					nodes := s.nodes
					if c.nodes != nil {
						nodes = c.nodes // simultaneous RB: one figure per node of the site
					}
					if len(nodes) != 1 {
						continue
					}
					qi, err := lookup(nodes[0], c.path)
					if err != nil {
						return nil, err
					}
					e, err := errorOf(c)
					if err != nil {
						return nil, err
					}
					if !hal.Known(cal.Qubits[qi].Error1Q) {
						cal.Qubits[qi].Error1Q = e
					}
				}
			}
		}
	}

	for i := range cal.Qubits {
		if !live[i] {
			cal.Qubits[i].Broken = hal.ReasonDeadQubit
		}
	}
	cal.Time = latest
	m, err := hal.Finalize(topo, cal)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// parseISA reads the parts of an ISA the importer uses; it checks the
// syntax of the whole file.
func parseISA(data []byte) (*isa, error) {
	x := &isa{}
	d := jsonscan.NewDecoder(data)
	ints := func(dst *[]int) error {
		*dst = []int{}
		return d.Array(func(int) error {
			v, err := d.Int()
			*dst = append(*dst, v)
			return err
		})
	}
	ops := func(dst *[]operation) error {
		return d.Array(func(int) error {
			op := operation{path: d.Path()}
			err := d.Object(func(key string) error {
				if d.Null() {
					return nil
				}
				switch key {
				case "name":
					var err error
					op.name, err = d.String()
					return err
				case "sites":
					return d.Array(func(int) error {
						s := site{path: d.Path()}
						err := d.Object(func(key string) error {
							if d.Null() {
								return nil
							}
							switch key {
							case "node_ids":
								return ints(&s.nodes)
							case "characteristics":
								return d.Array(func(int) error {
									c, err := readCharacteristic(d, ints)
									s.chars = append(s.chars, c)
									return err
								})
							}
							return nil
						})
						op.sites = append(op.sites, s)
						return err
					})
				}
				return nil
			})
			*dst = append(*dst, op)
			return err
		})
	}
	err := d.Object(func(key string) error {
		if d.Null() {
			return nil
		}
		var err error
		switch key {
		case "name":
			x.name, err = d.String()
		case "architecture":
			x.hasArch = true
			err = d.Object(func(key string) error {
				if d.Null() {
					return nil
				}
				switch key {
				case "family":
					if d.Kind() == jsonscan.String {
						var err error
						x.family, err = d.String()
						return err
					}
				case "nodes":
					x.hasNodes = true
					return d.Array(func(int) error {
						found := false
						err := d.Object(func(key string) error {
							if key != "node_id" {
								return nil
							}
							found = true
							id, err := d.Int()
							x.nodes = append(x.nodes, id)
							x.nodePaths = append(x.nodePaths, d.Path())
							return err
						})
						if err == nil && !found {
							return d.Errorf("node without node_id")
						}
						return err
					})
				case "edges":
					return d.Array(func(int) error {
						found := false
						err := d.Object(func(key string) error {
							if key != "node_ids" {
								return nil
							}
							found = true
							var e []int
							err := ints(&e)
							x.edges = append(x.edges, e)
							x.edgePaths = append(x.edgePaths, d.Path())
							return err
						})
						if err == nil && !found {
							return d.Errorf("edge without node_ids")
						}
						return err
					})
				}
				return nil
			})
		case "instructions":
			x.hasIns = true
			err = ops(&x.instructions)
		case "benchmarks":
			err = ops(&x.benchmarks)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return x, d.Finish()
}

// readCharacteristic reads {name, value, error, timestamp, node_ids,
// parameter_values}.
func readCharacteristic(d *jsonscan.Decoder, ints func(*[]int) error) (characteristic, error) {
	c := characteristic{path: d.Path()}
	err := d.Object(func(key string) error {
		if d.Null() {
			return nil
		}
		var err error
		switch key {
		case "name":
			c.name, err = d.String()
		case "value":
			if d.Kind() == jsonscan.Number {
				c.value, err = d.Float()
				c.isNum = err == nil
			}
		case "timestamp":
			if d.Kind() == jsonscan.String {
				c.stamp, err = d.String()
			}
		case "node_ids":
			err = ints(&c.nodes)
		}
		return err
	})
	return c, err
}
