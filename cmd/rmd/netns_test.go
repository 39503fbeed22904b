package main

import (
	"context"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	rmv1 "github.com/eigen-os/rm/api/rm/v1"
	"github.com/eigen-os/rm/api/rm/v1/rmv1connect"
)

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestNetworkPartition puts one controller in its own network namespace,
// joined to the host by a veth pair, cuts the link and brings it back: the
// other controller sees it offline within 1.5 x keepalive, then online
// again, with no operator action.
func TestNetworkPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("network namespace test skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2) to create network namespaces")
	}
	suffix := fmt.Sprintf("%05d", rand.Intn(100000))
	ns, vh, vn := "rmt"+suffix, "rmh"+suffix, "rmn"+suffix
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v %s", err, out)
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", vh).Run()
		_ = exec.Command("ip", "netns", "del", ns).Run()
	})
	subnet := fmt.Sprintf("10.%d.%d", 200+rand.Intn(50), rand.Intn(250))
	hostIP, nsIP := subnet+".1", subnet+".2"
	ipCmd(t, "link", "add", vh, "type", "veth", "peer", "name", vn)
	ipCmd(t, "link", "set", vn, "netns", ns)
	ipCmd(t, "addr", "add", hostIP+"/24", "dev", vh)
	ipCmd(t, "link", "set", vh, "up")
	ipCmd(t, "netns", "exec", ns, "ip", "addr", "add", nsIP+"/24", "dev", vn)
	ipCmd(t, "netns", "exec", ns, "ip", "link", "set", vn, "up")
	ipCmd(t, "netns", "exec", ns, "ip", "link", "set", "lo", "up")

	bin := buildRMD(t)
	conf := filepath.Join(t.TempDir(), "rm.yaml")
	os.WriteFile(conf, []byte("resource_manager:\n  federation:\n    keepalive: \"5s\"\n    state_interval: \"2s\"\n"+
		"    username: fleet\n    password: partition-test-secret\n"), 0o600)
	broker := hostIP + ":18830"

	// A on the host hosts the embedded broker on the veth address.
	addrA := freePort(t)
	a := startRMD(t, bin, addrA, t.TempDir(), "--device", "synthetic:heavyhex-27@1", "--mqtt", broker, "--config", conf)
	defer a.kill()
	// B runs inside the namespace and reaches the broker over the veth.
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "--endpoint", "127.0.0.1:50060", "--storage", t.TempDir(),
		"--device", "synthetic:grid-4x4@2", "--broker", "tcp://"+broker, "--config", conf, "--log-level", "warn")
	if os.Getenv("RMD_TEST_LOG") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &daemon{cmd: cmd}
	defer b.kill()

	ca := rmv1connect.NewResourceManagerClient(http.DefaultClient, "http://"+addrA)
	ctx := context.Background()
	bOnline := func() (bool, bool) {
		resp, err := ca.ListFleet(ctx, connect.NewRequest(&rmv1.ListFleetRequest{}))
		if err != nil {
			return false, false
		}
		for _, d := range resp.Msg.Devices {
			if strings.Contains(d.Device, "grid-4x4") {
				return true, d.Online
			}
		}
		return false, false
	}
	waitUntil(t, 30*time.Second, "the namespaced controller is seen online", func() bool { seen, on := bOnline(); return seen && on })

	// Cut the link: B is silent; A marks it offline within 1.5 x keepalive (7.5 s).
	cut := time.Now()
	ipCmd(t, "link", "set", vh, "down")
	waitUntil(t, 15*time.Second, "the cut-off controller is seen offline", func() bool { _, on := bOnline(); return !on })
	t.Logf("offline seen %s after the cut (keepalive 5s)", time.Since(cut).Round(10*time.Millisecond))

	// Bring it back: B reconnects and republishes its birth by itself.
	back := time.Now()
	ipCmd(t, "link", "set", vh, "up")
	waitUntil(t, 40*time.Second, "the controller is seen online again", func() bool { _, on := bOnline(); return on })
	t.Logf("online again %s after the link came back", time.Since(back).Round(10*time.Millisecond))
}
