package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/runtime/alloc"
)

// shadowJob is one comparison for a module in shadow mode. It owns copies
// of everything it reads.
type shadowJob struct {
	mod      *Module
	model    *hal.Model
	req      alloc.Request
	occ      *alloc.Occupancy
	reserved []int
	used     []int   // the placement used
	esp      float64 // its ESP (scoring shadows)
}

// ShadowPlacement asks the placement module in shadow (if any), in the
// background, for the request the controller just placed with used (by a
// module or by its built-in strategy), and reports when the shadow's best
// candidate differs. It copies what it needs and never blocks: when the
// shadow queue is full the comparison is dropped and counted.
func (m *Manager) ShadowPlacement(model *hal.Model, req *alloc.Request, occ *alloc.Occupancy, reserved []int, used []int) {
	if mod := m.shadow[0].Load(); mod != nil {
		m.enqueue(shadowJob{mod: mod, model: model, used: used}, req, occ, reserved)
	}
}

// ShadowScore asks the scoring module in shadow (if any), in the
// background, to score the placement used, and reports when its ESP
// differs from the one used (by more than one part in 10^9).
func (m *Manager) ShadowScore(model *hal.Model, req *alloc.Request, occ *alloc.Occupancy, reserved []int, used []int, esp float64) {
	if mod := m.shadow[1].Load(); mod != nil {
		m.enqueue(shadowJob{mod: mod, model: model, used: used, esp: esp}, req, occ, reserved)
	}
}

func (m *Manager) enqueue(j shadowJob, req *alloc.Request, occ *alloc.Occupancy, reserved []int) {
	if m.closed.Load() {
		return
	}
	j.req = *req
	if req.Graph != nil {
		g := *req.Graph
		g.Pairs = slices.Clone(g.Pairs)
		g.OneQ = slices.Clone(g.OneQ)
		g.Measured = slices.Clone(g.Measured)
		j.req.Graph = &g
	}
	if occ != nil {
		j.occ = occ.Clone()
	}
	j.reserved = slices.Clone(reserved)
	j.used = slices.Clone(j.used)
	select {
	case m.shadowQ <- j:
	default:
		if mm := m.host.cfg.Metrics; mm != nil {
			mm.ShadowDrops.Inc()
		}
	}
}

func (m *Manager) shadowWorker() {
	defer m.done.Done()
	for {
		select {
		case <-m.stop:
			return
		case j := <-m.shadowQ:
			m.runShadow(j)
		}
	}
}

// runShadow runs one comparison. A failing shadow is counted like any
// module failure (and may be quarantined); it never affects an answer.
func (m *Manager) runShadow(j shadowJob) {
	ctx := context.Background()
	mod := j.mod
	mm := m.host.cfg.Metrics
	labels := []string{mod.name, fmt.Sprint(mod.version), mod.Kind().String()}
	if mm != nil {
		mm.ShadowCalls.WithLabelValues(labels...).Inc()
	}
	var diff string
	if mod.Kind() == abi.KindPlacement {
		cands, err := mod.Place(ctx, j.model, &j.req, j.occ, j.reserved)
		switch {
		case errors.Is(err, ErrClosed):
			return // replaced meanwhile
		case err != nil:
			diff = fmt.Sprintf("shadow failed: %v", err)
		case len(cands) == 0:
			diff = fmt.Sprintf("shadow proposed nothing; used %v", j.used)
		case !slices.Equal(cands[0].Mapping, j.used):
			diff = fmt.Sprintf("shadow proposed %v; used %v", cands[0].Mapping, j.used)
		}
	} else {
		s, err := mod.Score(ctx, j.model, &j.req, j.occ, j.reserved, [][]int{j.used})
		switch {
		case errors.Is(err, ErrClosed):
			return
		case err != nil:
			diff = fmt.Sprintf("shadow failed: %v", err)
		case math.Abs(s[0].ESP-j.esp) > 1e-9*math.Max(1e-300, math.Abs(j.esp)):
			diff = fmt.Sprintf("shadow scores %v at ESP %.9g; used ESP %.9g", j.used, s[0].ESP, j.esp)
		}
	}
	if diff == "" {
		return
	}
	if mm != nil {
		mm.ShadowDiffs.WithLabelValues(labels...).Inc()
	}
	m.host.emit(Event{Kind: EventShadowDiff, Module: mod.name, Version: mod.version, ModuleKind: mod.Kind(), Detail: diff})
}
