package balance

import (
	"math"
	"math/rand/v2"
	"sort"

	"github.com/eigen-os/rm/mqtt"
)

// testDevice is a small grid device with random noise and some held qubits,
// on which the best placement of a small pattern can be found exhaustively:
// the ground truth that the quality profile and Predict approximate.
type testDevice struct {
	name       string
	rows, cols int
	ro         []float64          // readout error per qubit
	e2         map[[2]int]float64 // 2-qubit error per coupler (a < b)
	held       []bool
}

func newTestDevice(name string, rows, cols int, base2, baseRO float64, seed uint64, held ...int) *testDevice {
	r := rand.New(rand.NewPCG(seed, 7))
	d := &testDevice{name: name, rows: rows, cols: cols, ro: make([]float64, rows*cols), e2: map[[2]int]float64{},
		held: make([]bool, rows*cols)}
	jitter := func(x float64) float64 { return x * math.Exp(0.35*r.NormFloat64()) }
	for q := range d.ro {
		d.ro[q] = min(jitter(baseRO), 0.2)
	}
	for q := 0; q < rows*cols; q++ {
		for _, v := range d.neighbors(q) {
			if q < v {
				d.e2[[2]int{q, v}] = min(jitter(base2), 0.2)
			}
		}
	}
	for _, q := range held {
		d.held[q] = true
	}
	return d
}

func (d *testDevice) n() int { return d.rows * d.cols }

func (d *testDevice) neighbors(q int) []int {
	r, c := q/d.cols, q%d.cols
	var out []int
	if r > 0 {
		out = append(out, q-d.cols)
	}
	if r+1 < d.rows {
		out = append(out, q+d.cols)
	}
	if c > 0 {
		out = append(out, q-1)
	}
	if c+1 < d.cols {
		out = append(out, q+1)
	}
	return out
}

func (d *testDevice) edgeCost(a, b int) float64 {
	return -math.Log1p(-d.e2[[2]int{min(a, b), max(a, b)}])
}

func (d *testDevice) roCost(q int) float64 { return -math.Log1p(-d.ro[q]) }

func (d *testDevice) free() int {
	n := 0
	for _, h := range d.held {
		if !h {
			n++
		}
	}
	return n
}

// pattern is an interaction graph: adjacency with gate counts.
type pattern struct {
	n   int
	adj []map[int]int
}

func patternOf(info shapeInfo) pattern {
	p := pattern{n: info.n, adj: make([]map[int]int, info.n)}
	for i := range p.adj {
		p.adj[i] = map[int]int{}
	}
	for _, e := range info.edges {
		p.adj[e[0]][e[1]] += e[2]
		p.adj[e[1]][e[0]] += e[2]
	}
	return p
}

func mustPattern(need Need) pattern {
	info, err := analyze(need)
	if err != nil {
		panic(err)
	}
	return patternOf(info)
}

// best returns the highest ESP of an embedding of p into the free qubits
// (0 when none), by exhaustive search with branch and bound.
func (d *testDevice) best(p pattern) float64 {
	if p.n > d.free() {
		return 0
	}
	// Order pattern vertices so that each after the first has an earlier
	// neighbour when the pattern is connected.
	order := make([]int, 0, p.n)
	seen := make([]bool, p.n)
	for s := 0; s < p.n; s++ {
		if seen[s] {
			continue
		}
		seen[s] = true
		queue := []int{s}
		for len(queue) > 0 {
			v := queue[0]
			queue = queue[1:]
			order = append(order, v)
			nb := make([]int, 0, len(p.adj[v]))
			for u := range p.adj[v] {
				nb = append(nb, u)
			}
			sort.Ints(nb)
			for _, u := range nb {
				if !seen[u] {
					seen[u] = true
					queue = append(queue, u)
				}
			}
		}
	}
	minRO := math.Inf(1)
	for q := 0; q < d.n(); q++ {
		if !d.held[q] {
			minRO = min(minRO, d.roCost(q))
		}
	}
	phi := make([]int, p.n)
	used := make([]bool, d.n())
	bestCost := math.Inf(1)
	var rec func(i int, cost float64)
	rec = func(i int, cost float64) {
		if cost+float64(p.n-i)*minRO >= bestCost {
			return
		}
		if i == p.n {
			bestCost = cost
			return
		}
		v := order[i]
		var cands []int
		anchor := -1
		for u := range p.adj[v] {
			for j := 0; j < i; j++ {
				if order[j] == u {
					anchor = phi[u]
				}
			}
		}
		if anchor >= 0 {
			cands = d.neighbors(anchor)
		} else {
			for q := 0; q < d.n(); q++ {
				cands = append(cands, q)
			}
		}
		for _, q := range cands {
			if used[q] || d.held[q] {
				continue
			}
			c := cost + d.roCost(q)
			ok := true
			for u, w := range p.adj[v] {
				placed := false
				for j := 0; j < i; j++ {
					if order[j] == u {
						placed = true
					}
				}
				if !placed {
					continue
				}
				if _, adj := d.e2[[2]int{min(q, phi[u]), max(q, phi[u])}]; !adj {
					ok = false
					break
				}
				c += float64(w) * d.edgeCost(q, phi[u])
			}
			if !ok {
				continue
			}
			used[q], phi[v] = true, q
			rec(i+1, c)
			used[q] = false
		}
	}
	rec(0, 0)
	if math.IsInf(bestCost, 1) {
		return 0
	}
	return math.Exp(-bestCost)
}

// profile computes what the owner publishes: the best linear chain of
// k = 1..K qubits on the free qubits (Linear) and on the idle device (Idle),
// and the medians of the free qubits' readout and couplers' errors.
func (d *testDevice) profile(K int) mqtt.Quality {
	var q mqtt.Quality
	idle := &testDevice{name: d.name, rows: d.rows, cols: d.cols, ro: d.ro, e2: d.e2, held: make([]bool, d.n())}
	for k := 1; k <= K; k++ {
		p := mustPattern(Need{Qubits: k, Shape: "linear"})
		q.Linear = append(q.Linear, float32(d.best(p)))
		q.Idle = append(q.Idle, float32(idle.best(p)))
	}
	var ros, e2s []float64
	for i, r := range d.ro {
		if !d.held[i] {
			ros = append(ros, r)
		}
	}
	for e, x := range d.e2 {
		if !d.held[e[0]] && !d.held[e[1]] {
			e2s = append(e2s, x)
		}
	}
	q.Readout, q.Pair = float32(median(ros)), float32(median(e2s))
	return q
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

func (d *testDevice) candidate(K int, typ string) Candidate {
	held := d.n() - d.free()
	return Candidate{Device: d.name, Type: typ, Online: true, Health: "online", Qubits: d.n(), FreeQubits: d.free(),
		Utilization: float64(held) / float64(d.n()), Quality: d.profile(K), MaxDegree: 4}
}
