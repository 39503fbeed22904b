package synth

import (
	"fmt"
	"math"
	"strconv"

	"github.com/eigen-os/rm/hal"
)

// Grid returns a Google-style square grid of rows x cols qubits (degree at
// most 4) with Willow noise drawn from seed. Qubits are named "r_c" as Cirq
// names GridQubit(r, c), numbered row by row, and carry their Row and Col.
func Grid(rows, cols int, seed int64) (*hal.Model, error) {
	if rows < 1 || cols < 1 || rows > MaxQubits || cols > MaxQubits || rows*cols > MaxQubits {
		return nil, fmt.Errorf("grid %dx%d: need at least 1 row and column and at most %d qubits", rows, cols, MaxQubits)
	}
	qubits := make([]hal.QubitInfo, 0, rows*cols)
	var edges []hal.Edge
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			i := r*cols + c
			qubits = append(qubits, hal.QubitInfo{Index: i, Name: fmt.Sprintf("%d_%d", r, c), Row: r, Col: c})
			if c+1 < cols {
				edges = append(edges, hal.Edge{A: i, B: i + 1})
			}
			if r+1 < rows {
				edges = append(edges, hal.Edge{A: i, B: i + cols})
			}
		}
	}
	t, err := newTopology(deviceName(fmt.Sprintf("grid-%dx%d", rows, cols), seed), "square grid (Willow-like)", &willow, qubits, edges)
	if err != nil {
		return nil, err
	}
	return Noise(t, willow, seed)
}

// octagonCols is the number of octagons per row of an Octagons device.
func octagonCols(k int) int {
	c := int(math.Ceil(math.Sqrt(float64(k))))
	return max(min(k, 5), c)
}

// Octagons returns a Rigetti Aspen-style device of k rings of 8 qubits (1 <= k
// <= MaxOctagons) with Aspen-8 noise drawn from seed.
//
// Ring i runs 0-1-...-7-0, with 1, 2 on its right side, 3, 4 at the bottom,
// 5, 6 on the left and 7, 0 at the top. The rings sit in rows of up to
// max(5, ceil(sqrt(k))) (Aspen-M's two rows of five at k = 10). Horizontally
// adjacent rings are joined by two couplers, 1-6 and 2-5, as on Aspen-8;
// vertically adjacent ones by 3-0 and 4-7 (Aspen-M joins its rows with two
// couplers as well; its exact pairs are not in the corpus). Every qubit has
// degree 2 or 3. Qubits are named by Rigetti's node ids 100*row + 10*col + i,
// so octagons-4 is Aspen-8's graph, node for node.
func Octagons(k int, seed int64) (*hal.Model, error) {
	if k < 1 || k > MaxOctagons {
		return nil, fmt.Errorf("octagons %d: must be between 1 and %d rings", k, MaxOctagons)
	}
	cols := octagonCols(k)
	qubits := make([]hal.QubitInfo, 0, 8*k)
	var edges []hal.Edge
	for o := 0; o < k; o++ {
		row, col := o/cols, o%cols
		base := 8 * o
		for i := 0; i < 8; i++ {
			qubits = append(qubits, hal.QubitInfo{Index: base + i, Name: strconv.Itoa(100*row + 10*col + i), Row: -1, Col: -1})
			edges = append(edges, hal.Edge{A: base + i, B: base + (i+1)%8})
		}
		if col > 0 { // the ring to the left: its 1-6 and 2-5
			left := base - 8
			edges = append(edges, hal.Edge{A: left + 1, B: base + 6}, hal.Edge{A: left + 2, B: base + 5})
		}
		if row > 0 { // the ring above: its 3-0 and 4-7
			up := base - 8*cols
			edges = append(edges, hal.Edge{A: up + 3, B: base + 0}, hal.Edge{A: up + 4, B: base + 7})
		}
	}
	t, err := newTopology(deviceName("octagons-"+strconv.Itoa(k), seed), "octagons (Aspen-like)", &aspen, qubits, edges)
	if err != nil {
		return nil, err
	}
	return Noise(t, aspen, seed)
}

// AllToAll returns a trapped-ion device of n fully connected qubits (1 <= n <=
// MaxAllToAll) with ion noise drawn from seed.
func AllToAll(n int, seed int64) (*hal.Model, error) {
	if n < 1 || n > MaxAllToAll {
		return nil, fmt.Errorf("all-to-all %d: must be between 1 and %d qubits (couplers grow as n^2)", n, MaxAllToAll)
	}
	qubits := make([]hal.QubitInfo, n)
	edges := make([]hal.Edge, 0, n*(n-1)/2)
	for i := 0; i < n; i++ {
		qubits[i] = hal.QubitInfo{Index: i, Name: strconv.Itoa(i), Row: -1, Col: -1}
		for j := i + 1; j < n; j++ {
			edges = append(edges, hal.Edge{A: i, B: j})
		}
	}
	t, err := newTopology(deviceName("alltoall-"+strconv.Itoa(n), seed), "all-to-all (trapped-ion)", &ion, qubits, edges)
	if err != nil {
		return nil, err
	}
	return Noise(t, ion, seed)
}
