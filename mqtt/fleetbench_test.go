package mqtt

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A small fleet exercises the benchmark helper (BenchmarkFleet100 in
// runtime/balance runs it with 100 nodes).
func TestRunFleetBenchSmall(t *testing.T) {
	selections := 0
	res, err := RunFleetBench(context.Background(), FleetBenchConfig{Nodes: 8, Changes: 24, StateInterval: 200 * time.Millisecond,
		Steady: 500 * time.Millisecond, Logger: testLogger(t),
		Select: func(peers []Peer) error {
			if len(peers) != 8 {
				t.Errorf("fleet of %d peers", len(peers))
			}
			selections++
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if res.Propagation.N != 24 || res.Selection.N != 24 || selections != 24 {
		t.Errorf("samples: %+v", res)
	}
	// 8 nodes publish a state and a telemetry record every 200 ms: about 80
	// messages/s in, and each state goes to the 8 nodes: about 320/s out.
	if res.SteadyIn < 40 || res.SteadyOut < 160 {
		t.Errorf("steady state: %.0f in, %.0f out per second", res.SteadyIn, res.SteadyOut)
	}
}

// BenchmarkFleetSnapshot is Fleet() on a view of 100 peers.
func BenchmarkFleetSnapshot(b *testing.B) {
	f := newFleetView()
	for i := 0; i < 100; i++ {
		d := fmt.Sprintf("dev-%03d", i)
		f.peers[d] = &peerEntry{Peer: Peer{Device: d, Online: true, HasBirth: true, HasState: true,
			Birth: seedBirth(), State: seedState(), LastSeen: time.Now()}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(f.snapshot(time.Now())) != 100 {
			b.Fatal("size")
		}
	}
}
