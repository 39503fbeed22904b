package synth_test

import (
	"fmt"

	"github.com/eigen-os/rm/hal/synth"
)

func ExampleByName() {
	m, err := synth.ByName("synthetic:heavyhex-127@42")
	if err != nil {
		fmt.Println(err)
		return
	}
	s := m.Summarize()
	fmt.Println(s.Name, s.Family, s.Native2Q)
	fmt.Println(s.Qubits, "qubits,", s.Couplers, "couplers")
	fmt.Printf("median 2q error %.4f, readout %.4f\n", float64(s.Median2QErrorUsable), float64(s.MedianReadoutError))

	_, err = synth.ByName("heavyhex-0")
	fmt.Println(err)
	// Output:
	// synthetic-heavyhex-127@42 heavy-hex (Eagle-like) ecr
	// 127 qubits, 144 couplers
	// median 2q error 0.0075, readout 0.0184
	// synthetic device "heavyhex-0": heavyhex size: "0": must be at least 1 (e.g. heavyhex-127)
}

func ExampleNames() {
	for _, n := range synth.Names() {
		fmt.Println(n.Pattern, n.Examples[0])
	}
	// Output:
	// heavyhex-N heavyhex-127
	// heavyhex-RxC heavyhex-7x15
	// grid-RxC grid-8x8
	// octagons-K octagons-4
	// alltoall-N alltoall-32
}
