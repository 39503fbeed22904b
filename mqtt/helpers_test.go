package mqtt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// fakeLocal is a controller stand-in: a settable state, and a forward
// handler that grants at most once per (tenant, key) like the real one.
type fakeLocal struct {
	mu        sync.Mutex
	device    string
	typ       string
	state     State
	delay     time.Duration // HandleForward sleeps this long (ignoring ctx) before answering
	refuse    string        // when set, HandleForward refuses with this code
	calls     int           // HandleForward calls
	grants    map[string]ForwardResponse
	released  map[string]bool // grants released by a cancel
	refused   map[string]bool // keys cancelled (refused from then on)
	commands  []Command
	births    atomic.Int64
	nextAlloc int
}

func newFake(device string) *fakeLocal {
	return &fakeLocal{device: device, typ: "simulator",
		state: State{Health: "online", Qubits: 27, FreeQubits: 27,
			Quality: Quality{Linear: []float32{0.99, 0.98, 0.97}, Idle: []float32{0.99, 0.98, 0.97}, Readout: 0.01, Pair: 0.01}},
		grants: map[string]ForwardResponse{}, released: map[string]bool{}, refused: map[string]bool{}}
}

func (f *fakeLocal) Birth() Birth {
	f.births.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return Birth{DeviceType: f.typ, Summary: DeviceSummary{Vendor: "synthetic", Family: "heavy-hex", Native2Q: "cx",
		Qubits: 27, Couplers: 28, UsableQubits: 27, UsableCouplers: 28, MaxDegree: 3,
		Median2QError: 0.01, MedianReadoutError: 0.02, Median1QError: 0.0003},
		TopologyDigest: 42, CalibrationEpoch: 7, Capabilities: []string{"linear", "ring", "graph"},
		Modules: []Module{{Name: "vf2", Kind: "topology", Version: "1.0.0", Active: true}}, Software: "test"}
}

func (f *fakeLocal) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.state
	s.Quality.Linear = append([]float32(nil), s.Quality.Linear...)
	return s
}

// set changes the fake under its lock.
func (f *fakeLocal) set(change func(*fakeLocal)) {
	f.mu.Lock()
	change(f)
	f.mu.Unlock()
}

func (f *fakeLocal) setFree(free int) {
	f.mu.Lock()
	f.state.FreeQubits = free
	f.state.Utilization = float64(f.state.Qubits-free) / float64(f.state.Qubits)
	f.mu.Unlock()
}

func (f *fakeLocal) HandleForward(ctx context.Context, req ForwardRequest) ForwardResponse {
	f.mu.Lock()
	f.calls++
	delay, refuse := f.delay, f.refuse
	f.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := req.Tenant + "/" + req.Key
	if refuse != "" {
		return ForwardResponse{Code: refuse, Message: "refused by the test"}
	}
	if f.refused[k] {
		return ForwardResponse{Code: CodeCancelled, Message: "withdrawn"}
	}
	if g, ok := f.grants[k]; ok {
		g.Replayed = true
		return g
	}
	f.nextAlloc++
	g := ForwardResponse{OK: true, AllocationID: fmt.Sprintf("%s-a%d", f.device, f.nextAlloc), Qubits: []int{0, 1, 2}, ESP: 0.95}
	f.grants[k] = g
	return g
}

func (f *fakeLocal) HandleCommand(ctx context.Context, cmd Command) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commands = append(f.commands, cmd)
	switch cmd.Kind {
	case CmdCancel:
		k := cmd.Tenant + "/" + cmd.Key
		f.refused[k] = true
		if _, ok := f.grants[k]; ok {
			f.released[k] = true
		}
		return nil
	case CmdDrain:
		f.state.Draining = true
		return nil
	case CmdUndrain:
		f.state.Draining = false
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd.Kind)
}

// activeGrants counts grants not released.
func (f *fakeLocal) activeGrants() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k := range f.grants {
		if !f.released[k] {
			n++
		}
	}
	return n
}

func (f *fakeLocal) nCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// freeAddr returns a loopback address whose port is free right now. The
// port is below the kernel's ephemeral range (32768 and up on Linux), so no
// outgoing connection takes it between this check and the bind of the
// embedded broker (as the real default, 1883, is).
func freeAddr(t testing.TB) string {
	t.Helper()
	for i := 0; i < 200; i++ {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+mrand.IntN(12000))
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatal("no free port in 20000..31999")
	return ""
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() && os.Getenv("RM_MQTT_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// baseConfig is a quick configuration for tests: fast states and forwards.
func baseConfig(t testing.TB, device string) Config {
	return Config{Site: "test", Device: device, KeepAlive: 10 * time.Second, StateInterval: 500 * time.Millisecond,
		StateMinGap: 5 * time.Millisecond, ForwardTimeout: 300 * time.Millisecond, ClockSkew: 50 * time.Millisecond,
		ConnectTimeout: 2 * time.Second, MaxReconnectInterval: 500 * time.Millisecond, Logger: testLogger(t)}
}

func startNode(t testing.TB, cfg Config, l Local) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := Start(ctx, cfg, l)
	if err != nil {
		t.Fatalf("start %s: %v", cfg.Device, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// peerOf returns device as node n sees it.
func peerOf(n *Node, device string) (Peer, bool) {
	for _, p := range n.Fleet() {
		if p.Device == device {
			return p, true
		}
	}
	return Peer{}, false
}

func online(n *Node, device string) bool {
	p, ok := peerOf(n, device)
	return ok && p.Online
}

// rawClient is a plain MQTT client for injecting and observing messages.
func rawClient(t testing.TB, broker string) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("raw-%d", time.Now().UnixNano())).
		SetAutoReconnect(false).SetConnectTimeout(2 * time.Second)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		t.Fatalf("raw client connect to %s: %v", broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(10) })
	return c
}

func mustPublish(t testing.TB, c paho.Client, topic string, retained bool, payload []byte) {
	t.Helper()
	if tok := c.Publish(topic, 1, retained, payload); !tok.WaitTimeout(2*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func mustEncode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// proxy relays TCP between clients and a broker, and can drop every link
// without a DISCONNECT (kill) or stop relaying while keeping the sockets
// open (freeze), which the broker sees as a silent client.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	frozen atomic.Bool
	done   chan struct{}
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, done: make(chan struct{})}
	go p.serve()
	t.Cleanup(func() { close(p.done); ln.Close(); p.kill() })
	return p
}

func (p *proxy) url() string { return "tcp://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, b)
		p.mu.Unlock()
		go p.pipe(c, b)
		go p.pipe(b, c)
	}
}

func (p *proxy) pipe(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.frozen.Load() {
			select {
			case <-p.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// kill closes every relayed connection on both sides.
func (p *proxy) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
