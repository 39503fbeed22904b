package sandbox

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// QuarantinePolicy decides when a failing module stops being called, as
// Envoy backs off a configuration that keeps failing to load: after
// Failures failed calls within Window, the module is quarantined for
// Backoff; each further quarantine doubles that, up to MaxBackoff. Once a
// quarantine ends the module is called again; a Window without failures
// resets the backoff. The zero value gives the defaults.
type QuarantinePolicy struct {
	// Failures within Window that quarantine a module (default 5; negative:
	// never quarantine).
	Failures int
	// Window over which failures are counted (default 1 minute).
	Window time.Duration
	// Backoff is the first quarantine's length (default 30 s).
	Backoff time.Duration
	// MaxBackoff bounds the doubling (default 10 minutes).
	MaxBackoff time.Duration
}

func (p QuarantinePolicy) withDefaults() (QuarantinePolicy, error) {
	if p.Failures == 0 {
		p.Failures = 5
	}
	if p.Window == 0 {
		p.Window = time.Minute
	}
	if p.Backoff == 0 {
		p.Backoff = 30 * time.Second
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = 10 * time.Minute
	}
	if p.Window < 0 || p.Backoff < 0 || p.MaxBackoff < p.Backoff {
		return p, fmt.Errorf("sandbox: quarantine policy: window %v, backoff %v, max backoff %v: want positive durations, max >= backoff",
			p.Window, p.Backoff, p.MaxBackoff)
	}
	return p, nil
}

// health is one module version's failure record.
type health struct {
	policy QuarantinePolicy
	until  atomic.Int64 // unix nanoseconds; 0: not quarantined

	mu       sync.Mutex
	fails    []time.Time // failures within the window, oldest first
	level    int         // quarantines so far in a row
	lastFail time.Time
}

// admit returns the end of the quarantine when the module must not be
// called at now.
func (h *health) admit(now time.Time) (time.Time, bool) {
	u := h.until.Load()
	if u == 0 || now.UnixNano() >= u {
		return time.Time{}, true
	}
	return time.Unix(0, u), false
}

// fail records a failure at now; it returns the end of a quarantine when
// this failure starts one.
func (h *health) fail(now time.Time) (time.Time, bool) {
	if h.policy.Failures < 0 {
		return time.Time{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.lastFail.IsZero() && now.Sub(h.lastFail) > h.policy.Window {
		h.level = 0
	}
	h.lastFail = now
	keep := h.fails[:0]
	for _, t := range h.fails {
		if now.Sub(t) <= h.policy.Window {
			keep = append(keep, t)
		}
	}
	h.fails = append(keep, now)
	if len(h.fails) < h.policy.Failures {
		return time.Time{}, false
	}
	d := h.policy.Backoff
	for i := 0; i < h.level && d < h.policy.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, h.policy.MaxBackoff)
	h.level++
	h.fails = h.fails[:0]
	until := now.Add(d)
	h.until.Store(until.UnixNano())
	return until, true
}

// quarantinedUntil is the end of the current quarantine (zero when none).
func (h *health) quarantinedUntil(now time.Time) time.Time {
	if t, ok := h.admit(now); !ok {
		return t
	}
	return time.Time{}
}
