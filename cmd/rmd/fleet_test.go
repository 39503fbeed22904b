package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	rmv1 "github.com/eigen-os/rm/api/rm/v1"
	"github.com/eigen-os/rm/api/rm/v1/rmv1connect"
)

// TestFleetOutOfTheBox starts three rmd on one machine with nothing but
// their devices and the embedded broker's address: they see each other,
// forward a request to the preferred device, release it there through the
// first controller, and see a SIGKILLed peer go offline.
func TestFleetOutOfTheBox(t *testing.T) {
	if testing.Short() {
		t.Skip("process fleet test skipped in -short mode")
	}
	broker := freePort(t)
	testFleet(t, func(string) []string { return []string{"--mqtt", broker} }, nil)
}

// TestFleetWithMosquitto runs the same fleet against Debian's Mosquitto,
// and also restarts the broker: every controller reconnects and the fleet
// view converges again.
func TestFleetWithMosquitto(t *testing.T) {
	if testing.Short() {
		t.Skip("process fleet test skipped in -short mode")
	}
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/mosquitto"); e != nil {
			t.Skip("mosquitto not installed (apt-get install mosquitto; .ci/run does)")
		}
		bin = "/usr/sbin/mosquitto"
	}
	addr := freePort(t)
	_, port, _ := strings.Cut(addr, ":")
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	os.WriteFile(conf, []byte("listener "+port+" 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\nmax_queued_messages 0\npersistence false\n"), 0o644)
	var mq *exec.Cmd
	startBroker := func() {
		mq = exec.Command(bin, "-c", conf)
		if err := mq.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("mosquitto did not start")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	startBroker()
	t.Cleanup(func() { _ = mq.Process.Kill(); _ = mq.Wait() })
	restart := func() {
		_ = mq.Process.Kill()
		_ = mq.Wait()
		startBroker()
	}
	testFleet(t, func(string) []string { return []string{"--broker", "tcp://" + addr} }, restart)
}

// testFleet starts three controllers, checks that they see each other,
// forwards a request, releases it, kills one with SIGKILL and checks that
// traffic moves; restartBroker, when given, restarts the broker first and
// checks that the fleet converges again.
func testFleet(t *testing.T, brokerArgs func(device string) []string, restartBroker func()) {
	bin := buildRMD(t)
	devices := []string{"synthetic:heavyhex-27@1", "synthetic:grid-5x5@2", "synthetic:heavyhex-65@3"}
	var ds []*daemon
	var clients []rmv1connect.ResourceManagerClient
	for _, dev := range devices {
		addr := freePort(t)
		d := startRMD(t, bin, addr, t.TempDir(), append([]string{"--device", dev}, brokerArgs(dev)...)...)
		defer d.kill()
		ds = append(ds, d)
		clients = append(clients, rmv1connect.NewResourceManagerClient(http.DefaultClient, "http://"+addr))
	}
	ctx := context.Background()
	names := map[string]bool{}
	allOnline := func() bool {
		for _, c := range clients {
			resp, err := c.ListFleet(ctx, connect.NewRequest(&rmv1.ListFleetRequest{}))
			if err != nil || !resp.Msg.Federated {
				return false
			}
			online := 0
			for _, d := range resp.Msg.Devices {
				if d.Online {
					online++
					names[d.Device] = true
				}
			}
			if online != 3 {
				return false
			}
		}
		return true
	}
	waitUntil(t, 15*time.Second, "every controller sees three online devices", allOnline)
	self := func(i int) string {
		resp, err := clients[i].Status(ctx, connect.NewRequest(&rmv1.StatusRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Msg.Device
	}
	third := self(2)
	if restartBroker != nil {
		restartBroker()
		// Converged when forwarding works again: a probe lands on the third
		// device (probes that land elsewhere meanwhile are released).
		probe := 0
		waitUntil(t, 30*time.Second, "the fleet converges after a broker restart", func() bool {
			probe++
			r, err := clients[0].Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 2, Shape: rmv1.Shape_SHAPE_LINEAR,
				IdempotencyKey: fmt.Sprintf("probe-%d", probe), PreferredDevices: []string{third}}))
			if err != nil {
				return false
			}
			_, _ = clients[0].Release(ctx, connect.NewRequest(&rmv1.ReleaseRequest{Id: r.Msg.Allocation.Id}))
			return r.Msg.Allocation.Device == third && allOnline()
		})
	}

	// Forward: ask the first controller for the third device.
	a, err := clients[0].Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 4, Shape: rmv1.Shape_SHAPE_LINEAR,
		IdempotencyKey: "fleet-1", PreferredDevices: []string{third}}))
	if err != nil {
		t.Fatal(err)
	}
	if a.Msg.Allocation.Device != third || len(a.Msg.Allocation.PhysicalQubits) != 4 {
		t.Fatalf("forwarded grant %+v, want device %s", a.Msg.Allocation, third)
	}
	// A retry through the first controller returns the same grant.
	again, err := clients[0].Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 4, Shape: rmv1.Shape_SHAPE_LINEAR,
		IdempotencyKey: "fleet-1", PreferredDevices: []string{third}}))
	if err != nil || again.Msg.Allocation.Id != a.Msg.Allocation.Id {
		t.Fatalf("retry: %v %+v", err, again)
	}
	// The owner holds it, once.
	list, err := clients[2].ListAllocations(ctx, connect.NewRequest(&rmv1.ListAllocationsRequest{Tenant: "*"}))
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	for _, x := range list.Msg.Allocations {
		if x.IdempotencyKey == "fleet-1" {
			held++
		}
	}
	if held != 1 {
		t.Fatalf("owner holds %d allocations for the key: %+v", held, list.Msg.Allocations)
	}
	// Release through the first controller.
	if _, err := clients[0].Release(ctx, connect.NewRequest(&rmv1.ReleaseRequest{Id: a.Msg.Allocation.Id})); err != nil {
		t.Fatal(err)
	}
	got, err := clients[2].GetAllocation(ctx, connect.NewRequest(&rmv1.GetAllocationRequest{Id: a.Msg.Allocation.Id}))
	if err != nil || got.Msg.State != "released" {
		t.Fatalf("at the owner after release: %v %+v", err, got)
	}

	// SIGKILL the third: the others see it offline.
	ds[2].kill()
	waitUntil(t, 20*time.Second, "the killed controller is seen offline", func() bool {
		resp, err := clients[0].ListFleet(ctx, connect.NewRequest(&rmv1.ListFleetRequest{}))
		if err != nil {
			return false
		}
		for _, d := range resp.Msg.Devices {
			if d.Device == third {
				return !d.Online
			}
		}
		return false
	})
	// Traffic moves: preferring the dead device still gets a grant elsewhere.
	b, err := clients[0].Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 3, Shape: rmv1.Shape_SHAPE_LINEAR,
		IdempotencyKey: "fleet-2", PreferredDevices: []string{third}}))
	if err != nil || b.Msg.Allocation.Device == third {
		t.Fatalf("after the kill: %v %+v", err, b)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRebalanceMovesQueuedTask fills one device, queues a request there,
// and checks that the rebalancer moves it to the idle peer: the waiting
// caller gets a grant on the other device; the running task stays.
func TestRebalanceMovesQueuedTask(t *testing.T) {
	if testing.Short() {
		t.Skip("process fleet test skipped in -short mode")
	}
	bin := buildRMD(t)
	broker := freePort(t)
	conf := filepath.Join(t.TempDir(), "rm.yaml")
	os.WriteFile(conf, []byte("resource_manager:\n  load_balancing:\n    rebalance_interval: \"1s\"\n    algorithm: least_loaded\n"), 0o644)
	var clients []rmv1connect.ResourceManagerClient
	var names []string
	ctx := context.Background()
	start := func(dev string) {
		addr := freePort(t)
		d := startRMD(t, bin, addr, t.TempDir(), "--device", dev, "--mqtt", broker, "--config", conf, "--isolation", "none")
		t.Cleanup(d.kill)
		c := rmv1connect.NewResourceManagerClient(http.DefaultClient, "http://"+addr)
		clients = append(clients, c)
		st, err := c.Status(ctx, connect.NewRequest(&rmv1.StatusRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, st.Msg.Device)
	}
	start("synthetic:heavyhex-27@1")
	// Fill the device with a running task.
	big, err := clients[0].Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 20, Shape: rmv1.Shape_SHAPE_NONE,
		Duration: durationpb.New(time.Hour)}))
	if err != nil {
		t.Fatalf("filling: %v", err)
	}
	// A request that does not fit waits in its queue...
	type result struct {
		resp *connect.Response[rmv1.AllocateResponse]
		err  error
	}
	done := make(chan result, 1)
	go func() {
		r, err := clients[0].Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 15, Shape: rmv1.Shape_SHAPE_NONE,
			MaxWait: durationpb.New(25 * time.Second), IdempotencyKey: "moved-1"}))
		done <- result{r, err}
	}()
	waitUntil(t, 10*time.Second, "the request is queued", func() bool {
		st, err := clients[0].Status(ctx, connect.NewRequest(&rmv1.StatusRequest{}))
		return err == nil && st.Msg.QueuedRequests == 1
	})
	// ...until an idle peer joins: the rebalancer moves it there.
	start("synthetic:heavyhex-27@2")
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the queued request was not moved")
	}
	if r.err != nil {
		t.Fatalf("queued request: %v", r.err)
	}
	if r.resp.Msg.Allocation.Device != names[1] {
		t.Fatalf("granted on %s, want it moved to %s", r.resp.Msg.Allocation.Device, names[1])
	}
	fl, err := clients[0].ListFleet(ctx, connect.NewRequest(&rmv1.ListFleetRequest{}))
	if err != nil || fl.Msg.Plan == nil {
		t.Fatalf("no rebalance plan visible: %v", err)
	}
	// The running task did not move.
	got, err := clients[0].GetAllocation(ctx, connect.NewRequest(&rmv1.GetAllocationRequest{Id: big.Msg.Allocation.Id}))
	if err != nil || got.Msg.State != "active" {
		t.Fatalf("running task: %v %+v", err, got)
	}
}
