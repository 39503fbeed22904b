package sandbox

import (
	"fmt"
	"strings"
)

// Hand-written modules for the tests, in WebAssembly text (built with
// wat2wasm). watModule fills a template that follows the ABI:
//
//	memory of 2 pages; rm_alloc always returns 65536 (the second page);
//	rm_load_device accepts any view; the answer is written at 1024.
//
// Its parts can be replaced to make a module break one rule.
type watModule struct {
	Imports string // import declarations
	Memory  string // memory declaration
	Version string // body of rm_abi_version
	Kind    string // body of rm_kind
	Alloc   string // body of rm_alloc ($size)
	Load    string // body of rm_load_device ($p, $n)
	Place   string // body of rm_place ($p, $n); empty: no rm_place export
	Score   string // body of rm_score ($p, $n); empty: no rm_score export
	Extra   string // more fields (functions, start, globals)
	NoAlloc bool   // leave rm_alloc out
}

func (w watModule) String() string {
	def := func(s, d string) string {
		if s == "" {
			return d
		}
		return s
	}
	var b strings.Builder
	b.WriteString("(module\n")
	b.WriteString(w.Imports + "\n")
	b.WriteString(def(w.Memory, `(memory (export "memory") 2)`) + "\n")
	fmt.Fprintf(&b, "(func (export \"rm_abi_version\") (result i32) %s)\n", def(w.Version, "(i32.const 1)"))
	fmt.Fprintf(&b, "(func (export \"rm_kind\") (result i32) %s)\n", def(w.Kind, "(i32.const 1)"))
	if !w.NoAlloc {
		fmt.Fprintf(&b, "(func (export \"rm_alloc\") (param $size i32) (result i32) %s)\n", def(w.Alloc, "(i32.const 65536)"))
	}
	fmt.Fprintf(&b, "(func (export \"rm_load_device\") (param $p i32) (param $n i32) (result i32) %s)\n", def(w.Load, "(i32.const 0)"))
	if w.Place != "" {
		fmt.Fprintf(&b, "(func (export \"rm_place\") (param $p i32) (param $n i32) (result i64) (local $i i32) (local $k i32) %s)\n", w.Place)
	}
	if w.Score != "" {
		fmt.Fprintf(&b, "(func (export \"rm_score\") (param $p i32) (param $n i32) (result i64) (local $i i32) %s)\n", w.Score)
	}
	b.WriteString(watHelpers + "\n")
	b.WriteString(w.Extra + "\n)\n")
	return b.String()
}

// watHelpers: $nth returns the i-th qubit (from 0) whose status in the
// call input at $p is $st, or -1; $answer writes one candidate of k
// qubits, logical j on ($pick j), and returns the packed result.
const watHelpers = `
(func $nth (param $p i32) (param $st i32) (param $i i32) (result i32) (local $q i32) (local $n i32) (local $off i32)
  (local.set $n (i32.load offset=16 (local.get $p)))
  (local.set $off (i32.add (local.get $p) (i32.load offset=84 (local.get $p))))
  (block $done
    (loop $next
      (br_if $done (i32.ge_u (local.get $q) (local.get $n)))
      (if (i32.eq (i32.load (i32.add (local.get $off) (i32.shl (local.get $q) (i32.const 2)))) (local.get $st))
        (then
          (if (i32.eqz (local.get $i)) (then (return (local.get $q))))
          (local.set $i (i32.sub (local.get $i) (i32.const 1)))))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $next)))
  (i32.const -1))
(func $answer (param $p i32) (param $mode i32) (result i64) (local $k i32) (local $j i32) (local $q i32)
  (local.set $k (i32.load offset=20 (local.get $p)))
  (i32.store (i32.const 1024) (i32.const 1))
  (i32.store (i32.const 1028) (local.get $k))
  (f64.store (i32.const 1032) (f64.const 0))
  (i32.store (i32.const 1040) (i32.const 0))
  (block $done
    (loop $next
      (br_if $done (i32.ge_u (local.get $j) (local.get $k)))
      (local.set $q (call $pick (local.get $p) (local.get $mode) (local.get $j)))
      (i32.store (i32.add (i32.const 1044) (i32.shl (local.get $j) (i32.const 2))) (local.get $q))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $next)))
  (i64.or (i64.shl (i64.const 1024) (i64.const 32))
          (i64.extend_i32_u (i32.add (i32.const 20) (i32.shl (local.get $k) (i32.const 2))))))
;; modes: 0 the j-th available qubit (valid for requests without
;; interactions), 1 the first available qubit for every j (duplicates),
;; 2 qubit n+j (out of range), 3 the j-th held qubit, 4 the j-th buffered
;; qubit, 5 the j-th unusable qubit.
(func $pick (param $p i32) (param $mode i32) (param $j i32) (result i32)
  (if (i32.eq (local.get $mode) (i32.const 1)) (then (return (call $nth (local.get $p) (i32.const 0) (i32.const 0)))))
  (if (i32.eq (local.get $mode) (i32.const 2)) (then (return (i32.add (i32.load offset=16 (local.get $p)) (local.get $j)))))
  (if (i32.eq (local.get $mode) (i32.const 3)) (then (return (call $nth (local.get $p) (i32.const 2) (local.get $j)))))
  (if (i32.eq (local.get $mode) (i32.const 4)) (then (return (call $nth (local.get $p) (i32.const 4) (local.get $j)))))
  (if (i32.eq (local.get $mode) (i32.const 5)) (then (return (call $nth (local.get $p) (i32.const 1) (local.get $j)))))
  (call $nth (local.get $p) (i32.const 0) (local.get $j)))
`

// answer returns a rm_place body answering with $answer in a mode.
func answer(mode int) string {
	return fmt.Sprintf("(call $answer (local.get $p) (i32.const %d))", mode)
}

// goodWAT is a valid placement module for requests without interactions:
// it takes the first available qubits.
var goodWAT = watModule{Place: answer(0)}

// busyWAT answers well after counting down iterations of a loop.
func busyWAT(iterations int) watModule {
	return watModule{Place: fmt.Sprintf(`(local.set $i (i32.const %d))
	  (loop $l (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (local.get $i)))
	  %s`, iterations, answer(0))}
}
