package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// FleetBenchConfig configures RunFleetBench.
type FleetBenchConfig struct {
	// Nodes is the size of the fleet (default 100), all in this process on
	// one embedded broker at Addr (default: a free loopback port).
	Nodes int
	Addr  string
	// Changes is the number of state changes timed (default 200); each is
	// made by the next node in turn.
	Changes int
	// StateInterval is every node's periodic state (default 5 s, the
	// product default); Steady how long the steady-state message rate is
	// measured (default: one StateInterval).
	StateInterval time.Duration
	Steady        time.Duration
	// Select, when set, is timed after each change on one node's fleet
	// view (e.g. balance.Select over balance.FromPeers).
	Select func(peers []Peer) error
	Logger *slog.Logger
}

// Percentiles summarise durations.
type Percentiles struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return Percentiles{N: len(s), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: s[len(s)-1]}
}

func (p Percentiles) String() string {
	return fmt.Sprintf("p50 %v, p90 %v, p99 %v, max %v (n=%d)", p.P50, p.P90, p.P99, p.Max, p.N)
}

// FleetBenchResult are the figures of RunFleetBench.
type FleetBenchResult struct {
	Nodes int
	// StartUp is the time until every node saw every other online.
	StartUp time.Duration
	// Propagation is, per state change, the time from StateChanged until
	// every other node's fleet view holds the new state.
	Propagation Percentiles
	// Selection is the time of Fleet() plus Config.Select on one node.
	Selection Percentiles
	// Steady state: PUBLISH packets per second received and sent by the
	// broker while every node publishes its state every StateInterval.
	SteadyIn, SteadyOut float64
	// Health of the run, summed over the nodes: sequence gaps, rebirth
	// requests, messages dropped, and payloads that failed to decode.
	SeqGaps, RebirthsRequested, Dropped, DecodeFailures uint64
	// BrokerDropped counts messages the broker could not queue.
	BrokerDropped int64
}

func (r FleetBenchResult) String() string {
	return fmt.Sprintf("%d nodes: start-up %v; state change seen fleet-wide %v; selection %v; broker at steady state %.0f msg/s in, %.0f msg/s out; seq gaps %d, rebirths requested %d, dropped %d (broker %d), decode failures %d",
		r.Nodes, r.StartUp.Round(time.Millisecond), r.Propagation, r.Selection, r.SteadyIn, r.SteadyOut,
		r.SeqGaps, r.RebirthsRequested, r.Dropped, r.BrokerDropped, r.DecodeFailures)
}

// benchLocal is a minimal controller whose state carries a marker.
type benchLocal struct {
	device string
	marker atomic.Int64
}

func (b *benchLocal) Birth() Birth {
	return Birth{DeviceType: "simulator", Summary: DeviceSummary{Vendor: "synthetic", Qubits: 127, UsableQubits: 127, MaxDegree: 3},
		Capabilities: []string{"linear"}, Software: "fleetbench"}
}

func (b *benchLocal) State() State {
	prof := make([]float32, DefaultProfileLen)
	for k := range prof {
		prof[k] = 1 - 0.01*float32(k+1)
	}
	m := int(b.marker.Load())
	return State{Health: "online", Qubits: 127, FreeQubits: 127 - m%100, Utilization: float64(m%100) / 127,
		QueueLength: m, Quality: Quality{Linear: prof, Idle: prof, Readout: 0.01, Pair: 0.01}}
}

func (b *benchLocal) HandleForward(context.Context, ForwardRequest) ForwardResponse {
	return ForwardResponse{Code: CodeNoCapacity, Message: "bench"}
}

func (b *benchLocal) HandleCommand(context.Context, Command) error { return nil }

// RunFleetBench starts a fleet of nodes in this process on one embedded
// broker and measures how fast a state change reaches every node, how long a
// device selection takes on the fleet view, and the broker's message rate at
// steady state. It is the engine of BenchmarkFleet100 and of
// `rmctl bench fleet`.
func RunFleetBench(ctx context.Context, cfg FleetBenchConfig) (res FleetBenchResult, err error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = 100
	}
	if cfg.Nodes < 2 {
		return res, fmt.Errorf("fleet bench: %d nodes, want at least 2", cfg.Nodes)
	}
	if cfg.Changes == 0 {
		cfg.Changes = 200
	}
	if cfg.StateInterval == 0 {
		cfg.StateInterval = 5 * time.Second
	}
	if cfg.Steady == 0 {
		cfg.Steady = cfg.StateInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Addr == "" {
		// A free port below the ephemeral range (32768 and up on Linux),
		// so that none of the 100 clients' own sockets takes it before the
		// first node binds it.
		for i := 0; i < 200 && cfg.Addr == ""; i++ {
			addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
			if ln, err := net.Listen("tcp", addr); err == nil {
				ln.Close()
				cfg.Addr = addr
			}
		}
		if cfg.Addr == "" {
			return res, fmt.Errorf("fleet bench: no free loopback port in 20000..31999")
		}
	}

	// The change being timed: which device, which marker, how many nodes
	// have seen it, and a channel closed when all have.
	type change struct {
		device string
		marker int
		seen   atomic.Int64
		done   chan struct{}
	}
	var cur atomic.Pointer[change]
	res.Nodes = cfg.Nodes

	nodes := make([]*Node, 0, cfg.Nodes)
	locals := make([]*benchLocal, 0, cfg.Nodes)
	defer func() {
		if len(nodes) > 0 {
			if b := nodes[0].Stats().Broker; b != nil {
				res.BrokerDropped = b.MessagesDropped
			}
		}
		for _, n := range nodes {
			st := n.Stats()
			res.SeqGaps += st.SeqGaps
			res.RebirthsRequested += st.RebirthsRequested
			res.Dropped += st.Dropped
			res.DecodeFailures += st.DecodeFailures
		}
		var wg sync.WaitGroup
		for _, n := range nodes[min(1, len(nodes)):] { // the host last
			wg.Add(1)
			go func() { defer wg.Done(); n.Close() }()
		}
		wg.Wait()
		if len(nodes) > 0 {
			nodes[0].Close()
		}
	}()
	start := time.Now()
	for i := 0; i < cfg.Nodes; i++ {
		dev := fmt.Sprintf("bench-%03d", i)
		l := &benchLocal{device: dev}
		var lastSeen atomic.Int64 // the last marker this node counted
		c := Config{Site: "bench", Device: dev, EmbeddedAddr: cfg.Addr, KeepAlive: 30 * time.Second,
			StateInterval: cfg.StateInterval, StateMinGap: time.Millisecond, Logger: cfg.Logger,
			OnFleetChange: func(p Peer) {
				ch := cur.Load()
				if ch == nil || p.Device != ch.device || !p.HasState || p.State.QueueLength != ch.marker {
					return
				}
				if lastSeen.Swap(int64(ch.marker)) == int64(ch.marker) {
					return
				}
				if ch.seen.Add(1) == int64(cfg.Nodes-1) {
					close(ch.done)
				}
			}}
		n, err := Start(ctx, c, l)
		if err != nil {
			return res, fmt.Errorf("fleet bench: node %d: %w", i, err)
		}
		nodes = append(nodes, n)
		locals = append(locals, l)
	}
	for {
		all := true
		for _, n := range nodes {
			count := 0
			for _, p := range n.Fleet() {
				if p.Online && p.HasState {
					count++
				}
			}
			if count < cfg.Nodes {
				all = false
				break
			}
		}
		if all {
			break
		}
		if time.Since(start) > 60*time.Second || ctx.Err() != nil {
			return res, fmt.Errorf("fleet bench: the fleet did not converge within %v", time.Since(start).Round(time.Second))
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.StartUp = time.Since(start)

	prop := make([]time.Duration, 0, cfg.Changes)
	sel := make([]time.Duration, 0, cfg.Changes)
	for i := 0; i < cfg.Changes; i++ {
		j := i % cfg.Nodes
		ch := &change{device: nodes[j].cfg.Device, marker: 1000 + i, done: make(chan struct{})}
		cur.Store(ch)
		locals[j].marker.Store(int64(ch.marker))
		t0 := time.Now()
		nodes[j].StateChanged()
		select {
		case <-ch.done:
			prop = append(prop, time.Since(t0))
		case <-time.After(10 * time.Second):
			return res, fmt.Errorf("fleet bench: change %d of %s seen by %d of %d nodes after 10 s", i, ch.device, ch.seen.Load(), cfg.Nodes-1)
		case <-ctx.Done():
			return res, ctx.Err()
		}
		if cfg.Select != nil {
			viewer := nodes[(j+1)%cfg.Nodes]
			t1 := time.Now()
			err := cfg.Select(viewer.Fleet())
			sel = append(sel, time.Since(t1))
			if err != nil {
				return res, fmt.Errorf("fleet bench: select: %w", err)
			}
		}
	}
	cur.Store(nil)
	res.Propagation, res.Selection = percentiles(prop), percentiles(sel)

	host := nodes[0].Stats().Broker
	if host == nil {
		return res, fmt.Errorf("fleet bench: node 0 does not host the broker")
	}
	t0 := time.Now()
	in0, out0 := host.MessagesReceived, host.MessagesSent
	select {
	case <-time.After(cfg.Steady):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	host = nodes[0].Stats().Broker
	secs := time.Since(t0).Seconds()
	res.SteadyIn = float64(host.MessagesReceived-in0) / secs
	res.SteadyOut = float64(host.MessagesSent-out0) / secs
	return res, nil
}
