package alloc

import (
	"github.com/eigen-os/rm/hal"
)

// Validate checks a placement of req on the device m given the occupancy
// (nil: empty device) and the reserved qubits:
//
//   - one physical qubit per logical qubit, in range, no qubit twice;
//   - every qubit usable, not held by a task, not reserved;
//   - isolation: hop distance (over all couplers) >= d+1 from every qubit of
//     every other task, d the larger of req.Buffer and that task's buffer,
//     and >= req.Buffer+1 from every reserved qubit;
//   - an embedded placement (every interacting pair on a usable coupler) is
//     always acceptable; otherwise (unless req.NoRouting) every interacting
//     pair must be connected through the placement's own qubits by usable
//     couplers, so that SWAPs can bring it together.
//
// It is the host's check of every candidate, including a strategy
// module's: it trusts nothing but the model, the occupancy and the request.
func Validate(m *hal.Model, req *Request, occ *Occupancy, reserved []int, mapping []int) error {
	if m == nil || m.Topology == nil || m.Cal == nil {
		return ErrModel
	}
	if err := req.Validate(m.N()); err != nil {
		return err
	}
	if occ != nil && occ.N() != m.N() {
		return invalid(-1, -1, "occupancy is for %d qubits, device has %d", occ.N(), m.N())
	}
	res := make(map[int]bool, len(reserved))
	for _, q := range reserved {
		res[q] = true
	}
	edges, _, _ := req.logicalGraph()
	m32 := make([]int32, len(mapping))
	for i, q := range mapping {
		if q < -1 || q >= m.N() {
			return invalid(i, q, "outside 0..%d", m.N()-1)
		}
		m32[i] = int32(q)
	}
	var b bfsScratch
	return validate(m, req, edges, occ, func(q int) bool { return res[q] }, m32, &b)
}

func validate(m *hal.Model, req *Request, edges []wedge, occ *Occupancy, reserved func(int) bool, mapping []int32, b *bfsScratch) error {
	n := m.N()
	if len(mapping) != req.Qubits {
		return invalid(-1, -1, "%d qubits mapped, request has %d", len(mapping), req.Qubits)
	}
	for i, q := range mapping {
		if q < 0 || int(q) >= n {
			return invalid(i, int(q), "outside 0..%d", n-1)
		}
		for j := 0; j < i; j++ {
			if mapping[j] == q {
				return invalid(i, int(q), "also used by logical %d", j)
			}
		}
		qc := &m.Cal.Qubits[q]
		if !qc.Usable {
			return invalid(i, int(q), "unusable (%s)", qc.Reason)
		}
		if occ != nil {
			if s := occ.owner[q]; s >= 0 {
				return invalid(i, int(q), "held by task %q", occ.name(s))
			}
		}
		if reserved(int(q)) {
			return invalid(i, int(q), "reserved")
		}
	}
	R := req.Buffer
	anyOcc := occ != nil && occ.used > 0
	if anyOcc {
		R = max(R, occ.maxBuffer())
	}
	if R > 0 {
		for i, q := range mapping {
			x, d := b.nearestViolation(m.Topology, int(q), R, func(x int32, d int) bool {
				if anyOcc {
					if s := occ.owner[x]; s >= 0 && d <= max(req.Buffer, occ.slots[s].buffer) {
						return true
					}
				}
				return d <= req.Buffer && reserved(int(x))
			})
			if x >= 0 {
				if t, ok := occ.Owner(int(x)); ok {
					return invalid(i, int(q), "%d hops from qubit %d of task %q: isolation needs >= %d", d, x, t,
						max(req.Buffer, occ.slots[occ.owner[x]].buffer)+1)
				}
				return invalid(i, int(q), "%d hops from reserved qubit %d: isolation needs >= %d", d, x, req.Buffer+1)
			}
		}
	}
	return validateLinks(m, req, edges, mapping)
}

// validateLinks is validate's last check: every interacting pair is on a
// usable coupler, or (routing allowed) joined by a path of usable couplers
// within the placement.
func validateLinks(m *hal.Model, req *Request, edges []wedge, mapping []int32) error {
	// Couplers: embedded, or every pair connected within the placement.
	direct := true
	for _, e := range edges {
		ci := m.CouplerIndex(int(mapping[e.a]), int(mapping[e.b]))
		if ci < 0 || !m.Cal.Couplers[ci].Usable {
			direct = false
			break
		}
	}
	if direct {
		return nil
	}
	if req.NoRouting {
		for _, e := range edges {
			ci := m.CouplerIndex(int(mapping[e.a]), int(mapping[e.b]))
			if ci < 0 || !m.Cal.Couplers[ci].Usable {
				return invalid(int(e.a), int(mapping[e.a]), "no usable coupler to qubit %d (logical %d) and routing is disabled",
					mapping[e.b], e.b)
			}
		}
	}
	// Union-find over the placement's qubits by usable couplers.
	k := len(mapping)
	var small [32]int
	var parent []int
	if k <= len(small) {
		parent = small[:k] // a routed check allocates nothing
	} else {
		parent = make([]int, k)
	}
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	var local map[int32]int
	if k > len(small) {
		local = make(map[int32]int, k)
		for i, q := range mapping {
			local[q] = i
		}
	}
	localOf := func(w int32) (int, bool) {
		if local != nil {
			li, ok := local[w]
			return li, ok
		}
		for i, q := range mapping {
			if q == w {
				return i, true
			}
		}
		return 0, false
	}
	for i, q := range mapping {
		nb, cp := m.Neighbors(int(q)), m.NeighborCouplers(int(q))
		for j, w := range nb {
			if li, ok := localOf(w); ok && m.Cal.Couplers[cp[j]].Usable {
				parent[find(i)] = find(li)
			}
		}
	}
	for _, e := range edges {
		if find(int(e.a)) != find(int(e.b)) {
			return invalid(int(e.a), int(mapping[e.a]), "interacts with logical %d (qubit %d) but no path of usable couplers joins them within the placement",
				e.b, mapping[e.b])
		}
	}
	return nil
}

// validate is the engine's filter: Validate with the run's scratch. A
// placement of distinct qubits that the request may all use (allowedMask)
// passes every check but the couplers', which alone are made then; any
// other gets the full checks, which say what is wrong.
func (r *run) validate(mapping []int32) error {
	if mask := r.maskIfCheap(); mask != nil && len(mapping) == r.req.Qubits && len(mapping) <= 64 {
		ok := true
		for i, q := range mapping {
			if q < 0 || int(q) >= r.v.n || mask[q>>6]&(1<<(q&63)) == 0 {
				ok = false
				break
			}
			for _, p := range mapping[:i] {
				if p == q {
					ok = false
				}
			}
		}
		if ok {
			return validateLinks(r.v.m, r.req, r.p.edges, mapping)
		}
	}
	return validate(r.v.m, r.req, r.p.edges, r.occ, func(q int) bool { return r.rmark[q] == r.gen }, mapping, &r.bfs)
}
