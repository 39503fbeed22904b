package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rmv1 "github.com/eigen-os/rm/api/rm/v1"
	"github.com/eigen-os/rm/mqtt"
	"github.com/eigen-os/rm/runtime/alloc"
	"github.com/eigen-os/rm/runtime/balance"
	"github.com/eigen-os/rm/runtime/controller"
)

// Federation lets the API send a request to the fleet's best device.
type Federation struct {
	Node     *mqtt.Node
	Balancer *balance.Balancer
	// Enabled is load_balancing.enabled: when false every request is
	// served locally.
	Enabled bool
	Local   string // this controller's device

	mu sync.Mutex
	// forwarded remembers grants made elsewhere for this API's clients, so
	// that a Release here withdraws them at their owner.
	forwarded map[string]forwardedGrant
	// byKey remembers where a (tenant, key) was granted, so that a retry
	// goes back to that device (whose controller answers it idempotently)
	// and never lands a second grant elsewhere.
	byKey map[[2]string]string
	plan  *rmv1.RebalancePlan
}

type forwardedGrant struct {
	device, tenant, key string
}

// needFromParams describes a request for the balancer and the peers.
func needFromParams(p controller.AllocateParams, pre, exc []string) (balance.Need, mqtt.ForwardRequest) {
	n := balance.Need{Qubits: p.Req.Qubits, Floor: p.Req.Floor, MaxWait: p.MaxWait, Duration: p.Duration,
		Priority: p.Priority, Preferred: pre, Excluded: exc}
	fr := mqtt.ForwardRequest{TaskID: p.TaskID, Key: p.IdempotencyKey, Qubits: p.Req.Qubits, Floor: p.Req.Floor,
		DurationMs: p.Duration.Milliseconds(), Priority: p.Priority, MaxWaitMs: p.MaxWait.Milliseconds()}
	if p.Req.Shape.Kind == alloc.ShapeGraph && p.Req.Graph != nil {
		for _, pr := range p.Req.Graph.Pairs {
			mp := mqtt.Pair{A: pr.A, B: pr.B, Count: pr.Count}
			n.Pairs = append(n.Pairs, mp)
			fr.Pairs = append(fr.Pairs, mp)
		}
	} else {
		n.Shape = p.Req.Shape.String()
		fr.Shape = n.Shape
	}
	fr.Isolation = p.Isolation
	return n, fr
}

// route picks the devices for a request, best first. It returns nil when
// the request is served here (federation off, no better peer, or the
// request names only this device).
func (f *Federation) route(c controller.Caller, p controller.AllocateParams, pre, exc []string) ([]string, error) {
	if f == nil || !f.Enabled || f.Node == nil {
		return nil, nil
	}
	if p.IdempotencyKey != "" {
		f.mu.Lock()
		dev, ok := f.byKey[[2]string{c.Tenant, p.IdempotencyKey}]
		f.mu.Unlock()
		if ok {
			return []string{dev}, nil
		}
	}
	need, _ := needFromParams(p, pre, exc)
	cands := balance.FromPeers(f.Node.Fleet())
	if len(cands) <= 1 {
		return nil, nil
	}
	order, err := f.Balancer.Select(need, cands)
	if err != nil {
		for _, d := range exc {
			if d == f.Local {
				return nil, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("no device of the fleet can take the request now: %v", err))
			}
		}
		return nil, nil // the local controller answers (or queues) with its own reason
	}
	if len(order) == 0 || order[0] == f.Local {
		return nil, nil
	}
	return order, nil
}

// forward sends the request to the fleet and converts the answer.
func (f *Federation) forward(ctx context.Context, c controller.Caller, p controller.AllocateParams, order []string) (*rmv1.AllocateResponse, error) {
	_, fr := needFromParams(p, nil, nil)
	fr.Tenant = c.Tenant
	if fr.Key == "" { // forwarding needs a key to be idempotent end to end
		var b [12]byte
		_, _ = rand.Read(b[:])
		fr.Key = "fwd-" + hex.EncodeToString(b[:])
	}
	resp, err := f.Node.ForwardFirst(ctx, order, fr)
	if err != nil && !resp.OK {
		code := connect.CodeUnavailable
		switch resp.Code {
		case mqtt.CodeBadRequest:
			code = connect.CodeInvalidArgument
		case mqtt.CodeNoCapacity:
			code = connect.CodeResourceExhausted
		case mqtt.CodeBelowFloor:
			code = connect.CodeFailedPrecondition
		case mqtt.CodeExpired:
			code = connect.CodeDeadlineExceeded
		}
		return nil, connect.NewError(code, fmt.Errorf("forwarded to %v: %w", order, err))
	}
	a := &rmv1.Allocation{Id: resp.AllocationID, TaskId: fr.TaskID, Tenant: c.Tenant, Device: resp.Device, Esp: resp.ESP,
		Swaps: uint32(resp.Swaps), State: "active", Priority: int32(p.Priority), IdempotencyKey: fr.Key,
		Strategy: "forwarded:" + resp.Controller, CreatedAt: timestamppb.Now()}
	for _, q := range resp.Qubits {
		a.PhysicalQubits = append(a.PhysicalQubits, uint32(q))
	}
	if resp.LeaseEndMs > 0 {
		a.LeaseExpiresAt = timestamppb.New(time.UnixMilli(resp.LeaseEndMs))
	}
	if resp.Device != f.Local {
		f.mu.Lock()
		if f.forwarded == nil {
			f.forwarded, f.byKey = map[string]forwardedGrant{}, map[[2]string]string{}
		}
		f.forwarded[resp.AllocationID] = forwardedGrant{device: resp.Device, tenant: c.Tenant, key: fr.Key}
		f.byKey[[2]string{c.Tenant, fr.Key}] = resp.Device
		f.mu.Unlock()
	}
	return &rmv1.AllocateResponse{Allocation: a, Replayed: resp.Replayed}, nil
}

// release withdraws a grant made elsewhere; ok is false when id is not one.
func (f *Federation) release(ctx context.Context, c controller.Caller, id string) (*rmv1.ReleaseResponse, bool, error) {
	if f == nil || f.Node == nil {
		return nil, false, nil
	}
	f.mu.Lock()
	g, ok := f.forwarded[id]
	f.mu.Unlock()
	if !ok {
		return nil, false, nil
	}
	if g.tenant != c.Tenant && !c.Admin {
		return nil, true, connect.NewError(connect.CodeNotFound, fmt.Errorf("allocation %q not found", id))
	}
	err := f.Node.Command(ctx, g.device, mqtt.Command{Kind: mqtt.CmdCancel, Tenant: g.tenant, Key: g.key})
	if err != nil {
		return nil, true, connect.NewError(connect.CodeUnavailable, fmt.Errorf("release at %s: %w", g.device, err))
	}
	f.mu.Lock()
	delete(f.forwarded, id)
	f.mu.Unlock() // byKey stays: a late retry of the key goes back to its owner, which answers "released"
	return &rmv1.ReleaseResponse{ReleasedNow: true, Allocation: &rmv1.Allocation{Id: id, Device: g.device, Tenant: g.tenant,
		State: "released", ReleasedAt: timestamppb.Now(), IdempotencyKey: g.key}}, true, nil
}

// ListFleet implements the RPC.
func (s *API) ListFleet(ctx context.Context, req *connect.Request[rmv1.ListFleetRequest]) (*connect.Response[rmv1.ListFleetResponse], error) {
	out := &rmv1.ListFleetResponse{}
	if s.fleet == nil || s.fleet.Node == nil {
		st := s.c.Status()
		out.Devices = append(out.Devices, &rmv1.FleetDevice{Device: st.Device, Controller: st.Controller, Online: true, Self: true,
			Utilization: st.Utilization, Load: st.Utilization, FreeQubits: uint32(st.FreeQubits), Qubits: uint32(st.Qubits),
			QueueLength: uint32(st.QueuedRequests), Health: string(st.Health), DeviceType: s.c.DeviceType(),
			Staleness: durationpb.New(0)})
		return connect.NewResponse(out), nil
	}
	out.Federated = true
	var loads []float64
	for _, p := range s.fleet.Node.Fleet() {
		d := &rmv1.FleetDevice{Device: p.Device, Controller: p.Controller, Online: p.Online, Self: p.Self, Reason: p.Reason,
			Load: p.Load, Staleness: durationpb.New(p.Staleness)}
		if p.HasBirth {
			d.DeviceType, d.Endpoint = p.Birth.DeviceType, p.Birth.Endpoint
		}
		if p.HasState {
			d.Utilization, d.FreeQubits, d.Qubits = p.State.Utilization, uint32(p.State.FreeQubits), uint32(p.State.Qubits)
			d.QueueLength, d.Health = uint32(p.State.QueueLength), p.State.Health
			if len(p.State.Quality.Linear) >= 5 {
				d.BestEsp_5 = float64(p.State.Quality.Linear[4])
			}
		}
		if p.Online {
			loads = append(loads, p.Load)
		}
		out.Devices = append(out.Devices, d)
	}
	out.Imbalance = balance.Imbalance(loads)
	out.Plan = s.fleet.lastPlan()
	s.c.Metrics().LoadImbalanceScore.Set(out.Imbalance)
	return connect.NewResponse(out), nil
}

// SetPlan records the last rebalance plan for ListFleet.
func (f *Federation) SetPlan(p *rmv1.RebalancePlan) {
	f.mu.Lock()
	f.plan = p
	f.mu.Unlock()
}

func (f *Federation) lastPlan() *rmv1.RebalancePlan {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.plan
}

// NeedOf describes allocation parameters for the balancer and for a
// forwarded request.
func NeedOf(p controller.AllocateParams) (balance.Need, mqtt.ForwardRequest) {
	return needFromParams(p, nil, nil)
}

// PlanToProto converts a rebalance plan and the outcome of its moves.
func PlanToProto(p balance.Plan, errs []error, executed bool) *rmv1.RebalancePlan {
	out := &rmv1.RebalancePlan{Time: timestamppb.Now(), Imbalance: p.Imbalance, After: p.After, Threshold: p.Threshold,
		Note: p.Note, Executed: executed}
	for i, m := range p.Moves {
		mv := &rmv1.RebalanceMove{TaskId: m.TaskID, From: m.From, To: m.To, Tenant: m.Tenant, Qubits: uint32(m.Qubits), PredictedEsp: m.ESP}
		if i < len(errs) && errs[i] != nil {
			mv.Error = errs[i].Error()
		}
		out.Moves = append(out.Moves, mv)
	}
	return out
}
