package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/hal/load"
)

// loadDevice opens a calibration folder or a synthetic device name
// ("synthetic:heavyhex-127@1").
func loadDevice(path string) (*hal.Model, error) {
	if path == "" {
		return nil, fmt.Errorf("--device is required: a calibration folder or a synthetic name such as synthetic:heavyhex-127")
	}
	return load.Open(path)
}

func init() {
	register(&command{name: "device show", summary: "show a device's topology and calibration summary (offline)", run: runDeviceShow})
}

func runDeviceShow(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("device show", stderr)
	dev := fs.String("device", "", "calibration folder or synthetic:NAME (e.g. synthetic:heavyhex-127)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	detail := fs.Bool("detail", false, "also list every qubit and coupler")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return 2
	}
	if *dev == "" && len(pos) == 1 {
		*dev = pos[0]
	} else if len(pos) > 0 {
		return fail(stdout, stderr, *asJSON, fmt.Errorf("device show: unexpected arguments %q", pos))
	}
	m, err := loadDevice(*dev)
	if err != nil {
		return fail(stdout, stderr, *asJSON, err)
	}
	s := m.Summarize()
	if *asJSON {
		out := struct {
			hal.Summary
			Qubits   []qubitRow   `json:"qubit_list,omitempty"`
			Couplers []couplerRow `json:"coupler_list,omitempty"`
		}{Summary: s}
		if *detail {
			out.Qubits, out.Couplers = qubitRows(m), couplerRows(m)
		}
		if err := printJSON(stdout, out); err != nil {
			return fail(stdout, stderr, false, err)
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintf(tw, "name\t%s\n", s.Name)
	fmt.Fprintf(tw, "vendor / family\t%s / %s\n", s.Vendor, s.Family)
	fmt.Fprintf(tw, "qubits\t%d (%d unusable)\n", s.Qubits, s.BrokenQubits)
	fmt.Fprintf(tw, "couplers\t%d (%d broken, %d usable)\n", s.Couplers, s.BrokenCouplers, s.UsableCouplers)
	fmt.Fprintf(tw, "native 2q gate\t%s\n", strings.Join(append([]string{s.Native2Q}, s.Other2Q...), ", "))
	fmt.Fprintf(tw, "median 2q error\t%s (usable only: %s)\n", fig(s.Median2QError), fig(s.Median2QErrorUsable))
	fmt.Fprintf(tw, "median readout error\t%s\n", fig(s.MedianReadoutError))
	fmt.Fprintf(tw, "median 1q error\t%s\n", fig(s.Median1QError))
	fmt.Fprintf(tw, "median T1 / T2 (us)\t%s / %s\n", fig(s.MedianT1), fig(s.MedianT2))
	fmt.Fprintf(tw, "calibrated at\t%s\n", orDash(s.CalibratedAt))
	fmt.Fprintf(tw, "epoch\t%016x\n", s.Epoch)
	tw.Flush()
	if *detail {
		fmt.Fprintln(stdout)
		tw = tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "qubit\tname\tusable\treadout\t1q error\tT1 us\tT2 us\treason")
		for _, q := range qubitRows(m) {
			fmt.Fprintf(tw, "%d\t%s\t%v\t%s\t%s\t%s\t%s\t%s\n", q.Index, q.Name, q.Usable, fig(q.Readout), fig(q.Error1Q), fig(q.T1), fig(q.T2), q.Reason)
		}
		tw.Flush()
		fmt.Fprintln(stdout)
		tw = tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "coupler\tgate\terror\tusable\treason")
		for _, c := range couplerRows(m) {
			fmt.Fprintf(tw, "%d-%d\t%s\t%s\t%v\t%s\n", c.A, c.B, c.Gate, fig(c.Error), c.Usable, c.Reason)
		}
		tw.Flush()
	}
	return 0
}

type qubitRow struct {
	Index   int        `json:"index"`
	Name    string     `json:"name"`
	Usable  bool       `json:"usable"`
	Reason  string     `json:"reason,omitempty"`
	Readout hal.Figure `json:"readout_error"`
	Error1Q hal.Figure `json:"error_1q"`
	T1      hal.Figure `json:"t1_us"`
	T2      hal.Figure `json:"t2_us"`
}

type couplerRow struct {
	A      int        `json:"a"`
	B      int        `json:"b"`
	Gate   string     `json:"gate"`
	Error  hal.Figure `json:"error"`
	Usable bool       `json:"usable"`
	Reason string     `json:"reason,omitempty"`
}

func qubitRows(m *hal.Model) []qubitRow {
	rows := make([]qubitRow, m.N())
	for i, q := range m.Cal.Qubits {
		rows[i] = qubitRow{Index: i, Name: m.Qubits[i].Name, Usable: q.Usable, Reason: q.Reason, Readout: hal.Figure(q.ReadoutError),
			Error1Q: hal.Figure(q.Error1Q), T1: hal.Figure(q.T1), T2: hal.Figure(q.T2)}
	}
	return rows
}

func couplerRows(m *hal.Model) []couplerRow {
	rows := make([]couplerRow, len(m.Couplers))
	for i, c := range m.Cal.Couplers {
		e := m.Couplers[i]
		rows[i] = couplerRow{A: e.A, B: e.B, Gate: c.Gate, Error: hal.Figure(c.Error), Usable: c.Usable, Reason: c.Reason}
	}
	return rows
}

func fig(f hal.Figure) string {
	x := float64(f)
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.4g", x)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
