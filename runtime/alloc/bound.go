package alloc

import (
	"math"
	"sort"
	"sync"
)

// Tree bound (a homomorphism relaxation). The search order's parent links
// form a spanning forest of the core. Once a vertex's parent is placed on
// qubit x, what its whole subtree can cost is at least
//
//	H[t][x] = min over usable couplers (x, y) of
//	          w_t * c(x, y) + node_t(y) + sum over children c of t of H[c][y]
//
// (the best placement of the subtree when qubits may repeat and every
// qubit is free), and a root's subtree on y costs at least
// Hroot[t][y] = node_t(y) + sum over children H[c][y]. The tables depend
// on the pattern and the calibration only, so they are computed once per
// (pattern, epoch) and shared by every request: O(core size x couplers).
// During the search the pending subtrees' H terms are summed, and roots are
// tried in increasing Hroot order, so the root loop stops at the first
// root whose bound reaches the best placement so far: on a 1,121-qubit
// device only a handful of roots are opened. Non-tree (back) edges are
// bounded separately by the cheapest allowed couplers.

type treeBound struct {
	H         [][]float64 // per position (nil for roots): bound by the parent's qubit
	Hroot     [][]float64 // per root position: bound by the root's qubit
	rootOrder [][]int32   // per root position: usable qubits by Hroot, then index
	// rootMin[t] is the smallest Hroot of root position t; rootSuffix[t]
	// the sum of rootMin over root positions >= t.
	rootSuffix []float64
}

// boundCache holds the tree bounds of the patterns seen on one view.
type boundCache struct {
	mu sync.Mutex
	m  map[*pattern]*treeBound
}

func (v *view) treeBound(p *pattern) *treeBound {
	v.bounds.mu.Lock()
	tb := v.bounds.m[p]
	v.bounds.mu.Unlock()
	if tb != nil {
		return tb
	}
	tb = computeTreeBound(v, p)
	v.bounds.mu.Lock()
	if v.bounds.m == nil || len(v.bounds.m) >= 1024 {
		v.bounds.m = map[*pattern]*treeBound{}
	}
	v.bounds.m[p] = tb
	v.bounds.mu.Unlock()
	return tb
}

func computeTreeBound(v *view, p *pattern) *treeBound {
	kc := len(p.order)
	n := v.n
	tb := &treeBound{H: make([][]float64, kc), Hroot: make([][]float64, kc), rootOrder: make([][]int32, kc),
		rootSuffix: make([]float64, kc+1)}
	tmp := make([]float64, n)
	inf := math.Inf(1)
	rootMin := make([]float64, kc)
	for t := kc - 1; t >= 0; t-- {
		lv := p.order[t]
		for y := 0; y < n; y++ {
			if !v.usable[y] {
				tmp[y] = inf
				continue
			}
			s := p.meas[lv]*v.ro[y] + p.oneq[lv]*v.e1[y]
			for _, c := range p.children[t] {
				s += tb.H[c][y]
			}
			tmp[y] = s
		}
		if p.parent[t] < 0 {
			tb.Hroot[t] = append([]float64(nil), tmp...)
			order := make([]int32, 0, n)
			for y := 0; y < n; y++ {
				if !math.IsInf(tmp[y], 1) {
					order = append(order, int32(y))
				}
			}
			h := tb.Hroot[t]
			sort.SliceStable(order, func(i, j int) bool {
				if h[order[i]] != h[order[j]] {
					return h[order[i]] < h[order[j]]
				}
				return order[i] < order[j]
			})
			tb.rootOrder[t] = order
			rootMin[t] = inf
			if len(order) > 0 {
				rootMin[t] = h[order[0]]
			}
			continue
		}
		w := p.parentW[t]
		H := make([]float64, n)
		for x := 0; x < n; x++ {
			best := inf
			for i := v.uoff[x]; i < v.uoff[x+1]; i++ {
				if c := w*v.ucost[i] + tmp[v.unbr[i]]; c < best {
					best = c
				}
			}
			H[x] = best
		}
		tb.H[t] = H
	}
	for t := kc - 1; t >= 0; t-- {
		tb.rootSuffix[t] = tb.rootSuffix[t+1]
		if p.parent[t] < 0 {
			tb.rootSuffix[t] += rootMin[t]
		}
	}
	return tb
}
