package mqtt

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// childEnv makes the test binary run a node as a child process (see
// TestMain) so that a test can kill it with SIGKILL.
const childEnv = "RM_MQTT_TEST_CHILD"

func TestMain(m *testing.M) {
	if broker := os.Getenv(childEnv); broker != "" {
		runChild(broker)
		return
	}
	os.Exit(m.Run())
}

func runChild(broker string) {
	cfg := Config{Site: "test", Device: "child", Broker: broker, KeepAlive: 5 * time.Second,
		StateInterval: 500 * time.Millisecond}
	n, err := Start(context.Background(), cfg, newFake("child"))
	if err != nil {
		os.Stderr.WriteString("child: " + err.Error() + "\n")
		os.Exit(2)
	}
	_ = n
	os.Stdout.WriteString("ready\n")
	select {} // until killed
}

// Three nodes on one embedded broker: the first hosts it, the others join;
// births, state changes and a clean death are seen by every node.
func TestEmbeddedFleet(t *testing.T) {
	addr := freeAddr(t)
	fa, fb, fc := newFake("dev-a"), newFake("dev-b"), newFake("dev-c")
	ca := baseConfig(t, "dev-a")
	ca.EmbeddedAddr = addr
	a := startNode(t, ca, fa)
	cb := baseConfig(t, "dev-b")
	cb.EmbeddedAddr = addr
	cb.JSONTelemetry = true
	b := startNode(t, cb, fb)
	cc := baseConfig(t, "dev-c")
	cc.EmbeddedAddr = addr
	c := startNode(t, cc, fc)

	if !a.Stats().HostingBroker || b.Stats().HostingBroker || c.Stats().HostingBroker {
		t.Fatalf("hosting: a=%v b=%v c=%v, want only a", a.Stats().HostingBroker, b.Stats().HostingBroker, c.Stats().HostingBroker)
	}
	for _, n := range []*Node{a, b, c} {
		waitFor(t, 3*time.Second, n.cfg.Device+" sees the whole fleet", func() bool {
			return online(n, "dev-a") && online(n, "dev-b") && online(n, "dev-c")
		})
	}
	p, _ := peerOf(a, "dev-b")
	if !p.HasBirth || p.Birth.Controller != "rmd-dev-b" || p.Birth.DeviceType != "simulator" || p.Birth.Summary.Qubits != 27 ||
		len(p.Birth.Modules) != 1 || p.Birth.KeepAliveMs != 10000 || p.Birth.Site != "test" {
		t.Errorf("a's view of b's birth: %+v", p.Birth)
	}
	if self, _ := peerOf(a, "dev-a"); !self.Self || !self.Online {
		t.Errorf("a's own entry: %+v", self)
	}

	// JSON telemetry for generic tools.
	raw := rawClient(t, "tcp://"+addr)
	var tele atomic.Value
	raw.Subscribe("eigen/rm/v1/test/dev-b/telemetry/json", 0, func(_ paho.Client, m paho.Message) {
		var tm Telemetry
		if err := json.Unmarshal(m.Payload(), &tm); err == nil {
			tele.Store(tm)
		}
	}).Wait()

	// A state change reaches the others.
	fb.setFree(5)
	b.StateChanged()
	for _, n := range []*Node{a, c} {
		waitFor(t, 2*time.Second, n.cfg.Device+" sees b's new state", func() bool {
			p, _ := peerOf(n, "dev-b")
			return p.HasState && p.State.FreeQubits == 5
		})
	}
	p, _ = peerOf(c, "dev-b")
	if want := 22.0 / 27; p.Load < want-1e-9 || p.Load > want+1e-9 {
		t.Errorf("load of b = %v, want %v", p.Load, want)
	}
	waitFor(t, 2*time.Second, "JSON telemetry of b", func() bool {
		tm, ok := tele.Load().(Telemetry)
		return ok && tm.Device == "dev-b" && tm.FreeQubits == 5 && tm.FleetSize == 3
	})

	// A clean shutdown publishes the death at once.
	start := time.Now()
	c.Close()
	for _, n := range []*Node{a, b} {
		waitFor(t, time.Second, n.cfg.Device+" sees c dead", func() bool {
			p, _ := peerOf(n, "dev-c")
			return !p.Online && strings.Contains(p.Reason, "clean shutdown")
		})
	}
	t.Logf("clean death seen in %v", time.Since(start))

	// The controller of dev-c restarts (a new process would do the same):
	// a new session with a higher bdSeq, online again everywhere.
	oldBd := c.Stats().BdSeq
	c2 := startNode(t, cc, newFake("dev-c"))
	for _, n := range []*Node{a, b} {
		waitFor(t, 2*time.Second, n.cfg.Device+" sees c again", func() bool {
			p, _ := peerOf(n, "dev-c")
			return p.Online && p.Birth.BdSeq > oldBd
		})
	}
	if c2.Stats().BdSeq <= oldBd {
		t.Errorf("bdSeq after a restart: %d, was %d", c2.Stats().BdSeq, oldBd)
	}
	if s := a.Stats(); s.DecodeFailures != 0 || s.UnknownVersions != 0 || s.SeqGaps != 0 {
		t.Errorf("stats of a: %+v", s)
	}
}

// When the node hosting the embedded broker closes, another takes it over
// and the fleet converges again without help.
func TestEmbeddedTakeover(t *testing.T) {
	addr := freeAddr(t)
	ca, cb := baseConfig(t, "host-1"), baseConfig(t, "host-2")
	ca.EmbeddedAddr, cb.EmbeddedAddr = addr, addr
	a := startNode(t, ca, newFake("host-1"))
	b := startNode(t, cb, newFake("host-2"))
	waitFor(t, 3*time.Second, "b sees a", func() bool { return online(b, "host-1") })
	bd0 := b.Stats().BdSeq

	a.Close()
	waitFor(t, 5*time.Second, "b hosts the broker", func() bool { s := b.Stats(); return s.HostingBroker && s.Connected })
	waitFor(t, time.Second, "b sees a offline", func() bool { return !online(b, "host-1") })
	if s := b.Stats(); s.BdSeq <= bd0 {
		t.Errorf("bdSeq after reconnecting = %d, want > %d", s.BdSeq, bd0)
	}

	cc := baseConfig(t, "host-3")
	cc.EmbeddedAddr = addr
	c := startNode(t, cc, newFake("host-3"))
	if c.Stats().HostingBroker {
		t.Fatal("c hosts a second broker")
	}
	waitFor(t, 3*time.Second, "c sees b and b sees c", func() bool { return online(c, "host-2") && online(b, "host-3") })
}

// A connection dropped without DISCONNECT fires the last will; the node
// reconnects by itself with a new bdSeq and is online again.
func TestAbruptLossAndReconnect(t *testing.T) {
	addr := freeAddr(t)
	ca := baseConfig(t, "obs")
	ca.EmbeddedAddr = addr
	var mu sync.Mutex
	var events []string
	ca.OnFleetChange = func(p Peer) {
		if p.Device == "flaky" {
			mu.Lock()
			events = append(events, p.Reason)
			mu.Unlock()
		}
	}
	a := startNode(t, ca, newFake("obs"))
	px := newProxy(t, addr)
	cb := baseConfig(t, "flaky")
	cb.Broker = px.url()
	b := startNode(t, cb, newFake("flaky"))
	waitFor(t, 3*time.Second, "a sees b", func() bool { return online(a, "flaky") })
	p0, _ := peerOf(a, "flaky")

	start := time.Now()
	px.kill()
	// b reconnects at once, so the offline spell may be short: watch the
	// changes, not the view.
	waitFor(t, 2*time.Second, "a sees b's last will", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			if strings.Contains(e, "last will") {
				return true
			}
		}
		return false
	})
	t.Logf("last will seen %v after the link dropped", time.Since(start))
	waitFor(t, 5*time.Second, "b back online", func() bool {
		p, _ := peerOf(a, "flaky")
		return p.Online && p.Birth.BdSeq > p0.Birth.BdSeq
	})
	if s := b.Stats(); s.Reconnects < 1 {
		t.Errorf("b reconnects = %d", s.Reconnects)
	}
}

// A peer whose link goes silent (no FIN, no will yet) is marked offline
// within 1.5 x keepalive. This is the one test that waits for a 5 s
// keepalive.
func TestSilentPeerOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 1.5 x a 5 s keepalive")
	}
	addr := freeAddr(t)
	ca := baseConfig(t, "watcher")
	ca.EmbeddedAddr = addr
	a := startNode(t, ca, newFake("watcher"))
	px := newProxy(t, addr)
	cb := baseConfig(t, "quiet")
	cb.Broker = px.url()
	cb.KeepAlive = 5 * time.Second
	b := startNode(t, cb, newFake("quiet"))
	_ = b
	waitFor(t, 3*time.Second, "a sees b", func() bool { return online(a, "quiet") })

	frozeAt := time.Now()
	px.frozen.Store(true)
	waitFor(t, 10*time.Second, "a marks b offline", func() bool { return !online(a, "quiet") })
	p, _ := peerOf(a, "quiet")
	limit := 3 * cb.KeepAlive / 2
	took := p.Since.Sub(p.LastSeen)
	t.Logf("offline %v after the freeze, %v after b was last heard (limit %v): %s", p.Since.Sub(frozeAt), took, limit, p.Reason)
	// The housekeeper ticks every 250 ms.
	if took > limit+300*time.Millisecond {
		t.Errorf("offline %v after b was last heard, want within 1.5 x keepalive = %v", took, limit)
	}
}

// A controller process killed with SIGKILL: the broker publishes its will at
// once (the kernel closes the socket).
func TestKilledProcessDies(t *testing.T) {
	addr := freeAddr(t)
	ca := baseConfig(t, "parent")
	ca.EmbeddedAddr = addr
	a := startNode(t, ca, newFake("parent"))

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=tcp://"+addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("child said %q", line)
	}
	waitFor(t, 3*time.Second, "a sees the child", func() bool { return online(a, "child") })
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "a sees the child dead", func() bool {
		p, _ := peerOf(a, "child")
		return !p.Online && strings.Contains(p.Reason, "last will")
	})
	t.Logf("death of a killed process seen in %v", time.Since(start))
}

// A sequence gap, and a state without its birth, make the node ask for a
// rebirth; a node asked for a rebirth publishes its birth again.
func TestSeqGapRequestsRebirth(t *testing.T) {
	addr := freeAddr(t)
	ca := baseConfig(t, "seq-a")
	ca.EmbeddedAddr = addr
	a := startNode(t, ca, newFake("seq-a"))
	raw := rawClient(t, "tcp://"+addr)
	tp, _ := NewTopics("test")

	var mu sync.Mutex
	var cmds []Command
	raw.Subscribe(tp.Device("ghost", LeafCommand), 1, func(_ paho.Client, m paho.Message) {
		if c, err := DecodeCommand(m.Payload()); err == nil {
			mu.Lock()
			cmds = append(cmds, c)
			mu.Unlock()
		}
	}).Wait()
	rebirths := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, c := range cmds {
			if c.Kind == CmdRebirth && c.OriginDevice == "seq-a" {
				n++
			}
		}
		return n
	}

	// A state before any birth: rebirth.
	st := State{V: 1, BdSeq: 5, Seq: 3, Health: "online", Qubits: 10, FreeQubits: 10}
	mustPublish(t, raw, tp.Device("ghost", LeafState), false, mustEncode(t, st))
	waitFor(t, 2*time.Second, "rebirth for a state without birth", func() bool { return rebirths() == 1 })

	// Birth, then seq 1, 2, then 4: one gap.
	birth := Birth{V: 1, Site: "test", Device: "ghost", Controller: "ghost-ctl", BdSeq: 5, KeepAliveMs: 10000}
	mustPublish(t, raw, tp.Device("ghost", LeafBirth), false, mustEncode(t, birth))
	for _, seq := range []uint8{1, 2, 2, 4} { // 2 twice: a duplicate, not a gap
		st.Seq = seq
		mustPublish(t, raw, tp.Device("ghost", LeafState), false, mustEncode(t, st))
	}
	waitFor(t, 2*time.Second, "gap counted", func() bool { return a.Stats().SeqGaps == 1 })
	// The gap comes less than a second after the first request: the
	// rebirth request is rate limited per peer.
	time.Sleep(100 * time.Millisecond)
	if got := rebirths(); got != 1 {
		t.Errorf("rebirth requests within a second = %d, want 1 (rate limited)", got)
	}
	if !online(a, "ghost") {
		t.Error("ghost should be online")
	}
	// After the back-off, another gap asks again.
	time.Sleep(time.Second)
	st.Seq = 9
	mustPublish(t, raw, tp.Device("ghost", LeafState), false, mustEncode(t, st))
	waitFor(t, 2*time.Second, "second rebirth request", func() bool { return rebirths() == 2 })
	if s := a.Stats(); s.RebirthsRequested != 2 || s.SeqGaps != 2 {
		t.Errorf("stats: requested %d gaps %d, want 2 and 2", s.RebirthsRequested, s.SeqGaps)
	}

	// A node asked for a rebirth publishes its birth (seq 0) again.
	fa := newFake("seq-b")
	cb := baseConfig(t, "seq-b")
	cb.EmbeddedAddr = addr
	b := startNode(t, cb, fa)
	waitFor(t, 2*time.Second, "b born", func() bool { return online(a, "seq-b") })
	before := fa.births.Load()
	cmd := Command{V: 1, Kind: CmdRebirth, Origin: "ops", OriginDevice: "ops"}
	mustPublish(t, raw, tp.Device("seq-b", LeafCommand), false, mustEncode(t, cmd))
	waitFor(t, 2*time.Second, "b reborn", func() bool { return fa.births.Load() > before && b.Stats().RebirthsServed == 1 })
}

// Malformed payloads, unknown versions and stale sessions are counted and
// ignored; nothing crashes and the view stays right.
func TestBadAndStalePayloadsIgnored(t *testing.T) {
	addr := freeAddr(t)
	ca := baseConfig(t, "strict")
	ca.EmbeddedAddr = addr
	a := startNode(t, ca, newFake("strict"))
	raw := rawClient(t, "tcp://"+addr)
	tp, _ := NewTopics("test")

	garbage := [][]byte{{0xff}, []byte("not cbor"), {0xa1, 0x61, 0x76, 0x01}, mustEncode(t, map[string]any{"v": 1, "bd": "x"})}
	for _, leaf := range []string{LeafBirth, LeafState, LeafDeath} {
		for _, g := range garbage {
			mustPublish(t, raw, tp.Device("junk", leaf), false, g)
		}
	}
	for _, leaf := range []string{LeafCommand, LeafForwardReq, LeafForwardRes, LeafCommandResult} {
		mustPublish(t, raw, tp.Device("strict", leaf), false, []byte{0x00})
	}
	mustPublish(t, raw, tp.Device("junk", LeafBirth), false, mustEncode(t, map[string]any{"v": 2, "device": "junk"}))
	// A birth on the topic of another device.
	mustPublish(t, raw, tp.Device("junk", LeafBirth), false, mustEncode(t,
		Birth{V: 1, Site: "test", Device: "other", Controller: "c", BdSeq: 1}))
	want := uint64(3*len(garbage) + 4 + 1)
	defer func() { t.Logf("stats: %+v", a.Stats()) }()
	waitFor(t, 2*time.Second, "decode failures counted", func() bool {
		s := a.Stats()
		return s.DecodeFailures == want && s.UnknownVersions == 1
	})
	if _, ok := peerOf(a, "junk"); ok {
		t.Error("a bad payload created a peer")
	}

	// Sessions: birth bd 10 online; a death of bd 9 is stale; a death of
	// bd 10 kills; a late birth of bd 10 does not revive; bd 11 does.
	b10 := Birth{V: 1, Site: "test", Device: "zombie", Controller: "z", BdSeq: 10, KeepAliveMs: 10000}
	mustPublish(t, raw, tp.Device("zombie", LeafBirth), false, mustEncode(t, b10))
	waitFor(t, time.Second, "zombie online", func() bool { return online(a, "zombie") })
	mustPublish(t, raw, tp.Device("zombie", LeafDeath), false, mustEncode(t, Death{V: 1, Site: "test", Device: "zombie", Controller: "z", BdSeq: 9}))
	time.Sleep(50 * time.Millisecond)
	if !online(a, "zombie") {
		t.Fatal("a stale death killed the zombie")
	}
	mustPublish(t, raw, tp.Device("zombie", LeafDeath), false, mustEncode(t, Death{V: 1, Site: "test", Device: "zombie", Controller: "z", BdSeq: 10}))
	waitFor(t, time.Second, "zombie dead", func() bool { return !online(a, "zombie") })
	mustPublish(t, raw, tp.Device("zombie", LeafBirth), false, mustEncode(t, b10))
	st := State{V: 1, BdSeq: 10, Seq: 1, Health: "online", Qubits: 4, FreeQubits: 4}
	mustPublish(t, raw, tp.Device("zombie", LeafState), false, mustEncode(t, st))
	time.Sleep(50 * time.Millisecond)
	if online(a, "zombie") {
		t.Fatal("a late birth of a dead session revived it")
	}
	b10.BdSeq = 11
	mustPublish(t, raw, tp.Device("zombie", LeafBirth), false, mustEncode(t, b10))
	waitFor(t, time.Second, "zombie reborn", func() bool { return online(a, "zombie") })
	if a.Stats().StaleIgnored < 2 {
		t.Errorf("stale ignored = %d, want >= 2", a.Stats().StaleIgnored)
	}
}

// Commands reach the controller and their results come back.
func TestCommands(t *testing.T) {
	addr := freeAddr(t)
	ca, cb := baseConfig(t, "ops"), baseConfig(t, "target")
	ca.EmbeddedAddr, cb.EmbeddedAddr = addr, addr
	a := startNode(t, ca, newFake("ops"))
	fb := newFake("target")
	b := startNode(t, cb, fb)
	waitFor(t, 3*time.Second, "a sees b", func() bool { return online(a, "target") })

	ctx := context.Background()
	if err := a.Command(ctx, "target", Command{Kind: CmdDrain}); err != nil {
		t.Fatalf("drain: %v", err)
	}
	b.StateChanged()
	waitFor(t, 2*time.Second, "a sees b draining", func() bool { p, _ := peerOf(a, "target"); return p.State.Draining })
	err := a.Command(ctx, "target", Command{Kind: "explode"})
	if err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: err = %v", err)
	}
	if err := a.Command(ctx, "nowhere", Command{Kind: CmdDrain}); err == nil {
		t.Error("a command to a device nobody serves should time out")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "Device: empty"},
		{Config{Device: "a/b"}, "Device"},
		{Config{Device: "d", Site: "+"}, "Site"},
		{Config{Device: "d", Broker: "http://x:1"}, "scheme"},
		{Config{Device: "d", Broker: "tcp://host"}, "host:port"},
		{Config{Device: "d", EmbeddedAddr: "0.0.0.0:1883"}, "Username and Password"},
		{Config{Device: "d", KeepAlive: 1500 * time.Millisecond}, "whole number of seconds"},
		{Config{Device: "d", KeepAlive: 500 * time.Millisecond}, "KeepAlive"},
		{Config{Device: "d", ForwardAttempts: 11}, "ForwardAttempts"},
	} {
		_, err := Start(context.Background(), tc.cfg, newFake("d"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want it to mention %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := Start(context.Background(), Config{Device: "d"}, nil); err == nil {
		t.Error("nil Local accepted")
	}
}
