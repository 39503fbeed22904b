package sandbox

import (
	"context"
	"errors"
	"os/exec"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// featureWAT uses what the rewrite must get right: every kind of block
// (with parameters and results), br_table, direct, indirect and recursive
// calls, tables with active, passive and declarative element segments and
// ref.func, globals, a start function, bulk memory and table operations
// with data segments, typed select, sign extension, saturating truncation
// and SIMD.
const featureWAT = `(module
  (type $bin (func (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table $t 4 funcref)
  (global $g (mut i32) (i32.const 7))
  (global $fref funcref (ref.func $add))
  (data $d "\01\02\03\04\05\06\07\08")
  (elem (table $t) (i32.const 0) func $add $mul)
  (elem $passive func $sub $add)
  (elem declare func $mul)
  (func $add (type $bin) (i32.add (local.get 0) (local.get 1)))
  (func $mul (type $bin) (i32.mul (local.get 0) (local.get 1)))
  (func $sub (type $bin) (i32.sub (local.get 0) (local.get 1)))
  (func $init (global.set $g (i32.add (global.get $g) (i32.const 1))))
  (start $init)
  (func $fact (param i64) (result i64)
    (if (result i64) (i64.le_s (local.get 0) (i64.const 1))
      (then (i64.const 1))
      (else (i64.mul (local.get 0) (call $fact (i64.sub (local.get 0) (i64.const 1)))))))
  (func (export "fact") (param i64) (result i64) (call $fact (local.get 0)))
  (func (export "loops") (param $n i32) (result i32) (local $s i32)
    (block $out
      (loop $l
        (br_if $out (i32.eqz (local.get $n)))
        (local.set $s (i32.add (local.get $s)
          (call_indirect (type $bin) (local.get $n) (i32.const 3) (i32.and (local.get $n) (i32.const 1)))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $s))
  (func (export "multivalue") (param i32) (result i32)
    (i32.const 10) (local.get 0)
    (loop $l (param i32 i32) (result i32)
      (i32.add)
      (if (param i32) (result i32) (i32.lt_u (global.get $g) (i32.const 12))
        (then (global.set $g (i32.add (global.get $g) (i32.const 1))) (i32.const 1) (br $l))
        (else))))
  (func (export "brtable") (param i32) (result i32)
    (block $c (block $b (block $a (br_table $a $b $c (local.get 0))) (return (i32.const 100))) (return (i32.const 200)))
    (i32.const 300))
  (func (export "bulk") (result i32)
    (memory.fill (i32.const 0) (i32.const 9) (i32.const 64))
    (memory.init $d (i32.const 8) (i32.const 0) (i32.const 8))
    (memory.copy (i32.const 100) (i32.const 0) (i32.const 32))
    (data.drop $d)
    (table.init $t $passive (i32.const 2) (i32.const 0) (i32.const 2))
    (table.copy (i32.const 0) (i32.const 2) (i32.const 1))
    (drop (table.grow $t (ref.null func) (i32.const 2)))
    (table.fill $t (i32.const 4) (ref.func $mul) (i32.const 2))
    (elem.drop $passive)
    (i32.add (i32.add (i32.load8_u (i32.const 110)) (i32.load8_u (i32.const 100)))
      (i32.add (table.size $t)
        (call_indirect (type $bin) (i32.const 6) (i32.const 7) (i32.const 0)))))
  (func (export "misc") (param i32 f64) (result i32)
    (i32.add
      (i32.add (i32.extend8_s (local.get 0)) (i32.trunc_sat_f64_s (local.get 1)))
      (i32.add
        (select (result i32) (i32.const 1) (i32.const 2) (local.get 0))
        (i32x4.extract_lane 2 (i32x4.add (v128.const i32x4 1 2 3 4) (i32x4.splat (local.get 0)))))))
  (func (export "global") (result i32) (global.get $g))
  (func (export "spin") (loop $l (br $l))))`

// TestInstrumentPreservesSemantics: the instrumented module computes what
// the original computes, and its loops stop at the deadline.
func TestInstrumentPreservesSemantics(t *testing.T) {
	orig := wat(t, featureWAT)
	inst, imports, err := instrument(orig)
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) != 0 {
		t.Errorf("imports %v", imports)
	}
	ctx := context.Background()
	run := func(code []byte, withRefuel bool) map[string][]uint64 {
		mod, done := runModule(t, ctx, code, withRefuel)
		defer done()
		out := map[string][]uint64{}
		args := map[string][]uint64{"fact": {20}, "loops": {100000}, "multivalue": {5}, "brtable": {1},
			"bulk": nil, "misc": {0xff, api.EncodeF64(1e30)}, "global": nil}
		// In order: bulk changes the table that loops calls through.
		for _, name := range []string{"fact", "loops", "multivalue", "brtable", "bulk", "loops", "misc", "global"} {
			r, err := mod.ExportedFunction(name).Call(ctx, args[name]...)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out[name] = append(out[name], r...)
		}
		for _, i := range []uint64{0, 2, 9} {
			r, _ := mod.ExportedFunction("brtable").Call(ctx, i)
			out["brtable"] = append(out["brtable"], r...)
		}
		return out
	}
	want, got := run(orig, false), run(inst, true)
	for name, w := range want {
		if len(got[name]) != len(w) {
			t.Errorf("%s: %v, want %v", name, got[name], w)
			continue
		}
		for i := range w {
			if got[name][i] != w[i] {
				t.Errorf("%s: %v, want %v", name, got[name], w)
			}
		}
	}
	if want["fact"][0] != 2432902008176640000 || want["global"][0] != 12 {
		t.Errorf("the test module itself misbehaves: %v", want)
	}
}

// TestInstrumentRefusals: what the rewrite cannot read is refused.
func TestInstrumentRefusals(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":         nil,
		"bad magic":     []byte("\x00wasm\x01\x00\x00\x00"),
		"version 2":     []byte("\x00asm\x02\x00\x00\x00"),
		"truncated":     []byte("\x00asm\x01\x00\x00\x00\x01\x05\x01"),
		"unknown id":    []byte("\x00asm\x01\x00\x00\x00\x0e\x00"),
		"out of order":  []byte("\x00asm\x01\x00\x00\x00\x03\x01\x00\x01\x01\x00"),
		"huge leb":      []byte("\x00asm\x01\x00\x00\x00\x01\xff\xff\xff\xff\x7f"),
		"bad code body": []byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x05\x01\x03\x00\xff\x0b"),
	} {
		if _, _, err := instrument(b); !errors.Is(err, errInstrument) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzInstrument: the rewrite never panics, and whatever wazero accepts
// before the rewrite it accepts after.
func FuzzInstrument(f *testing.F) {
	if _, err := exec.LookPath("wat2wasm"); err == nil {
		f.Add(wat(f, featureWAT))
		f.Add(wat(f, dispatchWAT))
		f.Add(wat(f, busyWAT(3).String()))
		f.Add(wat(f, watModule{Place: memoryBomb, Extra: "(func $deep (call $deep))"}.String()))
	}
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	f.Fuzz(func(t *testing.T, b []byte) {
		inst, _, err := instrument(b)
		if err != nil {
			return
		}
		if cm, err := rt.CompileModule(ctx, b); err == nil {
			cm.Close(ctx)
			cm2, err := rt.CompileModule(ctx, inst)
			if err != nil {
				t.Fatalf("valid module invalid after instrumentation: %v", err)
			}
			cm2.Close(ctx)
		}
	})
}

// runModule instantiates code on a fresh runtime, with the host's refuel
// import when the code is instrumented; done closes the runtime.
func runModule(t *testing.T, ctx context.Context, code []byte, withRefuel bool) (mod api.Module, done func()) {
	t.Helper()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	if withRefuel {
		if _, err := rt.NewHostModuleBuilder(refuelModule).NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(refuel), nil, []api.ValueType{api.ValueTypeI32}).
			Export(refuelName).Instantiate(ctx); err != nil {
			rt.Close(ctx)
			t.Fatal(err)
		}
	}
	mod, err := rt.Instantiate(ctx, code)
	if err != nil {
		rt.Close(ctx)
		t.Fatal(err)
	}
	return mod, func() { rt.Close(ctx) }
}
