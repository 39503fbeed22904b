package alloc

import "testing"

func TestAutomorphismCounts(t *testing.T) {
	fact := func(n int) float64 {
		f := 1.0
		for i := 2; i <= n; i++ {
			f *= float64(i)
		}
		return f
	}
	for _, c := range []struct {
		s    Shape
		n    int
		want float64
	}{
		{Shape{Kind: ShapeLinear}, 1, 1}, {Shape{Kind: ShapeLinear}, 2, 2}, {Shape{Kind: ShapeLinear}, 7, 2},
		{Shape{Kind: ShapeRing}, 3, 6}, {Shape{Kind: ShapeRing}, 8, 16},
		{Shape{Kind: ShapeStar}, 4, 6}, {Shape{Kind: ShapeStar}, 9, fact(8)},
		{Shape{Kind: ShapeGrid, Rows: 2, Cols: 3}, 6, 4}, {Shape{Kind: ShapeGrid, Rows: 3, Cols: 3}, 9, 8},
		{Shape{Kind: ShapeGrid, Rows: 1, Cols: 4}, 4, 2}, {Shape{Kind: ShapeClique}, 5, fact(5)},
	} {
		p := compilePattern(&Request{Qubits: c.n, Shape: c.s})
		if p.autoSize != c.want {
			t.Errorf("%s of %d: %v automorphisms, want %v", c.s, c.n, p.autoSize, c.want)
		}
	}
	// Weights break symmetry: a path whose end pair is heavier has none.
	p := compilePattern(&Request{Qubits: 3, Graph: &Graph{Pairs: []Pair{{0, 1, 5}, {1, 2, 1}}}})
	if p.autoSize != 1 || len(p.symPairs) != 0 {
		t.Errorf("weighted path: %v automorphisms, constraints %v", p.autoSize, p.symPairs)
	}
}

// TestSymmetryBreakingSound checks on small toy devices that the search
// with constraints finds exactly the brute-force optimum for every shape,
// including the symmetric grids and cliques.
func TestSymmetryBreakingSound(t *testing.T) {
	m := toyModel(t, "grid", 16, gridEdges(4, 4), 3)
	e, err := NewEngine(m, Options{CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []*Request{
		{Qubits: 4, Shape: Shape{Kind: ShapeGrid, Rows: 2, Cols: 2}},
		{Qubits: 6, Shape: Shape{Kind: ShapeGrid, Rows: 2, Cols: 3}},
		{Qubits: 9, Shape: Shape{Kind: ShapeGrid, Rows: 3, Cols: 3}},
		{Qubits: 4, Shape: Shape{Kind: ShapeRing}},
		{Qubits: 8, Shape: Shape{Kind: ShapeRing}},
		{Qubits: 5, Shape: Shape{Kind: ShapeStar}},
		{Qubits: 7, Shape: Shape{Kind: ShapeLinear}},
		{Qubits: 4, Graph: &Graph{Pairs: []Pair{{0, 1, 3}, {1, 2, 3}, {2, 3, 3}, {3, 0, 3}, {0, 2, 1}}}},
	} {
		allowed := refAllowed(m, req, nil, nil)
		want, _ := bruteEmbed(m, req, allowed)
		pl, err := e.Place(t.Context(), req, nil, nil)
		if want == 0 {
			if err == nil && pl.Strategy == StrategyExact {
				t.Errorf("%s: embedded %v but brute force finds none", describe(req), pl.Mapping)
			}
			continue
		}
		if err != nil || !sameESP(pl.ESP, want) || !pl.Optimal {
			t.Errorf("%s: %v %v, want ESP %.9f", describe(req), pl, err, want)
		}
	}
}
