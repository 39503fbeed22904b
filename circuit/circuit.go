// Package circuit reads OpenQASM 2.0 circuits and extracts what the resource
// manager needs to place them: the number of qubits, the interaction graph
// (which qubit pairs meet in 2-qubit gates, and how often), and per-qubit
// gate and measurement facts.
//
// # Counting rule
//
// Only top-level statements count; gate bodies add nothing and gates are
// never expanded. Each application is counted by its arity, the number of
// qubit arguments at the call site, whatever its definition: cx, swap and a
// custom 2-argument gate are one 2-qubit gate each, ccx and a custom
// 3-argument gate are one 3-qubit gate. A whole-register argument (`h q;`,
// `cx q,r;`) broadcasts element by element: all whole-register arguments of
// one application must have the same size, indexed arguments are repeated,
// and every element-wise application counts on its own. `if(creg==N) op;`
// counts op like an unconditional statement. barrier, measure and reset are
// never gates (measure marks its qubits as measured). Gate names need no
// definition (`sx` is accepted); the arity is taken from the call site,
// except that a gate defined in the file, the built-ins U and CX and the
// standard qelib1.inc gates must be called with their number of qubits.
//
// A measure that names an undeclared register is skipped with a warning
// (see Circuit.Warnings) instead of failing: it cannot change the interaction
// graph, and real benchmark files contain it.
//
// `include` is a no-op: the file named is never opened. The `OPENQASM 2.0;`
// header may be missing; OpenQASM 3 is rejected.
//
// # Limits
//
// Inputs are untrusted. A circuit may declare at most MaxQubits qubits and
// MaxClbits classical bits, and the work a file can cause beyond reading it
// (register broadcast, pairs of wide applications) is bounded by MaxWork,
// WorkPerByte and MaxPairs. Exceeding any limit is an error that names it.
// ParseFile refuses files larger than MaxFileSize.
package circuit

import (
	"sort"
	"strconv"
)

// Limits on what a circuit may declare or cause. They are far above any real
// circuit (QASMBench's largest has a few hundred qubits and a few million
// gates) and keep a hostile input from exhausting memory or time.
const (
	// MaxQubits is the largest total size of the qreg declarations.
	MaxQubits = 1 << 20
	// MaxClbits is the largest total size of the creg declarations.
	MaxClbits = 1 << 20
	// MaxWork and WorkPerByte bound the expanded work of a file to
	// MaxWork + WorkPerByte*len(src) operations: every element-wise
	// application costs its arity plus the number of its argument pairs,
	// every element of a barrier, measure or reset costs 1. Ordinary
	// circuits need less than one operation per byte; only register
	// broadcast and very wide applications can come near the bound.
	MaxWork     = 1 << 22
	WorkPerByte = 8
	// MaxPairs is the largest number of distinct qubit pairs of 2-qubit
	// applications, and separately of 3-qubit and wider applications.
	MaxPairs = 1 << 20
	// MaxFileSize is the largest file ParseFile reads, in bytes.
	MaxFileSize = 1 << 30
	// MaxWarnings is the number of warnings a Circuit keeps; WarningCount
	// counts them all.
	MaxWarnings = 100
)

// Register is a quantum or classical register. Its elements have the flat
// indices Offset .. Offset+Size-1; offsets follow declaration order, separately
// for quantum and classical registers.
type Register struct {
	Name   string
	Size   int
	Offset int
	Line   int // line of the declaration
}

// Pair is an unordered qubit pair A < B (flat indices) with the number of
// applications in which both take part.
type Pair struct {
	A, B  int
	Count int
}

// Condition is the condition of an `if(creg==N) op;` statement.
type Condition struct {
	Register string // the classical register compared
	// Value is N in decimal without leading zeros. It is kept as text
	// because it may exceed 64 bits (QASMBench uses values up to 2^150);
	// use math/big to compute with it.
	Value string
	Line  int // line of the if
}

// Circuit is what Parse extracts from one OpenQASM 2 file. Qubits are
// identified by flat index: Registers[r].Offset + i for element i of register r.
type Circuit struct {
	// Name is the name given to Parse (usually the file path); errors and
	// reports use it.
	Name string
	// Version is the version of the OPENQASM header ("2.0"), or "" when the
	// file has no header.
	Version string
	// Includes lists the files named by include statements, in order. They
	// are not read.
	Includes []string

	// Qubits is the sum of the sizes of all qreg declarations, including
	// qubits that no gate touches.
	Qubits int
	// Registers are the qreg declarations in declaration order.
	Registers []Register
	// Clbits is the sum of the sizes of all creg declarations.
	Clbits int
	// ClassicalRegisters are the creg declarations in declaration order.
	ClassicalRegisters []Register

	// Pairs is the interaction graph: every unordered pair of qubits that
	// appears in at least one 2-qubit application, sorted by (A, B), with
	// the number of such applications. The counts sum to TwoQGates.
	Pairs []Pair
	// Clique is the interaction graph when every pair of arguments of every
	// application with 2 or more qubits counts (a ccx on a,b,c adds a-b, a-c
	// and b-c), sorted by (A, B). Count is the number of such applications
	// that contain both qubits. It shows the interaction hidden in 3-qubit
	// and wider gates.
	Clique []Pair
	// CliquePairs is len(Clique): the distinct pairs including 3-qubit and
	// wider applications (the README column "pairs incl. 3q+").
	CliquePairs int

	// OneQGates, TwoQGates, ThreeQGates and ManyQGates count the expanded
	// applications with exactly 1, 2, 3 and 4 or more qubit arguments.
	OneQGates   int
	TwoQGates   int
	ThreeQGates int
	ManyQGates  int
	// OneQ[q] is the number of 1-qubit applications on qubit q (len Qubits).
	OneQ []int

	// Measured[q] reports whether qubit q is measured at least once
	// (len Qubits).
	Measured []bool
	// Measurements counts the expanded measurements (qubit -> bit).
	Measurements int
	// Resets counts the expanded resets (one per qubit reset).
	Resets int
	// Conditionals counts the `if(creg==N) op;` statements (one per
	// statement, however many applications a broadcast op expands to).
	Conditionals int
	// Conditions are the conditions of those statements, in source order.
	Conditions []Condition

	// CustomGates reports whether the file holds at least one `gate`
	// definition.
	CustomGates bool
	// GateDefs maps the name of every `gate` definition to its number of
	// qubit arguments.
	GateDefs map[string]int
	// OpaqueDefs maps the name of every `opaque` declaration to its number
	// of qubit arguments.
	OpaqueDefs map[string]int

	// Warnings are problems that do not change the counts, such as a measure
	// of an undeclared register (skipped). At most MaxWarnings are kept;
	// WarningCount counts all of them.
	Warnings     []*Error
	WarningCount int
}

// SortedPairs returns a copy of the interaction graph, sorted by (A, B).
func (c *Circuit) SortedPairs() []Pair {
	out := make([]Pair, len(c.Pairs))
	copy(out, c.Pairs)
	sort.Slice(out, func(i, j int) bool {
		if out[i].A != out[j].A {
			return out[i].A < out[j].A
		}
		return out[i].B < out[j].B
	})
	return out
}

// NumPairs returns the number of distinct qubit pairs that meet in 2-qubit
// applications (the summary.csv column "pairs").
func (c *Circuit) NumPairs() int { return len(c.Pairs) }

// PairCount returns how many 2-qubit applications act on qubits a and b (in
// either order).
func (c *Circuit) PairCount(a, b int) int {
	if a > b {
		a, b = b, a
	}
	i := sort.Search(len(c.Pairs), func(i int) bool {
		p := c.Pairs[i]
		return p.A > a || (p.A == a && p.B >= b)
	})
	if i < len(c.Pairs) && c.Pairs[i].A == a && c.Pairs[i].B == b {
		return c.Pairs[i].Count
	}
	return 0
}

// MeasuredQubits returns the flat indices of the measured qubits, ascending.
func (c *Circuit) MeasuredQubits() []int {
	var out []int
	for q, m := range c.Measured {
		if m {
			out = append(out, q)
		}
	}
	return out
}

// QubitName returns the source name of flat qubit q, such as "q[3]", or
// "#q" when q is not a qubit of the circuit.
func (c *Circuit) QubitName(q int) string {
	if r := findRegister(c.Registers, q); r != nil {
		return r.Name + "[" + strconv.Itoa(q-r.Offset) + "]"
	}
	return "#" + strconv.Itoa(q)
}

// findRegister returns the register that holds flat index q, or nil.
func findRegister(regs []Register, q int) *Register {
	i := sort.Search(len(regs), func(i int) bool { return regs[i].Offset+regs[i].Size > q })
	if i < len(regs) && q >= regs[i].Offset {
		return &regs[i]
	}
	return nil
}
