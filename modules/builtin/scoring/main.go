// Command scoring is the built-in scoring strategy as a module: the native
// engine's scorer (runtime/alloc: ESP with the SWAP estimate of routed
// placements, and the fragmentation penalty) compiled into the guest, so
// that the controller's built-in scoring and its WebAssembly deployment are
// one code. Once per calibration epoch it rebuilds a hal.Model from the
// device view and makes an engine on it; each call scores the given
// placements with it.
//
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o scoring.wasm ./modules/builtin/scoring
package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/eigen-os/rm/hal"
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

// strategy is the engine on the current device view, the placement being
// scored, and the occupancy it tracks.
type strategy struct {
	model *hal.Model
	eng   *alloc.Engine
	given given

	occ *bridge.OccupancyTracker
}

func (s *strategy) load(d *abi.Device) error {
	m, err := bridge.Model(d)
	if err != nil {
		return err
	}
	s.given = given{}
	eng, err := alloc.NewEngine(m, alloc.Options{
		CacheSize: -1, // each call scores other placements
		MaxTime:   -1, // the guest's clock does not move; the host's deadline bounds the call
		Sources:   []alloc.CandidateSource{&s.given},
		Filters:   []alloc.Filter{&s.given},
	})
	if err != nil {
		return err
	}
	s.model, s.eng, s.occ = m, eng, bridge.NewOccupancyTracker(m.Topology)
	return nil
}

// score gives each candidate the engine's score. A candidate that breaks a
// placement rule scores ESP 0 (the host never picks it; it checks
// candidates itself before asking for scores).
func (s *strategy) score(_ *abi.Device, o *abi.Occupancy, r *abi.Request, cands *abi.Candidates, out []abi.Score) error {
	req, err := bridge.Request(r)
	if err != nil {
		return err
	}
	occ, reserved, err := s.occ.Update(o)
	if err != nil {
		return err
	}
	for i := range out {
		sc, err := s.evaluate(req, r, occ, reserved, cands.Mapping(i))
		switch {
		case err == nil:
			out[i] = sc
		case errors.Is(err, alloc.ErrInvalidPlacement), errors.Is(err, alloc.ErrNoRegion), errors.Is(err, alloc.ErrTooFewQubits):
			out[i] = abi.Score{ESP: 0}
		default:
			return fmt.Errorf("candidate %d: %w", i, err)
		}
	}
	return nil
}

// evaluate scores one placement with the engine's own scorer: the engine
// runs with the placement offered by the given source (at a cost no native
// candidate can beat) and the given filter dropping every other candidate,
// so the Placement it returns is the placement scored by the native Scorer.
// The native search is held to one node per phase, the floor is lifted (it
// is the host's business), and a placement that embeds (every interacting
// pair on a usable coupler) is scored as a request without routing, which
// spares the engine its routed search; the rest of the request is kept (the
// buffer rules decide validity, FragWeight nothing the score reports).
//
// TODO(integration): replace with the engine's own evaluation of a given
// placement once runtime/alloc exports one; this is the only way to reach
// its Scorer from outside the package today.
func (s *strategy) evaluate(req *alloc.Request, r *abi.Request, occ *alloc.Occupancy, reserved []int, mapping []int32) (abi.Score, error) {
	q := *req
	q.Budget, q.Floor = 1, 0
	if s.embeds(r, mapping) {
		q.NoRouting = true
	}
	s.given.mapping = mapping
	defer func() { s.given.mapping = nil }()
	pl, err := s.eng.Place(context.Background(), &q, occ, reserved)
	if err != nil {
		var ie *alloc.InfeasibleError
		if errors.As(err, &ie) && ie.Reason == alloc.ErrNoRegion {
			return abi.Score{}, fmt.Errorf("%w: %v", alloc.ErrInvalidPlacement, err)
		}
		return abi.Score{}, err
	}
	if len(pl.Mapping) != len(mapping) {
		return abi.Score{}, fmt.Errorf("engine returned %d qubits for %d", len(pl.Mapping), len(mapping))
	}
	for i, x := range mapping {
		if pl.Mapping[i] != int(x) {
			return abi.Score{}, fmt.Errorf("engine scored %v instead of %v", pl.Mapping, mapping)
		}
	}
	esp := pl.ESP
	if math.IsNaN(esp) {
		esp = 0
	}
	return abi.Score{ESP: esp, Frag: pl.Frag, Swaps: pl.Swaps}, nil
}

// embeds reports whether every interacting pair of r sits on a usable
// coupler under mapping.
func (s *strategy) embeds(r *abi.Request, mapping []int32) bool {
	for _, e := range r.Edges {
		c := s.model.CouplerIndex(int(mapping[e.A]), int(mapping[e.B]))
		if c < 0 || !s.model.CouplerUsable(c) {
			return false
		}
	}
	return true
}

// given is the engine's extra candidate source and filter while a
// placement is scored: it offers that placement and lets only it through.
type given struct {
	mapping []int32
}

func (g *given) Name() string { return "given" }

// Candidates offers the placement being scored at cost -Inf, so that it
// enters the candidate set whatever the native source found.
func (g *given) Candidates(_ context.Context, _ *alloc.Cycle, set *alloc.CandidateSet) error {
	if g.mapping != nil {
		set.Add(g.mapping, math.Inf(-1), false, "given", false)
	}
	return nil
}

// Filter drops every candidate but the placement being scored.
func (g *given) Filter(_ *alloc.Cycle, c *alloc.Candidate) error {
	if g.mapping == nil || !slices.Equal(c.Mapping, g.mapping) {
		return errors.New("not the placement being scored")
	}
	return nil
}
