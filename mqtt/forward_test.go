package mqtt

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func fleetOf(t *testing.T, devices ...string) ([]*Node, []*fakeLocal) {
	t.Helper()
	addr := freeAddr(t)
	var nodes []*Node
	var fakes []*fakeLocal
	for _, d := range devices {
		f := newFake(d)
		c := baseConfig(t, d)
		c.EmbeddedAddr = addr
		nodes = append(nodes, startNode(t, c, f))
		fakes = append(fakes, f)
	}
	for _, n := range nodes {
		waitFor(t, 3*time.Second, n.cfg.Device+" sees the fleet", func() bool {
			for _, d := range devices {
				if !online(n, d) {
					return false
				}
			}
			return true
		})
	}
	return nodes, fakes
}

func request(key string) ForwardRequest {
	return ForwardRequest{Tenant: "acme", Key: key, TaskID: "task-" + key, Qubits: 3, Shape: "linear",
		Floor: 0.5, DurationMs: 60000, Priority: 5}
}

func TestForwardGrant(t *testing.T) {
	nodes, fakes := fleetOf(t, "fa", "fb")
	a, fb := nodes[0], fakes[1]
	r, err := a.Forward(context.Background(), "fb", request("k1"))
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || r.Device != "fb" || r.Controller != "rmd-fb" || r.AllocationID == "" || r.ESP != 0.95 || len(r.Qubits) != 3 {
		t.Fatalf("answer: %+v", r)
	}
	// A retry of the same key is answered from the owner's table.
	r2, err := a.Forward(context.Background(), "fb", request("k1"))
	if err != nil || !r2.OK || r2.AllocationID != r.AllocationID || !r2.Replayed {
		t.Fatalf("retry: %+v, %v", r2, err)
	}
	if fb.nCalls() != 1 || fb.activeGrants() != 1 {
		t.Errorf("owner: %d calls, %d grants; want 1 and 1", fb.nCalls(), fb.activeGrants())
	}
	if s := nodes[1].Stats(); s.ForwardsReceived != 2 || s.ForwardsDeduplicated != 1 {
		t.Errorf("owner stats: %+v", s)
	}
	// To itself: the local controller directly.
	r3, err := a.Forward(context.Background(), "fa", request("k2"))
	if err != nil || !r3.OK || fakes[0].nCalls() != 1 {
		t.Errorf("forward to self: %+v %v", r3, err)
	}
	// A forwarded request is never forwarded again.
	req := request("k3")
	req.Hops = 1
	if _, err := a.Forward(context.Background(), "fb", req); !errors.Is(err, ErrLoop) {
		t.Errorf("hops 1: err = %v, want ErrLoop", err)
	}
	// Unknown and offline devices fail at once.
	if _, err := a.Forward(context.Background(), "nobody", request("k4")); !errors.Is(err, ErrPeerOffline) {
		t.Errorf("unknown device: err = %v", err)
	}
}

// The owner is slower than the requester's timeout: the requester retries
// with the same key, the retry joins the call in flight, and exactly one
// allocation is granted.
func TestForwardRetryAfterTimeoutGrantsOnce(t *testing.T) {
	nodes, fakes := fleetOf(t, "ra", "rb")
	a, fb := nodes[0], fakes[1]
	fb.set(func(f *fakeLocal) { f.delay = 450 * time.Millisecond }) // > ForwardTimeout 300 ms + skew 50 ms

	req := request("slow")
	_, err := a.Forward(context.Background(), "rb", req)
	if !errors.Is(err, ErrForwardTimeout) {
		t.Fatalf("first attempt: err = %v, want a timeout", err)
	}
	r, err := a.Forward(context.Background(), "rb", req)
	if err != nil || !r.OK {
		t.Fatalf("retry: %+v, %v", r, err)
	}
	if fb.nCalls() != 1 || fb.activeGrants() != 1 {
		t.Errorf("owner: %d calls, %d active grants; want exactly 1 and 1", fb.nCalls(), fb.activeGrants())
	}
	sa, sb := a.Stats(), nodes[1].Stats()
	if sa.ForwardTimeouts != 1 || sb.ForwardsDeduplicated != 1 || sb.LateGrantsRolledBack != 0 {
		t.Errorf("stats: requester %+v owner %+v", sa, sb)
	}
	// The answer to the first attempt came late and was dropped.
	waitFor(t, time.Second, "late answer counted", func() bool { return a.Stats().LateResponses == 1 })
}

// ForwardFirst: the first device does not answer in time (twice), so the
// request is withdrawn from it and the next device grants it. The first
// device's late grant is rolled back: one allocation in the whole fleet.
func TestForwardFirstTimeoutThenNextDevice(t *testing.T) {
	nodes, fakes := fleetOf(t, "xa", "xb", "xc")
	a, fb, fc := nodes[0], fakes[1], fakes[2]
	fb.set(func(f *fakeLocal) { f.delay = 1200 * time.Millisecond }) // longer than two attempts

	r, err := a.ForwardFirst(context.Background(), []string{"xb", "xc"}, request("move"))
	if err != nil || !r.OK || r.Device != "xc" {
		t.Fatalf("ForwardFirst: %+v, %v", r, err)
	}
	if got := a.Stats().ForwardTimeouts; got != 2 {
		t.Errorf("timeouts = %d, want 2 (two attempts on xb)", got)
	}
	// xb got the withdrawal while it was still working: it must end up
	// holding nothing (it refuses the withdrawn key, or its late grant is
	// rolled back).
	time.Sleep(700 * time.Millisecond) // xb answers 1.2 s after the first attempt
	waitFor(t, time.Second, "xb holds nothing", func() bool { return fb.activeGrants() == 0 && fb.nCalls() == 1 })
	if fc.activeGrants() != 1 {
		t.Errorf("xc grants = %d, want 1", fc.activeGrants())
	}
	// A later retry of the whole request finds xb refusing (withdrawn) and
	// xc replaying its grant.
	r2, err := a.ForwardFirst(context.Background(), []string{"xb", "xc"}, request("move"))
	if err != nil || !r2.OK || r2.Device != "xc" || r2.AllocationID != r.AllocationID {
		t.Fatalf("retry of the whole request: %+v, %v", r2, err)
	}
	if fb.activeGrants()+fc.activeGrants() != 1 {
		t.Errorf("grants in the fleet: xb %d + xc %d, want 1", fb.activeGrants(), fc.activeGrants())
	}
}

// Refusals move on without waiting; when everything fails the error lists
// every device.
func TestForwardFirstRefusals(t *testing.T) {
	nodes, fakes := fleetOf(t, "ya", "yb", "yc")
	a := nodes[0]
	fakes[1].set(func(f *fakeLocal) { f.refuse = CodeNoCapacity })
	fakes[2].set(func(f *fakeLocal) { f.refuse = CodeBelowFloor })
	start := time.Now()
	r, err := a.ForwardFirst(context.Background(), []string{"yb", "ghost", "yc"}, request("nope"))
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("err = %v, want ErrNoDevice", err)
	}
	for _, want := range []string{"yb refused: no_capacity", "ghost: device offline", "yc refused: below_floor"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if r.Code != CodeBelowFloor {
		t.Errorf("last refusal = %+v", r)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("refusals took %v: nothing should have waited for a timeout", d)
	}
	if a.Stats().ForwardTimeouts != 0 {
		t.Error("a refusal counted as a timeout")
	}
}

// A withdrawn key is refused by the owner, even when the original request
// arrives after the withdrawal.
func TestCancelBeforeRequest(t *testing.T) {
	nodes, fakes := fleetOf(t, "ca", "cb")
	a, fb := nodes[0], fakes[1]
	a.Cancel("cb", "acme", "gone")
	waitFor(t, time.Second, "cancel delivered", func() bool {
		fb.mu.Lock()
		defer fb.mu.Unlock()
		return len(fb.commands) == 1
	})
	r, err := a.Forward(context.Background(), "cb", request("gone"))
	if err != nil || r.OK || r.Code != CodeCancelled {
		t.Fatalf("after cancel: %+v, %v", r, err)
	}
	if fb.nCalls() != 0 {
		t.Errorf("owner called %d times for a withdrawn key", fb.nCalls())
	}
}

// A grant that completes after the requester gave up, with no withdrawal
// (say it was lost), is rolled back by the owner's node, and the key is
// refused there from then on.
func TestLateGrantRolledBack(t *testing.T) {
	nodes, fakes := fleetOf(t, "la", "lb")
	a, fb := nodes[0], fakes[1]
	fb.set(func(f *fakeLocal) { f.delay = 450 * time.Millisecond })
	if _, err := a.Forward(context.Background(), "lb", request("late")); !errors.Is(err, ErrForwardTimeout) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	waitFor(t, 2*time.Second, "late grant rolled back", func() bool { return nodes[1].Stats().LateGrantsRolledBack == 1 })
	if fb.activeGrants() != 0 {
		t.Errorf("owner still holds %d grants", fb.activeGrants())
	}
	fb.set(func(f *fakeLocal) { f.delay = 0 })
	r, err := a.Forward(context.Background(), "lb", request("late"))
	if err != nil || r.OK || r.Code != CodeCancelled {
		t.Errorf("retry of a rolled-back key: %+v, %v; want a refusal", r, err)
	}
	if fb.activeGrants() != 0 {
		t.Errorf("owner holds %d grants after the retry", fb.activeGrants())
	}
}

// The owner may queue a forwarded request up to its max wait: the requester
// waits that long on top of the forward timeout.
func TestForwardWaitsForMaxWait(t *testing.T) {
	nodes, fakes := fleetOf(t, "wa", "wb")
	fakes[1].set(func(f *fakeLocal) { f.delay = 500 * time.Millisecond })
	req := request("queued")
	req.MaxWaitMs = 400
	r, err := nodes[0].Forward(context.Background(), "wb", req)
	if err != nil || !r.OK {
		t.Fatalf("queued forward: %+v, %v", r, err)
	}
}
