package controller

import (
	"fmt"

	"github.com/eigen-os/rm/circuit"
	"github.com/eigen-os/rm/runtime/alloc"
)

// MaxCircuitBytes bounds an OpenQASM source sent over the API.
const MaxCircuitBytes = 8 << 20

// RequestFromCircuit turns an OpenQASM 2 source into an interaction-graph
// request. Each 2-qubit application weighs 1 on its pair; a 3-qubit
// application (Toffoli-like, about 6 native 2-qubit gates once decomposed)
// weighs 2 on each of its 3 pairs; wider applications weigh 1 on each pair,
// a lower bound of their cost.
func RequestFromCircuit(name string, src []byte) (alloc.Request, error) {
	if len(src) > MaxCircuitBytes {
		return alloc.Request{}, fmt.Errorf("%w: circuit is %d bytes (at most %d)", ErrInvalid, len(src), MaxCircuitBytes)
	}
	c, err := circuit.Parse(name, src)
	if err != nil {
		return alloc.Request{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return GraphRequest(c), nil
}

// GraphRequest builds the request of a parsed circuit.
func GraphRequest(c *circuit.Circuit) alloc.Request {
	weights := map[[2]int]int{}
	for _, p := range c.Pairs {
		weights[[2]int{p.A, p.B}] += p.Count
	}
	if c.ThreeQGates+c.ManyQGates > 0 {
		for _, p := range c.Clique {
			extra := p.Count - c.PairCount(p.A, p.B) // applications of arity >= 3 on this pair
			if extra > 0 {
				weights[[2]int{p.A, p.B}] += 2 * extra
			}
		}
	}
	g := &alloc.Graph{OneQ: append([]int(nil), c.OneQ...)}
	for _, p := range c.Clique {
		if w := weights[[2]int{p.A, p.B}]; w > 0 {
			g.Pairs = append(g.Pairs, alloc.Pair{A: p.A, B: p.B, Count: w})
		}
	}
	g.Measured = c.MeasuredQubits()
	if g.Measured == nil {
		g.Measured = []int{}
	}
	return alloc.Request{Qubits: c.Qubits, Shape: alloc.Shape{Kind: alloc.ShapeGraph}, Graph: g, Buffer: -1}
}
