// Command scoring is the built-in scoring strategy as a module: the native
// engine's scorer (runtime/alloc: ESP with the SWAP estimate of routed
// placements, and the fragmentation penalty) compiled into the guest, so
// that the controller's built-in scoring and its WebAssembly deployment are
// one code. Once per calibration epoch it rebuilds a hal.Model from the
// device view and makes an engine on it; each call scores the given
// placements with the engine's Evaluate.
//
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o scoring.wasm ./modules/builtin/scoring
package main

import (
	"errors"
	"fmt"
	"math"

	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/modules/bridge"
	"github.com/eigen-os/rm/modules/sdk"
	"github.com/eigen-os/rm/runtime/alloc"
)

func init() {
	s := &strategy{}
	sdk.RegisterScoring(s.score).OnLoad(s.load)
}

// A reactor's main is never called; the exports serve.
func main() {}

// strategy is the engine on the current device view, the occupancy it
// tracks, and the scratch of the placement being scored.
type strategy struct {
	eng *alloc.Engine
	occ *bridge.OccupancyView
	req alloc.Request // reused: an allocation per call is dear in a guest

	mapping []int
}

func (s *strategy) load(d *abi.Device) (err error) {
	s.eng, s.occ, err = bridge.GuestEngine(d, false)
	return err
}

// score gives each candidate the engine's score (alloc.Engine.Evaluate:
// the native scorer's ESP with the SWAP estimate, SWAPs and fragmentation,
// after the host's placement rules). A candidate that breaks a placement
// rule scores ESP 0 (the host never picks it; it checks candidates itself
// before asking for scores).
func (s *strategy) score(_ *abi.Device, o *abi.Occupancy, r *abi.Request, cands *abi.Candidates, out []abi.Score) error {
	if err := bridge.RequestTo(&s.req, r); err != nil {
		return err
	}
	req := &s.req
	occ, reserved, err := s.occ.Update(o)
	if err != nil {
		return err
	}
	for i := range out {
		m := cands.Mapping(i)
		s.mapping = s.mapping[:0]
		for _, q := range m {
			s.mapping = append(s.mapping, int(q))
		}
		sc, err := s.eng.Evaluate(req, occ, reserved, s.mapping)
		switch {
		case err == nil:
			esp := sc.ESP
			if math.IsNaN(esp) {
				esp = 0
			}
			out[i] = abi.Score{ESP: esp, Frag: sc.Frag, Swaps: sc.Swaps}
		case errors.Is(err, alloc.ErrInvalidPlacement):
			out[i] = abi.Score{ESP: 0}
		default:
			return fmt.Errorf("candidate %d: %w", i, err)
		}
	}
	return nil
}
