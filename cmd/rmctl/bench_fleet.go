package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/eigen-os/rm/mqtt"
	"github.com/eigen-os/rm/runtime/balance"
)

func init() {
	register(&command{name: "bench fleet", summary: "simulate N controllers on one embedded broker: propagation, selection, message rate", run: runBenchFleet})
}

// runBenchFleet starts N federation nodes in this process on one embedded
// broker and reports how fast a state change reaches the whole fleet, how
// long a device selection takes over the fleet view, and the broker's
// steady-state message rate.
func runBenchFleet(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench fleet", stderr)
	nodes := fs.Int("nodes", 100, "controllers in the fleet")
	changes := fs.Int("changes", 200, "state changes timed")
	interval := fs.Duration("state-interval", 5*time.Second, "periodic state interval of every node")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if _, err := parseFlags(fs, args); err != nil {
		return 2
	}
	if *nodes < 2 || *nodes > 2000 || *changes < 1 {
		return fail(stdout, stderr, *asJSON, fmt.Errorf("bench fleet: --nodes must be in 2..2000 and --changes positive"))
	}
	bal, err := balance.New(balance.Policy{Algorithm: balance.BestFidelity})
	if err != nil {
		return fail(stdout, stderr, *asJSON, err)
	}
	need := balance.Need{Qubits: 5, Shape: "linear"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := mqtt.RunFleetBench(ctx, mqtt.FleetBenchConfig{Nodes: *nodes, Changes: *changes, StateInterval: *interval,
		Select: func(peers []mqtt.Peer) error {
			_, err := bal.Select(need, balance.FromPeers(peers))
			return err
		}})
	if err != nil {
		return fail(stdout, stderr, *asJSON, err)
	}
	if *asJSON {
		_ = printJSON(stdout, res)
		return 0
	}
	fmt.Fprintln(stdout, res.String())
	return 0
}
