package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eigen-os/rm/circuit"
	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/runtime/alloc"
)

func init() {
	register(&command{name: "place", summary: "choose qubits for a request on a device (offline, no daemon)", run: runPlace})
}

// requestFlags are the flags that describe a request, shared by place and
// bench place.
type requestFlags struct {
	device, shape, circuit string
	qubits, buffer, budget int
	floor, fragWeight      float64
	noRouting, wide        bool
}

func (f *requestFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.device, "device", "", "calibration folder or synthetic:NAME (e.g. synthetic:heavyhex-127)")
	fs.IntVar(&f.qubits, "qubits", 0, "number of logical qubits (with --shape; with --circuit: default the circuit's)")
	fs.StringVar(&f.shape, "shape", "", "connectivity: linear, ring, star, grid:RxC, clique or none")
	fs.StringVar(&f.circuit, "circuit", "", "OpenQASM 2 file whose interaction graph is placed (instead of --shape)")
	fs.BoolVar(&f.wide, "wide-gates", false, "with --circuit: 3-qubit and wider gates also couple every pair of their qubits")
	fs.IntVar(&f.buffer, "buffer", 0, "isolation distance d: at least d idle qubits between tasks (hop distance >= d+1)")
	fs.Float64Var(&f.floor, "floor", 0, "fidelity floor: lowest acceptable ESP (0: none)")
	fs.IntVar(&f.budget, "budget", 0, "search budget in nodes per phase (0: the engine's default)")
	fs.Float64Var(&f.fragWeight, "frag-weight", 0, "weight of the fragmentation penalty against -ln(ESP) (0: pure ESP)")
	fs.BoolVar(&f.noRouting, "no-routing", false, "refuse placements that need SWAPs")
}

// request builds the allocation request from the flags.
func (f *requestFlags) request() (*alloc.Request, string, error) {
	req := &alloc.Request{Qubits: f.qubits, Buffer: f.buffer, Floor: f.floor, Budget: f.budget,
		FragWeight: f.fragWeight, NoRouting: f.noRouting}
	switch {
	case f.circuit != "" && f.shape != "":
		return nil, "", fmt.Errorf("%w: give either --shape or --circuit, not both", alloc.ErrBadRequest)
	case f.circuit != "":
		c, err := circuit.ParseFile(f.circuit)
		if err != nil {
			return nil, "", err
		}
		if req.Qubits == 0 {
			req.Qubits = c.Qubits
		} else if req.Qubits != c.Qubits {
			return nil, "", fmt.Errorf("%w: --qubits %d but circuit %s declares %d qubits", alloc.ErrBadRequest, req.Qubits, f.circuit, c.Qubits)
		}
		pairs := c.Pairs
		if f.wide {
			pairs = c.Clique
		}
		g := &alloc.Graph{Pairs: make([]alloc.Pair, len(pairs)), OneQ: c.OneQ, Measured: []int{}}
		for i, p := range pairs {
			g.Pairs[i] = alloc.Pair{A: p.A, B: p.B, Count: p.Count}
		}
		for q, m := range c.Measured {
			if m {
				g.Measured = append(g.Measured, q)
			}
		}
		req.Graph = g
		return req, "circuit " + f.circuit, nil
	case f.shape != "":
		s, err := alloc.ParseShape(f.shape)
		if err != nil {
			return nil, "", err
		}
		req.Shape = s
		return req, fmt.Sprintf("%s of %d qubits", s, f.qubits), nil
	}
	return nil, "", fmt.Errorf("%w: give --shape SHAPE (with --qubits N) or --circuit FILE.qasm", alloc.ErrBadRequest)
}

// placeJSON is the output of rmctl place --json.
type placeJSON struct {
	Device     string   `json:"device"`
	Epoch      uint64   `json:"epoch"`
	Request    string   `json:"request"`
	Qubits     int      `json:"qubits"`
	Mapping    []int    `json:"mapping"`
	QubitNames []string `json:"qubit_names"`
	ESP        float64  `json:"esp"`
	Swaps      int      `json:"swaps"`
	Strategy   string   `json:"strategy"`
	Optimal    bool     `json:"optimal"`
	Buffer     int      `json:"buffer"`
	Frag       float64  `json:"frag"`
	Nodes      int      `json:"nodes"`
	ElapsedUS  float64  `json:"elapsed_us"`
}

// placeErrorJSON is the output of an infeasible or bad request with --json.
type placeErrorJSON struct {
	Error     string   `json:"error"`
	Reason    string   `json:"reason"`
	Device    string   `json:"device,omitempty"`
	Need      int      `json:"need,omitempty"`
	Free      *int     `json:"free,omitempty"`
	Largest   *int     `json:"largest_region,omitempty"`
	BestESP   *float64 `json:"best_esp,omitempty"`
	Floor     *float64 `json:"floor,omitempty"`
	ElapsedUS float64  `json:"elapsed_us,omitempty"`
}

func reasonOf(err error) string {
	switch {
	case errors.Is(err, alloc.ErrBadRequest):
		return "bad_request"
	case errors.Is(err, alloc.ErrTooFewQubits):
		return "too_few_qubits"
	case errors.Is(err, alloc.ErrNoRegion):
		return "no_region"
	case errors.Is(err, alloc.ErrFloor):
		return "floor_not_reachable"
	}
	return "error"
}

func runPlace(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("place", stderr)
	var rf requestFlags
	rf.register(fs)
	occupied := fs.String("occupied", "", "qubits held by other tasks, e.g. 3,4,5 or 0-9,20 (one task, buffer 0)")
	reserved := fs.String("reserved", "", "qubits reserved away from this request (kept at --buffer+1 hops)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: rmctl place --device PATH (--qubits N --shape SHAPE | --circuit FILE.qasm) [--occupied LIST] [--buffer D] [--json]")
		fmt.Fprintln(stderr, "Chooses the physical qubits of highest estimated success probability (ESP) for a request, offline.")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) > 0 {
		fail(stdout, stderr, *asJSON, fmt.Errorf("place: unexpected arguments %q", pos))
		return 2
	}
	m, err := loadDevice(rf.device)
	if err != nil {
		return fail(stdout, stderr, *asJSON, err)
	}
	req, what, err := rf.request()
	if err != nil {
		return placeFail(stdout, stderr, *asJSON, m, err, 0)
	}
	occ := alloc.NewOccupancy(m.Topology)
	held, err := alloc.ParseQubitList(*occupied, m.N())
	if err != nil {
		return placeFail(stdout, stderr, *asJSON, m, fmt.Errorf("--occupied: %w", err), 0)
	}
	if len(held) > 0 {
		if err := occ.Commit(alloc.Holding{Task: "occupied", Qubits: held}); err != nil {
			return placeFail(stdout, stderr, *asJSON, m, fmt.Errorf("--occupied: %w", err), 0)
		}
	}
	res, err := alloc.ParseQubitList(*reserved, m.N())
	if err != nil {
		return placeFail(stdout, stderr, *asJSON, m, fmt.Errorf("--reserved: %w", err), 0)
	}
	e, err := alloc.NewEngine(m, alloc.Options{CacheSize: -1})
	if err != nil {
		return fail(stdout, stderr, *asJSON, err)
	}
	start := time.Now()
	pl, err := e.Place(context.Background(), req, occ, res)
	elapsed := float64(time.Since(start).Nanoseconds()) / 1e3
	if err != nil {
		return placeFail(stdout, stderr, *asJSON, m, err, elapsed)
	}
	out := placeJSON{Device: m.Name, Epoch: m.Cal.Epoch, Request: what, Qubits: req.Qubits, Mapping: pl.Mapping,
		ESP: pl.ESP, Swaps: pl.Swaps, Strategy: pl.Strategy, Optimal: pl.Optimal, Buffer: pl.Buffer, Frag: pl.Frag,
		Nodes: pl.Nodes, ElapsedUS: elapsed}
	for _, q := range pl.Mapping {
		out.QubitNames = append(out.QubitNames, m.Qubits[q].Name)
	}
	if *asJSON {
		if err := printJSON(stdout, out); err != nil {
			return fail(stdout, stderr, false, err)
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintf(tw, "device\t%s (epoch %016x)\n", out.Device, out.Epoch)
	fmt.Fprintf(tw, "request\t%s, buffer %d\n", what, req.Buffer)
	fmt.Fprintf(tw, "mapping\t%v\n", out.Mapping)
	fmt.Fprintf(tw, "qubit names\t%s\n", strings.Join(out.QubitNames, " "))
	fmt.Fprintf(tw, "ESP\t%.6f\n", out.ESP)
	fmt.Fprintf(tw, "swaps\t%d\n", out.Swaps)
	opt := "best found within the budget"
	if out.Optimal {
		opt = "proven optimal"
	}
	fmt.Fprintf(tw, "strategy\t%s (%s, %d nodes)\n", out.Strategy, opt, out.Nodes)
	fmt.Fprintf(tw, "elapsed\t%.1f us\n", out.ElapsedUS)
	tw.Flush()
	return 0
}

// placeFail reports a failed placement: exit 2 for a bad request, 1 when
// it cannot be placed; with --json, an object with error and reason.
func placeFail(stdout, stderr io.Writer, asJSON bool, m *hal.Model, err error, elapsed float64) int {
	code := 1
	if errors.Is(err, alloc.ErrBadRequest) {
		code = 2
	}
	if asJSON {
		out := placeErrorJSON{Error: err.Error(), Reason: reasonOf(err), ElapsedUS: elapsed}
		if m != nil {
			out.Device = m.Name
		}
		var ie *alloc.InfeasibleError
		if errors.As(err, &ie) {
			out.Need = ie.Need
			if ie.Free >= 0 {
				out.Free = &ie.Free
			}
			if ie.Largest >= 0 {
				out.Largest = &ie.Largest
			}
			if ie.Reason == alloc.ErrFloor {
				out.BestESP, out.Floor = &ie.BestESP, &ie.Floor
			}
		}
		_ = printJSON(stdout, out)
	}
	fmt.Fprintln(stderr, "rmctl place:", err)
	return code
}
