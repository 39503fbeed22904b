package synth

import (
	"fmt"
	"math"
	"testing"

	"github.com/eigen-os/rm/hal"
)

// checkGraph verifies the invariants every synthetic topology keeps:
// connected, degree at most maxDeg, hop distances symmetric with distance 1
// exactly on couplers, qubit names unique.
func checkGraph(t *testing.T, m *hal.Model, maxDeg int) {
	t.Helper()
	n := m.N()
	names := make(map[string]bool, n)
	for q := 0; q < n; q++ {
		if names[m.Qubits[q].Name] {
			t.Fatalf("%s: qubit name %q used twice", m.Name, m.Qubits[q].Name)
		}
		names[m.Qubits[q].Name] = true
		if d := len(m.Neighbors(q)); d > maxDeg || (n > 1 && d == 0) {
			t.Fatalf("%s: qubit %d has degree %d (want 1..%d)", m.Name, q, d, maxDeg)
		}
	}
	ones := 0
	for a := 0; a < n; a++ {
		row := m.DistRow(a)
		for b := 0; b < n; b++ {
			d := int(row[b])
			if d == hal.Unreachable {
				t.Fatalf("%s: qubits %d and %d are not connected", m.Name, a, b)
			}
			if d != m.Dist(b, a) {
				t.Fatalf("%s: Dist(%d,%d)=%d but Dist(%d,%d)=%d", m.Name, a, b, d, b, a, m.Dist(b, a))
			}
			if d == 1 {
				ones++
				if m.CouplerIndex(a, b) < 0 {
					t.Fatalf("%s: Dist(%d,%d)=1 without a coupler", m.Name, a, b)
				}
			}
		}
	}
	if ones != 2*len(m.Couplers) {
		t.Fatalf("%s: %d ordered pairs at distance 1, %d couplers", m.Name, ones, len(m.Couplers))
	}
	if len(m.Cal.Qubits) != n || len(m.Cal.Couplers) != len(m.Couplers) || m.Cal.Epoch == 0 {
		t.Fatalf("%s: calibration not finalized for the topology", m.Name)
	}
	if m.Vendor != Vendor {
		t.Fatalf("%s: vendor %q", m.Name, m.Vendor)
	}
}

// checkSites verifies that placed qubits (Row/Col >= 0) are coupled exactly
// when their sites are adjacent.
func checkSites(t *testing.T, m *hal.Model) {
	t.Helper()
	at := map[[2]int]int{}
	for _, q := range m.Qubits {
		if q.Row < 0 || q.Col < 0 {
			t.Fatalf("%s: qubit %d has no site (%d,%d)", m.Name, q.Index, q.Row, q.Col)
		}
		key := [2]int{q.Row, q.Col}
		if o, dup := at[key]; dup {
			t.Fatalf("%s: qubits %d and %d share site %v", m.Name, o, q.Index, key)
		}
		at[key] = q.Index
	}
	adjacent := 0
	for _, q := range m.Qubits {
		for _, o := range [][2]int{{q.Row, q.Col + 1}, {q.Row + 1, q.Col}} {
			if j, ok := at[o]; ok {
				adjacent++
				if m.CouplerIndex(q.Index, j) < 0 {
					t.Fatalf("%s: qubits %d and %d are adjacent on the lattice but not coupled", m.Name, q.Index, j)
				}
			}
		}
	}
	if adjacent != len(m.Couplers) {
		t.Fatalf("%s: %d adjacent site pairs but %d couplers", m.Name, adjacent, len(m.Couplers))
	}
}

func TestHeavyHexIBMSizes(t *testing.T) {
	cases := []struct {
		n, edges int
		family   string
		gate     string
		dirs     int // gate entries per working coupler
	}{
		{27, 28, "heavy-hex (Falcon-like)", "cx", 2},
		{65, 72, "heavy-hex (Hummingbird-like)", "cx", 2},
		{127, 144, "heavy-hex (Eagle-like)", "ecr", 1},
		{133, 150, "heavy-hex (Heron-like)", "cz", 2},
		{433, 504, "heavy-hex (Osprey-like)", "ecr", 1},
		{1121, 1320, "heavy-hex (Condor-like)", "ecr", 1},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.n), func(t *testing.T) {
			m, err := HeavyHex(c.n, 1)
			if err != nil {
				t.Fatal(err)
			}
			if m.N() != c.n || len(m.Couplers) != c.edges {
				t.Fatalf("%d qubits, %d couplers; want %d, %d", m.N(), len(m.Couplers), c.n, c.edges)
			}
			if m.Family != c.family || m.Native2Q != c.gate {
				t.Fatalf("family %q gate %q; want %q %q", m.Family, m.Native2Q, c.family, c.gate)
			}
			if want := fmt.Sprintf("synthetic-heavyhex-%d", c.n); m.Name != want {
				t.Fatalf("name %q, want %q", m.Name, want)
			}
			checkGraph(t, m, 3)
			checkSites(t, m)
			for ci, cc := range m.Cal.Couplers {
				if len(cc.Gates) != c.dirs {
					t.Fatalf("coupler %d has %d gate entries, want %d", ci, len(cc.Gates), c.dirs)
				}
				if c.dirs == 2 {
					g0, g1 := cc.Gates[0], cc.Gates[1]
					if g0.Dir == g1.Dir || g0.Error != g1.Error {
						t.Fatalf("coupler %d: directions %d/%d errors %v/%v; want both directions, equal errors", ci, g0.Dir, g1.Dir, g0.Error, g1.Error)
					}
					diff := g1.Duration - g0.Duration
					if c.gate == "cx" && math.Abs(math.Abs(diff)-sxFalcon) > 1e-9 {
						t.Fatalf("coupler %d: cx durations %v and %v differ by %v, want one sx (%v)", ci, g0.Duration, g1.Duration, diff, sxFalcon)
					}
					if c.gate == "cz" && diff != 0 {
						t.Fatalf("coupler %d: cz durations %v and %v differ", ci, g0.Duration, g1.Duration)
					}
				}
			}
		})
	}
}

// IBM's published labelling: a few couplers of each chip that a relabelled
// lattice would not have. (The corpus test compares every coupler.)
func TestHeavyHexIBMLabels(t *testing.T) {
	cases := map[int][][2]int{
		27:  {{0, 1}, {1, 4}, {6, 7}, {8, 9}, {12, 13}, {13, 14}, {17, 18}, {19, 20}, {23, 24}, {25, 26}},
		65:  {{0, 10}, {10, 13}, {4, 11}, {11, 17}, {15, 24}, {24, 29}, {51, 54}, {54, 64}, {55, 56}},
		127: {{0, 14}, {14, 18}, {12, 17}, {17, 30}, {12, 13}, {20, 33}, {33, 39}, {96, 109}, {109, 114}, {125, 126}},
		133: {{0, 15}, {15, 19}, {13, 14}, {33, 37}, {37, 52}, {114, 129}, {126, 132}, {127, 128}},
	}
	for n, edges := range cases {
		m, err := HeavyHex(n, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range edges {
			if m.CouplerIndex(e[0], e[1]) < 0 {
				t.Errorf("heavyhex-%d: no coupler %d-%d", n, e[0], e[1])
			}
		}
	}
}

func TestHeavyHexAnySize(t *testing.T) {
	sizes := []int{1, 2, 3, 5, 13, 14, 15, 22, 23, 24, 50, 51, 64, 66, 100, 126, 128, 132, 134, 200, 300, 432, 500, 1000, 1122}
	for n := 1; n <= 60; n++ {
		sizes = append(sizes, n)
	}
	for _, n := range sizes {
		m, err := HeavyHex(n, 3)
		if err != nil {
			t.Fatalf("heavyhex-%d: %v", n, err)
		}
		if m.N() != n {
			t.Fatalf("heavyhex-%d has %d qubits", n, m.N())
		}
		checkGraph(t, m, 3)
		checkSites(t, m)
	}
}

func TestHeavyHexLattice(t *testing.T) {
	for _, rc := range [][2]int{{2, 3}, {2, 7}, {3, 7}, {4, 11}, {5, 11}, {6, 15}, {7, 15}, {8, 19}, {9, 7}, {3, 31}} {
		m, err := HeavyHexLattice(rc[0], rc[1], 1)
		if err != nil {
			t.Fatal(err)
		}
		if m.N() != latticeSize(rc[0], rc[1]) {
			t.Fatalf("%dx%d: %d qubits, formula says %d", rc[0], rc[1], m.N(), latticeSize(rc[0], rc[1]))
		}
		checkGraph(t, m, 3)
		checkSites(t, m)
	}
	eagle, _ := HeavyHexLattice(7, 15, 1)
	named, _ := HeavyHex(127, 1)
	if eagle.N() != 127 || len(eagle.Couplers) != len(named.Couplers) {
		t.Fatalf("7x15 lattice: %d qubits %d couplers, Eagle %d %d", eagle.N(), len(eagle.Couplers), named.N(), len(named.Couplers))
	}
	for i, e := range eagle.Couplers {
		if named.Couplers[i] != e {
			t.Fatalf("7x15 coupler %d is %v, Eagle's %v", i, e, named.Couplers[i])
		}
	}
	for _, rc := range [][2]int{{1, 15}, {0, 7}, {7, 14}, {7, 16}, {7, 1}, {-2, 7}, {7, 0}, {200, 203}} {
		if _, err := HeavyHexLattice(rc[0], rc[1], 1); err == nil {
			t.Errorf("%dx%d: no error", rc[0], rc[1])
		}
	}
}

func TestGenericLatticeIsIBMProportioned(t *testing.T) {
	// The generic rule reproduces IBM's four lattice chips.
	for n, rw := range map[int][2]int{65: {5, 11}, 127: {7, 15}, 433: {13, 27}, 1121: {21, 43}} {
		r := genericRows(n)
		if r != rw[0] || genericWidth(r) != rw[1] || latticeSize(r, genericWidth(r)) != n {
			t.Errorf("n=%d: generic lattice %dx%d (%d qubits), want %dx%d", n, r, genericWidth(r), latticeSize(r, genericWidth(r)), rw[0], rw[1])
		}
	}
}

func TestGrid(t *testing.T) {
	for _, rc := range [][2]int{{1, 1}, {1, 5}, {3, 1}, {2, 2}, {6, 9}, {8, 8}, {10, 11}} {
		r, c := rc[0], rc[1]
		m, err := Grid(r, c, 1)
		if err != nil {
			t.Fatal(err)
		}
		if m.N() != r*c || len(m.Couplers) != r*(c-1)+c*(r-1) {
			t.Fatalf("grid %dx%d: %d qubits %d couplers", r, c, m.N(), len(m.Couplers))
		}
		checkGraph(t, m, 4)
		checkSites(t, m)
		q := m.Qubits[m.N()-1]
		if q.Name != fmt.Sprintf("%d_%d", r-1, c-1) || q.Row != r-1 || q.Col != c-1 {
			t.Fatalf("grid %dx%d: last qubit %+v", r, c, q)
		}
		for _, cc := range m.Cal.Couplers {
			if len(cc.Gates) != 1 || cc.Gates[0].Dir != hal.DirSymmetric || cc.Gates[0].Gate != "cz" {
				t.Fatalf("grid coupler gates %+v, want one symmetric cz", cc.Gates)
			}
		}
	}
	for _, rc := range [][2]int{{0, 3}, {3, 0}, {-1, 4}, {101, 100}, {1 << 40, 1 << 40}} {
		if _, err := Grid(rc[0], rc[1], 1); err == nil {
			t.Errorf("grid %dx%d: no error", rc[0], rc[1])
		}
	}
}

func TestOctagons(t *testing.T) {
	for k := 1; k <= 40; k++ {
		m, err := Octagons(k, 1)
		if err != nil {
			t.Fatal(err)
		}
		cols := octagonCols(k)
		links := 0
		for o := 0; o < k; o++ {
			if o%cols > 0 {
				links++
			}
			if o >= cols {
				links++
			}
		}
		if m.N() != 8*k || len(m.Couplers) != 8*k+2*links {
			t.Fatalf("octagons-%d: %d qubits %d couplers; want %d, %d", k, m.N(), len(m.Couplers), 8*k, 8*k+2*links)
		}
		checkGraph(t, m, 3)
		for q := 0; q < m.N(); q++ {
			if d := len(m.Neighbors(q)); d < 2 {
				t.Fatalf("octagons-%d: qubit %d has degree %d", k, q, d)
			}
		}
		if m.Native2Q != "cz" || len(m.Other2Q) != 1 || m.Other2Q[0] != "xy" {
			t.Fatalf("octagons-%d: gates %q %v", k, m.Native2Q, m.Other2Q)
		}
	}
	m, _ := Octagons(10, 1) // Aspen-M: two rows of five
	if m.Qubits[40].Name != "100" || m.Qubits[79].Name != "147" || m.CouplerIndex(3, 40) < 0 || m.CouplerIndex(4, 47) < 0 {
		t.Fatalf("octagons-10: qubit 40 %q, 79 %q; vertical links 3-40 %d, 4-47 %d", m.Qubits[40].Name, m.Qubits[79].Name,
			m.CouplerIndex(3, 40), m.CouplerIndex(4, 47))
	}
	for _, k := range []int{0, -1, MaxOctagons + 1} {
		if _, err := Octagons(k, 1); err == nil {
			t.Errorf("octagons-%d: no error", k)
		}
	}
}

func TestAllToAll(t *testing.T) {
	for _, n := range []int{1, 2, 5, 32, 64} {
		m, err := AllToAll(n, 1)
		if err != nil {
			t.Fatal(err)
		}
		if m.N() != n || len(m.Couplers) != n*(n-1)/2 {
			t.Fatalf("alltoall-%d: %d qubits %d couplers", n, m.N(), len(m.Couplers))
		}
		checkGraph(t, m, n-1)
		for a := 0; a < n; a++ {
			for b := 0; b < n; b++ {
				if a != b && m.Dist(a, b) != 1 {
					t.Fatalf("alltoall-%d: Dist(%d,%d)=%d", n, a, b, m.Dist(a, b))
				}
			}
		}
	}
	for _, n := range []int{0, -3, MaxAllToAll + 1} {
		if _, err := AllToAll(n, 1); err == nil {
			t.Errorf("alltoall-%d: no error", n)
		}
	}
}

func TestHeavyHexBadSizes(t *testing.T) {
	for _, n := range []int{0, -1, MaxQubits + 1, 1 << 40} {
		if _, err := HeavyHex(n, 1); err == nil {
			t.Errorf("heavyhex-%d: no error", n)
		}
	}
}
