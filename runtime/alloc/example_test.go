package alloc_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/runtime/alloc"
)

// A device of six qubits in a line, 0-1-2-3-4-5, with equal figures except
// a poor coupler between 3 and 4.
func lineDevice() *hal.Model {
	qs := make([]hal.QubitInfo, 6)
	var es []hal.Edge
	for i := range qs {
		qs[i] = hal.QubitInfo{Index: i, Name: fmt.Sprint(i), Row: -1, Col: -1}
		if i > 0 {
			es = append(es, hal.Edge{A: i - 1, B: i})
		}
	}
	t, _ := hal.NewTopology("line6", "example", "line", "cz", qs, es)
	c := hal.NewCalibration(t)
	for i := range c.Qubits {
		c.Qubits[i].ReadoutError = 0.02
	}
	for i := range c.Couplers {
		e := 0.01
		if i == 3 {
			e = 0.2
		}
		c.Couplers[i].Gates = []hal.GateCal{{Gate: "cz", Dir: hal.DirSymmetric, Error: e}}
	}
	m, _ := hal.Finalize(t, c)
	return m
}

func Example() {
	m := lineDevice()
	eng, err := alloc.NewEngine(m, alloc.Options{})
	if err != nil {
		panic(err)
	}
	occ := alloc.NewOccupancy(m.Topology)
	ctx := context.Background()

	// Place, then commit once persisted.
	req := &alloc.Request{Qubits: 3, Shape: alloc.Shape{Kind: alloc.ShapeLinear}, Buffer: 1}
	pl, err := eng.Place(ctx, req, occ, nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("task A: %v ESP %.4f %s optimal=%v\n", pl.Mapping, pl.ESP, pl.Strategy, pl.Optimal)
	if err := occ.Commit(pl.Holding("A")); err != nil {
		panic(err)
	}

	// Another task needs a buffer of one idle qubit from A: only 4-5 is left.
	_, err = eng.Place(ctx, &alloc.Request{Qubits: 3, Shape: alloc.Shape{Kind: alloc.ShapeLinear}, Buffer: 1}, occ, nil)
	fmt.Println("task B:", err, errors.Is(err, alloc.ErrTooFewQubits))

	occ.Release("A")
	pl, _ = eng.Place(ctx, req, occ, nil)
	fmt.Println("after release:", pl.Mapping, "from cache:", pl.FromCache)
	// Output:
	// task A: [0 1 2] ESP 0.9225 exact optimal=true
	// task B: too few free qubits: need 3, 2 available (usable, free, outside isolation buffers) true
	// after release: [0 1 2] from cache: true
}
