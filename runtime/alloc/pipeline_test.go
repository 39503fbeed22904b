package alloc

import (
	"context"
	"errors"
	"math"
	"testing"
)

// badSource proposes a placement on held qubits and one that is valid.
type badSource struct{ valid []int32 }

func (badSource) Name() string { return "bad" }

func (s badSource) Candidates(_ context.Context, cy *Cycle, set *CandidateSet) error {
	set.Add([]int32{0, 1, 2}, -1, false, "module", false) // qubit 0 is held: Validate drops it
	set.Add(s.valid, -0.5, false, "module", false)
	return nil
}

// highIndexScorer prefers placements on high qubit indices.
type highIndexScorer struct{}

func (highIndexScorer) Name() string { return "high" }

func (highIndexScorer) Score(cy *Cycle, c *Candidate) (Score, error) {
	s := 0.0
	for _, q := range c.Mapping {
		s += float64(q)
	}
	return Score{ESP: math.Exp(-1 / s), Cost: 1 / s}, nil
}

type rejectAll struct{}

func (rejectAll) Name() string                    { return "reject" }
func (rejectAll) Filter(*Cycle, *Candidate) error { return errors.New("no") }

func TestPipelineExtensionPoints(t *testing.T) {
	m := toyModel(t, "line", 10, lineEdges(10), 6)
	occ, _ := RebuildOccupancy(m.Topology, []Holding{{Task: "x", Qubits: []int{0}}})
	req := &Request{Qubits: 3, Shape: Shape{Kind: ShapeLinear}}
	ctx := context.Background()

	// A module's candidates compete with the native one; the invalid one is
	// rejected, never trusted.
	native := mustEngine(t, m, Options{CacheSize: -1})
	want, err := native.Place(ctx, req, occ, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := mustEngine(t, m, Options{CacheSize: -1, Candidates: 4, Sources: []CandidateSource{badSource{valid: []int32{7, 8, 9}}},
		Scorer: highIndexScorer{}})
	pl, err := e.Place(ctx, req, occ, nil)
	if err != nil || pl.Mapping[0]+pl.Mapping[1]+pl.Mapping[2] != 24 {
		t.Errorf("custom scorer: %+v %v", pl, err)
	}
	if e.Stats().Rejected != 1 {
		t.Errorf("rejected %d, want 1", e.Stats().Rejected)
	}
	// With the native scorer the native optimum wins.
	e = mustEngine(t, m, Options{CacheSize: -1, Sources: []CandidateSource{badSource{valid: []int32{7, 8, 9}}}})
	if pl, err := e.Place(ctx, req, occ, nil); err != nil || pl.ESP < want.ESP {
		t.Errorf("native scorer: %+v %v, want ESP %v", pl, err, want.ESP)
	}
	// A filter that rejects everything leaves nothing.
	e = mustEngine(t, m, Options{CacheSize: -1, Filters: []Filter{rejectAll{}}})
	if _, err := e.Place(ctx, req, occ, nil); !errors.Is(err, ErrNoRegion) {
		t.Errorf("reject-all filter: %v", err)
	}
}

func TestCandidateSet(t *testing.T) {
	var s CandidateSet
	s.Reset(2, 2)
	if !math.IsInf(s.Bound(), 1) {
		t.Fatal("empty set bound")
	}
	s.Add([]int32{1, 2}, 3, false, "a", false)
	s.Add([]int32{3, 4}, 1, false, "b", false)
	if s.Bound() != 3 || s.At(0).Cost != 1 {
		t.Fatalf("order %v %v", s.At(0), s.At(1))
	}
	if s.Add([]int32{5, 6}, 3, false, "c", false) || s.Add([]int32{5}, 0, false, "d", false) {
		t.Fatal("accepted a candidate no better than the bound, or of the wrong length")
	}
	m := []int32{7, 8}
	s.Add(m, 2, false, "e", false)
	m[0] = 99 // Add copies
	if s.Len() != 2 || s.At(1).Mapping[0] != 7 || s.Bound() != 2 {
		t.Fatalf("after replace: %v %v", s.At(0), s.At(1))
	}
}

// TestWideBuffers uses isolation distances above the precomputed
// neighbourhood radius (the BFS path) against the reference.
func TestWideBuffers(t *testing.T) {
	m := device(t, "ibm/manhattan")
	e := mustEngine(t, m, Options{CacheSize: -1})
	occ, err := RebuildOccupancy(m.Topology, []Holding{{Task: "a", Qubits: []int{0, 1}, Buffer: 5}, {Task: "b", Qubits: []int{60}, Buffer: 1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, buf := range []int{0, 4, 6} {
		for _, kind := range []ShapeKind{ShapeLinear, ShapeStar} {
			req := &Request{Qubits: 4, Shape: Shape{Kind: kind}, Buffer: buf}
			pl, err := e.Place(context.Background(), req, occ, []int{30})
			allowed := refAllowed(m, req, occ, []int{30})
			want, _ := bruteEmbed(m, req, allowed)
			if want == 0 {
				if err == nil {
					t.Errorf("buffer %d %s: placed %v, reference finds none", buf, req.Shape, pl.Mapping)
				}
				continue
			}
			if err != nil || !sameESP(pl.ESP, want) {
				t.Errorf("buffer %d %s: %+v %v, want ESP %v", buf, req.Shape, pl, err, want)
				continue
			}
			if err := Validate(m, req, occ, []int{30}, pl.Mapping); err != nil {
				t.Errorf("buffer %d: %v", buf, err)
			}
		}
	}
}
