package controller

import (
	"context"
	"errors"

	"github.com/eigen-os/rm/runtime/alloc"
	"github.com/eigen-os/rm/runtime/sandbox"
)

// placeWithModules places with the active strategy modules when there are
// any, and with the built-in native engine otherwise, or when a module
// fails (trap, timeout, memory, invalid answer, quarantine): the request is
// always served. Called with mu held.
func (c *Controller) placeWithModules(ctx context.Context, req *alloc.Request, reserved []int) (*alloc.Placement, error) {
	if c.mods != nil {
		res, err := c.mods.Place(ctx, c.eng.Model(), req, c.occ, reserved)
		if err == nil {
			return res, nil
		}
		if !errors.Is(err, sandbox.ErrNoModule) {
			c.met.FailuresByReason.WithLabelValues("module_fallback").Inc()
			c.log.Debug("strategy module failed; native fallback", "err", err)
		}
	}
	return c.eng.Place(ctx, req, c.occ, reserved)
}
