// Command placement is the built-in placement strategy as a module: the
// native allocation engine (runtime/alloc) compiled into the guest, so that
// the controller's built-in algorithm and its WebAssembly deployment are
// one code. Once per calibration epoch it rebuilds a hal.Model from the
// device view and makes an engine on it; each call brings the engine's
// occupancy in step with the host's (committing and releasing only the
// tasks that changed) and proposes the engine's placement.
//
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o placement.wasm ./modules/builtin/placement
package main

import (
	"context"
	"errors"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/modules/bridge"
	"github.com/eigen-os/rm/modules/sdk"
	"github.com/eigen-os/rm/runtime/alloc"
)

func init() {
	s := &strategy{}
	sdk.RegisterPlacement(s.place).OnLoad(s.load)
}

// A reactor's main is never called; the exports serve.
func main() {}

// strategy is the engine on the current device view and the occupancy it
// tracks.
type strategy struct {
	model *hal.Model
	eng   *alloc.Engine

	occ *bridge.OccupancyView
}

// engineOptions are the engine's options inside the guest: no cache (the
// host's engine caches final placements) and no wall-clock limit (the
// guest's clock does not move; the host's deadline bounds the call).
var engineOptions = alloc.Options{CacheSize: -1, MaxTime: -1}

func (s *strategy) load(d *abi.Device) error {
	m, err := bridge.Model(d)
	if err != nil {
		return err
	}
	eng, err := alloc.NewEngine(m, engineOptions)
	if err != nil {
		return err
	}
	s.model, s.eng, s.occ = m, eng, bridge.NewOccupancyView(m.Topology)
	return nil
}

// place proposes the engine's placement. A request that cannot be placed
// gets no candidate, except one below the fidelity floor: its best
// placement is proposed, and the host's floor check refuses it with the
// right reason.
func (s *strategy) place(_ *abi.Device, o *abi.Occupancy, r *abi.Request, out *abi.Candidates) error {
	req, err := bridge.Request(r)
	if err != nil {
		return err
	}
	occ, reserved, err := s.occ.Update(o)
	if err != nil {
		return err
	}
	pl, err := s.eng.Place(context.Background(), req, occ, reserved)
	var ie *alloc.InfeasibleError
	switch {
	case err == nil:
	case errors.As(err, &ie) && ie.Best != nil:
		pl = ie.Best
	case errors.As(err, &ie):
		return nil
	default:
		return err
	}
	out.Add(pl.Mapping, pl.Cost, pl.Swaps > 0)
	return nil
}
