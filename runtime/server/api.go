// Package server exposes a controller over the network: the Connect service
// (gRPC, gRPC-Web and Connect's JSON on one port), gRPC health checking and
// reflection, Prometheus metrics, bearer-token access and optional TLS.
package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rmv1 "github.com/eigen-os/rm/api/rm/v1"
	"github.com/eigen-os/rm/api/rm/v1/rmv1connect"
	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/runtime/alloc"
	"github.com/eigen-os/rm/runtime/controller"
	"github.com/eigen-os/rm/runtime/sandbox"
	"github.com/eigen-os/rm/store"
)

// API implements the ResourceManager service over a controller.
type API struct {
	rmv1connect.UnimplementedResourceManagerHandler
	c     *controller.Controller
	fleet *Federation      // nil: no federation
	mods  *sandbox.Manager // nil: modules disabled
}

// NewAPI returns the service implementation; fleet and mods may be nil.
func NewAPI(c *controller.Controller, fleet *Federation, mods *sandbox.Manager) *API {
	return &API{c: c, fleet: fleet, mods: mods}
}

func caller(ctx context.Context) controller.Caller {
	c, ok := CallerFrom(ctx)
	if !ok {
		c = OpenCaller
	}
	return controller.Caller{Tenant: c.Tenant, Admin: c.IsAdmin()}
}

// MaxQubits bounds the qubits a request may ask for before the device is consulted.
const MaxQubits = 1 << 16

// toError maps controller and engine errors to Connect codes with a message
// that says what.
func toError(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	code := connect.CodeInternal
	switch {
	case errors.Is(err, controller.ErrInvalid), errors.Is(err, alloc.ErrBadRequest):
		code = connect.CodeInvalidArgument
	case errors.Is(err, controller.ErrNoFit):
		code = connect.CodeResourceExhausted
	case errors.Is(err, controller.ErrWaitExpired), errors.Is(err, context.DeadlineExceeded):
		code = connect.CodeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = connect.CodeCanceled
	case errors.Is(err, controller.ErrFidelity):
		code = connect.CodeFailedPrecondition
	case errors.Is(err, controller.ErrNotFound):
		code = connect.CodeNotFound
	case errors.Is(err, controller.ErrPermission):
		code = connect.CodePermissionDenied
	case errors.Is(err, controller.ErrOffline), errors.Is(err, controller.ErrShuttingDown):
		code = connect.CodeUnavailable
	case errors.Is(err, controller.ErrConflict):
		code = connect.CodeAlreadyExists
	}
	return connect.NewError(code, err)
}

func invalid(format string, args ...any) error {
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(format, args...))
}

// requestFromProto validates and converts an AllocateRequest.
func requestFromProto(m *rmv1.AllocateRequest) (controller.AllocateParams, error) {
	p := controller.AllocateParams{TaskID: m.TaskId, IdempotencyKey: m.IdempotencyKey, Priority: int(m.Priority),
		Preferred: m.PreferredDevices, Excluded: m.ExcludedDevices}
	if m.Qubits > MaxQubits {
		return p, invalid("qubits: %d is more than any device has (at most %d)", m.Qubits, MaxQubits)
	}
	if math.IsNaN(m.FidelityFloor) || m.FidelityFloor < 0 || m.FidelityFloor > 1 {
		return p, invalid("fidelity_floor: %v is not a probability in [0, 1]", m.FidelityFloor)
	}
	switch {
	case m.CircuitQasm != "":
		if len(m.Pairs) > 0 {
			return p, invalid("give circuit_qasm or pairs, not both")
		}
		req, err := controller.RequestFromCircuit("circuit_qasm", []byte(m.CircuitQasm))
		if err != nil {
			return p, err
		}
		if m.Qubits != 0 && int(m.Qubits) != req.Qubits {
			return p, invalid("qubits: %d, but the circuit declares %d", m.Qubits, req.Qubits)
		}
		p.Req = req
		p.Shape = fmt.Sprintf("circuit:%d", req.Qubits)
	case len(m.Pairs) > 0:
		if m.Shape != rmv1.Shape_SHAPE_UNSPECIFIED {
			return p, invalid("give a shape or pairs, not both")
		}
		g := &alloc.Graph{}
		for i, pr := range m.Pairs {
			if pr.A >= m.Qubits || pr.B >= m.Qubits {
				return p, invalid("pairs[%d]: (%d,%d) names a logical qubit outside 0..%d", i, pr.A, pr.B, int(m.Qubits)-1)
			}
			if pr.Count > 1<<24 {
				return p, invalid("pairs[%d]: count %d is too large", i, pr.Count)
			}
			g.Pairs = append(g.Pairs, alloc.Pair{A: int(pr.A), B: int(pr.B), Count: int(max(pr.Count, 1))})
		}
		if len(m.SingleQubitCounts) > 0 {
			if len(m.SingleQubitCounts) != int(m.Qubits) {
				return p, invalid("single_qubit_counts: %d entries for %d qubits", len(m.SingleQubitCounts), m.Qubits)
			}
			for _, n := range m.SingleQubitCounts {
				g.OneQ = append(g.OneQ, int(n))
			}
		}
		if len(m.Measured) > 0 {
			for i, q := range m.Measured {
				if q >= m.Qubits {
					return p, invalid("measured[%d]: %d is outside 0..%d", i, q, int(m.Qubits)-1)
				}
				g.Measured = append(g.Measured, int(q))
			}
		}
		p.Req = alloc.Request{Qubits: int(m.Qubits), Shape: alloc.Shape{Kind: alloc.ShapeGraph}, Graph: g}
		p.Shape = fmt.Sprintf("graph:%d", m.Qubits)
	default:
		sh, err := shapeFromProto(m)
		if err != nil {
			return p, err
		}
		p.Req = alloc.Request{Qubits: int(m.Qubits), Shape: sh}
		p.Shape = fmt.Sprintf("%s:%d", sh, m.Qubits)
	}
	if p.Req.Qubits <= 0 {
		return p, invalid("qubits: must be at least 1")
	}
	p.Req.Floor = m.FidelityFloor
	p.Req.Buffer = -1
	if m.MinDistance != nil {
		if *m.MinDistance > alloc.MaxBuffer {
			return p, invalid("min_distance: %d is more than %d", *m.MinDistance, alloc.MaxBuffer)
		}
		p.Req.Buffer = int(*m.MinDistance)
	}
	var err error
	if p.Duration, err = durationFrom("duration", m.Duration); err != nil {
		return p, err
	}
	if p.MaxWait, err = durationFrom("max_wait", m.MaxWait); err != nil {
		return p, err
	}
	switch m.Isolation {
	case rmv1.IsolationLevel_ISOLATION_LEVEL_UNSPECIFIED:
	case rmv1.IsolationLevel_ISOLATION_LEVEL_NONE:
		p.Isolation = "none"
	case rmv1.IsolationLevel_ISOLATION_LEVEL_SPATIAL:
		p.Isolation = "spatial"
	case rmv1.IsolationLevel_ISOLATION_LEVEL_TEMPORAL:
		p.Isolation = "temporal"
	case rmv1.IsolationLevel_ISOLATION_LEVEL_SPATIAL_TEMPORAL:
		p.Isolation = "spatial_temporal"
	default:
		return p, invalid("isolation: unknown level %d", m.Isolation)
	}
	return p, nil
}

func shapeFromProto(m *rmv1.AllocateRequest) (alloc.Shape, error) {
	switch m.Shape {
	case rmv1.Shape_SHAPE_LINEAR:
		return alloc.Shape{Kind: alloc.ShapeLinear}, nil
	case rmv1.Shape_SHAPE_RING:
		return alloc.Shape{Kind: alloc.ShapeRing}, nil
	case rmv1.Shape_SHAPE_STAR:
		return alloc.Shape{Kind: alloc.ShapeStar}, nil
	case rmv1.Shape_SHAPE_CLIQUE:
		return alloc.Shape{Kind: alloc.ShapeClique}, nil
	case rmv1.Shape_SHAPE_NONE, rmv1.Shape_SHAPE_UNSPECIFIED:
		return alloc.Shape{Kind: alloc.ShapeNone}, nil
	case rmv1.Shape_SHAPE_GRID:
		if m.GridRows == 0 || m.GridCols == 0 || uint64(m.GridRows)*uint64(m.GridCols) != uint64(m.Qubits) {
			return alloc.Shape{}, invalid("grid: grid_rows x grid_cols (%d x %d) must equal qubits (%d)", m.GridRows, m.GridCols, m.Qubits)
		}
		return alloc.Shape{Kind: alloc.ShapeGrid, Rows: int(m.GridRows), Cols: int(m.GridCols)}, nil
	}
	return alloc.Shape{}, invalid("shape: unknown value %d", m.Shape)
}

func durationFrom(field string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, invalid("%s: %v", field, err)
	}
	v := d.AsDuration()
	if v < 0 {
		return 0, invalid("%s: negative", field)
	}
	return v, nil
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func allocationToProto(a *store.Allocation, m *hal.Model) *rmv1.Allocation {
	out := &rmv1.Allocation{Id: a.ID, TaskId: a.TaskID, Tenant: a.Tenant, Device: a.Device, Esp: a.ESP, Swaps: uint32(a.Swaps),
		CalibrationEpoch: a.Epoch, CreatedAt: ts(a.CreatedAt), LeaseExpiresAt: ts(a.LeaseExpires), State: a.State,
		ReleasedAt: ts(a.ReleasedAt), Priority: int32(a.Priority), IdempotencyKey: a.IdempotencyKey}
	if out.State == "" {
		out.State = store.StateActive
	}
	for _, q := range a.Qubits {
		out.PhysicalQubits = append(out.PhysicalQubits, uint32(q))
		if m != nil && q < m.N() {
			out.QubitNames = append(out.QubitNames, m.Qubits[q].Name)
		}
	}
	return out
}

// Allocate implements the RPC.
func (s *API) Allocate(ctx context.Context, req *connect.Request[rmv1.AllocateRequest]) (*connect.Response[rmv1.AllocateResponse], error) {
	p, err := requestFromProto(req.Msg)
	if err != nil {
		s.c.Metrics().AllocationRequests.Inc()
		s.c.Metrics().AllocationFailures.Inc()
		s.c.Metrics().FailuresByReason.WithLabelValues("invalid").Inc()
		return nil, toError(err)
	}
	if order, err := s.fleet.route(caller(ctx), p, req.Msg.PreferredDevices, req.Msg.ExcludedDevices); err != nil || order != nil {
		// A retry of a request granted here is answered here, wherever the
		// balancer would send it now. (A request served here anyway gets
		// the same answer from the controller's own check.)
		if g, ok, rerr := s.c.Replay(caller(ctx), p.IdempotencyKey); rerr != nil {
			return nil, toError(rerr)
		} else if ok {
			a := allocationToProto(g.Allocation, s.c.Model())
			a.MinDistance = uint32(g.Buffer)
			return connect.NewResponse(&rmv1.AllocateResponse{Allocation: a, Replayed: true}), nil
		}
		if err != nil {
			return nil, err
		}
		resp, err := s.fleet.forward(ctx, caller(ctx), p, order)
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(resp), nil
	}
	for _, d := range req.Msg.ExcludedDevices {
		if d == s.c.DeviceID() {
			return nil, invalid("excluded_devices: this controller serves only %s, which the request excludes, and no peer can take it", d)
		}
	}
	g, err := s.c.Allocate(ctx, caller(ctx), p)
	if err != nil {
		return nil, toError(err)
	}
	a := allocationToProto(g.Allocation, s.c.Model())
	a.Strategy = g.Strategy
	a.MinDistance = uint32(g.Buffer)
	if g.QueuedFor > 0 {
		a.QueuedFor = durationpb.New(g.QueuedFor)
	}
	return connect.NewResponse(&rmv1.AllocateResponse{Allocation: a, Replayed: g.Replayed}), nil
}

func checkID(what, id string) error {
	if id == "" {
		return invalid("%s: required", what)
	}
	if len(id) > 256 || strings.ContainsAny(id, "\x00\n") {
		return invalid("%s: malformed", what)
	}
	return nil
}

// Release implements the RPC.
func (s *API) Release(ctx context.Context, req *connect.Request[rmv1.ReleaseRequest]) (*connect.Response[rmv1.ReleaseResponse], error) {
	if err := checkID("id", req.Msg.Id); err != nil {
		return nil, err
	}
	if resp, ok, err := s.fleet.release(ctx, caller(ctx), req.Msg.Id); ok {
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(resp), nil
	}
	a, now, err := s.c.Release(ctx, caller(ctx), req.Msg.Id)
	if err != nil {
		return nil, toError(err)
	}
	return connect.NewResponse(&rmv1.ReleaseResponse{Allocation: allocationToProto(a, s.c.Model()), ReleasedNow: now}), nil
}

// GetAllocation implements the RPC.
func (s *API) GetAllocation(ctx context.Context, req *connect.Request[rmv1.GetAllocationRequest]) (*connect.Response[rmv1.Allocation], error) {
	if err := checkID("id", req.Msg.Id); err != nil {
		return nil, err
	}
	a, err := s.c.Get(caller(ctx), req.Msg.Id)
	if err != nil {
		return nil, toError(err)
	}
	return connect.NewResponse(allocationToProto(a, s.c.Model())), nil
}

// ListAllocations implements the RPC.
func (s *API) ListAllocations(ctx context.Context, req *connect.Request[rmv1.ListAllocationsRequest]) (*connect.Response[rmv1.ListAllocationsResponse], error) {
	list, err := s.c.List(caller(ctx), req.Msg.Tenant, req.Msg.IncludeInactive)
	if err != nil {
		return nil, toError(err)
	}
	out := &rmv1.ListAllocationsResponse{Allocations: make([]*rmv1.Allocation, 0, len(list))}
	m := s.c.Model()
	for _, a := range list {
		out.Allocations = append(out.Allocations, allocationToProto(a, m))
	}
	return connect.NewResponse(out), nil
}

// RenewLease implements the RPC.
func (s *API) RenewLease(ctx context.Context, req *connect.Request[rmv1.RenewLeaseRequest]) (*connect.Response[rmv1.Allocation], error) {
	if err := checkID("id", req.Msg.Id); err != nil {
		return nil, err
	}
	by, err := durationFrom("extend_by", req.Msg.ExtendBy)
	if err != nil {
		return nil, err
	}
	a, err := s.c.RenewLease(caller(ctx), req.Msg.Id, by)
	if err != nil {
		return nil, toError(err)
	}
	return connect.NewResponse(allocationToProto(a, s.c.Model())), nil
}

func reservationToProto(r *store.Reservation, now time.Time) *rmv1.Reservation {
	out := &rmv1.Reservation{Id: r.ID, Tenant: r.Tenant, WholeDevice: r.Qubits == nil, Start: ts(r.Start), End: ts(r.End),
		Cancelled: r.Cancelled, ActiveNow: controller.ActiveNow(r, now)}
	for _, q := range r.Qubits {
		out.Qubits = append(out.Qubits, uint32(q))
	}
	return out
}

// Reserve implements the RPC.
func (s *API) Reserve(ctx context.Context, req *connect.Request[rmv1.ReserveRequest]) (*connect.Response[rmv1.Reservation], error) {
	m := req.Msg
	p := controller.ReserveParams{Tenant: m.Tenant, Count: int(m.Count), Whole: m.WholeDevice}
	if m.Count > MaxQubits {
		return nil, invalid("count: %d is too large", m.Count)
	}
	for _, q := range m.Qubits {
		if q > MaxQubits {
			return nil, invalid("qubits: %d is not on any device", q)
		}
		p.Qubits = append(p.Qubits, int(q))
	}
	if m.Start != nil {
		if err := m.Start.CheckValid(); err != nil {
			return nil, invalid("start: %v", err)
		}
		p.Start = m.Start.AsTime()
	}
	if m.End != nil {
		if err := m.End.CheckValid(); err != nil {
			return nil, invalid("end: %v", err)
		}
		p.End = m.End.AsTime()
	}
	r, err := s.c.Reserve(ctx, caller(ctx), p)
	if err != nil {
		return nil, toError(err)
	}
	return connect.NewResponse(reservationToProto(r, time.Now())), nil
}

// CancelReservation implements the RPC.
func (s *API) CancelReservation(ctx context.Context, req *connect.Request[rmv1.CancelReservationRequest]) (*connect.Response[rmv1.Reservation], error) {
	if err := checkID("id", req.Msg.Id); err != nil {
		return nil, err
	}
	r, err := s.c.CancelReservation(ctx, caller(ctx), req.Msg.Id)
	if err != nil {
		return nil, toError(err)
	}
	return connect.NewResponse(reservationToProto(r, time.Now())), nil
}

// ListReservations implements the RPC.
func (s *API) ListReservations(ctx context.Context, req *connect.Request[rmv1.ListReservationsRequest]) (*connect.Response[rmv1.ListReservationsResponse], error) {
	list, err := s.c.Reservations(caller(ctx), req.Msg.IncludePast)
	if err != nil {
		return nil, toError(err)
	}
	now := time.Now()
	out := &rmv1.ListReservationsResponse{}
	for _, r := range list {
		out.Reservations = append(out.Reservations, reservationToProto(r, now))
	}
	return connect.NewResponse(out), nil
}

func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

// GetDevice implements the RPC.
func (s *API) GetDevice(ctx context.Context, req *connect.Request[rmv1.GetDeviceRequest]) (*connect.Response[rmv1.DeviceInfo], error) {
	m := s.c.Model()
	sum := m.Summarize()
	d := &rmv1.DeviceInfo{Name: s.c.DeviceID(), Vendor: sum.Vendor, Family: sum.Family, Qubits: uint32(sum.Qubits),
		Couplers: uint32(sum.Couplers), Native_2Q: sum.Native2Q, BrokenQubits: uint32(sum.BrokenQubits),
		BrokenCouplers: uint32(sum.BrokenCouplers), Median_2QError: finite(float64(sum.Median2QError)),
		MedianReadoutError: finite(float64(sum.MedianReadoutError)), Epoch: sum.Epoch, CalibratedAt: ts(m.Cal.Time),
		Health: string(s.c.Health())}
	if req.Msg.Detail {
		owners := s.c.Owners()
		for i, q := range m.Cal.Qubits {
			d.QubitDetail = append(d.QubitDetail, &rmv1.QubitDetail{Index: uint32(i), Name: m.Qubits[i].Name, Usable: q.Usable,
				Reason: q.Reason, ReadoutError: finite(q.ReadoutError), Error_1Q: finite(q.Error1Q), T1Us: finite(q.T1),
				T2Us: finite(q.T2), Owner: owners[i]})
		}
		for i, c := range m.Cal.Couplers {
			e := m.Couplers[i]
			d.CouplerDetail = append(d.CouplerDetail, &rmv1.CouplerDetail{A: uint32(e.A), B: uint32(e.B), Usable: c.Usable,
				Reason: c.Reason, Error: finite(c.Error), Gate: c.Gate})
		}
	}
	return connect.NewResponse(d), nil
}

// Status implements the RPC.
func (s *API) Status(ctx context.Context, req *connect.Request[rmv1.StatusRequest]) (*connect.Response[rmv1.StatusResponse], error) {
	st := s.c.Status()
	return connect.NewResponse(&rmv1.StatusResponse{Controller: st.Controller, Device: st.Device, Health: string(st.Health),
		Qubits: uint32(st.Qubits), AllocatedQubits: uint32(st.AllocatedQubits), FreeQubits: uint32(st.FreeQubits),
		Utilization: st.Utilization, ActiveAllocations: uint32(st.ActiveAllocations), QueuedRequests: uint32(st.QueuedRequests),
		CacheHitRate: st.CacheHitRate, CalibrationEpoch: st.Epoch, StartedAt: ts(st.StartedAt), Version: st.Version,
		ActiveReservations: uint32(st.ActiveReservations)}), nil
}

// WatchEvents implements the RPC.
func (s *API) WatchEvents(ctx context.Context, req *connect.Request[rmv1.WatchEventsRequest], stream *connect.ServerStream[rmv1.Event]) error {
	ch, err := s.c.Subscribe(ctx, req.Msg.FromSeq)
	if err != nil {
		return toError(err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-ch:
			if !ok {
				return connect.NewError(connect.CodeUnavailable, errors.New("controller shutting down"))
			}
			if err := stream.Send(&rmv1.Event{Seq: e.Seq, Time: ts(e.Time), Kind: e.Kind, Subject: e.Subject, Detail: e.Detail}); err != nil {
				return err
			}
		}
	}
}
