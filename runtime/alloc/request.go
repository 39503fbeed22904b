package alloc

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// ShapeKind is a connectivity shape a request can ask for.
type ShapeKind uint8

// Shapes. Logical qubits follow the shape's own numbering: linear 0-1-2-...,
// ring 0-1-...-(n-1)-0, star centre 0 with leaves 1..n-1, grid row-major
// (qubit r*Cols+c), clique every pair, none no pair.
const (
	ShapeGraph  ShapeKind = iota // no shape: the request carries an interaction Graph
	ShapeLinear                  // a path
	ShapeRing                    // a cycle (n <= 2: the same as linear)
	ShapeStar                    // a centre coupled to every leaf
	ShapeGrid                    // Rows x Cols grid
	ShapeClique                  // every pair interacts
	ShapeNone                    // no interaction: the n best readout qubits
)

var shapeNames = [...]string{"graph", "linear", "ring", "star", "grid", "clique", "none"}

// Shape is a connectivity shape; Rows and Cols are set for ShapeGrid only.
type Shape struct {
	Kind ShapeKind
	Rows int
	Cols int
}

// String returns the shape in the form ParseShape reads ("grid:2x3").
func (s Shape) String() string {
	if int(s.Kind) >= len(shapeNames) {
		return fmt.Sprintf("shape(%d)", s.Kind)
	}
	if s.Kind == ShapeGrid {
		return fmt.Sprintf("grid:%dx%d", s.Rows, s.Cols)
	}
	return shapeNames[s.Kind]
}

// EachPair calls add(a, b) once for each pair of the shape's k logical
// qubits that interact (a grid takes its rows and columns from s), in the
// shape's numbering.
func (s Shape) EachPair(k int, add func(a, b int)) {
	switch s.Kind {
	case ShapeLinear:
		for i := 0; i+1 < k; i++ {
			add(i, i+1)
		}
	case ShapeRing:
		for i := 0; i+1 < k; i++ {
			add(i, i+1)
		}
		if k >= 3 {
			add(k-1, 0)
		}
	case ShapeStar:
		for i := 1; i < k; i++ {
			add(0, i)
		}
	case ShapeGrid:
		R, C := s.Rows, s.Cols
		for i := 0; i < R; i++ {
			for j := 0; j < C; j++ {
				q := i*C + j
				if j+1 < C {
					add(q, q+1)
				}
				if i+1 < R {
					add(q, q+C)
				}
			}
		}
	case ShapeClique:
		for i := 0; i < k; i++ {
			for j := i + 1; j < k; j++ {
				add(i, j)
			}
		}
	}
}

// ParseShape reads "linear", "ring", "star", "grid:RxC", "clique" or "none"
// (case-insensitive).
func ParseShape(s string) (Shape, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch t {
	case "linear", "line", "chain", "path":
		return Shape{Kind: ShapeLinear}, nil
	case "ring", "cycle":
		return Shape{Kind: ShapeRing}, nil
	case "star":
		return Shape{Kind: ShapeStar}, nil
	case "clique", "all-to-all", "full":
		return Shape{Kind: ShapeClique}, nil
	case "none", "independent":
		return Shape{Kind: ShapeNone}, nil
	}
	if rest, ok := strings.CutPrefix(t, "grid:"); ok {
		r, c, ok := strings.Cut(rest, "x")
		if !ok {
			return Shape{}, badRequest("shape", "%q: grid must be grid:RxC, e.g. grid:2x3", s)
		}
		rows, err1 := strconv.Atoi(r)
		cols, err2 := strconv.Atoi(c)
		if err1 != nil || err2 != nil || rows < 1 || cols < 1 {
			return Shape{}, badRequest("shape", "%q: grid rows and columns must be positive integers", s)
		}
		return Shape{Kind: ShapeGrid, Rows: rows, Cols: cols}, nil
	}
	return Shape{}, badRequest("shape", "unknown shape %q (want linear, ring, star, grid:RxC, clique or none)", s)
}

// Pair is one interaction of a Graph: Count 2-qubit gates between logical
// qubits A and B (in either direction).
type Pair struct {
	A     int `json:"a"`
	B     int `json:"b"`
	Count int `json:"count"`
}

// Graph is the interaction graph of a task, e.g. extracted from a circuit.
type Graph struct {
	// Pairs lists the interacting pairs with their 2-qubit gate counts.
	// Repeated pairs (in either order) are summed.
	Pairs []Pair `json:"pairs"`
	// OneQ is the number of single-qubit gates on each logical qubit (empty:
	// unknown, no single-qubit term in the ESP).
	OneQ []int `json:"one_q,omitempty"`
	// Measured lists the logical qubits that are read out. nil means every
	// qubit is measured; an empty, non-nil slice means none is.
	Measured []int `json:"measured,omitempty"`
}

// Request asks for qubits. Exactly one of Shape (Kind != ShapeGraph) and
// Graph is given.
type Request struct {
	// Qubits is the number of logical qubits.
	Qubits int
	// Shape is the connectivity shape; ShapeGraph when Graph is given.
	Shape Shape
	// Graph is the interaction graph (nil for a shape request).
	Graph *Graph
	// Floor is the lowest acceptable ESP (0: none).
	Floor float64
	// Buffer is the isolation distance d: at least d idle qubits on every
	// path to another task's qubits (hop distance >= d+1). 0 allows
	// adjacent tasks.
	Buffer int
	// Budget bounds the search, in search nodes (0: Options.DefaultBudget).
	// Equal inputs and budget give equal placements.
	Budget int
	// FragWeight weighs the fragmentation penalty against -ln(ESP): the
	// objective is -ln(ESP) + FragWeight * (free qubits bordering the
	// placement's isolation buffer). 0 is pure ESP (fragmentation then only
	// breaks exact ties).
	FragWeight float64
	// NoRouting refuses placements that need SWAPs: when the shape or graph
	// does not embed in the free couplers, the request fails with ErrNoRegion.
	NoRouting bool
}

// MaxBuffer is the largest isolation distance accepted.
const MaxBuffer = 64

// Validate checks the request against a device of n qubits.
func (r *Request) Validate(n int) error {
	if r == nil {
		return badRequest("request", "missing")
	}
	if r.Qubits <= 0 {
		return badRequest("qubits", "%d: must be at least 1", r.Qubits)
	}
	if n > 0 && r.Qubits > n {
		return badRequest("qubits", "%d: the device has only %d qubits", r.Qubits, n)
	}
	if r.Buffer < 0 || r.Buffer > MaxBuffer {
		return badRequest("buffer", "%d: must be in 0..%d", r.Buffer, MaxBuffer)
	}
	if r.Budget < 0 {
		return badRequest("budget", "%d: must be >= 0 (0: default)", r.Budget)
	}
	if math.IsNaN(r.Floor) || r.Floor < 0 || r.Floor > 1 {
		return badRequest("floor", "%v: must be in [0, 1]", r.Floor)
	}
	if math.IsNaN(r.FragWeight) || math.IsInf(r.FragWeight, 0) || r.FragWeight < 0 {
		return badRequest("frag_weight", "%v: must be a finite number >= 0", r.FragWeight)
	}
	if r.Graph != nil {
		if r.Shape.Kind != ShapeGraph {
			return badRequest("shape", "both a shape (%s) and an interaction graph given", r.Shape)
		}
		return r.Graph.validate(r.Qubits)
	}
	switch r.Shape.Kind {
	case ShapeGraph:
		return badRequest("shape", "missing: give a shape or an interaction graph")
	case ShapeLinear, ShapeRing, ShapeStar, ShapeClique, ShapeNone:
	case ShapeGrid:
		if r.Shape.Rows < 1 || r.Shape.Cols < 1 {
			return badRequest("shape", "%s: rows and columns must be positive", r.Shape)
		}
		if r.Shape.Rows*r.Shape.Cols != r.Qubits {
			return badRequest("shape", "%s has %d qubits, the request asks for %d", r.Shape, r.Shape.Rows*r.Shape.Cols, r.Qubits)
		}
	default:
		return badRequest("shape", "unknown shape kind %d", r.Shape.Kind)
	}
	return nil
}

func (g *Graph) validate(n int) error {
	for i, p := range g.Pairs {
		f := fmt.Sprintf("graph.pairs[%d]", i)
		if p.A < 0 || p.A >= n || p.B < 0 || p.B >= n {
			return badRequest(f, "(%d,%d): qubit outside 0..%d", p.A, p.B, n-1)
		}
		if p.A == p.B {
			return badRequest(f, "(%d,%d): a qubit cannot interact with itself", p.A, p.B)
		}
		if p.Count <= 0 {
			return badRequest(f, "(%d,%d): count %d must be at least 1", p.A, p.B, p.Count)
		}
	}
	if len(g.OneQ) != 0 && len(g.OneQ) != n {
		return badRequest("graph.one_q", "%d entries for %d qubits", len(g.OneQ), n)
	}
	for i, c := range g.OneQ {
		if c < 0 {
			return badRequest(fmt.Sprintf("graph.one_q[%d]", i), "%d: must be >= 0", c)
		}
	}
	for i, q := range g.Measured {
		if q < 0 || q >= n {
			return badRequest(fmt.Sprintf("graph.measured[%d]", i), "%d: qubit outside 0..%d", q, n-1)
		}
	}
	return nil
}

// wedge is a weighted logical edge, a < b.
type wedge struct {
	a, b int32
	w    float64
}

// logicalGraph returns the merged, sorted weighted edges of a validated
// request, the per-qubit readout weights (1 measured, 0 not) and the
// per-qubit single-qubit gate counts.
func (r *Request) logicalGraph() (edges []wedge, meas []float64, oneq []float64) {
	n := r.Qubits
	meas = make([]float64, n)
	oneq = make([]float64, n)
	for i := range meas {
		meas[i] = 1
	}
	add := func(a, b int, w float64) {
		if a > b {
			a, b = b, a
		}
		edges = append(edges, wedge{int32(a), int32(b), w})
	}
	if g := r.Graph; g != nil {
		for _, p := range g.Pairs {
			add(p.A, p.B, float64(p.Count))
		}
		for i, c := range g.OneQ {
			oneq[i] = float64(c)
		}
		if g.Measured != nil {
			for i := range meas {
				meas[i] = 0
			}
			for _, q := range g.Measured {
				meas[q] = 1
			}
		}
	} else {
		r.Shape.EachPair(n, func(a, b int) { add(a, b, 1) })
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].a != edges[j].a {
			return edges[i].a < edges[j].a
		}
		return edges[i].b < edges[j].b
	})
	out := edges[:0]
	for _, e := range edges {
		if k := len(out); k > 0 && out[k-1].a == e.a && out[k-1].b == e.b {
			out[k-1].w += e.w
			continue
		}
		out = append(out, e)
	}
	return out, meas, oneq
}

// ParseQubitList reads a comma-separated list of qubit indices and ranges
// ("3,4,5", "0-7,12") for a device of n qubits (n <= 0: no range check).
// Duplicates are an error. An empty string is an empty list. Errors are
// *RequestError (ErrBadRequest).
func ParseQubitList(s string, n int) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []int
	seen := map[int]bool{}
	for i, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		lo, hi := f, f
		if a, b, ok := strings.Cut(f, "-"); ok && a != "" {
			lo, hi = a, b
		}
		x, err1 := strconv.Atoi(strings.TrimSpace(lo))
		y, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil {
			return nil, badRequest("qubit list", "item %d %q: not a qubit index or range a-b", i+1, f)
		}
		if x < 0 || y < x {
			return nil, badRequest("qubit list", "item %d %q: bad index or range", i+1, f)
		}
		if n > 0 && y >= n {
			return nil, badRequest("qubit list", "item %d %q: qubit %d outside 0..%d", i+1, f, y, n-1)
		}
		for q := x; q <= y; q++ {
			if seen[q] {
				return nil, badRequest("qubit list", "item %d %q: qubit %d listed twice", i+1, f, q)
			}
			seen[q] = true
			out = append(out, q)
		}
	}
	return out, nil
}
