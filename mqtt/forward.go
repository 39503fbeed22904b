package mqtt

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"
)

// idem identifies a client's request across attempts and paths.
type idem struct{ tenant, key string }

// waiter is one attempt waiting for an owner's answer.
type waiter struct {
	id       string    // RequestID of the attempt
	origin   string    // device whose fwd/res topic gets the answer
	deadline time.Time // when that requester stops waiting
}

// call is a forwarded request being served by Local.HandleForward.
type call struct {
	waiters   []waiter
	deadline  time.Time // the latest deadline of its waiters
	timer     *time.Timer
	cancel    context.CancelFunc
	cancelled bool // withdrawn by CmdCancel
}

type doneEntry struct {
	resp    ForwardResponse
	expires time.Time
}

// maxDedup bounds the owner's tables of granted and withdrawn keys; beyond
// it, arbitrary entries are evicted (the controller's own idempotency store
// remains the reference).
const maxDedup = 65536

// forwarder holds both sides of forwarding: the requester's pending
// attempts and the owner's in-flight calls, grants and withdrawals.
type forwarder struct {
	mu      sync.Mutex
	pending map[string]chan ForwardResponse
	cmdWait map[string]chan CommandResult
	calls   map[idem]*call
	done    map[idem]doneEntry
	tombs   map[idem]time.Time
}

func (f *forwarder) init() {
	f.pending = map[string]chan ForwardResponse{}
	f.cmdWait = map[string]chan CommandResult{}
	f.calls = map[idem]*call{}
	f.done = map[idem]doneEntry{}
	f.tombs = map[idem]time.Time{}
}

func (f *forwarder) deliverForward(r ForwardResponse, st *counters) {
	f.mu.Lock()
	ch, ok := f.pending[r.RequestID]
	delete(f.pending, r.RequestID)
	f.mu.Unlock()
	if !ok {
		st.lateResponses.Add(1)
		return
	}
	ch <- r // buffered, one answer per attempt
}

func (f *forwarder) deliverCommand(r CommandResult, st *counters) {
	f.mu.Lock()
	ch, ok := f.cmdWait[r.ID]
	delete(f.cmdWait, r.ID)
	f.mu.Unlock()
	if !ok {
		st.lateResponses.Add(1)
		return
	}
	ch <- r
}

// sweep drops expired grants and withdrawals, and evicts beyond maxDedup.
func (f *forwarder) sweep(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, d := range f.done {
		if now.After(d.expires) || len(f.done) > maxDedup {
			delete(f.done, k)
		}
	}
	for k, exp := range f.tombs {
		if now.After(exp) || len(f.tombs) > maxDedup {
			delete(f.tombs, k)
		}
	}
}

func (f *forwarder) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		c.cancel()
	}
}

func newID() string { return rand.Text() }

// Forward sends req to the controller that owns device and returns its
// answer. The answer may be a refusal (OK false, with Code and Message): that
// is an answer, not an error. Errors: ErrPeerOffline (not sent),
// ErrForwardTimeout (no answer in time: the owner may still be working on
// it, so retry with the same Tenant and Key, or withdraw it with Cancel
// before asking another device; an owner that grants after the deadline
// rolls the grant back and refuses the key from then on), ErrLoop,
// ErrClosed, or the context's error.
//
// The wait is Config.ForwardTimeout plus the request's MaxWaitMs (the owner
// may queue it that long), bounded by ctx. Forward sets RequestID, Origin,
// OriginDevice, DeadlineMs and increments Hops. req.Tenant and req.Key are required. Forwarding to this node's own
// device calls Local.HandleForward directly.
func (n *Node) Forward(ctx context.Context, device string, req ForwardRequest) (ForwardResponse, error) {
	if n.closed.Load() {
		return ForwardResponse{}, ErrClosed
	}
	if device == n.cfg.Device {
		return n.local.HandleForward(ctx, req), nil
	}
	if req.Hops >= MaxHops {
		return ForwardResponse{}, fmt.Errorf("forward to %s: %w (hops %d)", device, ErrLoop, req.Hops)
	}
	if p, ok := n.peer(device); !ok || !p.Online {
		why := "never seen"
		if ok {
			why = p.Reason
		}
		return ForwardResponse{}, fmt.Errorf("forward to %s: %w: %s", device, ErrPeerOffline, why)
	}
	if !n.connected.Load() {
		return ForwardResponse{}, fmt.Errorf("forward to %s: %w", device, ErrNotConnected)
	}
	// The owner may queue the request up to its max wait before it grants.
	timeout := n.cfg.ForwardTimeout + time.Duration(max(req.MaxWaitMs, 0))*time.Millisecond
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 {
		return ForwardResponse{}, fmt.Errorf("forward to %s: %w", device, context.DeadlineExceeded)
	}
	req.V = PayloadVersion
	req.RequestID = newID()
	req.Origin, req.OriginDevice = n.cfg.Controller, n.cfg.Device
	req.Hops++
	req.DeadlineMs = time.Now().Add(timeout).UnixMilli()
	if err := req.Validate(); err != nil {
		return ForwardResponse{}, fmt.Errorf("forward to %s: %w", device, err)
	}
	payload, err := Encode(req)
	if err != nil {
		return ForwardResponse{}, fmt.Errorf("forward to %s: encode: %w", device, err)
	}
	ch := make(chan ForwardResponse, 1)
	n.fw.mu.Lock()
	n.fw.pending[req.RequestID] = ch
	n.fw.mu.Unlock()
	defer func() {
		n.fw.mu.Lock()
		delete(n.fw.pending, req.RequestID)
		n.fw.mu.Unlock()
	}()
	if tok := n.publish(n.topics.Device(device, LeafForwardReq), 1, false, payload); tok == nil {
		return ForwardResponse{}, fmt.Errorf("forward to %s: %w", device, ErrNotConnected)
	}
	n.st.fwdSent.Add(1)
	wait := time.NewTimer(timeout + n.cfg.ClockSkew)
	defer wait.Stop()
	select {
	case r := <-ch:
		return r, nil
	case <-wait.C:
		n.st.fwdTimeouts.Add(1)
		return ForwardResponse{}, fmt.Errorf("forward %s/%s to %s: %w (%v)", req.Tenant, req.Key, device, ErrForwardTimeout, timeout+n.cfg.ClockSkew)
	case <-ctx.Done():
		return ForwardResponse{}, fmt.Errorf("forward to %s: %w", device, ctx.Err())
	case <-n.ctx.Done():
		return ForwardResponse{}, ErrClosed
	}
}

// ForwardFirst offers req to devices in order (e.g. balance.Select's
// answer) and returns the first grant. A device that refuses is skipped; a
// device that does not answer is asked again (Config.ForwardAttempts times,
// with the same Tenant and Key, so the owner deduplicates), then the request
// is withdrawn from it (CmdCancel) before the next device is asked. So at
// most one device keeps a grant for the request. This node's own device may
// be in the list: it is served by Local.HandleForward.
//
// When every device fails, the error wraps ErrNoDevice and lists each
// device's failure; the last refusal, if any, is returned with it.
func (n *Node) ForwardFirst(ctx context.Context, devices []string, req ForwardRequest) (ForwardResponse, error) {
	var errs []error
	var last ForwardResponse
	for _, d := range devices {
		timedOut := false
		for attempt := 1; attempt <= n.cfg.ForwardAttempts; attempt++ {
			r, err := n.Forward(ctx, d, req)
			if err == nil {
				if r.OK {
					return r, nil
				}
				last = r
				errs = append(errs, fmt.Errorf("%s refused: %s: %s", d, r.Code, r.Message))
				timedOut = false
				break
			}
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				if timedOut || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
					n.Cancel(d, req.Tenant, req.Key)
				}
				return last, err
			}
			if errors.Is(err, ErrForwardTimeout) {
				timedOut = true
				if attempt == n.cfg.ForwardAttempts {
					errs = append(errs, err)
				}
				continue
			}
			errs = append(errs, err)
			break
		}
		if timedOut {
			n.Cancel(d, req.Tenant, req.Key)
		}
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no device given"))
	}
	return last, fmt.Errorf("%w: %w", ErrNoDevice, errors.Join(errs...))
}

// Cancel withdraws a forwarded request (tenant, key) from device: the owner
// releases whatever it granted for it and refuses it from then on. It does
// not wait for an answer (QoS 1 delivery).
func (n *Node) Cancel(device, tenant, key string) {
	c := Command{V: PayloadVersion, Kind: CmdCancel, Origin: n.cfg.Controller, OriginDevice: n.cfg.Device,
		TimeMs: time.Now().UnixMilli(), Tenant: tenant, Key: key}
	if device == n.cfg.Device {
		n.spawn(func() { n.serveCommand(c) })
		return
	}
	if b, err := Encode(c); err == nil {
		n.publish(n.topics.Device(device, LeafCommand), 1, false, b)
	}
}

// Command sends a command to device's controller and waits for its result
// (up to Config.ForwardTimeout + Config.ClockSkew). Commands to this node's
// own device run locally.
func (n *Node) Command(ctx context.Context, device string, cmd Command) error {
	if n.closed.Load() {
		return ErrClosed
	}
	cmd.V, cmd.Origin, cmd.OriginDevice, cmd.TimeMs = PayloadVersion, n.cfg.Controller, n.cfg.Device, time.Now().UnixMilli()
	if device == n.cfg.Device {
		return n.handleCommand(ctx, cmd)
	}
	if err := CheckName(device); err != nil {
		return fmt.Errorf("command to %q: device: %v", device, err)
	}
	cmd.ID = newID()
	payload, err := Encode(cmd)
	if err != nil {
		return fmt.Errorf("command %s to %s: %w", cmd.Kind, device, err)
	}
	if _, err := DecodeCommand(payload); err != nil {
		return fmt.Errorf("command %s to %s: %w", cmd.Kind, device, err)
	}
	ch := make(chan CommandResult, 1)
	n.fw.mu.Lock()
	n.fw.cmdWait[cmd.ID] = ch
	n.fw.mu.Unlock()
	defer func() {
		n.fw.mu.Lock()
		delete(n.fw.cmdWait, cmd.ID)
		n.fw.mu.Unlock()
	}()
	if tok := n.publish(n.topics.Device(device, LeafCommand), 1, false, payload); tok == nil {
		return fmt.Errorf("command %s to %s: %w", cmd.Kind, device, ErrNotConnected)
	}
	wait := time.NewTimer(n.cfg.ForwardTimeout + n.cfg.ClockSkew)
	defer wait.Stop()
	select {
	case r := <-ch:
		if !r.OK {
			return fmt.Errorf("command %s on %s: %s", cmd.Kind, device, r.Error)
		}
		return nil
	case <-wait.C:
		return fmt.Errorf("command %s to %s: %w", cmd.Kind, device, ErrForwardTimeout)
	case <-ctx.Done():
		return ctx.Err()
	case <-n.ctx.Done():
		return ErrClosed
	}
}

// serveCommand runs a command received from a peer and answers it.
func (n *Node) serveCommand(c Command) {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ForwardTimeout)
	defer cancel()
	err := n.handleCommand(ctx, c)
	if err != nil {
		n.log.Warn("mqtt: command failed", "kind", c.Kind, "origin", c.Origin, "error", err)
	}
	if c.ID == "" || c.OriginDevice == "" {
		return
	}
	r := CommandResult{V: PayloadVersion, ID: c.ID, Device: n.cfg.Device, OK: err == nil}
	if err != nil {
		r.Error = err.Error()
	}
	if b, e := Encode(r); e == nil {
		n.publish(n.topics.Device(c.OriginDevice, LeafCommandResult), 1, false, b)
	}
}

func (n *Node) handleCommand(ctx context.Context, c Command) (err error) {
	defer func() {
		if p := recover(); p != nil {
			n.log.Error("mqtt: Local.HandleCommand panicked", "kind", c.Kind, "panic", p)
			err = fmt.Errorf("controller failed on %s: %v", c.Kind, p)
		}
	}()
	switch c.Kind {
	case CmdRebirth:
		n.Rebirth()
		return nil
	case CmdCancel:
		if c.Tenant == "" || c.Key == "" {
			return errors.New("cancel: tenant and key are required")
		}
		k := idem{c.Tenant, c.Key}
		n.fw.mu.Lock()
		n.fw.tombs[k] = time.Now().Add(n.cfg.DedupTTL)
		delete(n.fw.done, k)
		if cl := n.fw.calls[k]; cl != nil {
			cl.cancelled = true
			cl.cancel()
		}
		n.fw.mu.Unlock()
	}
	return n.local.HandleCommand(ctx, c)
}

func (n *Node) refusal(code, format string, args ...any) ForwardResponse {
	return ForwardResponse{V: PayloadVersion, Device: n.cfg.Device, Controller: n.cfg.Controller,
		Code: code, Message: fmt.Sprintf(format, args...)}
}

// serveForward serves a forwarded request as the owner: at most one call of
// Local.HandleForward per (tenant, key) at a time, the grant remembered for
// retries, and a grant that completes after every requester gave up (or
// withdrew) rolled back.
func (n *Node) serveForward(req ForwardRequest) {
	w := waiter{id: req.RequestID, origin: req.OriginDevice, deadline: time.UnixMilli(req.DeadlineMs)}
	if req.Hops > MaxHops {
		n.reply(w, n.refusal(CodeLoop, "request forwarded %d times", req.Hops))
		return
	}
	k := idem{req.Tenant, req.Key}
	now := time.Now()
	f := &n.fw
	f.mu.Lock()
	if exp, ok := f.tombs[k]; ok && now.Before(exp) {
		f.mu.Unlock()
		n.reply(w, n.refusal(CodeCancelled, "request %s/%s was withdrawn", req.Tenant, req.Key))
		return
	}
	if d, ok := f.done[k]; ok && now.Before(d.expires) {
		f.mu.Unlock()
		n.st.fwdDedup.Add(1)
		r := d.resp
		r.Replayed = true
		n.reply(w, r)
		return
	}
	if c := f.calls[k]; c != nil {
		c.waiters = append(c.waiters, w)
		if w.deadline.After(c.deadline) {
			c.deadline = w.deadline
			c.timer.Reset(time.Until(c.deadline))
		}
		f.mu.Unlock()
		n.st.fwdDedup.Add(1)
		return
	}
	if !now.Before(w.deadline) {
		f.mu.Unlock()
		n.reply(w, n.refusal(CodeExpired, "arrived %v after its deadline", now.Sub(w.deadline).Round(time.Millisecond)))
		return
	}
	ctx, cancel := context.WithCancel(n.ctx)
	c := &call{waiters: []waiter{w}, deadline: w.deadline, cancel: cancel}
	c.timer = time.AfterFunc(time.Until(w.deadline), cancel)
	f.calls[k] = c
	f.mu.Unlock()

	resp := n.callLocal(ctx, req)
	resp.RequestID = req.RequestID
	invalid := resp.Validate()

	f.mu.Lock()
	delete(f.calls, k)
	c.timer.Stop()
	now = time.Now()
	rollback := resp.OK && (invalid != nil || c.cancelled || now.After(c.deadline))
	switch {
	case rollback:
		why := "expired"
		switch {
		case invalid != nil:
			why = "invalid answer: " + invalid.Error()
		case c.cancelled:
			why = "withdrawn"
		}
		n.log.Warn("mqtt: rolling back a forwarded grant", "tenant", req.Tenant, "key", req.Key,
			"allocation", resp.AllocationID, "why", why)
		f.tombs[k] = now.Add(n.cfg.DedupTTL)
		switch {
		case invalid != nil:
			resp = n.refusal(CodeInternal, "the controller's answer was invalid (%v); rolled back", invalid)
		case c.cancelled:
			resp = n.refusal(CodeCancelled, "request %s/%s was withdrawn", req.Tenant, req.Key)
		default:
			resp = n.refusal(CodeExpired, "granted %v after the deadline; rolled back", now.Sub(c.deadline).Round(time.Millisecond))
		}
	case invalid != nil:
		n.log.Error("mqtt: Local.HandleForward answered an invalid refusal", "error", invalid)
		resp = n.refusal(CodeInternal, "the controller's answer was invalid: %v", invalid)
	case resp.OK:
		f.done[k] = doneEntry{resp: resp, expires: now.Add(n.cfg.DedupTTL)}
	}
	waiters := c.waiters
	f.mu.Unlock()
	cancel()

	if rollback {
		n.st.lateRollbacks.Add(1)
		rctx, rcancel := context.WithTimeout(n.ctx, n.cfg.ForwardTimeout)
		err := n.handleCommand(rctx, Command{V: PayloadVersion, Kind: CmdCancel, Origin: n.cfg.Controller,
			OriginDevice: n.cfg.Device, TimeMs: now.UnixMilli(), Tenant: req.Tenant, Key: req.Key})
		rcancel()
		if err != nil {
			n.log.Error("mqtt: rollback of a late grant failed", "tenant", req.Tenant, "key", req.Key, "error", err)
		}
	}
	for i, w := range waiters {
		r := resp
		if i > 0 && r.OK {
			r.Replayed = true
		}
		n.reply(w, r)
	}
}

// callLocal runs Local.HandleForward, turning a panic or a malformed answer
// into a refusal.
func (n *Node) callLocal(ctx context.Context, req ForwardRequest) (resp ForwardResponse) {
	defer func() {
		if p := recover(); p != nil {
			n.log.Error("mqtt: Local.HandleForward panicked", "tenant", req.Tenant, "key", req.Key, "panic", p)
			resp = n.refusal(CodeInternal, "controller failed: %v", p)
		}
	}()
	resp = n.local.HandleForward(ctx, req)
	resp.V, resp.Device, resp.Controller = PayloadVersion, n.cfg.Device, n.cfg.Controller
	if !resp.OK && resp.Code == "" {
		resp.Code = CodeInternal
	}
	return resp
}

// reply sends an owner's answer (validated by serveForward) to one attempt.
func (n *Node) reply(w waiter, r ForwardResponse) {
	r.V, r.RequestID = PayloadVersion, w.id
	if r.Device == "" {
		r.Device, r.Controller = n.cfg.Device, n.cfg.Controller
	}
	b, err := Encode(r)
	if err != nil {
		n.log.Error("mqtt: encode forward answer", "error", err)
		return
	}
	n.publish(n.topics.Device(w.origin, LeafForwardRes), 1, false, b)
}
