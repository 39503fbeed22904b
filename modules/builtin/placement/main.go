// Command placement is the built-in placement strategy as a module: the
// native allocation engine (runtime/alloc) compiled into the guest, so that
// the controller's built-in algorithm and its WebAssembly deployment are
// one code. Once per calibration epoch it rebuilds a hal.Model from the
// device view and makes an engine on it (bridge.GuestEngine); each call
// rebuilds the engine's occupancy from the call's task slots
// (bridge.OccupancyView) and proposes the engine's placement.
//
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o placement.wasm ./modules/builtin/placement
package main

import (
	"context"
	"errors"

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
	eng *alloc.Engine
	occ *bridge.OccupancyView
	req alloc.Request // reused: an allocation per call is dear in a guest
}

func (s *strategy) load(d *abi.Device) (err error) {
	s.eng, s.occ, err = bridge.GuestEngine(d, true)
	return err
}

// place proposes the engine's placement. A request that cannot be placed
// gets no candidate, except one below the fidelity floor: its best
// placement is proposed, and the host's floor check refuses it with the
// right reason.
func (s *strategy) place(_ *abi.Device, o *abi.Occupancy, r *abi.Request, out *abi.Candidates) error {
	if err := bridge.RequestTo(&s.req, r); err != nil {
		return err
	}
	req := &s.req
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
