package balance

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eigen-os/rm/mqtt"
)

// BenchmarkFleet100 runs 100 nodes in this process on one embedded broker
// and reports: the time for a state change to reach every node's fleet view
// (p50/p99), the time of a device selection on the fleet view (Fleet +
// FromPeers + Select, p50/p99), and the broker's messages per second at
// steady state, with every node publishing its state every 5 s (the
// default) and every 1 s. About 25 s in all; skipped with -short.
//
//	go test -run '^$' -bench Fleet100 -benchtime 1x ./runtime/balance/
func BenchmarkFleet100(b *testing.B) {
	if testing.Short() {
		b.Skip("starts 100 nodes")
	}
	for _, interval := range []time.Duration{5 * time.Second, time.Second} {
		b.Run("state="+interval.String(), func(b *testing.B) {
			bal, err := New(Policy{Algorithm: BestFidelity, AvoidOverloaded: true})
			if err != nil {
				b.Fatal(err)
			}
			need := Need{Qubits: 8, Shape: "ring", Floor: 0.5}
			var res mqtt.FleetBenchResult
			for i := 0; i < b.N; i++ {
				res, err = mqtt.RunFleetBench(context.Background(), mqtt.FleetBenchConfig{Nodes: 100, Changes: 300,
					StateInterval: interval,
					Select: func(peers []mqtt.Peer) error {
						_, err := bal.Select(need, FromPeers(peers))
						return err
					}})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.Logf("%v", res)
			ms := func(d time.Duration) float64 { return d.Seconds() * 1e3 }
			b.ReportMetric(ms(res.Propagation.P50), "prop-p50-ms")
			b.ReportMetric(ms(res.Propagation.P99), "prop-p99-ms")
			b.ReportMetric(ms(res.Selection.P50)*1e3, "select-p50-us")
			b.ReportMetric(ms(res.Selection.P99)*1e3, "select-p99-us")
			b.ReportMetric(res.SteadyIn+res.SteadyOut, "broker-msg/s")
			b.ReportMetric(ms(res.StartUp), "startup-ms")
			b.ReportMetric(float64(res.SeqGaps+res.RebirthsRequested), "gaps+rebirths")
		})
	}
}

// BenchmarkSelect100 is one selection over 100 candidates.
func BenchmarkSelect100(b *testing.B) {
	for _, alg := range []string{WeightedRoundRobin, LeastLoaded, BestFidelity, FidelityWait} {
		b.Run(alg, func(b *testing.B) {
			cands := make([]Candidate, 100)
			for i := range cands {
				cands[i] = cand(fmt.Sprintf("dev-%03d", i), "simulator", 127, float64(i%90)/100)
			}
			bal, _ := New(Policy{Algorithm: alg, AvoidOverloaded: true})
			need := Need{Qubits: 8, Shape: "ring", Floor: 0.5}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bal.Select(need, cands); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
