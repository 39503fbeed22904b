package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/eigen-os/rm/circuit"
)

func init() {
	register(&command{name: "circuit", summary: "an OpenQASM 2 circuit's qubits, gate counts and interaction graph (offline)", run: runCircuit})
}

// circuitJSON is the --json output of rmctl circuit. The first six fields
// match the columns of the workloads' summary.csv.
type circuitJSON struct {
	File           string            `json:"file"`
	Qubits         int               `json:"qubits"`
	TwoQGates      int               `json:"twoq_gates"`
	Pairs          int               `json:"pairs"` // distinct pairs of 2-qubit gates
	ThreeQGates    int               `json:"threeq_gates"`
	CustomGates    string            `json:"custom_gates"` // "y" or "n"
	ManyQGates     int               `json:"manyq_gates"`
	PairsIncl3Q    int               `json:"pairs_incl_3q"`
	Measured       int               `json:"measured"` // number of measured qubits
	MeasuredQubits []int             `json:"measured_qubits"`
	OneQGates      int               `json:"oneq_gates"`
	Conditionals   int               `json:"conditionals"`
	Resets         int               `json:"resets"`
	Registers      []circuitRegister `json:"registers"`
	GateDefs       map[string]int    `json:"gate_defs"`
	Warnings       []string          `json:"warnings,omitempty"`
	PairList       [][3]int          `json:"pair_list"` // [a, b, count], a < b, sorted
}

type circuitRegister struct {
	Name   string `json:"name"`
	Size   int    `json:"size"`
	Offset int    `json:"offset"`
}

func runCircuit(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("circuit", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: rmctl circuit [--json] FILE.qasm")
		fmt.Fprintln(stderr, "Prints an OpenQASM 2 circuit's qubits, gate counts by arity and interaction graph.")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fail(stdout, stderr, *asJSON, fmt.Errorf("circuit: want exactly one FILE.qasm argument, got %d (usage: rmctl circuit [--json] FILE.qasm)", len(pos)))
		return 2
	}
	c, err := circuit.ParseFile(pos[0])
	if err != nil {
		return fail(stdout, stderr, *asJSON, err)
	}
	out := newCircuitJSON(pos[0], c)
	if *asJSON {
		if err := printJSON(stdout, out); err != nil {
			return fail(stdout, stderr, false, err)
		}
		return 0
	}
	printCircuitTable(stdout, c, out)
	return 0
}

func newCircuitJSON(file string, c *circuit.Circuit) circuitJSON {
	out := circuitJSON{
		File:           file,
		Qubits:         c.Qubits,
		TwoQGates:      c.TwoQGates,
		Pairs:          c.NumPairs(),
		ThreeQGates:    c.ThreeQGates,
		CustomGates:    "n",
		ManyQGates:     c.ManyQGates,
		PairsIncl3Q:    c.CliquePairs,
		MeasuredQubits: c.MeasuredQubits(),
		OneQGates:      c.OneQGates,
		Conditionals:   c.Conditionals,
		Resets:         c.Resets,
		Registers:      []circuitRegister{},
		GateDefs:       c.GateDefs,
		PairList:       [][3]int{},
	}
	if c.CustomGates {
		out.CustomGates = "y"
	}
	if out.MeasuredQubits == nil {
		out.MeasuredQubits = []int{}
	}
	out.Measured = len(out.MeasuredQubits)
	for _, r := range c.Registers {
		out.Registers = append(out.Registers, circuitRegister{Name: r.Name, Size: r.Size, Offset: r.Offset})
	}
	for _, w := range c.Warnings {
		out.Warnings = append(out.Warnings, w.Error())
	}
	if n := c.WarningCount - len(c.Warnings); n > 0 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%d more warnings not shown", n))
	}
	for _, p := range c.SortedPairs() {
		out.PairList = append(out.PairList, [3]int{p.A, p.B, p.Count})
	}
	return out
}

func printCircuitTable(w io.Writer, c *circuit.Circuit, out circuitJSON) {
	regs := make([]string, len(c.Registers))
	for i, r := range c.Registers {
		regs[i] = fmt.Sprintf("%s[%d]", r.Name, r.Size)
	}
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintf(tw, "file\t%s\n", out.File)
	fmt.Fprintf(tw, "qubits\t%d\t%s\n", out.Qubits, strings.Join(regs, " "))
	fmt.Fprintf(tw, "1q gates\t%d\n", out.OneQGates)
	fmt.Fprintf(tw, "2q gates\t%d\n", out.TwoQGates)
	fmt.Fprintf(tw, "distinct pairs\t%d\n", out.Pairs)
	fmt.Fprintf(tw, "3q gates\t%d\n", out.ThreeQGates)
	fmt.Fprintf(tw, "4q+ gates\t%d\n", out.ManyQGates)
	fmt.Fprintf(tw, "pairs incl. 3q+\t%d\n", out.PairsIncl3Q)
	if len(c.GateDefs) > 0 {
		fmt.Fprintf(tw, "custom gates\t%s\t%s\n", out.CustomGates, gateDefList(c.GateDefs))
	} else {
		fmt.Fprintf(tw, "custom gates\t%s\n", out.CustomGates)
	}
	fmt.Fprintf(tw, "measured qubits\t%d\n", out.Measured)
	fmt.Fprintf(tw, "conditionals\t%d\n", out.Conditionals)
	fmt.Fprintf(tw, "resets\t%d\n", out.Resets)
	tw.Flush()
	for _, s := range out.Warnings {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
	if len(out.PairList) == 0 {
		fmt.Fprintln(w, "\nno 2-qubit gates")
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 2, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "a\tb\tqubit a\tqubit b\tcount\t")
	for _, p := range out.PairList {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t\n", p[0], p[1], c.QubitName(p[0]), c.QubitName(p[1]), p[2])
	}
	tw.Flush()
}

// gateDefList formats up to 8 gate definitions as "name/arity" in name
// order, then how many more there are.
func gateDefList(defs map[string]int) string {
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for i, n := range names {
		if i == 8 {
			fmt.Fprintf(&b, " (+%d more)", len(names)-i)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s/%d", n, defs[n])
	}
	return b.String()
}
