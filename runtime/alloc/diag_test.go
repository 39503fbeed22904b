package alloc

import (
	"context"
	"testing"
	"time"

	"github.com/eigen-os/rm/hal/synth"
)

func TestDiagCtx(t *testing.T) {
	m, _ := synth.HeavyHex(433, 1)
	e := mustEngine(t, m, Options{MaxTime: -1})
	st := time.Now()
	pl, err := e.Place(context.Background(), &Request{Qubits: 24, Shape: Shape{Kind: ShapeClique}, Budget: 1 << 40}, nil, nil)
	t.Logf("%v %v %v", time.Since(st), err, pl)
}
