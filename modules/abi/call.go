package abi

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
)

// CallMagic starts a call input: the bytes "RMCI".
const CallMagic uint32 = 'R' | 'M'<<8 | 'C'<<16 | 'I'<<24

// CallHeaderSize is the size of a call input's header.
const CallHeaderSize = 128

// Fields of the call input header (byte offsets).
const (
	callMagic          = 0
	callVersion        = 4
	callEpoch          = 8
	callN              = 16
	callK              = 20
	callShape          = 24
	callRows           = 28
	callCols           = 32
	callBuffer         = 36
	callBudget         = 40
	callFlags          = 44
	callFloor          = 48
	callFragWeight     = 56
	callMaxCandidates  = 64
	callNEdges         = 68
	callOffEdges       = 72
	callOffMeasured    = 76
	callOffOneQ        = 80
	callOffStatus      = 84
	callOffOwner       = 88
	callNTasks         = 92
	callOffTaskBuffers = 96
	callNReserved      = 100
	callOffReserved    = 104
	callNCandidates    = 108
	callOffCandidates  = 112
	callOffCandFlags   = 116
	callTotal          = 120
)

// Request flags in the call input header.
const (
	// RequestNoRouting: placements that need SWAPs are refused.
	RequestNoRouting uint32 = 1
	// RequestOneQ: the single-qubit gate counts are given.
	RequestOneQ uint32 = 2
)

// CandidateRouted marks a candidate that needs SWAPs (some interacting pair
// is not on a usable coupler).
const CandidateRouted uint32 = 1

// MaxLogical bounds the number of logical qubits of a request.
const MaxLogical = MaxQubits

// MaxEdges bounds the number of interacting pairs of a request.
const MaxEdges = 1 << 22

// MaxCandidates bounds the number of candidates of one call.
const MaxCandidates = 4096

// MaxTasks bounds the number of tasks in an occupancy.
const MaxTasks = MaxQubits

// Shape is the connectivity shape of a request. The request's Edges always
// list the interactions, for shapes too; Shape tells modules that
// specialise in shapes which one it is. Logical qubits follow the shape's
// numbering: linear 0-1-2-..., ring 0-1-...-(k-1)-0, star centre 0, grid
// row-major (qubit r*Cols+c), clique every pair, none no pair.
type Shape uint32

// Shapes.
const (
	ShapeGraph  Shape = 0 // an interaction graph, no shape
	ShapeLinear Shape = 1
	ShapeRing   Shape = 2
	ShapeStar   Shape = 3
	ShapeGrid   Shape = 4
	ShapeClique Shape = 5
	ShapeNone   Shape = 6
)

// Edge is an interacting pair of logical qubits A < B with Count 2-qubit
// gates between them (1 for a shape).
type Edge struct {
	A, B  int
	Count int
}

// Request is what a call asks for: the task's logical qubits and their
// interactions, and the host's limits.
type Request struct {
	// Epoch is the calibration epoch of the device view the call is for.
	Epoch uint64
	// Qubits is the number of logical qubits (k).
	Qubits int
	// Shape, Rows and Cols describe a shape request (Rows, Cols: grid only).
	Shape      Shape
	Rows, Cols int
	// Buffer is the isolation distance d: at least d idle qubits between this
	// task's qubits and another task's (hop distance >= d+1, the larger of
	// the two tasks' buffers). Occupancy.Status already applies it.
	Buffer int
	// Budget is the host's search budget hint in nodes (0: the module's own).
	Budget int
	// NoRouting: every interacting pair must sit on a usable coupler.
	NoRouting bool
	// Floor is the lowest acceptable ESP (0: none); FragWeight weighs the
	// fragmentation penalty against -ln(ESP).
	Floor, FragWeight float64
	// MaxCandidates is how many candidates a placement module may return
	// (0 in scoring calls).
	MaxCandidates int
	// Edges are the interacting pairs, merged and sorted by (A, B).
	Edges []Edge
	// Measured says which logical qubits are read out.
	Measured []bool
	// OneQ is the number of single-qubit gates on each logical qubit; nil
	// when unknown.
	OneQ []int
}

// QubitStatus is what the occupancy says of one device qubit for this
// request.
type QubitStatus uint32

// Qubit statuses, by precedence (a qubit that is both unusable and held is
// unusable).
const (
	// QubitAvailable: usable, free, not reserved, outside every isolation
	// buffer: the request may use it.
	QubitAvailable QubitStatus = 0
	// QubitUnusable: the calibration rules it out.
	QubitUnusable QubitStatus = 1
	// QubitHeld: another task holds it.
	QubitHeld QubitStatus = 2
	// QubitReserved: a reservation keeps it for someone else.
	QubitReserved QubitStatus = 3
	// QubitBuffered: free, but within the isolation distance of another
	// task's qubit or of a reserved qubit.
	QubitBuffered QubitStatus = 4
)

// String names the status.
func (s QubitStatus) String() string {
	switch s {
	case QubitAvailable:
		return "available"
	case QubitUnusable:
		return "unusable"
	case QubitHeld:
		return "held"
	case QubitReserved:
		return "reserved"
	case QubitBuffered:
		return "buffered"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Occupancy is the state of the device's qubits for one call.
type Occupancy struct {
	// Status of every device qubit, for this request (its buffer applied).
	Status []QubitStatus
	// Owner is the task slot holding each qubit, -1 when free.
	Owner []int32
	// TaskBuffers is the isolation distance each task slot was placed with.
	TaskBuffers []int
	// Reserved lists the qubits reserved away from this request.
	Reserved []int
}

// Available reports whether the request may use qubit q.
func (o *Occupancy) Available(q int) bool {
	return q >= 0 && q < len(o.Status) && o.Status[q] == QubitAvailable
}

// Candidates is a list of candidate placements of k logical qubits:
// placement modules fill it, scoring modules read it. Mappings are stored
// flat; Mapping(i)[j] is the device qubit of logical qubit j in candidate i.
type Candidates struct {
	k, max int
	flat   []int32
	costs  []float64
	flags  []uint32
}

// Reset empties the list for candidates of k logical qubits, taking at
// most limit of them.
func (c *Candidates) Reset(k, limit int) {
	c.k, c.max = k, limit
	c.flat, c.costs, c.flags = c.flat[:0], c.costs[:0], c.flags[:0]
}

// K is the number of logical qubits of each candidate.
func (c *Candidates) K() int { return c.k }

// Max is the largest number of candidates the list takes.
func (c *Candidates) Max() int { return c.max }

// Len is the number of candidates.
func (c *Candidates) Len() int { return len(c.costs) }

// Full reports whether Add would refuse a new candidate.
func (c *Candidates) Full() bool { return len(c.costs) >= c.max }

// Add appends a candidate: mapping[j] is the device qubit of logical qubit
// j; cost is the module's estimate of -ln(ESP) (NaN: none); routed says
// that some interacting pair is not on a usable coupler. It reports false,
// and adds nothing, when the list is full or the mapping has the wrong
// length. The host checks every candidate; Add does not.
func (c *Candidates) Add(mapping []int, cost float64, routed bool) bool {
	if len(mapping) != c.k || c.Full() {
		return false
	}
	for _, q := range mapping {
		c.flat = append(c.flat, int32(q))
	}
	c.add(cost, routed)
	return true
}

// Add32 is Add for a mapping of int32.
func (c *Candidates) Add32(mapping []int32, cost float64, routed bool) bool {
	if len(mapping) != c.k || c.Full() {
		return false
	}
	c.flat = append(c.flat, mapping...)
	c.add(cost, routed)
	return true
}

func (c *Candidates) add(cost float64, routed bool) {
	var f uint32
	if routed {
		f = CandidateRouted
	}
	c.costs = append(c.costs, cost)
	c.flags = append(c.flags, f)
}

// Mapping returns candidate i's mapping. Do not modify or keep it.
func (c *Candidates) Mapping(i int) []int32 { return c.flat[i*c.k : (i+1)*c.k : (i+1)*c.k] }

// AppendMapping appends candidate i's mapping to dst as ints.
func (c *Candidates) AppendMapping(dst []int, i int) []int {
	for _, q := range c.Mapping(i) {
		dst = append(dst, int(q))
	}
	return dst
}

// Cost is the module's estimate of -ln(ESP) for candidate i (NaN: none).
func (c *Candidates) Cost(i int) float64 { return c.costs[i] }

// Routed reports whether candidate i needs SWAPs, by the module's account.
func (c *Candidates) Routed(i int) bool { return c.flags[i]&CandidateRouted != 0 }

// Score is a scoring module's verdict on one candidate.
type Score struct {
	// ESP is the estimated success probability, in [0, 1].
	ESP float64
	// Frag is the fragmentation penalty (>= 0), weighed by the request's
	// FragWeight against -ln(ESP).
	Frag float64
	// Swaps is the estimated number of SWAPs.
	Swaps int
}

// AppendCall appends the input of one call to dst: the request, the
// occupancy of a device of n qubits, and for scoring calls the candidates
// (nil for placement calls).
func AppendCall(dst []byte, n int, req *Request, occ *Occupancy, cands *Candidates) []byte {
	k := req.Qubits
	nc := 0
	if cands != nil {
		nc = cands.Len()
	}
	offEdges := CallHeaderSize
	offMeas := offEdges + 12*len(req.Edges)
	offOneQ := offMeas + 4*k
	offStatus := offOneQ + 4*k
	offOwner := offStatus + 4*n
	offTB := offOwner + 4*n
	offRes := offTB + 4*len(occ.TaskBuffers)
	offCand := offRes + 4*len(occ.Reserved)
	offCF := offCand + 4*nc*k
	total := align8(offCF + 4*nc)

	start := len(dst)
	dst = grow(dst, total)
	b := dst[start:]
	le := binary.LittleEndian
	u := func(off, v int) { le.PutUint32(b[off:], uint32(v)) }
	le.PutUint32(b[callMagic:], CallMagic)
	u(callVersion, Version)
	le.PutUint64(b[callEpoch:], req.Epoch)
	u(callN, n)
	u(callK, k)
	u(callShape, int(req.Shape))
	u(callRows, req.Rows)
	u(callCols, req.Cols)
	u(callBuffer, req.Buffer)
	u(callBudget, req.Budget)
	var flags uint32
	if req.NoRouting {
		flags |= RequestNoRouting
	}
	if req.OneQ != nil {
		flags |= RequestOneQ
	}
	le.PutUint32(b[callFlags:], flags)
	le.PutUint64(b[callFloor:], math.Float64bits(req.Floor))
	le.PutUint64(b[callFragWeight:], math.Float64bits(req.FragWeight))
	u(callMaxCandidates, req.MaxCandidates)
	u(callNEdges, len(req.Edges))
	u(callOffEdges, offEdges)
	u(callOffMeasured, offMeas)
	u(callOffOneQ, offOneQ)
	u(callOffStatus, offStatus)
	u(callOffOwner, offOwner)
	u(callNTasks, len(occ.TaskBuffers))
	u(callOffTaskBuffers, offTB)
	u(callNReserved, len(occ.Reserved))
	u(callOffReserved, offRes)
	u(callNCandidates, nc)
	u(callOffCandidates, offCand)
	u(callOffCandFlags, offCF)
	u(callTotal, total)
	for i, e := range req.Edges {
		u(offEdges+12*i, e.A)
		u(offEdges+12*i+4, e.B)
		u(offEdges+12*i+8, e.Count)
	}
	for i := 0; i < k; i++ {
		if i < len(req.Measured) && req.Measured[i] {
			u(offMeas+4*i, 1)
		}
		if i < len(req.OneQ) {
			u(offOneQ+4*i, req.OneQ[i])
		}
	}
	for q := 0; q < n; q++ {
		st, ow := QubitAvailable, int32(-1)
		if q < len(occ.Status) {
			st = occ.Status[q]
		}
		if q < len(occ.Owner) {
			ow = occ.Owner[q]
		}
		le.PutUint32(b[offStatus+4*q:], uint32(st))
		le.PutUint32(b[offOwner+4*q:], uint32(ow))
	}
	for i, x := range occ.TaskBuffers {
		u(offTB+4*i, x)
	}
	for i, q := range occ.Reserved {
		u(offRes+4*i, q)
	}
	if nc > 0 {
		for i, q := range cands.flat[:nc*k] {
			le.PutUint32(b[offCand+4*i:], uint32(q))
		}
		for i, f := range cands.flags[:nc] {
			le.PutUint32(b[offCF+4*i:], f)
		}
	}
	return dst
}

// CallEpoch returns the epoch a call input is for, without decoding the rest
// (0 when b is too short).
func CallEpoch(b []byte) uint64 {
	if len(b) < CallHeaderSize {
		return 0
	}
	return binary.LittleEndian.Uint64(b[callEpoch:])
}

// DecodeCall reads a call input into req, occ and (for scoring calls, when
// cands is not nil) cands, reusing their storage. It checks every offset,
// count and index, so that a module can trust what it gets: edges join
// distinct logical qubits in range, statuses are known, owners name a task,
// reserved qubits and candidate qubits are device qubits.
func DecodeCall(b []byte, req *Request, occ *Occupancy, cands *Candidates) error {
	const what = "call input"
	if len(b) < CallHeaderSize {
		return decodeErr(what, -1, "%d bytes, the header alone is %d", len(b), CallHeaderSize)
	}
	le := binary.LittleEndian
	u := func(off int) uint32 { return le.Uint32(b[off:]) }
	if g := u(callMagic); g != CallMagic {
		return decodeErr(what, callMagic, "magic %#x, want %#x (\"RMCI\")", g, CallMagic)
	}
	if v := u(callVersion); v != Version {
		return decodeErr(what, callVersion, "version %d, this guest reads version %d", v, Version)
	}
	if t := u(callTotal); uint64(t) > uint64(len(b)) {
		return decodeErr(what, callTotal, "total length %d, only %d bytes given", t, len(b))
	}
	n, k := u(callN), u(callK)
	if n == 0 || n > MaxQubits {
		return decodeErr(what, callN, "%d device qubits: want 1..%d", n, MaxQubits)
	}
	if k == 0 || k > n {
		return decodeErr(what, callK, "%d logical qubits for a device of %d", k, n)
	}
	ne, nt, nr, nc := u(callNEdges), u(callNTasks), u(callNReserved), u(callNCandidates)
	if ne > MaxEdges {
		return decodeErr(what, callNEdges, "%d edges: at most %d", ne, MaxEdges)
	}
	if nt > MaxTasks {
		return decodeErr(what, callNTasks, "%d tasks: at most %d", nt, MaxTasks)
	}
	if nr > n {
		return decodeErr(what, callNReserved, "%d reserved qubits on a device of %d", nr, n)
	}
	if nc > MaxCandidates {
		return decodeErr(what, callNCandidates, "%d candidates: at most %d", nc, MaxCandidates)
	}
	oe, om, o1, os := u(callOffEdges), u(callOffMeasured), u(callOffOneQ), u(callOffStatus)
	oo, otb, orr, oc, ocf := u(callOffOwner), u(callOffTaskBuffers), u(callOffReserved), u(callOffCandidates), u(callOffCandFlags)
	for _, s := range []struct {
		field                     int
		off, count, size, aligned uint32
	}{
		{callOffEdges, oe, ne, 12, 4},
		{callOffMeasured, om, k, 4, 4},
		{callOffOneQ, o1, k, 4, 4},
		{callOffStatus, os, n, 4, 4},
		{callOffOwner, oo, n, 4, 4},
		{callOffTaskBuffers, otb, nt, 4, 4},
		{callOffReserved, orr, nr, 4, 4},
		{callOffCandidates, oc, nc * k, 4, 4},
		{callOffCandFlags, ocf, nc, 4, 4},
	} {
		if err := section(what, b, s.field, s.off, s.count, s.size, s.aligned); err != nil {
			return err
		}
	}
	flags := u(callFlags)
	*req = Request{
		Epoch:  le.Uint64(b[callEpoch:]),
		Qubits: int(k), Shape: Shape(u(callShape)), Rows: int(u(callRows)), Cols: int(u(callCols)),
		Buffer: int(u(callBuffer)), Budget: int(u(callBudget)), NoRouting: flags&RequestNoRouting != 0,
		Floor:         math.Float64frombits(le.Uint64(b[callFloor:])),
		FragWeight:    math.Float64frombits(le.Uint64(b[callFragWeight:])),
		MaxCandidates: int(u(callMaxCandidates)),
		Edges:         req.Edges[:0], Measured: req.Measured[:0], OneQ: req.OneQ[:0],
	}
	if req.Shape > ShapeNone {
		return decodeErr(what, callShape, "unknown shape %d", req.Shape)
	}
	if req.MaxCandidates > MaxCandidates {
		return decodeErr(what, callMaxCandidates, "%d candidates: at most %d", req.MaxCandidates, MaxCandidates)
	}
	for i := uint32(0); i < ne; i++ {
		p := int(oe + 12*i)
		a, bb, c := u(p), u(p+4), u(p+8)
		if a >= k || bb >= k || a >= bb {
			return decodeErr(what, p, "edge %d joins logical qubits %d and %d (want a < b < %d)", i, a, bb, k)
		}
		if c == 0 || c > 1<<30 {
			return decodeErr(what, p+8, "edge %d has gate count %d", i, c)
		}
		req.Edges = append(req.Edges, Edge{A: int(a), B: int(bb), Count: int(c)})
	}
	for i := uint32(0); i < k; i++ {
		req.Measured = append(req.Measured, u(int(om+4*i)) != 0)
	}
	if flags&RequestOneQ != 0 {
		for i := uint32(0); i < k; i++ {
			c := u(int(o1 + 4*i))
			if c > 1<<30 {
				return decodeErr(what, int(o1+4*i), "logical qubit %d has %d single-qubit gates", i, c)
			}
			req.OneQ = append(req.OneQ, int(c))
		}
	} else {
		req.OneQ = nil
	}
	occ.TaskBuffers, occ.Reserved = occ.TaskBuffers[:0], occ.Reserved[:0]
	// The per-qubit arrays, read with one bounds check per array (a
	// guest decodes them on every call).
	occ.Status = slices.Grow(occ.Status[:0], int(n))[:n]
	occ.Owner = slices.Grow(occ.Owner[:0], int(n))[:n]
	st, ow := b[os:os+4*n], b[oo:oo+4*n]
	q := 0
	if sw, owv := words(st), words(ow); sw != nil {
		// Word loads where the platform allows; a bad entry stops this
		// loop and the one below names it.
		sw, owv = sw[:n], owv[:n]
		for ; q < len(sw); q++ {
			s, w := sw[q], int32(owv[q])
			if s > uint32(QubitBuffered) || w < -1 || w >= int32(nt) {
				break
			}
			occ.Status[q], occ.Owner[q] = QubitStatus(s), w
		}
	}
	for ; q < len(occ.Status); q++ {
		s := le.Uint32(st[4*q:])
		w := int32(le.Uint32(ow[4*q:]))
		if s > uint32(QubitBuffered) {
			return decodeErr(what, int(os)+4*q, "qubit %d has unknown status %d", q, s)
		}
		if w < -1 || w >= int32(nt) {
			return decodeErr(what, int(oo)+4*q, "qubit %d owned by task slot %d of %d", q, w, nt)
		}
		occ.Status[q] = QubitStatus(s)
		occ.Owner[q] = w
	}
	for i := uint32(0); i < nt; i++ {
		d := u(int(otb + 4*i))
		if d > 1<<16 {
			return decodeErr(what, int(otb+4*i), "task slot %d has buffer %d", i, d)
		}
		occ.TaskBuffers = append(occ.TaskBuffers, int(d))
	}
	for i := uint32(0); i < nr; i++ {
		q := u(int(orr + 4*i))
		if q >= n {
			return decodeErr(what, int(orr+4*i), "reserved qubit %d of a device of %d", q, n)
		}
		occ.Reserved = append(occ.Reserved, int(q))
	}
	if cands != nil {
		cands.Reset(int(k), int(nc))
		for i := uint32(0); i < nc*k; i++ {
			q := u(int(oc + 4*i))
			if q >= n {
				return decodeErr(what, int(oc+4*i), "candidate %d maps logical %d to qubit %d of %d", i/k, i%k, q, n)
			}
			cands.flat = append(cands.flat, int32(q))
		}
		for i := uint32(0); i < nc; i++ {
			cands.costs = append(cands.costs, math.NaN())
			cands.flags = append(cands.flags, u(int(ocf+4*i)))
		}
	}
	return nil
}

// CandidatesSize is the size of a placement answer of count candidates of
// k qubits.
func CandidatesSize(count, k int) int { return 8 + 12*count + 4*count*k }

// AppendCandidates appends a placement answer to dst:
//
//	u32 count, u32 k, f64 cost[count], u32 flags[count], u32 mapping[count*k]
func AppendCandidates(dst []byte, c *Candidates) []byte {
	nc := c.Len()
	start := len(dst)
	dst = grow(dst, CandidatesSize(nc, c.k))
	b := dst[start:]
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(nc))
	le.PutUint32(b[4:], uint32(c.k))
	p := 8
	for _, x := range c.costs {
		le.PutUint64(b[p:], math.Float64bits(x))
		p += 8
	}
	for _, f := range c.flags {
		le.PutUint32(b[p:], f)
		p += 4
	}
	for _, q := range c.flat[:nc*c.k] {
		le.PutUint32(b[p:], uint32(q))
		p += 4
	}
	return dst
}

// DecodeCandidates reads a placement answer for a request of k logical
// qubits on a device of n qubits into out (reusing its storage). It
// refuses answers of another k, with more than limit candidates, of the wrong
// length, or naming qubits outside 0..n-1. It does not check the rules of
// a placement (distinct, free, buffered, coupled): the host does that.
func DecodeCandidates(b []byte, k, limit, n int, out *Candidates) error {
	const what = "candidates"
	if len(b) < 8 {
		return decodeErr(what, -1, "%d bytes, the header alone is 8", len(b))
	}
	le := binary.LittleEndian
	nc, kk := le.Uint32(b[0:]), le.Uint32(b[4:])
	if int64(nc) > int64(limit) {
		return decodeErr(what, 0, "%d candidates, at most %d were asked for", nc, limit)
	}
	if nc > 0 && int64(kk) != int64(k) {
		return decodeErr(what, 4, "candidates of %d qubits, the request has %d", kk, k)
	}
	if want := CandidatesSize(int(nc), k); len(b) != want {
		return decodeErr(what, -1, "%d bytes, %d candidates of %d qubits take %d", len(b), nc, k, want)
	}
	out.Reset(k, limit)
	p := 8
	for i := uint32(0); i < nc; i++ {
		out.costs = append(out.costs, math.Float64frombits(le.Uint64(b[p:])))
		p += 8
	}
	for i := uint32(0); i < nc; i++ {
		out.flags = append(out.flags, le.Uint32(b[p:]))
		p += 4
	}
	for i := 0; i < int(nc)*k; i++ {
		q := le.Uint32(b[p:])
		if uint64(q) >= uint64(n) {
			return decodeErr(what, p, "candidate %d maps logical %d to qubit %d, outside 0..%d", i/k, i%k, q, n-1)
		}
		out.flat = append(out.flat, int32(q))
		p += 4
	}
	return nil
}

// ScoresSize is the size of a scoring answer of count scores.
func ScoresSize(count int) int { return 8 + 20*count }

// AppendScores appends a scoring answer to dst:
//
//	u32 count, u32 0, f64 esp[count], f64 frag[count], u32 swaps[count]
func AppendScores(dst []byte, s []Score) []byte {
	start := len(dst)
	dst = grow(dst, ScoresSize(len(s)))
	b := dst[start:]
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(len(s)))
	p := 8
	for _, x := range s {
		le.PutUint64(b[p:], math.Float64bits(x.ESP))
		p += 8
	}
	for _, x := range s {
		le.PutUint64(b[p:], math.Float64bits(x.Frag))
		p += 8
	}
	for _, x := range s {
		le.PutUint32(b[p:], uint32(x.Swaps))
		p += 4
	}
	return dst
}

// DecodeScores reads a scoring answer of exactly count scores into out
// (reusing its storage). It refuses answers of another count or length,
// an ESP outside [0, 1] or not a number, and a negative, infinite or NaN
// fragmentation penalty.
func DecodeScores(b []byte, count int, out []Score) ([]Score, error) {
	const what = "scores"
	if len(b) < 8 {
		return out, decodeErr(what, -1, "%d bytes, the header alone is 8", len(b))
	}
	le := binary.LittleEndian
	if nc := le.Uint32(b[0:]); int64(nc) != int64(count) {
		return out, decodeErr(what, 0, "%d scores for %d candidates", nc, count)
	}
	if want := ScoresSize(count); len(b) != want {
		return out, decodeErr(what, -1, "%d bytes, %d scores take %d", len(b), count, want)
	}
	out = out[:0]
	for i := 0; i < count; i++ {
		esp := math.Float64frombits(le.Uint64(b[8+8*i:]))
		frag := math.Float64frombits(le.Uint64(b[8+8*count+8*i:]))
		sw := le.Uint32(b[8+16*count+4*i:])
		if !(esp >= 0 && esp <= 1) {
			return out, decodeErr(what, 8+8*i, "candidate %d: ESP %v outside [0, 1]", i, esp)
		}
		if !(frag >= 0) || math.IsInf(frag, 1) {
			return out, decodeErr(what, 8+8*count+8*i, "candidate %d: fragmentation %v is not a finite number >= 0", i, frag)
		}
		if sw > 1<<30 {
			return out, decodeErr(what, 8+16*count+4*i, "candidate %d: %d swaps", i, sw)
		}
		out = append(out, Score{ESP: esp, Frag: frag, Swaps: int(sw)})
	}
	return out, nil
}
