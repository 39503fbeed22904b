package sandbox

import (
	"context"
	"fmt"
	"testing"
)

// TestCompileShared: compiling a binary the host holds, or released among
// the last keepCompiled, reuses that compilation; a holder's module keeps
// working when another holder closes; the oldest released one is dropped.
func TestCompileShared(t *testing.T) {
	ctx := context.Background()
	h := newHost(t, Config{})
	bin := wat(t, goodWAT.String())
	a, err := h.Compile(ctx, "a", 1, bin)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Compile(ctx, "b", 1, bin)
	if err != nil {
		t.Fatal(err)
	}
	if a.mod != b.mod || a.entry.refs != 2 || a.SHA256 != b.SHA256 || a.Kind != b.Kind {
		t.Fatalf("two compilations of one binary: shared %v, refs %d", a.mod == b.mod, a.entry.refs)
	}
	a.Close(ctx)
	a.Close(ctx) // twice is once
	m := h.newModule("b", 1, b, true)
	if err := m.Warm(ctx, device(t, "heavyhex-27")); err != nil {
		t.Fatalf("the other holder's module after one closed: %v", err)
	}
	m.Close(ctx)
	if len(h.idle) != 1 || h.idle[0].sum != b.entry.sum {
		t.Fatalf("released compilation not kept: %d idle", len(h.idle))
	}
	c, err := h.Compile(ctx, "c", 1, bin)
	if err != nil || c.mod != b.mod || len(h.idle) != 0 {
		t.Fatalf("recompiling a released binary: %v, reused %v, %d idle", err, c.mod == b.mod, len(h.idle))
	}
	c.Close(ctx)
	// keepCompiled other binaries released after it: it is dropped.
	for i := 0; i < keepCompiled; i++ {
		other := wat(t, watModule{Place: answer(0), Extra: fmt.Sprintf("(func (result i32) (i32.const %d))", i+1000)}.String())
		o, err := h.Compile(ctx, "o", i+1, other)
		if err != nil {
			t.Fatal(err)
		}
		o.Close(ctx)
	}
	if _, kept := h.compiled[b.entry.sum]; kept || len(h.idle) != keepCompiled {
		t.Fatalf("after %d more releases: first still kept %v, %d idle", keepCompiled, kept, len(h.idle))
	}
	d, err := h.Compile(ctx, "d", 1, bin)
	if err != nil || d.mod == b.mod {
		t.Fatalf("compiling a dropped binary again: %v, reused a closed compilation %v", err, d.mod == b.mod)
	}
	d.Close(ctx)
}
