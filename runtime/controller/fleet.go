package controller

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/mqtt"
	"github.com/eigen-os/rm/runtime/alloc"
	"github.com/eigen-os/rm/store"
)

// Fleet is the controller as its MQTT node sees it (mqtt.Local): its birth
// certificate, its load and quality, and the requests and commands of
// peers.
type Fleet struct {
	c        *Controller
	endpoint string

	mu       sync.Mutex
	draining bool
	// cancelled (tenant, key) pairs are refused from then on: a peer
	// withdrew the request (CmdCancel) and may have sent it elsewhere.
	cancelled map[idemKey]time.Time
	// quality profile cache, keyed by calibration epoch and occupancy.
	qEpoch uint64
	qOcc   [2]uint64
	qIdleE uint64
	qual   mqtt.Quality
}

// FleetAdapter returns the controller's mqtt.Local. endpoint is the API
// address published in the birth certificate.
func (c *Controller) FleetAdapter(endpoint string) *Fleet {
	return &Fleet{c: c, endpoint: endpoint, cancelled: map[idemKey]time.Time{}}
}

// Capabilities this controller accepts.
var Capabilities = []string{"linear", "ring", "star", "grid", "clique", "none", "graph", "routing",
	"reservations", "isolation:spatial", "isolation:temporal", "idempotency"}

// Birth implements mqtt.Local.
func (f *Fleet) Birth() mqtt.Birth {
	b := mqtt.BirthFromModel(f.c.Model())
	b.DeviceType = f.c.DeviceType()
	b.Capabilities = Capabilities
	b.Software = "rmd/" + Version
	b.Endpoint = f.endpoint
	return b
}

// State implements mqtt.Local.
func (f *Fleet) State() mqtt.State {
	c := f.c
	st := c.Status()
	s := mqtt.State{Health: string(st.Health), Qubits: st.FreeQubits + st.AllocatedQubits, FreeQubits: st.FreeQubits,
		Utilization: st.Utilization, QueueLength: st.QueuedRequests, ActiveAllocations: st.ActiveAllocations, Epoch: st.Epoch}
	f.mu.Lock()
	s.Draining = f.draining
	f.mu.Unlock()
	c.mu.Lock()
	for _, w := range c.queue {
		s.QueuedQubits += w.p.Req.Qubits
	}
	occ := c.occ.Clone()
	reserved := c.reservedLocked("", c.now())
	c.mu.Unlock()
	if s.QueueLength > 0 {
		s.ExpectedWaitMs = c.cfg.Allocation.DefaultDuration.D().Milliseconds()
	}
	s.Quality = f.quality(occ, reserved)
	return s
}

// quality computes the profile: the best ESP of a linear chain of k = 1..16
// qubits now (on a copy of the occupancy, outside the controller's lock) and
// on the idle device (once per calibration epoch).
func (f *Fleet) quality(occ *alloc.Occupancy, reserved []int) mqtt.Quality {
	m := f.c.eng.Model()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.qEpoch == m.Cal.Epoch && f.qOcc == occ.Hash() && f.qual.Linear != nil {
		return f.qual
	}
	buf := 0
	if f.c.cfg.Isolation.Spatial.Enabled {
		buf = f.c.cfg.Isolation.Spatial.MinimumDistance
	}
	profile := func(o *alloc.Occupancy, res []int) []float32 {
		out := make([]float32, mqtt.DefaultProfileLen)
		for k := 1; k <= len(out); k++ {
			req := alloc.Request{Qubits: k, Shape: alloc.Shape{Kind: alloc.ShapeLinear}, Buffer: buf, NoRouting: true, Budget: 20000}
			if k > m.N() {
				break
			}
			p, err := f.c.eng.Place(context.Background(), &req, o, res)
			if err != nil {
				continue // cannot place a chain of k now: 0
			}
			out[k-1] = float32(p.ESP)
		}
		return out
	}
	q := mqtt.Quality{Linear: profile(occ, reserved)}
	if f.qIdleE != m.Cal.Epoch || f.qual.Idle == nil {
		q.Idle = profile(alloc.NewOccupancy(m.Topology), nil)
		f.qIdleE = m.Cal.Epoch
	} else {
		q.Idle = f.qual.Idle
	}
	var ro, pe []float64
	for i, qc := range m.Cal.Qubits {
		if _, held := occ.Owner(i); qc.Usable && !held {
			ro = append(ro, qc.ReadoutError)
		}
	}
	for i, cc := range m.Cal.Couplers {
		e := m.Couplers[i]
		_, ha := occ.Owner(e.A)
		_, hb := occ.Owner(e.B)
		if cc.Usable && !ha && !hb {
			pe = append(pe, cc.Error)
		}
	}
	if x := hal.Median(ro); hal.Known(x) {
		q.Readout = float32(x)
	}
	if x := hal.Median(pe); hal.Known(x) {
		q.Pair = float32(x)
	}
	f.qual, f.qEpoch, f.qOcc = q, m.Cal.Epoch, occ.Hash()
	return q
}

// ParamsFromForward turns a forwarded request into allocation parameters.
func ParamsFromForward(req mqtt.ForwardRequest) (AllocateParams, error) {
	p := AllocateParams{TaskID: req.TaskID, IdempotencyKey: req.Key, Priority: req.Priority,
		Duration: time.Duration(req.DurationMs) * time.Millisecond, MaxWait: time.Duration(req.MaxWaitMs) * time.Millisecond}
	if req.Shape != "" || len(req.Pairs) == 0 {
		shape := req.Shape
		if shape == "" {
			shape = "linear"
		}
		sh, err := alloc.ParseShape(shape)
		if err != nil {
			return p, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		p.Req = alloc.Request{Qubits: req.Qubits, Shape: sh}
		p.Shape = fmt.Sprintf("%s:%d", sh, req.Qubits)
	} else {
		g := &alloc.Graph{}
		for _, pr := range req.Pairs {
			g.Pairs = append(g.Pairs, alloc.Pair{A: pr.A, B: pr.B, Count: max(pr.Count, 1)})
		}
		p.Req = alloc.Request{Qubits: req.Qubits, Shape: alloc.Shape{Kind: alloc.ShapeGraph}, Graph: g}
		p.Shape = fmt.Sprintf("graph:%d", req.Qubits)
	}
	p.Req.Floor = req.Floor
	p.Req.Buffer = -1
	p.Isolation = req.Isolation // checked by Allocate
	return p, nil
}

// HandleForward implements mqtt.Local: allocate here for a peer,
// idempotently on (tenant, key) through the controller's own idempotency.
func (f *Fleet) HandleForward(ctx context.Context, req mqtt.ForwardRequest) mqtt.ForwardResponse {
	res := mqtt.ForwardResponse{Device: f.c.DeviceID()}
	fail := func(code, msg string) mqtt.ForwardResponse {
		res.Code, res.Message = code, msg
		return res
	}
	f.mu.Lock()
	draining := f.draining
	_, withdrawn := f.cancelled[idemKey{req.Tenant, req.Key}]
	f.mu.Unlock()
	if withdrawn {
		return fail(mqtt.CodeCancelled, "the requester withdrew this request")
	}
	if draining {
		return fail(mqtt.CodeDraining, f.c.DeviceID()+" is draining")
	}
	if req.Key == "" {
		return fail(mqtt.CodeBadRequest, "a forwarded request needs an idempotency key")
	}
	p, err := ParamsFromForward(req)
	if err != nil {
		return fail(mqtt.CodeBadRequest, err.Error())
	}
	if req.DeadlineMs > 0 {
		dl := time.UnixMilli(req.DeadlineMs)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl)
		defer cancel()
		if left := time.Until(dl); p.MaxWait > left {
			p.MaxWait = max(left, 0)
		}
	}
	g, err := f.c.Allocate(ctx, Caller{Tenant: req.Tenant}, p)
	if err != nil {
		switch {
		case errors.Is(err, ErrInvalid):
			return fail(mqtt.CodeBadRequest, err.Error())
		case errors.Is(err, ErrNoFit), errors.Is(err, ErrWaitExpired):
			return fail(mqtt.CodeNoCapacity, err.Error())
		case errors.Is(err, ErrFidelity):
			return fail(mqtt.CodeBelowFloor, err.Error())
		case errors.Is(err, ErrOffline), errors.Is(err, ErrShuttingDown):
			return fail(mqtt.CodeOffline, err.Error())
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			return fail(mqtt.CodeExpired, err.Error())
		}
		return fail(mqtt.CodeInternal, err.Error())
	}
	a := g.Allocation
	if a.State != "" && a.State != store.StateActive {
		return fail(mqtt.CodeCancelled, fmt.Sprintf("allocation %s for this key is %s", a.ID, a.State))
	}
	res.OK, res.AllocationID, res.Qubits, res.ESP, res.Swaps, res.Replayed = true, a.ID, a.Qubits, a.ESP, a.Swaps, g.Replayed
	res.LeaseEndMs = a.LeaseExpires.UnixMilli()
	return res
}

// HandleCommand implements mqtt.Local: drain, undrain, cancel. Module
// rollout is not available on this controller yet.
func (f *Fleet) HandleCommand(ctx context.Context, cmd mqtt.Command) error {
	switch cmd.Kind {
	case mqtt.CmdDrain, mqtt.CmdUndrain:
		f.mu.Lock()
		f.draining = cmd.Kind == mqtt.CmdDrain
		f.mu.Unlock()
		f.c.appendEvent(cmd.Kind, f.c.DeviceID(), "by "+cmd.Origin)
		return nil
	case mqtt.CmdCancel:
		k := idemKey{cmd.Tenant, cmd.Key}
		f.mu.Lock()
		f.cancelled[k] = time.Now()
		for key, at := range f.cancelled { // forget old withdrawals
			if time.Since(at) > time.Hour {
				delete(f.cancelled, key)
			}
		}
		f.mu.Unlock()
		a, err := f.c.st.FindByIdempotencyKey(cmd.Tenant, cmd.Key)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		_, _, err = f.c.Release(ctx, Caller{Tenant: cmd.Tenant}, a.ID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	case mqtt.CmdRollout:
		return f.rollout(ctx, cmd)
	}
	return fmt.Errorf("command %q is not supported by this controller", cmd.Kind)
}

// rollout activates a strategy module version already stored on this
// controller (pushed through its API or its watched directory): Args
// "module" and "version", and "digest" (sha256 hex) that must match the
// stored binary when given. The binary itself does not travel over MQTT.
func (f *Fleet) rollout(ctx context.Context, cmd mqtt.Command) error {
	if f.c.mods == nil {
		return fmt.Errorf("rollout: strategy modules are disabled on %s", f.c.DeviceID())
	}
	name := cmd.Args["module"]
	ver, err := strconv.Atoi(cmd.Args["version"])
	if name == "" || err != nil || ver < 1 {
		return fmt.Errorf("rollout: args module and version (>= 1) are required, got %q@%q", name, cmd.Args["version"])
	}
	if want := cmd.Args["digest"]; want != "" {
		list, _, err := f.c.mods.List()
		if err != nil {
			return fmt.Errorf("rollout: %w", err)
		}
		found := false
		for _, i := range list {
			if i.Name == name && i.Version == ver {
				found = true
				if !strings.EqualFold(i.SHA256, want) {
					return fmt.Errorf("rollout: %s@%d has digest %s, not %s", name, ver, i.SHA256, want)
				}
			}
		}
		if !found {
			return fmt.Errorf("rollout: %s@%d is not stored on %s (push it first)", name, ver, f.c.DeviceID())
		}
	}
	if _, err := f.c.mods.Activate(ctx, name, ver); err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	f.c.appendEvent("rollout", fmt.Sprintf("%s@%d", name, ver), "by "+cmd.Origin)
	return nil
}

// Draining reports whether the controller refuses forwarded work.
func (f *Fleet) Draining() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.draining
}
