package alloc

import (
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/eigen-os/rm/hal"
)

// ballRadius is the radius up to which each qubit's neighbourhood (over all
// couplers) is precomputed; larger isolation distances fall back to a BFS.
const ballRadius = 3

// view is the engine's read-only, precomputed picture of one calibration
// epoch: costs in -ln space and adjacency in compact arrays. It is shared by
// concurrent Place calls.
type view struct {
	m     *hal.Model
	n     int
	epoch uint64

	usable []bool
	ro     []float64 // -ln(1 - readout error); +Inf when unusable
	e1     []float64 // -ln(1 - single-qubit error); 0 when unknown

	// Usable couplers: for qubit q, uoff[q]..uoff[q+1] index unbr (the
	// neighbour) and ucost (-ln(1-e2)), sorted by cost then neighbour.
	uoff  []int32
	unbr  []int32
	ucost []float64

	// Every usable coupler by cost then (a, b): for lower bounds.
	sortedC []ccost
	// Usable qubits by readout cost then index, and by single-qubit cost.
	roOrder []int32
	e1Order []int32
	// Usable qubits by "promise" (readout + cheapest coupler) then index:
	// the order in which roots of a search are tried.
	promise []int32

	maxDeg int // largest number of usable couplers at a qubit
	girth  int // shortest cycle of usable couplers; 0 when acyclic

	// Neighbourhoods over all couplers up to ballRadius: for qubit q,
	// boff[q]..boff[q+1] index bq (qubit) and bd (distance 1..ballRadius),
	// by distance.
	boff []int32
	bq   []int32
	bd   []uint8

	bounds boundCache // tree bounds per pattern
	tables tableCache // embedding tables per pattern (table.go)
	// balls[d] are the neighbourhoods of radius d as bit sets (ballBits).
	balls     [ballRadius + 1][]uint64
	ballsOnce [ballRadius + 1]sync.Once
}

type ccost struct {
	a, b int32
	c    float64
}

func costOf(e float64) float64 { return -math.Log1p(-e) }

func newView(m *hal.Model) (*view, error) {
	if m == nil || m.Topology == nil || m.Cal == nil {
		return nil, fmt.Errorf("%w: nil model, topology or calibration", ErrModel)
	}
	n := m.N()
	if len(m.Cal.Qubits) != n || len(m.Cal.Couplers) != len(m.Couplers) {
		return nil, fmt.Errorf("%w: device %q: calibration does not match topology", ErrModel, m.Name)
	}
	v := &view{m: m, n: n, epoch: m.Cal.Epoch}
	v.usable = make([]bool, n)
	v.ro = make([]float64, n)
	v.e1 = make([]float64, n)
	for q := 0; q < n; q++ {
		qc := &m.Cal.Qubits[q]
		v.usable[q] = qc.Usable
		v.ro[q] = math.Inf(1)
		if qc.Usable {
			v.ro[q] = costOf(qc.ReadoutError)
			if hal.Known(qc.Error1Q) && qc.Error1Q > 0 {
				v.e1[q] = costOf(qc.Error1Q)
			}
		}
	}
	type nb struct {
		q int32
		c float64
	}
	adj := make([][]nb, n)
	for ci, e := range m.Couplers {
		cc := &m.Cal.Couplers[ci]
		if !cc.Usable || !v.usable[e.A] || !v.usable[e.B] {
			continue
		}
		c := costOf(cc.Error)
		adj[e.A] = append(adj[e.A], nb{int32(e.B), c})
		adj[e.B] = append(adj[e.B], nb{int32(e.A), c})
		v.sortedC = append(v.sortedC, ccost{int32(e.A), int32(e.B), c})
	}
	v.uoff = make([]int32, n+1)
	for q := 0; q < n; q++ {
		l := adj[q]
		sort.Slice(l, func(i, j int) bool {
			if l[i].c != l[j].c {
				return l[i].c < l[j].c
			}
			return l[i].q < l[j].q
		})
		v.uoff[q+1] = v.uoff[q] + int32(len(l))
		v.maxDeg = max(v.maxDeg, len(l))
		for _, x := range l {
			v.unbr = append(v.unbr, x.q)
			v.ucost = append(v.ucost, x.c)
		}
	}
	sort.Slice(v.sortedC, func(i, j int) bool {
		a, b := v.sortedC[i], v.sortedC[j]
		if a.c != b.c {
			return a.c < b.c
		}
		if a.a != b.a {
			return a.a < b.a
		}
		return a.b < b.b
	})
	key := make([]float64, n)
	for q := 0; q < n; q++ {
		if !v.usable[q] {
			continue
		}
		v.roOrder = append(v.roOrder, int32(q))
		v.e1Order = append(v.e1Order, int32(q))
		k := v.ro[q]
		if v.uoff[q+1] > v.uoff[q] {
			k += v.ucost[v.uoff[q]]
		} else {
			k += 1 // isolated usable qubit: try last among equals
		}
		key[q] = k
	}
	v.promise = append([]int32(nil), v.roOrder...)
	byKey := func(s []int32, f []float64) {
		sort.SliceStable(s, func(i, j int) bool {
			if f[s[i]] != f[s[j]] {
				return f[s[i]] < f[s[j]]
			}
			return s[i] < s[j]
		})
	}
	byKey(v.roOrder, v.ro)
	byKey(v.e1Order, v.e1)
	byKey(v.promise, key)
	v.girth = v.computeGirth()
	v.computeBalls()
	return v, nil
}

// computeGirth returns the length of the shortest cycle of usable couplers
// (0 when there is none), by a BFS from every qubit.
func (v *view) computeGirth() int {
	best := math.MaxInt
	dist := make([]int32, v.n)
	par := make([]int32, v.n)
	queue := make([]int32, 0, v.n)
	for s := 0; s < v.n; s++ {
		if v.uoff[s+1] == v.uoff[s] {
			continue
		}
		for i := range dist {
			dist[i] = -1
		}
		dist[s], par[s] = 0, -1
		queue = append(queue[:0], int32(s))
		for h := 0; h < len(queue); h++ {
			u := queue[h]
			if 2*int(dist[u])+1 >= best {
				break
			}
			for i := v.uoff[u]; i < v.uoff[u+1]; i++ {
				w := v.unbr[i]
				if dist[w] < 0 {
					dist[w], par[w] = dist[u]+1, u
					queue = append(queue, w)
				} else if par[u] != w {
					best = min(best, int(dist[u]+dist[w]+1))
				}
			}
		}
	}
	if best == math.MaxInt {
		return 0
	}
	return best
}

func (v *view) computeBalls() {
	t := v.m.Topology
	v.boff = make([]int32, v.n+1)
	dist := make([]int8, v.n)
	for i := range dist {
		dist[i] = -1
	}
	queue := make([]int32, 0, 64)
	for s := 0; s < v.n; s++ {
		dist[s] = 0
		queue = append(queue[:0], int32(s))
		for h := 0; h < len(queue); h++ {
			u := queue[h]
			if dist[u] >= ballRadius {
				continue
			}
			for _, w := range t.Neighbors(int(u)) {
				if dist[w] < 0 {
					dist[w] = dist[u] + 1
					queue = append(queue, w)
					v.bq = append(v.bq, w)
					v.bd = append(v.bd, uint8(dist[w]))
				}
			}
		}
		for _, u := range queue {
			dist[u] = -1
		}
		v.boff[s+1] = int32(len(v.bq))
	}
}

// coupler returns the cost of the usable coupler between a and b.
func (v *view) coupler(a, b int32) (float64, bool) {
	for i := v.uoff[a]; i < v.uoff[a+1]; i++ {
		if v.unbr[i] == b {
			return v.ucost[i], true
		}
	}
	return 0, false
}
