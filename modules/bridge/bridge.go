// Package bridge converts between the module ABI's values (modules/abi) and
// the native engine's (hal.Model, alloc.Request, alloc.Occupancy), on both
// sides of the sandbox: the host (runtime/sandbox) encodes a device, a
// request and an occupancy for a module; a built-in module
// (modules/builtin/...) rebuilds them inside the guest and runs the very
// code the native path runs. Round trips preserve everything the engine
// reads, so that both deployments give the same placements.
package bridge

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/runtime/alloc"
)

// DeviceOf returns the device view of m.
func DeviceOf(m *hal.Model) *abi.Device {
	d := &abi.Device{Epoch: m.Cal.Epoch, Name: m.Name,
		Qubits: make([]abi.Qubit, m.N()), Couplers: make([]abi.Coupler, len(m.Couplers))}
	for i := range d.Qubits {
		q := &m.Cal.Qubits[i]
		d.Qubits[i] = abi.Qubit{Usable: q.Usable, ReadoutError: q.ReadoutError, Error1Q: q.Error1Q,
			T1: q.T1, T2: q.T2, Duration1Q: q.Duration1Q, ReadoutLength: q.ReadoutLength,
			Frequency: q.Frequency, Anharmonicity: q.Anharmonicity}
	}
	for i, e := range m.Couplers {
		c := &m.Cal.Couplers[i]
		d.Couplers[i] = abi.Coupler{A: e.A, B: e.B, Usable: c.Usable, Error: c.Error, Duration: c.Duration}
	}
	return d
}

// ReasonView is the Reason of a qubit or coupler that a device view marks
// unusable (the view does not say why).
const ReasonView = "unusable in the device view"

// Model rebuilds a device model from a device view. The topology has the
// view's qubits (named by index) and couplers; the calibration has the
// view's figures and usability, with hal's rules re-applied so that a
// malformed view cannot mark usable what the engine could not use (a
// readout or 2-qubit error that is unknown or >= 0.5, a coupler with an
// unusable end). The calibration keeps the view's epoch.
func Model(d *abi.Device) (*hal.Model, error) {
	n := len(d.Qubits)
	qubits := make([]hal.QubitInfo, n)
	for i := range qubits {
		qubits[i] = hal.QubitInfo{Index: i, Name: strconv.Itoa(i), Row: -1, Col: -1}
	}
	edges := make([]hal.Edge, len(d.Couplers))
	for i, c := range d.Couplers {
		edges[i] = hal.Edge{A: c.A, B: c.B}
	}
	t, err := hal.NewTopology(d.Name, "", "", "", qubits, edges)
	if err != nil {
		return nil, fmt.Errorf("bridge: device view: %w", err)
	}
	cal := &hal.Calibration{Epoch: d.Epoch, Qubits: make([]hal.QubitCal, n), Couplers: make([]hal.CouplerCal, len(t.Couplers))}
	for i, q := range d.Qubits {
		usable := q.Usable && okError(q.ReadoutError) && (!hal.Known(q.Error1Q) || q.Error1Q < hal.BrokenThreshold)
		reason := hal.ReasonNone
		if !usable {
			reason = ReasonView
		}
		cal.Qubits[i] = hal.QubitCal{T1: q.T1, T2: q.T2, Frequency: q.Frequency, Anharmonicity: q.Anharmonicity,
			Error1Q: q.Error1Q, Duration1Q: q.Duration1Q, ReadoutError: q.ReadoutError, P01: hal.NaN, P10: hal.NaN,
			ReadoutLength: q.ReadoutLength, Usable: usable, Reason: reason}
	}
	set := make([]bool, len(t.Couplers))
	for _, c := range d.Couplers {
		ci := t.CouplerIndex(c.A, c.B)
		if ci < 0 || set[ci] {
			continue // duplicates: the first one counts, as NewTopology merged them
		}
		set[ci] = true
		own := c.Usable && okError(c.Error)
		usable := own && cal.Qubits[c.A].Usable && cal.Qubits[c.B].Usable
		cc := hal.CouplerCal{Gates: []hal.GateCal{{Gate: "native", Dir: hal.DirSymmetric, Error: c.Error, Duration: c.Duration}},
			Error: c.Error, Duration: c.Duration, Gate: "native", Usable: usable}
		if !own {
			cc.OwnReason = ReasonView
		}
		if !usable {
			cc.Reason = ReasonView
			if own {
				cc.Reason = hal.ReasonEndpointDown
			}
		}
		cal.Couplers[ci] = cc
	}
	return &hal.Model{Topology: t, Cal: cal}, nil
}

func okError(e float64) bool { return e >= 0 && e < hal.BrokenThreshold }

var shapeToABI = map[alloc.ShapeKind]abi.Shape{
	alloc.ShapeGraph: abi.ShapeGraph, alloc.ShapeLinear: abi.ShapeLinear, alloc.ShapeRing: abi.ShapeRing,
	alloc.ShapeStar: abi.ShapeStar, alloc.ShapeGrid: abi.ShapeGrid, alloc.ShapeClique: abi.ShapeClique,
	alloc.ShapeNone: abi.ShapeNone,
}

var shapeFromABI = map[abi.Shape]alloc.ShapeKind{}

func init() {
	for k, v := range shapeToABI {
		shapeFromABI[v] = k
	}
}

// FillRequest sets dst to the ABI form of r (which must be valid, see
// alloc.Request.Validate), reusing dst's storage: the interactions of a
// shape are listed in the shape's numbering, those of a graph merged (counts
// summed) and sorted.
func FillRequest(dst *abi.Request, r *alloc.Request, epoch uint64, maxCandidates int) error {
	shape, ok := shapeToABI[r.Shape.Kind]
	if !ok {
		return fmt.Errorf("bridge: request: unknown shape kind %d", r.Shape.Kind)
	}
	k := r.Qubits
	*dst = abi.Request{Epoch: epoch, Qubits: k, Shape: shape, Buffer: r.Buffer, Budget: r.Budget,
		NoRouting: r.NoRouting, Floor: r.Floor, FragWeight: r.FragWeight, MaxCandidates: maxCandidates,
		Edges: dst.Edges[:0], Measured: dst.Measured[:0], OneQ: dst.OneQ[:0]}
	if shape == abi.ShapeGrid {
		dst.Rows, dst.Cols = r.Shape.Rows, r.Shape.Cols
	}
	for i := 0; i < k; i++ {
		dst.Measured = append(dst.Measured, true)
	}
	add := func(a, b, c int) {
		if a > b {
			a, b = b, a
		}
		dst.Edges = append(dst.Edges, abi.Edge{A: a, B: b, Count: c})
	}
	if g := r.Graph; g != nil {
		for _, p := range g.Pairs {
			add(p.A, p.B, p.Count)
		}
		if len(g.OneQ) > 0 {
			dst.OneQ = append(dst.OneQ, g.OneQ...)
		} else {
			dst.OneQ = nil
		}
		if g.Measured != nil {
			for i := range dst.Measured {
				dst.Measured[i] = false
			}
			for _, q := range g.Measured {
				if q >= 0 && q < k {
					dst.Measured[q] = true
				}
			}
		}
	} else {
		dst.OneQ = nil
		r.Shape.EachPair(k, func(a, b int) { add(a, b, 1) })
	}
	e := dst.Edges
	sort.Slice(e, func(i, j int) bool {
		if e[i].A != e[j].A {
			return e[i].A < e[j].A
		}
		return e[i].B < e[j].B
	})
	out := e[:0]
	for _, x := range e {
		if l := len(out); l > 0 && out[l-1].A == x.A && out[l-1].B == x.B {
			out[l-1].Count += x.Count
			continue
		}
		out = append(out, x)
	}
	dst.Edges = out
	return nil
}

// Request rebuilds an engine request from its ABI form: a shape request
// as a shape (so that the engine compiles the same pattern as on the
// host), a graph request as a graph.
func Request(r *abi.Request) (*alloc.Request, error) {
	out := &alloc.Request{}
	if err := RequestTo(out, r); err != nil {
		return nil, err
	}
	return out, nil
}

// RequestTo is Request into out (a guest reuses one request: an allocation
// per call is dear there).
func RequestTo(out *alloc.Request, r *abi.Request) error {
	kind, ok := shapeFromABI[r.Shape]
	if !ok {
		return fmt.Errorf("bridge: request: unknown shape %d", r.Shape)
	}
	*out = alloc.Request{Qubits: r.Qubits, Shape: alloc.Shape{Kind: kind}, Floor: r.Floor, Buffer: r.Buffer,
		Budget: r.Budget, FragWeight: r.FragWeight, NoRouting: r.NoRouting}
	if kind == alloc.ShapeGrid {
		out.Shape.Rows, out.Shape.Cols = r.Rows, r.Cols
	}
	if kind == alloc.ShapeGraph {
		g := &alloc.Graph{Pairs: make([]alloc.Pair, len(r.Edges))}
		for i, e := range r.Edges {
			g.Pairs[i] = alloc.Pair{A: e.A, B: e.B, Count: e.Count}
		}
		if r.OneQ != nil {
			g.OneQ = append([]int(nil), r.OneQ...)
		}
		all := true
		for _, m := range r.Measured {
			all = all && m
		}
		if !all {
			g.Measured = []int{}
			for i, m := range r.Measured {
				if m {
					g.Measured = append(g.Measured, i)
				}
			}
		}
		out.Graph = g
	}
	if err := out.Validate(0); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	return nil
}

// OccupancyBuilder computes the ABI occupancy of a device for requests,
// reusing its scratch between calls. It is not safe for concurrent use.
type OccupancyBuilder struct {
	dist  []int32
	queue []int32
	res   []bool
}

// Fill sets dst to the occupancy of m for a request with isolation
// distance buffer, given the engine's occupancy (nil: empty device) and the
// reserved qubits: every qubit's status (see abi.QubitStatus; the rules are
// alloc.Validate's), the task slot holding it (tasks numbered in the order
// of their lowest qubit), each slot's buffer, and the reserved qubits in
// range.
func (b *OccupancyBuilder) Fill(dst *abi.Occupancy, m *hal.Model, occ *alloc.Occupancy, reserved []int, buffer int) {
	n := m.N()
	dst.Status = resize(dst.Status, n)
	dst.Owner = resize(dst.Owner, n)
	dst.TaskBuffers = dst.TaskBuffers[:0]
	dst.Reserved = dst.Reserved[:0]
	if cap(b.res) < n {
		b.res = make([]bool, n)
	}
	b.res = b.res[:n]
	clear(b.res)
	if occ != nil && occ.N() == n {
		dst.Owner, dst.TaskBuffers = occ.AppendSlots(dst.Owner[:0], dst.TaskBuffers)
	} else {
		for q := range dst.Owner {
			dst.Owner[q] = -1
		}
	}
	for _, q := range reserved {
		if q >= 0 && q < n && !b.res[q] {
			b.res[q] = true
			dst.Reserved = append(dst.Reserved, q)
		}
	}
	// Buffered: within max(buffer, task's buffer) hops of a held qubit, or
	// within buffer hops of a reserved one. One multi-source BFS per
	// distinct radius.
	if cap(b.dist) < n {
		b.dist = make([]int32, n)
	}
	b.dist = b.dist[:n]
	blocked := dst.Status // used as a mark: 1 = within some radius
	for q := range blocked {
		blocked[q] = 0
	}
	radii := map[int]bool{}
	if len(dst.Reserved) > 0 && buffer > 0 {
		radii[buffer] = true
	}
	for _, tb := range dst.TaskBuffers {
		if r := max(buffer, tb); r > 0 {
			radii[r] = true
		}
	}
	for R := range radii {
		b.queue = b.queue[:0]
		for q := range b.dist {
			b.dist[q] = -1
		}
		for q := 0; q < n; q++ {
			src := (dst.Owner[q] >= 0 && max(buffer, dst.TaskBuffers[dst.Owner[q]]) == R) || (b.res[q] && buffer == R)
			if src {
				b.dist[q] = 0
				b.queue = append(b.queue, int32(q))
			}
		}
		for h := 0; h < len(b.queue); h++ {
			u := b.queue[h]
			du := b.dist[u]
			if du > 0 {
				blocked[u] = 1
			}
			if int(du) == R {
				continue
			}
			for _, w := range m.Neighbors(int(u)) {
				if b.dist[w] < 0 {
					b.dist[w] = du + 1
					b.queue = append(b.queue, w)
				}
			}
		}
	}
	for q := 0; q < n; q++ {
		st := abi.QubitAvailable
		switch {
		case !m.QubitUsable(q):
			st = abi.QubitUnusable
		case dst.Owner[q] >= 0:
			st = abi.QubitHeld
		case b.res[q]:
			st = abi.QubitReserved
		case blocked[q] != 0:
			st = abi.QubitBuffered
		}
		dst.Status[q] = st
	}
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
