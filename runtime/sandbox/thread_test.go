package sandbox

import (
	"context"
	"testing"
)

// dispatchWAT is a function in the shape Go's back end gives every
// function: a loop whose header dispatches on local 0 (the resume address)
// into a nest of blocks, and jumps as "i32.const T; local.set 0; br $L".
// It sums the squares below n. Three jumps are forward to a block that
// encloses them (threadable); the others go back, or to a block that is
// closed (one from inside a block opened at the closed block's depth, which
// only the block's identity tells apart), or set another local, or are not
// preceded by the pattern.
const dispatchWAT = `(module
  (func (export "squares") (param i32 i32) (result i32)
    (local i32 i32)
    (block $exit
      (loop $L
        (block $b3
          (block $b2
            (block $b1
              (block $b0
                (local.get 0)
                (br_table $b0 $b1 $b2 $b3 $b3))
              ;; pc 0: start
              (local.set 2 (i32.const 0))
              (local.set 3 (i32.const 0))
              (i32.const 2) (local.set 0) (br $L))      ;; forward: threaded
            ;; pc 1: loop body, in a block at $b1's old depth
            (block $inner
              (local.set 2 (i32.add (local.get 2) (i32.mul (local.get 3) (local.get 3))))
              (local.set 3 (i32.add (local.get 3) (i32.const 1)))
              (if (i32.gt_u (local.get 3) (i32.const 1000))
                (then (i32.const 1) (local.set 0) (br $L))) ;; to a closed block: kept
              (i32.const 2) (local.set 0) (br $L))      ;; forward from inside $inner: threaded
            (i32.const 2) (local.set 1) (br $L))        ;; sets another local: kept (never run)
          ;; pc 2: test
          (if (i32.lt_u (local.get 3) (local.get 1))
            (then (i32.const 1) (local.set 0) (br $L)))  ;; back: kept
          (i32.const 3) (local.set 0) (br $L))          ;; forward: threaded
        ;; pc 3: done
        (br $exit)))
    (local.get 2)))`

// TestThreadJumps: the rewrite threads exactly the forward jumps whose
// target encloses them, and the function computes what it did.
func TestThreadJumps(t *testing.T) {
	orig := wat(t, dispatchWAT)
	inst, _, threaded, err := instrumentCounting(orig)
	if err != nil {
		t.Fatal(err)
	}
	if threaded != 3 {
		t.Errorf("%d branches threaded, want 3", threaded)
	}
	threadJumps = false
	plain, _, none, err := instrumentCounting(orig)
	threadJumps = true
	if err != nil || none != 0 {
		t.Fatalf("with threading off: %d threaded, %v", none, err)
	}
	ctx := context.Background()
	run := func(code []byte, withRefuel bool) []uint64 {
		mod, done := runModule(t, ctx, code, withRefuel)
		defer done()
		var out []uint64
		for n := uint64(0); n <= 30; n++ {
			r, err := mod.ExportedFunction("squares").Call(ctx, 0, n)
			if err != nil {
				t.Fatalf("squares(%d): %v", n, err)
			}
			out = append(out, r[0])
		}
		return out
	}
	want := run(orig, false)
	for n, w := range want {
		s := uint64(0)
		for i := uint64(0); i < uint64(n); i++ {
			s += i * i
		}
		if w != s {
			t.Fatalf("original squares(%d) = %d, want %d: the test module is wrong", n, w, s)
		}
	}
	for name, code := range map[string][]byte{"threaded": inst, "unthreaded": plain} {
		got := run(code, true)
		for n := range want {
			if got[n] != want[n] {
				t.Errorf("%s: squares(%d) = %d, want %d", name, n, got[n], want[n])
			}
		}
	}
}

// TestThreadJumpsGoGuest: on a Go guest the rewrite applies widely (Go's
// back end routes every jump through the dispatch), and the guest still
// answers as the native engine does (TestBuiltinSameAsNative and the
// conformance run cover the answers).
func TestThreadJumpsGoGuest(t *testing.T) {
	pw, _ := builtinWasm(t)
	_, _, threaded, err := instrumentCounting(pw)
	if err != nil {
		t.Fatal(err)
	}
	if threaded < 10000 {
		t.Errorf("%d branches threaded in the placement module, want many", threaded)
	}
	t.Logf("%d branches threaded in the built-in placement module", threaded)
}
