package synth

import (
	"fmt"
	"strconv"

	"github.com/eigen-os/rm/hal"
)

// site places a qubit of a heavy-hex lattice: IBM's chips are rows of qubits
// (even Row) joined by bridge qubits (odd Row) in every fourth column,
// alternating between columns 0, 4, 8, ... and 2, 6, 10, ... from one gap to
// the next. Two qubits are coupled exactly when their sites are adjacent
// (differ by 1 in one coordinate), so the sites are the whole graph.
type site struct{ row, col int }

// falconSites is IBM's 27-qubit Falcon (ibmq_kolkata, ibmq_mumbai and the
// other Falcon r4/r5 27-qubit chips) in label order: two rows of nine joined
// by three bridges (qubits 2, 13, 24), with three stubs above (0, 6, 17),
// two below (9, 20) and one at the right end (26). 27 qubits, 28 couplers.
var falconSites = []site{
	{0, 0}, {1, 0}, {2, 0}, {3, 0}, {1, 1}, {3, 1}, {0, 2}, {1, 2}, {3, 2}, {4, 2}, // 0-9
	{1, 3}, {3, 3}, {1, 4}, {2, 4}, {3, 4}, {1, 5}, {3, 5}, {0, 6}, {1, 6}, {3, 6}, // 10-19
	{4, 6}, {1, 7}, {3, 7}, {1, 8}, {2, 8}, {3, 8}, {3, 9}, // 20-26
}

// ibmLattice returns the sites of a heavy-hex lattice of `rows` qubit rows of
// `width` columns in IBM's label order: each row left to right, then the
// bridges below it left to right.
//
// With trimEnds the first and last rows each lose the end qubit that no bridge
// reaches (the first row its last column; the last row its first column when
// the gap above it bridges columns 2, 6, ..., else its last column), as on
// Hummingbird, Eagle, Osprey and Condor. With tailBridges the last row gets a
// row of bridges below it too, hanging free, as on Heron r1.
func ibmLattice(rows, width int, trimEnds, tailBridges bool) []site {
	s := make([]site, 0, rows*width+rows*(width/4+1))
	for r := 0; r < rows; r++ {
		lo, hi := 0, width-1
		if trimEnds && r == 0 {
			hi = width - 2
		}
		if trimEnds && r == rows-1 && r > 0 {
			if (r-1)%2 == 1 {
				lo = 1
			} else {
				hi = width - 2
			}
		}
		for c := lo; c <= hi; c++ {
			s = append(s, site{2 * r, c})
		}
		if r < rows-1 || tailBridges {
			for c := 2 * (r % 2); c < width; c += 4 {
				s = append(s, site{2*r + 1, c})
			}
		}
	}
	return s
}

// latticeSize is len(ibmLattice(rows, width, true, false)) for width = 4k+3.
func latticeSize(rows, width int) int {
	return rows*width - 2 + (rows-1)*((width-3)/4+1)
}

// genericWidth is the width of the generic lattice of `rows` rows: the
// narrowest 4k+3 >= 2*rows+1, IBM's proportions (Hummingbird 5 x 11, Eagle
// 7 x 15, Osprey 13 x 27, Condor 21 x 43 are all exactly 2*rows+1 wide).
func genericWidth(rows int) int {
	w := 2*rows + 1
	for w%4 != 3 {
		w++
	}
	return w
}

// genericRows returns the number of rows of the smallest generic lattice with
// at least n qubits.
func genericRows(n int) int {
	r := 2
	for latticeSize(r, genericWidth(r)) < n {
		r++
	}
	return r
}

// heronSites is IBM's Heron r1 (ibm_torino): 7 rows of 15 with 4 bridges
// below each row, the last 4 hanging free. 133 qubits, 150 couplers.
func heronSites() []site { return ibmLattice(7, 15, false, true) }

// adjacency returns, for each site, the indices of the sites next to it.
func adjacency(sites []site) [][]int {
	at := make(map[site]int, len(sites))
	for i, s := range sites {
		at[s] = i
	}
	adj := make([][]int, len(sites))
	for i, s := range sites {
		for _, o := range [...]site{{s.row, s.col + 1}, {s.row + 1, s.col}} {
			if j, ok := at[o]; ok {
				adj[i] = append(adj[i], j)
				adj[j] = append(adj[j], i)
			}
		}
	}
	return adj
}

// trimTo removes sites until n remain, keeping the graph connected: it
// repeatedly removes the highest-labelled site whose removal does not split
// the rest (a leaf of a spanning tree always qualifies, so it terminates).
// The lattice thus loses its last row from the right, and bridges whose lower
// end went stay as stubs. The order of the kept sites is unchanged.
func trimTo(sites []site, n int) []site {
	if n >= len(sites) {
		return sites
	}
	adj := adjacency(sites)
	alive := make([]bool, len(sites))
	for i := range alive {
		alive[i] = true
	}
	count := len(sites)
	seen := make([]int, len(sites)) // visit marks, by generation
	gen := 0
	queue := make([]int, 0, len(sites))
	connectedWithout := func(x int) bool {
		gen++
		start := -1
		for i := range alive {
			if alive[i] && i != x {
				start = i
				break
			}
		}
		if start < 0 {
			return true
		}
		seen[start] = gen
		queue = append(queue[:0], start)
		for h := 0; h < len(queue); h++ {
			for _, v := range adj[queue[h]] {
				if alive[v] && v != x && seen[v] != gen {
					seen[v] = gen
					queue = append(queue, v)
				}
			}
		}
		return len(queue) == count-1
	}
	for count > n {
		for i := len(sites) - 1; i >= 0; i-- {
			if alive[i] && connectedWithout(i) {
				alive[i] = false
				count--
				break
			}
		}
	}
	out := make([]site, 0, n)
	for i, s := range sites {
		if alive[i] {
			out = append(out, s)
		}
	}
	return out
}

// topologyFromSites builds the qubits (named by index, IBM style, placed at
// their sites) and the couplers of a heavy-hex device.
func topologyFromSites(name, family string, p *Profile, sites []site) (*hal.Topology, error) {
	qubits := make([]hal.QubitInfo, len(sites))
	for i, s := range sites {
		qubits[i] = hal.QubitInfo{Index: i, Name: strconv.Itoa(i), Row: s.row, Col: s.col}
	}
	var edges []hal.Edge
	for i, nb := range adjacency(sites) {
		for _, j := range nb {
			if i < j {
				edges = append(edges, hal.Edge{A: i, B: j})
			}
		}
	}
	return newTopology(name, family, p, qubits, edges)
}

// newTopology is hal.NewTopology for a synthetic device drawn from p.
func newTopology(name, family string, p *Profile, qubits []hal.QubitInfo, edges []hal.Edge) (*hal.Topology, error) {
	t, err := hal.NewTopology(name, Vendor, family, p.Native2Q, qubits, edges)
	if err != nil {
		return nil, err
	}
	if p.Other2Q != "" {
		t.Other2Q = []string{p.Other2Q}
	}
	return t, nil
}

// heavyHexKind is one of IBM's processor sizes: its graph and its noise.
type heavyHexKind struct {
	family  string
	profile *Profile
	sites   func() []site
}

var heavyHexKinds = map[int]heavyHexKind{
	27:   {"heavy-hex (Falcon-like)", &falcon, func() []site { return falconSites }},
	65:   {"heavy-hex (Hummingbird-like)", &hummingbird, func() []site { return ibmLattice(5, 11, true, false) }},
	127:  {"heavy-hex (Eagle-like)", &eagleR3, func() []site { return ibmLattice(7, 15, true, false) }},
	133:  {"heavy-hex (Heron-like)", &heronR1, heronSites},
	433:  {"heavy-hex (Osprey-like)", &eagleR3, func() []site { return ibmLattice(13, 27, true, false) }},
	1121: {"heavy-hex (Condor-like)", &eagleR3, func() []site { return ibmLattice(21, 43, true, false) }},
}

// HeavyHex returns an IBM-style heavy-hex device of n qubits (1 <= n <=
// MaxQubits) with noise drawn from seed.
//
// IBM's sizes get IBM's graphs, labelled as IBM labels them, and the noise of
// that family:
//
//	  27  Falcon r5     28 couplers  CX both ways  (ibmq_kolkata, ibmq_mumbai)
//	  65  Hummingbird   72 couplers  CX both ways  (ibmq_manhattan)
//	 127  Eagle r3     144 couplers  ECR one way   (ibm_sherbrooke)
//	 133  Heron r1     150 couplers  CZ both ways  (ibm_torino)
//	 433  Osprey       504 couplers  ECR, Eagle r3 noise
//	1121  Condor      1320 couplers  ECR, Eagle r3 noise
//
// Hummingbird, Eagle, Osprey and Condor are the generic lattice (see
// HeavyHexLattice) of 5 x 11, 7 x 15, 13 x 27 and 21 x 43. Any other n takes
// the smallest generic lattice of IBM's proportions (R rows, width the
// smallest 4k+3 >= 2R+1, R = 2, 3, ...) with at least n qubits and trims it
// to n by removing the highest-numbered qubits whose removal keeps the graph
// connected; it has Eagle r3 noise. Every result is connected with degree at
// most 3.
func HeavyHex(n int, seed int64) (*hal.Model, error) {
	if n < 1 || n > MaxQubits {
		return nil, fmt.Errorf("heavy-hex: %d qubits: must be between 1 and %d", n, MaxQubits)
	}
	name := deviceName("heavyhex-"+strconv.Itoa(n), seed)
	if k, ok := heavyHexKinds[n]; ok {
		t, err := topologyFromSites(name, k.family, k.profile, k.sites())
		if err != nil {
			return nil, err
		}
		return Noise(t, *k.profile, seed)
	}
	rows := genericRows(n)
	sites := trimTo(ibmLattice(rows, genericWidth(rows), true, false), n)
	t, err := topologyFromSites(name, "heavy-hex (Eagle-like)", &eagleR3, sites)
	if err != nil {
		return nil, err
	}
	return Noise(t, eagleR3, seed)
}

// HeavyHexLattice returns the generic heavy-hex lattice of `rows` rows of
// qubits, `cols` wide, with Eagle r3 noise drawn from seed. cols must be
// 4k+3 (3, 7, 11, 15, ...) so that the hexagons close at both edges; rows must
// be at least 2. The rows are joined by bridge qubits in every fourth column,
// alternating between columns 0, 4, ... and 2, 6, ...; the first and last rows
// lose their unbridged end qubit, as IBM's do. It has
// rows*cols - 2 + (rows-1)*(cols+1)/4 qubits; Eagle is 7 x 15 (127).
func HeavyHexLattice(rows, cols int, seed int64) (*hal.Model, error) {
	if rows < 2 || cols < 3 || cols%4 != 3 {
		return nil, fmt.Errorf("heavy-hex lattice %dx%d: need at least 2 rows and a width of 4k+3 columns (3, 7, 11, 15, ...)", rows, cols)
	}
	if rows > MaxQubits || cols > MaxQubits || latticeSize(rows, cols) > MaxQubits {
		return nil, fmt.Errorf("heavy-hex lattice %dx%d: more than %d qubits", rows, cols, MaxQubits)
	}
	name := deviceName(fmt.Sprintf("heavyhex-%dx%d", rows, cols), seed)
	t, err := topologyFromSites(name, "heavy-hex (Eagle-like)", &eagleR3, ibmLattice(rows, cols, true, false))
	if err != nil {
		return nil, err
	}
	return Noise(t, eagleR3, seed)
}
