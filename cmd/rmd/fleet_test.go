package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
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
	bin := buildRMD(t)
	broker := freePort(t)
	devices := []string{"synthetic:heavyhex-27@1", "synthetic:grid-5x5@2", "synthetic:heavyhex-65@3"}
	var ds []*daemon
	var clients []rmv1connect.ResourceManagerClient
	for _, dev := range devices {
		addr := freePort(t)
		d := startRMD(t, bin, addr, t.TempDir(), "--device", dev, "--mqtt", broker)
		defer d.kill()
		ds = append(ds, d)
		clients = append(clients, rmv1connect.NewResourceManagerClient(http.DefaultClient, "http://"+addr))
	}
	ctx := context.Background()
	names := map[string]bool{}
	waitUntil(t, 15*time.Second, "every controller sees three online devices", func() bool {
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
	})
	self := func(i int) string {
		resp, err := clients[i].Status(ctx, connect.NewRequest(&rmv1.StatusRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Msg.Device
	}
	third := self(2)

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
	if err != nil || len(list.Msg.Allocations) != 1 || list.Msg.Allocations[0].Id != a.Msg.Allocation.Id {
		t.Fatalf("owner's allocations: %v %+v", err, list)
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
