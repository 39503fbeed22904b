package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	rmv1 "github.com/eigen-os/rm/api/rm/v1"
	"github.com/eigen-os/rm/api/rm/v1/rmv1connect"
	"github.com/eigen-os/rm/hal/sim"
	"github.com/eigen-os/rm/hal/synth"
	"github.com/eigen-os/rm/runtime/config"
	"github.com/eigen-os/rm/runtime/controller"
	"github.com/eigen-os/rm/runtime/metrics"
	"github.com/eigen-os/rm/store"
)

const (
	aliceTok = "alice-token-0123456789"
	bobTok   = "bob-token-0123456789ab"
	adminTok = "admin-token-0123456789"
	oldTok   = "expired-token-01234567"
)

type env struct {
	url   string
	srv   *Server
	ctl   *controller.Controller
	st    *store.Store
	httpc *http.Client
}

func start(t *testing.T, tokens []config.Token) *env {
	t.Helper()
	m, err := synth.ByName("heavyhex-127")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(t.TempDir(), store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	ctl, err := controller.New(context.Background(), cfg, controller.Options{Device: sim.New(m, sim.Options{Seed: 1}), Store: st, Logger: log, Metrics: metrics.New()})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := NewAuth(tokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Listen(ctl, Config{Endpoint: "127.0.0.1:0", Auth: auth, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	e := &env{url: "http://" + srv.APIAddr(), srv: srv, ctl: ctl, st: st, httpc: &http.Client{}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		ctl.Close()
		st.Close()
	})
	return e
}

func (e *env) client(token string, opts ...connect.ClientOption) rmv1connect.ResourceManagerClient {
	if token != "" {
		opts = append(opts, connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
				req.Header().Set("Authorization", "Bearer "+token)
				return next(ctx, req)
			}
		})))
	}
	return rmv1connect.NewResourceManagerClient(e.httpc, e.url, opts...)
}

func code(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return connect.CodeUnknown
}

func tokens() []config.Token {
	return []config.Token{
		{Tenant: "alice", Token: aliceTok},
		{Tenant: "bob", Token: bobTok},
		{Tenant: "ops", Token: adminTok, Role: "admin"},
		{Tenant: "old", Token: oldTok, Expires: "2020-01-01T00:00:00Z"},
	}
}

func TestAllocateFlowAllProtocols(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	for name, opts := range map[string][]connect.ClientOption{
		"connect": nil, "grpc": {connect.WithGRPC()}, "grpcweb": {connect.WithGRPCWeb()},
	} {
		c := e.client("", opts...)
		resp, err := c.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 5, Shape: rmv1.Shape_SHAPE_LINEAR, IdempotencyKey: name}))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		a := resp.Msg.Allocation
		if len(a.PhysicalQubits) != 5 || a.Id == "" || a.Esp <= 0 || len(a.QubitNames) != 5 {
			t.Fatalf("%s: %+v", name, a)
		}
		again, err := c.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 5, Shape: rmv1.Shape_SHAPE_LINEAR, IdempotencyKey: name}))
		if err != nil || !again.Msg.Replayed || again.Msg.Allocation.Id != a.Id {
			t.Fatalf("%s replay: %v %+v", name, err, again)
		}
		rel, err := c.Release(ctx, connect.NewRequest(&rmv1.ReleaseRequest{Id: a.Id}))
		if err != nil || !rel.Msg.ReleasedNow {
			t.Fatalf("%s release: %v", name, err)
		}
	}
	// Curl-style JSON over HTTP/1.1.
	resp, err := http.Post(e.url+"/eigen.rm.v1.ResourceManager/Allocate", "application/json",
		strings.NewReader(`{"qubits": 3, "shape": "SHAPE_LINEAR", "idempotencyKey": "curl"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"physicalQubits"`) {
		t.Fatalf("json: %d %s", resp.StatusCode, b)
	}
	// Circuit requests.
	qasm := "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[4];\ncx q[0],q[1];\ncx q[1],q[2];\ncx q[2],q[3];\nmeasure q[0] -> c[0];\n"
	c := e.client("")
	cr, err := c.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{CircuitQasm: qasm}))
	if err != nil || len(cr.Msg.Allocation.PhysicalQubits) != 4 {
		t.Fatalf("circuit: %v %+v", err, cr)
	}
	list, err := c.ListAllocations(ctx, connect.NewRequest(&rmv1.ListAllocationsRequest{}))
	if err != nil || len(list.Msg.Allocations) != 2 {
		t.Fatalf("list: %v %+v", err, list)
	}
	st, err := c.Status(ctx, connect.NewRequest(&rmv1.StatusRequest{}))
	if err != nil || st.Msg.ActiveAllocations != 2 || st.Msg.Qubits != 127 {
		t.Fatalf("status: %v %+v", err, st)
	}
	dev, err := c.GetDevice(ctx, connect.NewRequest(&rmv1.GetDeviceRequest{Detail: true}))
	if err != nil || dev.Msg.Qubits != 127 || len(dev.Msg.QubitDetail) != 127 || len(dev.Msg.CouplerDetail) != 144 {
		t.Fatalf("device: %v", err)
	}
}

func TestErrorCodes(t *testing.T) {
	e := start(t, tokens())
	ctx := context.Background()
	alice, bob, admin := e.client(aliceTok), e.client(bobTok), e.client(adminTok)
	cases := []struct {
		name string
		call func() error
		want connect.Code
	}{
		{"no token", func() error {
			_, err := e.client("").Status(ctx, connect.NewRequest(&rmv1.StatusRequest{}))
			return err
		}, connect.CodeUnauthenticated},
		{"unknown token", func() error {
			_, err := e.client("not-a-token-at-all").Status(ctx, connect.NewRequest(&rmv1.StatusRequest{}))
			return err
		}, connect.CodeUnauthenticated},
		{"expired token", func() error {
			_, err := e.client(oldTok).Status(ctx, connect.NewRequest(&rmv1.StatusRequest{}))
			return err
		}, connect.CodeUnauthenticated},
		{"zero qubits", func() error {
			_, err := alice.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Shape: rmv1.Shape_SHAPE_LINEAR}))
			return err
		}, connect.CodeInvalidArgument},
		{"huge qubits", func() error {
			_, err := alice.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 4000000000, Shape: rmv1.Shape_SHAPE_LINEAR}))
			return err
		}, connect.CodeInvalidArgument},
		{"more than the device", func() error {
			_, err := alice.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 500, Shape: rmv1.Shape_SHAPE_LINEAR}))
			return err
		}, connect.CodeInvalidArgument},
		{"bad grid", func() error {
			_, err := alice.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 6, Shape: rmv1.Shape_SHAPE_GRID, GridRows: 2, GridCols: 2}))
			return err
		}, connect.CodeInvalidArgument},
		{"bad circuit", func() error {
			_, err := alice.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{CircuitQasm: "qreg q[2]; cx q[0],r[1];"}))
			return err
		}, connect.CodeInvalidArgument},
		{"nan floor", func() error {
			_, err := alice.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 2, FidelityFloor: 2}))
			return err
		}, connect.CodeInvalidArgument},
		{"unknown device preference is not an error here but excluded all", func() error {
			_, err := alice.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 127, Shape: rmv1.Shape_SHAPE_LINEAR}))
			return err
		}, connect.CodeResourceExhausted},
		{"max wait passes", func() error {
			_, err := alice.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 127, Shape: rmv1.Shape_SHAPE_NONE,
				MaxWait: durationMs(50)}))
			return err
		}, connect.CodeDeadlineExceeded},
		{"floor unreachable", func() error {
			_, err := alice.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 10, Shape: rmv1.Shape_SHAPE_LINEAR, FidelityFloor: 0.9999}))
			return err
		}, connect.CodeFailedPrecondition},
		{"release unknown", func() error {
			_, err := alice.Release(ctx, connect.NewRequest(&rmv1.ReleaseRequest{Id: "a-none"}))
			return err
		}, connect.CodeNotFound},
		{"release empty id", func() error {
			_, err := alice.Release(ctx, connect.NewRequest(&rmv1.ReleaseRequest{}))
			return err
		}, connect.CodeInvalidArgument},
		{"tenant reserves", func() error {
			_, err := alice.Reserve(ctx, connect.NewRequest(&rmv1.ReserveRequest{Tenant: "alice", WholeDevice: true}))
			return err
		}, connect.CodePermissionDenied},
		{"tenant lists all", func() error {
			_, err := bob.ListAllocations(ctx, connect.NewRequest(&rmv1.ListAllocationsRequest{Tenant: "*"}))
			return err
		}, connect.CodePermissionDenied},
		{"admin bad reservation", func() error {
			_, err := admin.Reserve(ctx, connect.NewRequest(&rmv1.ReserveRequest{Tenant: "alice", Count: 3, WholeDevice: true}))
			return err
		}, connect.CodeInvalidArgument},
	}
	for _, tc := range cases {
		err := tc.call()
		if code(err) != tc.want {
			t.Errorf("%s: got %v (%v), want %v", tc.name, code(err), err, tc.want)
		} else if err != nil && len(err.Error()) < 20 {
			t.Errorf("%s: message says too little: %q", tc.name, err)
		}
	}
	// Nothing was stored by any of them.
	all, _, _ := e.st.ListAllocations(store.AllocationFilter{})
	if len(all) != 0 {
		t.Fatalf("bad requests stored %d allocations", len(all))
	}
	// Tenancy: bob cannot release alice's allocation.
	a, err := alice.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 2, Shape: rmv1.Shape_SHAPE_LINEAR}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Release(ctx, connect.NewRequest(&rmv1.ReleaseRequest{Id: a.Msg.Allocation.Id})); code(err) != connect.CodeNotFound {
		t.Fatalf("bob released alice's: %v", err)
	}
	if l, _ := admin.ListAllocations(ctx, connect.NewRequest(&rmv1.ListAllocationsRequest{Tenant: "*"})); len(l.Msg.Allocations) != 1 {
		t.Fatal("admin does not see all")
	}
}

func TestMalformedBodies(t *testing.T) {
	e := start(t, nil)
	for _, body := range []string{`{`, `{"qubits": "five"}`, `{"qubits": -1}`, `[1,2]`, `{"shape": 99, "qubits": 2}`, strings.Repeat("x", 1000)} {
		resp, err := http.Post(e.url+"/eigen.rm.v1.ResourceManager/Allocate", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%q: status %d %s", body, resp.StatusCode, b)
		}
	}
	all, _, _ := e.st.ListAllocations(store.AllocationFilter{})
	if len(all) != 0 {
		t.Fatalf("malformed bodies stored %d allocations", len(all))
	}
}

func TestHealthReflectionMetrics(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	hc := grpchealth.NewClient(e.httpc, e.url, connect.WithGRPC())
	res, err := hc.Check(ctx, &grpchealth.CheckRequest{Service: rmv1connect.ResourceManagerName})
	if err != nil || res.Status != grpchealth.StatusServing {
		t.Fatalf("health: %v %v", res, err)
	}
	// Bidirectional streams need HTTP/2: plaintext h2c, as grpcurl -plaintext uses.
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: &protos}}
	rc := grpcreflect.NewClient(h2c, e.url, connect.WithGRPC())
	stream := rc.NewStream(ctx)
	names, err := stream.ListServices()
	stream.Close()
	if err != nil || !strings.Contains(strings.Join(fmtNames(names), ","), rmv1connect.ResourceManagerName) {
		t.Fatalf("reflection: %v %v", names, err)
	}
	_, _ = e.client("").Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 3, Shape: rmv1.Shape_SHAPE_LINEAR}))
	resp, err := http.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"rm_allocation_requests_total 1", "rm_allocation_successes_total 1", `rm_qubit_utilization{device_id="synthetic-heavyhex-127",device_type="simulator"}`, "rm_cache_hit_rate", "rm_allocation_latency_seconds_bucket"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if path, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(path, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool absent: exposition not linted")
	}
}

func TestWatchEvents(t *testing.T) {
	e := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := e.client("")
	if _, err := c.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 2, Shape: rmv1.Shape_SHAPE_LINEAR})); err != nil {
		t.Fatal(err)
	}
	stream, err := c.WatchEvents(ctx, connect.NewRequest(&rmv1.WatchEventsRequest{FromSeq: 1}))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, _ = c.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: 3, Shape: rmv1.Shape_SHAPE_LINEAR}))
	}()
	var kinds []string
	for len(kinds) < 2 && stream.Receive() {
		kinds = append(kinds, stream.Msg().Kind)
	}
	if len(kinds) != 2 || kinds[0] != "allocated" || kinds[1] != "allocated" {
		t.Fatalf("events %v (%v)", kinds, stream.Err())
	}
}

func fmtNames[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

func durationMs(ms int) *durationpb.Duration {
	return durationpb.New(time.Duration(ms) * time.Millisecond)
}
