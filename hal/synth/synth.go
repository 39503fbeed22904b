// Package synth generates synthetic devices: the coupling graphs of the
// processor families the Resource Manager meets (IBM heavy-hex, Google square
// grids, Rigetti octagons, trapped-ion all-to-all) with seeded noise drawn to
// resemble the real calibration snapshots of ../shared/devices.
//
// Every generator returns a finalized *hal.Model. The same parameters and seed
// give the same model, down to its calibration Epoch; another seed gives other
// figures on the same graph. Devices are named by their spec (ByName):
//
//	heavyhex-N       IBM heavy-hex of N qubits (27, 65, 127, 133, 433, 1121 are IBM's chips)
//	heavyhex-RxC     generic heavy-hex lattice, R rows of C (= 4k+3) columns
//	grid-RxC         Google-style square grid
//	octagons-K       Rigetti Aspen-style rings of 8
//	alltoall-N       trapped-ion, every pair coupled
//
// each with an optional "@SEED" (default 1) and an optional "synthetic:"
// prefix: "synthetic:heavyhex-127@42". The device is named "synthetic-" plus
// the spec, without the seed when it is the default: "synthetic-heavyhex-127",
// "synthetic-heavyhex-127@42"; ByName accepts that name as well, so a device
// can be regenerated from its ID. Vendor is "synthetic".
//
// The noise of each family comes from a Profile (profile.go) whose figures are
// the medians and spreads of the corresponding real snapshots, with the
// vendor's quirks: broken IBM couplers carry error 1.0, a few qubits read
// stuck, figures a vendor does not publish are NaN.
package synth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/eigen-os/rm/hal"
)

// Size limits. Topology keeps an n*n table of uint16 hop distances, 2.5 MB at
// 1121 qubits and 200 MB at MaxQubits; larger devices are refused rather than
// exhausting memory. All-to-all devices have n(n-1)/2 couplers; single ion
// traps hold about a hundred ions.
const (
	MaxQubits   = 10000
	MaxAllToAll = 256
	MaxOctagons = 100 // 800 qubits; keeps Rigetti's node ids (100*row + 10*col + i) unique
)

// Vendor is the Topology.Vendor of every synthetic device.
const Vendor = "synthetic"

// Prefix is the optional prefix of a synthetic device spec.
const Prefix = "synthetic:"

// DefaultSeed is the seed of a spec without "@SEED".
const DefaultSeed int64 = 1

// DefaultName is the spec of the built-in device that `make run` serves.
const DefaultName = "heavyhex-127@1"

// Default returns the built-in default device, heavyhex-127@1: IBM's Eagle
// graph with Eagle r3 noise.
func Default() *hal.Model {
	m, err := HeavyHex(127, DefaultSeed)
	if err != nil {
		// Fixed parameters: this cannot fail unless the package is broken,
		// which TestDefault catches.
		panic("synth: default device: " + err.Error())
	}
	return m
}

func deviceName(spec string, seed int64) string {
	if seed == DefaultSeed {
		return "synthetic-" + spec
	}
	return "synthetic-" + spec + "@" + strconv.FormatInt(seed, 10)
}

// Family names of a Spec.
const (
	FamilyHeavyHex = "heavyhex"
	FamilyGrid     = "grid"
	FamilyOctagons = "octagons"
	FamilyAllToAll = "alltoall"
)

// Spec is a parsed synthetic device name.
type Spec struct {
	Family string // one of the Family* constants
	// N is the number of qubits (heavyhex-N, alltoall-N) or rings
	// (octagons-K); 0 when the size is Rows x Cols (grid, heavyhex-RxC).
	N          int
	Rows, Cols int
	Seed       int64
}

// String is the canonical spec, without the seed when it is the default.
func (s Spec) String() string {
	size := strconv.Itoa(s.N)
	if s.N == 0 {
		size = fmt.Sprintf("%dx%d", s.Rows, s.Cols)
	}
	out := s.Family + "-" + size
	if s.Seed != DefaultSeed {
		out += "@" + strconv.FormatInt(s.Seed, 10)
	}
	return out
}

// Model generates the device.
func (s Spec) Model() (*hal.Model, error) {
	switch {
	case s.Family == FamilyHeavyHex && s.N != 0:
		return HeavyHex(s.N, s.Seed)
	case s.Family == FamilyHeavyHex:
		return HeavyHexLattice(s.Rows, s.Cols, s.Seed)
	case s.Family == FamilyGrid:
		return Grid(s.Rows, s.Cols, s.Seed)
	case s.Family == FamilyOctagons:
		return Octagons(s.N, s.Seed)
	case s.Family == FamilyAllToAll:
		return AllToAll(s.N, s.Seed)
	}
	return nil, fmt.Errorf("unknown synthetic family %q (known: %s)", s.Family, strings.Join(families, ", "))
}

var families = []string{FamilyHeavyHex, FamilyGrid, FamilyOctagons, FamilyAllToAll}

// ParseSpec parses a synthetic device name (see the package documentation)
// without generating it. It checks the syntax and the size limits.
func ParseSpec(spec string) (Spec, error) {
	s, err := parseSpec(spec)
	if err != nil {
		return Spec{}, fmt.Errorf("synthetic device %q: %w", spec, err)
	}
	return s, nil
}

func parseSpec(spec string) (Spec, error) {
	body := strings.TrimSpace(spec)
	body = strings.TrimPrefix(body, Prefix)
	body = strings.TrimPrefix(body, "synthetic-") // a device name is its own spec
	if body == "" {
		return Spec{}, errors.New("empty name: want FAMILY-SIZE[@SEED], e.g. heavyhex-127 (families: " + strings.Join(families, ", ") + ")")
	}
	s := Spec{Seed: DefaultSeed}
	if b, seed, ok := strings.Cut(body, "@"); ok {
		v, err := strconv.ParseInt(seed, 10, 64)
		if err != nil {
			return Spec{}, fmt.Errorf("seed %q after '@' is not a 64-bit integer", seed)
		}
		s.Seed, body = v, b
	}
	family, size, ok := strings.Cut(body, "-")
	s.Family = strings.ToLower(family)
	known := false
	for _, f := range families {
		known = known || f == s.Family
	}
	if !known {
		return Spec{}, fmt.Errorf("unknown family %q (known: %s)", family, strings.Join(families, ", "))
	}
	if !ok || size == "" {
		return Spec{}, fmt.Errorf("%s needs a size, e.g. %s", s.Family, example(s.Family))
	}
	var err error
	switch s.Family {
	case FamilyGrid:
		s.Rows, s.Cols, err = parseRxC(size)
	case FamilyHeavyHex:
		if strings.ContainsAny(size, "xX") {
			s.Rows, s.Cols, err = parseRxC(size)
		} else {
			s.N, err = parseCount(size)
		}
	default:
		s.N, err = parseCount(size)
	}
	if err != nil {
		return Spec{}, fmt.Errorf("%s size: %w (e.g. %s)", s.Family, err, example(s.Family))
	}
	if err := s.checkSize(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// checkSize applies the generators' limits without generating.
func (s Spec) checkSize() error {
	switch {
	case s.Family == FamilyHeavyHex && s.N != 0:
		if s.N > MaxQubits {
			return fmt.Errorf("heavy-hex: %d qubits: must be between 1 and %d", s.N, MaxQubits)
		}
	case s.Family == FamilyHeavyHex:
		if s.Rows < 2 || s.Cols < 3 || s.Cols%4 != 3 {
			return fmt.Errorf("heavy-hex lattice %dx%d: need at least 2 rows and a width of 4k+3 columns (3, 7, 11, 15, ...)", s.Rows, s.Cols)
		}
		if s.Rows > MaxQubits || s.Cols > MaxQubits || latticeSize(s.Rows, s.Cols) > MaxQubits {
			return fmt.Errorf("heavy-hex lattice %dx%d: more than %d qubits", s.Rows, s.Cols, MaxQubits)
		}
	case s.Family == FamilyGrid:
		if s.Rows > MaxQubits || s.Cols > MaxQubits || s.Rows*s.Cols > MaxQubits {
			return fmt.Errorf("grid %dx%d: more than %d qubits", s.Rows, s.Cols, MaxQubits)
		}
	case s.Family == FamilyOctagons:
		if s.N > MaxOctagons {
			return fmt.Errorf("octagons %d: must be between 1 and %d rings", s.N, MaxOctagons)
		}
	case s.Family == FamilyAllToAll:
		if s.N > MaxAllToAll {
			return fmt.Errorf("all-to-all %d: must be between 1 and %d qubits", s.N, MaxAllToAll)
		}
	}
	return nil
}

// parseCount parses a positive decimal count.
func parseCount(s string) (int, error) {
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%q is negative: must be at least 1", s)
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%q is not a whole number", s)
		}
	}
	if len(s) > 9 {
		return 0, fmt.Errorf("%q is absurdly large (limit %d qubits)", s, MaxQubits)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	if n < 1 {
		return 0, fmt.Errorf("%q: must be at least 1", s)
	}
	return n, nil
}

// parseRxC parses "RxC".
func parseRxC(s string) (int, int, error) {
	r, c, ok := strings.Cut(strings.ToLower(s), "x")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not ROWSxCOLS", s)
	}
	rows, err := parseCount(r)
	if err != nil {
		return 0, 0, fmt.Errorf("rows: %w", err)
	}
	cols, err := parseCount(c)
	if err != nil {
		return 0, 0, fmt.Errorf("columns: %w", err)
	}
	return rows, cols, nil
}

func example(family string) string {
	for _, n := range Names() {
		if strings.HasPrefix(n.Pattern, family+"-") {
			return n.Examples[0]
		}
	}
	return DefaultName
}

// ByName generates the synthetic device that spec names (see the package
// documentation), e.g. "heavyhex-127", "synthetic:grid-8x8@7".
func ByName(spec string) (*hal.Model, error) {
	s, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	m, err := s.Model()
	if err != nil {
		return nil, fmt.Errorf("synthetic device %q: %w", spec, err)
	}
	return m, nil
}

// NameDoc documents one form of synthetic device name.
type NameDoc struct {
	Pattern     string   // e.g. "heavyhex-N"
	Description string   // what it generates
	Examples    []string // specs that ByName accepts
}

// Names lists the forms of synthetic device names with examples. Any of them
// takes an optional "@SEED" (default 1) and "synthetic:" prefix.
func Names() []NameDoc {
	return []NameDoc{
		{"heavyhex-N", "IBM heavy-hex of N qubits (1.." + strconv.Itoa(MaxQubits) + "): 27 Falcon, 65 Hummingbird, 127 Eagle, " +
			"133 Heron, 433 Osprey, 1121 Condor are IBM's graphs; other N the smallest IBM-proportioned lattice trimmed to N",
			[]string{"heavyhex-127", "heavyhex-27", "heavyhex-133", "heavyhex-1121@7", "heavyhex-300"}},
		{"heavyhex-RxC", "generic heavy-hex lattice of R rows of C (4k+3) columns, Eagle r3 noise",
			[]string{"heavyhex-7x15", "heavyhex-9x19@3"}},
		{"grid-RxC", "Google-style square grid, Willow noise", []string{"grid-8x8", "grid-6x9@2"}},
		{"octagons-K", "Rigetti Aspen-style rings of 8 (1.." + strconv.Itoa(MaxOctagons) + "), Aspen-8 noise; octagons-4 is Aspen-8's graph",
			[]string{"octagons-4", "octagons-10"}},
		{"alltoall-N", "trapped-ion, every pair coupled (1.." + strconv.Itoa(MaxAllToAll) + " qubits), IonQ Aria-class noise",
			[]string{"alltoall-32", "alltoall-11@5"}},
	}
}
