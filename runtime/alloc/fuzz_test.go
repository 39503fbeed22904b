package alloc

import (
	"context"
	"errors"
	"testing"
)

// FuzzPlace places random requests on a small grid with random occupancy
// and checks the engine's answer against the rules and brute force: never
// a panic, every placement valid, embedded placements optimal, errors
// typed.
func FuzzPlace(f *testing.F) {
	f.Add(uint8(1), uint8(4), uint8(0), uint16(0), uint8(0), false)
	f.Add(uint8(2), uint8(5), uint8(1), uint16(0x0f0f), uint8(1), false)
	f.Add(uint8(3), uint8(6), uint8(2), uint16(0x1234), uint8(2), true)
	f.Add(uint8(5), uint8(4), uint8(0), uint16(0xffff), uint8(3), false)
	f.Add(uint8(0x85), uint8(0x41), uint8(0x2b), uint16(0x112), uint8(0x47), false) // once: routed after a failed largestRegion
	m := toyModel(f, "grid", 16, gridEdges(4, 4), 8)
	e := mustEngine(f, m, Options{Candidates: 2})
	f.Fuzz(func(t *testing.T, kind, k, buf uint8, occBits uint16, taskBuf uint8, noRouting bool) {
		req := &Request{Qubits: int(k%9) + 1, Shape: Shape{Kind: ShapeKind(kind%6) + 1}, Buffer: int(buf % 3), NoRouting: noRouting}
		if req.Shape.Kind == ShapeGrid {
			req.Shape.Rows, req.Shape.Cols = 1, req.Qubits
			if req.Qubits%2 == 0 {
				req.Shape.Rows, req.Shape.Cols = 2, req.Qubits/2
			}
		}
		occ := NewOccupancy(m.Topology)
		for q := 0; q < 16; q++ {
			if occBits&(1<<q) != 0 {
				_ = occ.Commit(Holding{Task: itoa(q), Qubits: []int{q}, Buffer: int(taskBuf % 3)})
			}
		}
		pl, err := e.Place(context.Background(), req, occ, nil)
		allowed := refAllowed(m, req, occ, nil)
		var want float64
		if req.Shape.Kind != ShapeNone && req.Shape.Kind != ShapeClique {
			want, _ = bruteEmbed(m, req, allowed)
		}
		if err != nil {
			var ie *InfeasibleError
			if !errors.As(err, &ie) {
				t.Fatalf("%s: untyped error %v", describe(req), err)
			}
			if want > 0 {
				t.Fatalf("%s: %v but an embedding of ESP %v exists", describe(req), err, want)
			}
			return
		}
		if verr := Validate(m, req, occ, nil, pl.Mapping); verr != nil {
			t.Fatalf("%s: %v", describe(req), verr)
		}
		if want > 0 && (!sameESP(pl.ESP, want) || pl.Swaps != 0) {
			t.Fatalf("%s: ESP %v swaps %d, exhaustive %v", describe(req), pl.ESP, pl.Swaps, want)
		}
	})
}
