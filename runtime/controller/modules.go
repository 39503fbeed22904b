package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/eigen-os/rm/runtime/alloc"
	"github.com/eigen-os/rm/runtime/sandbox"
)

// Allocation strategies (allocation.default_strategy and fallback_strategy):
//
//   - topology_aware: the highest-ESP placement whose couplers carry every
//     interaction of the request (an embedding); when none exists the
//     fallback strategy is asked.
//   - noise_aware: the highest-ESP placement, routed with SWAPs when the
//     request does not embed (the engine's full search).
//   - first_fit: the first placement the best-first search reaches, with a
//     small search budget doubled until one is found (routing allowed): fast,
//     good, not proven optimal.
//
// Active WebAssembly modules replace the native strategies: they are the
// operator's strategy.
const (
	StrategyTopologyAware = "topology_aware"
	StrategyNoiseAware    = "noise_aware"
	StrategyFirstFit      = "first_fit"
)

// placeWithModules places with the active strategy modules when there are
// any, and with the configured native strategies otherwise, or when a
// module fails (trap, timeout, memory, invalid answer, quarantine): the
// request is always served. occ is only read: the controller's own (mu
// held) or a snapshot of it (speculate).
func (c *Controller) placeWithModules(ctx context.Context, req *alloc.Request, occ *alloc.Occupancy, reserved []int) (*alloc.Placement, error) {
	if c.mods != nil {
		res, err := c.mods.Place(ctx, c.eng.Model(), req, occ, reserved)
		if err == nil {
			return res, nil
		}
		if !errors.Is(err, sandbox.ErrNoModule) {
			c.met.FailuresByReason.WithLabelValues("module_fallback").Inc()
			c.log.Debug("strategy module failed; native fallback", "err", err)
		}
	}
	def, fb := c.cfg.Allocation.DefaultStrategy, c.cfg.Allocation.FallbackStrategy
	res, err := c.placeStrategy(ctx, def, req, occ, reserved)
	if err != nil && fb != "" && fb != def && errors.Is(err, alloc.ErrNoRegion) {
		if res2, err2 := c.placeStrategy(ctx, fb, req, occ, reserved); err2 == nil {
			res2.Strategy = fmt.Sprintf("%s (fallback %s)", res2.Strategy, fb)
			return res2, nil
		}
	}
	return res, err
}

// placeStrategy runs one native strategy.
func (c *Controller) placeStrategy(ctx context.Context, strategy string, req *alloc.Request, occ *alloc.Occupancy, reserved []int) (*alloc.Placement, error) {
	switch strategy {
	case StrategyTopologyAware:
		r := *req
		r.NoRouting = true
		return c.eng.Place(ctx, &r, occ, reserved)
	case StrategyFirstFit:
		r := *req
		limit := r.Budget
		if limit <= 0 {
			limit = c.cfg.Allocation.SearchNodes
		}
		for budget := 64; ; budget *= 8 {
			r.Budget = min(budget, limit)
			res, err := c.eng.Place(ctx, &r, occ, reserved)
			if err == nil || !errors.Is(err, alloc.ErrNoRegion) || r.Budget >= limit {
				return res, err
			}
		}
	default: // noise_aware
		return c.eng.Place(ctx, req, occ, reserved)
	}
}
