package sandbox

import (
	"errors"
	"fmt"
)

// The fuel guard.
//
// wazero's WithCloseOnContextDone stops a looping guest by leaving the
// compiled code for Go at every loop iteration, about 80 ns each on the
// reference machine; a Go guest enters a loop on every function call (its
// functions are compiled as resumable loops), so a call of the built-in
// placement module takes 2.5 times longer with it than without.
//
// instrument rewrites a module instead, as Wasmtime's epoch interruption
// does natively: an added i32 global is a fuel counter; every function
// entry and every loop iteration takes one unit, and when the counter is
// exhausted the code calls an added import (rm_host.refuel) that returns
// fresh fuel — or, past the call's deadline, aborts the call. The added
// code is
//
//	global.get $fuel  i32.const 1  i32.sub  global.set $fuel
//	global.get $fuel  i32.const 0  i32.le_s
//	if  call $refuel  global.set $fuel  end
//
// a few instructions per iteration. Bulk memory and table instructions
// (memory.fill, memory.copy, memory.init, table.fill, table.copy,
// table.init, table.grow), whose time grows with their length, are charged
// one unit per 256 elements first (their length is kept in an added local),
// so that one grant cannot cover gigabytes of copying. Since every backward jump in
// WebAssembly goes to a loop header and every recursion through a function
// entry, a guest cannot run more than one fuel grant without calling the
// host, which both enforces the deadline and gives the Go scheduler and
// collector a safe point (a guest that never returned to Go would stall the
// host's next garbage collection).
//
// The rewrite adds a type, an import (shifting the module's own function
// indices by one: calls, ref.func, exports, the start function, element
// segments and the name section are renumbered), a global and the checks.
// It understands the instructions of WebAssembly 2.0 (what wazero's
// CoreFeaturesV2 accepts); a module with any other instruction is refused.

// Names of the import the rewrite adds.
const (
	refuelModule = "rm_host"
	refuelName   = "refuel"
)

// errInstrument marks a binary the rewrite cannot read.
var errInstrument = errors.New("wasm")

// wasmReader reads a WebAssembly binary.
type wasmReader struct {
	b   []byte
	off int
	err error
}

func (r *wasmReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: byte %d: %s", errInstrument, r.off, fmt.Sprintf(format, args...))
	}
}

func (r *wasmReader) eof() bool { return r.err != nil || r.off >= len(r.b) }

func (r *wasmReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *wasmReader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.off) {
		r.fail("%d bytes past the end", n)
		return nil
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// u32 reads an unsigned LEB128 of at most 32 bits.
func (r *wasmReader) u32() uint32 {
	var x uint64
	for shift := 0; ; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift == 28 && c&0x70 != 0 {
			r.fail("integer too large")
			return 0
		}
		x |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return uint32(x)
		}
		if shift == 28 {
			r.fail("integer too long")
			return 0
		}
	}
}

// sleb skips a signed LEB128 of at most bits bits.
func (r *wasmReader) sleb(bits int) {
	for n := 0; ; n++ {
		c := r.byte()
		if r.err != nil {
			return
		}
		if c&0x80 == 0 {
			return
		}
		if 7*(n+1) >= bits+7 {
			r.fail("integer too long")
			return
		}
	}
}

func appendU32(dst []byte, x uint32) []byte {
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if x != 0 {
			dst = append(dst, c|0x80)
			continue
		}
		return append(dst, c)
	}
}

func appendName(dst []byte, s string) []byte { return append(appendU32(dst, uint32(len(s))), s...) }

// Section ids.
const (
	secCustom   = 0
	secType     = 1
	secImport   = 2
	secFunction = 3
	secTable    = 4
	secMemory   = 5
	secGlobal   = 6
	secExport   = 7
	secStart    = 8
	secElement  = 9
	secCode     = 10
	secData     = 11
	secDataCnt  = 12
)

// sectionRank orders the known sections as the binary format requires.
var sectionRank = map[byte]int{secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5,
	secGlobal: 7, secExport: 8, secStart: 9, secElement: 10, secDataCnt: 11, secCode: 12, secData: 13}

type section struct {
	id      byte
	payload []byte
}

// Import describes one import of a module.
type Import struct {
	Module, Name string
	Kind         byte // 0 function, 1 table, 2 memory, 3 global
}

// parsedModule is what instrument needs of a module.
type parsedModule struct {
	sections      []section
	imports       []Import
	numImpFuncs   uint32
	numImpGlobals uint32
	types         []uint32 // number of parameters of each type
	funcTypes     []uint32 // type index of each defined function
	numGlobals    uint32   // defined
}

// parseModule splits a binary into sections and reads its imports.
func parseModule(b []byte) (*parsedModule, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, fmt.Errorf("%w: not a WebAssembly binary (no \\0asm magic)", errInstrument)
	}
	if b[4] != 1 || b[5] != 0 || b[6] != 0 || b[7] != 0 {
		return nil, fmt.Errorf("%w: binary format version %d, want 1", errInstrument, b[4])
	}
	r := &wasmReader{b: b, off: 8}
	p := &parsedModule{}
	last := 0
	for !r.eof() {
		id := r.byte()
		size := r.u32()
		payload := r.bytes(uint64(size))
		if r.err != nil {
			return nil, r.err
		}
		if id != secCustom {
			rank, ok := sectionRank[id]
			if !ok {
				return nil, fmt.Errorf("%w: unknown section id %d", errInstrument, id)
			}
			if rank <= last {
				return nil, fmt.Errorf("%w: section id %d out of order or repeated", errInstrument, id)
			}
			last = rank
		}
		p.sections = append(p.sections, section{id, payload})
		sr := &wasmReader{b: payload}
		switch id {
		case secType:
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				if f := sr.byte(); f != 0x60 {
					sr.fail("type %d is not a function type (%#x)", i, f)
				}
				np := sr.u32()
				sr.bytes(uint64(np))
				sr.bytes(uint64(sr.u32()))
				p.types = append(p.types, np)
			}
		case secFunction:
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				t := sr.u32()
				if t >= uint32(len(p.types)) {
					sr.fail("function %d has type %d of %d", i, t, len(p.types))
				}
				p.funcTypes = append(p.funcTypes, t)
			}
		case secGlobal:
			p.numGlobals = sr.u32()
		case secImport:
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				mod := string(sr.bytes(uint64(sr.u32())))
				name := string(sr.bytes(uint64(sr.u32())))
				kind := sr.byte()
				p.imports = append(p.imports, Import{mod, name, kind})
				switch kind {
				case 0:
					sr.u32()
					p.numImpFuncs++
				case 1:
					sr.byte()
					limits(sr)
				case 2:
					limits(sr)
				case 3:
					sr.byte()
					sr.byte()
					p.numImpGlobals++
				default:
					sr.fail("import kind %d", kind)
				}
			}
		}
		if sr.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, sr.err)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return p, nil
}

func limits(r *wasmReader) {
	switch f := r.byte(); f {
	case 0:
		r.u32()
	case 1:
		r.u32()
		r.u32()
	default:
		r.fail("limits flag %d", f)
	}
}

// instrumenter rewrites function indices and code.
type instrumenter struct {
	nImp      uint32   // imported functions before the added one
	refuel    uint32   // index of the added import
	fuel      uint32   // index of the added global
	check     []byte   // the check sequence
	params    []uint32 // number of parameters of each type
	funcTypes []uint32 // type index of each defined function
	threaded  int      // branches threaded (thread.go)
}

// charge appends the code that subtracts the amount computed by amount
// (which pushes an i32) from the fuel and refuels when it is exhausted.
func (in *instrumenter) charge(dst, amount []byte) []byte {
	dst = append(dst, 0x23)
	dst = appendU32(dst, in.fuel)
	dst = append(dst, amount...)
	dst = append(dst, 0x6b, 0x24) // i32.sub, global.set
	dst = appendU32(dst, in.fuel)
	dst = append(dst, 0x23)
	dst = appendU32(dst, in.fuel)
	dst = append(dst, 0x41, 0x00, 0x4c, 0x04, 0x40, 0x10) // i32.const 0, i32.le_s, if, call
	dst = appendU32(dst, in.refuel)
	dst = append(dst, 0x24) // global.set
	dst = appendU32(dst, in.fuel)
	return append(dst, 0x0b) // end
}

// bulkCharge appends the charge of a bulk instruction whose length (i32)
// is on top of the stack: local.tee $len, then length/256 units.
func (in *instrumenter) bulkCharge(dst []byte, local uint32) []byte {
	dst = append(dst, 0x22) // local.tee
	dst = appendU32(dst, local)
	amount := append([]byte{0x20}, appendU32(nil, local)...) // local.get
	amount = append(amount, 0x41, 0x08, 0x76)                // i32.const 8, i32.shr_u
	return in.charge(dst, amount)
}

// fn renumbers a function index.
func (in *instrumenter) fn(i uint32) uint32 {
	if i >= in.nImp {
		return i + 1
	}
	return i
}

// instrument returns the binary with the fuel guard (see above) and the
// module's imports.
func instrument(b []byte) ([]byte, []Import, error) {
	out, imports, _, err := instrumentCounting(b)
	return out, imports, err
}

// instrumentCounting is instrument that also returns how many branches it
// threaded (thread.go).
func instrumentCounting(b []byte) ([]byte, []Import, int, error) {
	p, err := parseModule(b)
	if err != nil {
		return nil, nil, 0, err
	}
	for _, im := range p.imports {
		if im.Module == refuelModule {
			return nil, p.imports, 0, fmt.Errorf("%w: imports %s.%s from the host's reserved module", errInstrument, im.Module, im.Name)
		}
	}
	in := &instrumenter{nImp: p.numImpFuncs, refuel: p.numImpFuncs, fuel: p.numImpGlobals + p.numGlobals,
		params: p.types, funcTypes: p.funcTypes}
	in.check = in.charge(nil, []byte{0x41, 0x01})
	refuelType := uint32(len(p.types))

	out := append([]byte(nil), b[:8]...)
	emit := func(id byte, payload []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(payload)))
		out = append(out, payload...)
	}
	have := map[byte]bool{}
	for _, s := range p.sections {
		have[s.id] = true
	}
	// Sections the rewrite needs but the module lacks are made empty, in
	// their place.
	var sections []section
	for _, s := range p.sections {
		sections = append(sections, s)
	}
	insertBefore := func(id byte, payload []byte) {
		rank := sectionRank[id]
		for i, s := range sections {
			if s.id != secCustom && sectionRank[s.id] > rank {
				sections = append(sections[:i], append([]section{{id, payload}}, sections[i:]...)...)
				return
			}
		}
		sections = append(sections, section{id, payload})
	}
	if !have[secType] {
		insertBefore(secType, []byte{0})
	}
	if !have[secImport] {
		insertBefore(secImport, []byte{0})
	}
	if !have[secGlobal] {
		insertBefore(secGlobal, []byte{0})
	}
	for _, s := range sections {
		r := &wasmReader{b: s.payload}
		var payload []byte
		switch s.id {
		case secType:
			n := r.u32()
			payload = appendU32(nil, n+1)
			payload = append(payload, r.b[r.off:]...)
			r.off = len(r.b)
			payload = append(payload, 0x60, 0x00, 0x01, 0x7f) // () -> i32
		case secImport:
			n := r.u32()
			payload = appendU32(nil, n+1)
			payload = append(payload, r.b[r.off:]...)
			r.off = len(r.b)
			payload = appendName(payload, refuelModule)
			payload = appendName(payload, refuelName)
			payload = append(payload, 0x00)
			payload = appendU32(payload, refuelType)
		case secGlobal:
			n := r.u32()
			payload = appendU32(nil, n+1)
			for i := uint32(0); i < n && r.err == nil; i++ {
				payload = append(payload, r.byte(), r.byte()) // valtype, mutability
				payload = in.constExpr(r, payload)
			}
			payload = append(payload, 0x7f, 0x01, 0x41, 0x00, 0x0b) // mut i32 = 0
		case secExport:
			n := r.u32()
			payload = appendU32(nil, n)
			for i := uint32(0); i < n && r.err == nil; i++ {
				payload = appendName(payload, string(r.bytes(uint64(r.u32()))))
				kind := r.byte()
				idx := r.u32()
				if kind == 0 {
					idx = in.fn(idx)
				}
				payload = append(payload, kind)
				payload = appendU32(payload, idx)
			}
		case secStart:
			payload = appendU32(nil, in.fn(r.u32()))
		case secElement:
			payload = in.elements(r)
		case secCode:
			payload = in.code(r)
		case secCustom:
			name := string(r.bytes(uint64(r.u32())))
			if name == "name" {
				payload = in.names(r, name)
			} else {
				payload = s.payload
				r.off = len(r.b)
			}
		default:
			payload = s.payload
			r.off = len(r.b)
		}
		if r.err == nil && r.off != len(r.b) {
			r.fail("%d bytes left over", len(r.b)-r.off)
		}
		if r.err != nil {
			return nil, p.imports, 0, fmt.Errorf("section %d: %w", s.id, r.err)
		}
		emit(s.id, payload)
	}
	return out, p.imports, in.threaded, nil
}

// constExpr copies a constant expression, renumbering ref.func.
func (in *instrumenter) constExpr(r *wasmReader, dst []byte) []byte {
	for r.err == nil {
		op := r.byte()
		dst = append(dst, op)
		switch op {
		case 0x0b:
			return dst
		case 0x41:
			start := r.off
			r.sleb(32)
			dst = append(dst, r.b[start:r.off]...)
		case 0x42:
			start := r.off
			r.sleb(64)
			dst = append(dst, r.b[start:r.off]...)
		case 0x43:
			dst = append(dst, r.bytes(4)...)
		case 0x44:
			dst = append(dst, r.bytes(8)...)
		case 0x23:
			dst = appendU32(dst, r.u32())
		case 0xd0:
			dst = append(dst, r.byte())
		case 0xd2:
			dst = appendU32(dst, in.fn(r.u32()))
		case 0xfd: // v128.const
			sub := r.u32()
			if sub != 12 {
				r.fail("constant expression with SIMD opcode %d", sub)
			}
			dst = appendU32(dst, sub)
			dst = append(dst, r.bytes(16)...)
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constant expressions
		default:
			r.fail("opcode %#x in a constant expression", op)
		}
	}
	return dst
}

// elements copies the element section, renumbering function indices.
func (in *instrumenter) elements(r *wasmReader) []byte {
	n := r.u32()
	dst := appendU32(nil, n)
	funcs := func() {
		k := r.u32()
		dst = appendU32(dst, k)
		for j := uint32(0); j < k && r.err == nil; j++ {
			dst = appendU32(dst, in.fn(r.u32()))
		}
	}
	exprs := func() {
		k := r.u32()
		dst = appendU32(dst, k)
		for j := uint32(0); j < k && r.err == nil; j++ {
			dst = in.constExpr(r, dst)
		}
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		flags := r.u32()
		dst = appendU32(dst, flags)
		switch flags {
		case 0:
			dst = in.constExpr(r, dst)
			funcs()
		case 1, 3:
			dst = append(dst, r.byte()) // elemkind
			funcs()
		case 2:
			dst = appendU32(dst, r.u32())
			dst = in.constExpr(r, dst)
			dst = append(dst, r.byte())
			funcs()
		case 4:
			dst = in.constExpr(r, dst)
			exprs()
		case 5, 7:
			dst = append(dst, r.byte()) // reftype
			exprs()
		case 6:
			dst = appendU32(dst, r.u32())
			dst = in.constExpr(r, dst)
			dst = append(dst, r.byte())
			exprs()
		default:
			r.fail("element segment flags %d", flags)
		}
	}
	return dst
}

// names copies the "name" custom section, renumbering the function indices
// of its function, local and label name maps.
func (in *instrumenter) names(r *wasmReader, name string) []byte {
	dst := appendName(nil, name)
	for !r.eof() {
		id := r.byte()
		size := r.u32()
		sub := &wasmReader{b: r.bytes(uint64(size))}
		if r.err != nil {
			break
		}
		var p []byte
		switch id {
		case 1: // function names: vec(funcidx name)
			k := sub.u32()
			p = appendU32(nil, k)
			for i := uint32(0); i < k && sub.err == nil; i++ {
				p = appendU32(p, in.fn(sub.u32()))
				p = appendName(p, string(sub.bytes(uint64(sub.u32()))))
			}
		case 2, 3: // local and label names: vec(funcidx namemap)
			k := sub.u32()
			p = appendU32(nil, k)
			for i := uint32(0); i < k && sub.err == nil; i++ {
				p = appendU32(p, in.fn(sub.u32()))
				m := sub.u32()
				p = appendU32(p, m)
				for j := uint32(0); j < m && sub.err == nil; j++ {
					p = appendU32(p, sub.u32())
					p = appendName(p, string(sub.bytes(uint64(sub.u32()))))
				}
			}
		default:
			p = sub.b
			sub.off = len(sub.b)
		}
		if sub.err != nil || sub.off != len(sub.b) {
			// A malformed name section only costs names in stack traces:
			// drop it rather than refuse the module.
			return appendName(nil, "name.dropped")
		}
		dst = append(dst, id)
		dst = appendU32(dst, uint32(len(p)))
		dst = append(dst, p...)
	}
	if r.err != nil {
		r.err = nil
		r.off = len(r.b)
		return appendName(nil, "name.dropped")
	}
	return dst
}

// code rewrites the code section: the check at every function entry and
// loop header, renumbered calls and ref.func.
func (in *instrumenter) code(r *wasmReader) []byte {
	n := r.u32()
	dst := appendU32(nil, n)
	var body []byte
	for i := uint32(0); i < n && r.err == nil; i++ {
		size := r.u32()
		br := &wasmReader{b: r.bytes(uint64(size))}
		if r.err != nil {
			break
		}
		if i >= uint32(len(in.funcTypes)) {
			r.fail("%d function bodies, %d functions declared", n, len(in.funcTypes))
			break
		}
		body = body[:0]
		// Locals: vec(count valtype), plus one i32 for bulk lengths.
		k := br.u32()
		body = appendU32(body, k+1)
		local := uint64(in.params[in.funcTypes[i]])
		for j := uint32(0); j < k && br.err == nil; j++ {
			c := br.u32()
			local += uint64(c)
			body = appendU32(body, c)
			body = append(body, br.byte())
		}
		if local >= 1<<31 {
			br.fail("%d locals", local)
		}
		body = append(body, 0x01, 0x7f)
		// The entry check; a body that starts with a loop (every Go
		// function does) gets the loop's own check at once instead.
		if br.off >= len(br.b) || br.b[br.off] != 0x03 {
			body = append(body, in.check...)
		}
		body = in.expr(br, body, uint32(local))
		if br.err == nil && br.off != len(br.b) {
			br.fail("%d bytes after the end of the body", len(br.b)-br.off)
		}
		if br.err != nil {
			r.err = fmt.Errorf("function %d: %w", in.nImp+i, br.err)
			break
		}
		dst = appendU32(dst, uint32(len(body)))
		dst = append(dst, body...)
	}
	return dst
}

// blockType copies a block type (0x40, a value type, or a type index).
func blockType(r *wasmReader, dst []byte) []byte {
	start := r.off
	c := r.byte()
	if c == 0x40 || c == 0x7f || c == 0x7e || c == 0x7d || c == 0x7c || c == 0x7b || c == 0x70 || c == 0x6f {
		return append(dst, c)
	}
	r.off = start
	r.sleb(33)
	return append(dst, r.b[start:r.off]...)
}

// expr copies a function body's instructions up to its final end.
func (in *instrumenter) expr(r *wasmReader, dst []byte, lenLocal uint32) []byte {
	depth := 1
	u32 := func() { dst = appendU32(dst, r.u32()) }
	memarg := func() { u32(); u32() }
	th := &threader{}
	th.open(ctlBlock, false) // the body: its type is the function's results
	for depth > 0 && r.err == nil {
		op := r.byte()
		if r.err != nil {
			break
		}
		dst = append(dst, op)
		iop := uint32(op)
		var imm uint64
		switch {
		case op == 0x02 || op == 0x04: // block, if
			start := len(dst)
			dst = blockType(r, dst)
			depth++
			th.open(ctlBlock, len(dst) == start+1 && dst[start] == 0x40)
		case op == 0x03: // loop: the check runs at every iteration
			start := len(dst)
			dst = blockType(r, dst)
			th.open(ctlLoop, len(dst) == start+1 && dst[start] == 0x40)
			dst = append(dst, in.check...)
			depth++
		case op == 0x0b:
			depth--
			th.close()
		case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0f || op == 0x1a || op == 0x1b:
		case op == 0x0c: // br
			d := th.br(r.u32())
			dst = appendU32(dst, d)
		case op == 0x0d: // br_if
			u32()
		case op == 0x0e: // br_table
			k := r.u32()
			dst = appendU32(dst, k)
			var tbl []uint32
			for j := uint32(0); j <= k && r.err == nil; j++ {
				x := r.u32()
				dst = appendU32(dst, x)
				if j < 1<<12 {
					tbl = append(tbl, x)
				}
			}
			th.brTable(tbl, k)
		case op == 0x20 || op == 0x21: // local.get, local.set
			x := r.u32()
			imm = uint64(x)
			dst = appendU32(dst, x)
		case op == 0x41:
			start := r.off
			v := r.sleb32()
			imm = uint64(uint32(v))
			dst = append(dst, r.b[start:r.off]...)
		case op == 0x10: // call
			dst = appendU32(dst, in.fn(r.u32()))
		case op == 0x11: // call_indirect
			u32()
			u32()
		case op == 0x1c: // select t*
			k := r.u32()
			dst = appendU32(dst, k)
			dst = append(dst, r.bytes(uint64(k))...)
		case op >= 0x22 && op <= 0x26: // local.tee, globals, table.get/set
			u32()
		case op >= 0x28 && op <= 0x3e: // loads and stores
			memarg()
		case op == 0x3f || op == 0x40: // memory.size, memory.grow
			u32()
		case op == 0x42:
			start := r.off
			r.sleb(64)
			dst = append(dst, r.b[start:r.off]...)
		case op == 0x43:
			dst = append(dst, r.bytes(4)...)
		case op == 0x44:
			dst = append(dst, r.bytes(8)...)
		case op >= 0x45 && op <= 0xc4: // numeric, conversions, sign extension
		case op == 0xd0: // ref.null
			dst = append(dst, r.byte())
		case op == 0xd1: // ref.is_null
		case op == 0xd2: // ref.func
			dst = appendU32(dst, in.fn(r.u32()))
		case op == 0xfc:
			sub := r.u32()
			if sub == 8 || sub == 10 || sub == 11 || sub == 12 || sub == 14 || sub == 15 || sub == 17 {
				// Charge by length, before the instruction.
				dst = in.bulkCharge(dst[:len(dst)-1], lenLocal)
				dst = append(dst, 0xfc)
			}
			dst = appendU32(dst, sub)
			switch {
			case sub <= 7: // saturating truncation
			case sub == 8: // memory.init
				u32()
				u32()
			case sub == 9, sub == 13: // data.drop, elem.drop
				u32()
			case sub == 10, sub == 12, sub == 14: // memory.copy, table.init, table.copy
				u32()
				u32()
			case sub == 11, sub == 15, sub == 16, sub == 17: // memory.fill, table.grow/size/fill
				u32()
			default:
				r.fail("unsupported instruction 0xfc %d", sub)
			}
		case op == 0xfd:
			sub := r.u32()
			dst = appendU32(dst, sub)
			switch {
			case sub <= 11, sub == 92, sub == 93: // loads, stores, load_zero
				memarg()
			case sub == 12, sub == 13: // v128.const, i8x16.shuffle
				dst = append(dst, r.bytes(16)...)
			case sub >= 21 && sub <= 34: // extract/replace lane
				dst = append(dst, r.byte())
			case sub >= 84 && sub <= 91: // load/store lane
				memarg()
				dst = append(dst, r.byte())
			case sub <= 255:
			default:
				r.fail("unsupported instruction 0xfd %d", sub)
			}
		default:
			r.fail("unsupported instruction %#x", op)
		}
		th.note(iop, imm)
	}
	in.threaded += th.threaded
	return dst
}
