package sandbox

// Jump threading through resumable-function dispatch loops.
//
// Go's WebAssembly back end compiles every function as one loop whose
// header dispatches on a local (the resume address PC_B) with a br_table
// into a nest of blocks, one per jump target:
//
//	loop $L
//	  block $B_n ... block $B_1
//	    local.get $pc
//	    br_table ...      ;; to the end of the block whose code is next
//	  end  code of target 1
//	  end  code of target 2 ...
//
// and every jump, forward or backward, is "i32.const T; local.set $pc;
// br $L": back through the header and the table. A forward jump whose
// target block still encloses the jump can branch to the end of that block
// directly, with the same effect: the local is still set, the operand
// stack of both labels is empty, and the header does nothing else. The
// instrumenter does this rewrite as it copies each body (threader tracks
// what it needs); it cuts the cost of Go guests' branches, which are
// otherwise an indirect jump through the table each, and it cannot make a
// guest loop: only branches to a block's end, which lies ahead, are
// changed, so every backward branch still passes the loop header and its
// fuel check.

// threadJumps turns the rewrite on (off only to measure its effect).
var threadJumps = true

type ctlKind uint8

const (
	ctlBlock ctlKind = iota // block, if, the function body
	ctlLoop
)

// ctl is one entry of the control stack of the body being copied.
type ctl struct {
	kind  ctlKind
	empty bool   // block type [] -> []
	id    uint32 // unique within the body: a reused depth is another block

	// A dispatch loop: the local its header reads and, for each value of
	// it (the last entry the table's default), the block the table
	// branches to (stack index and id; index -1: not threadable).
	dispatch bool
	local    uint32
	targets  []ctlRef
}

type ctlRef struct {
	at int
	id uint32
}

type threader struct {
	stack  []ctl
	nextID uint32

	// Recognition of a dispatch header: state 1 after "loop" and "block"s,
	// 2 after the "local.get" that feeds the br_table.
	state     int
	cand      ctlRef
	candLocal uint32

	// The two previous instructions (opcode, immediate).
	op1, op2   uint32
	imm1, imm2 uint64

	threaded int
}

func (t *threader) open(k ctlKind, empty bool) {
	t.nextID++
	t.stack = append(t.stack, ctl{kind: k, empty: empty, id: t.nextID})
}

func (t *threader) close() {
	if len(t.stack) > 0 {
		t.stack = t.stack[:len(t.stack)-1]
	}
}

// brTable registers a dispatch loop when the table ends its header: tbl
// holds the k+1 label depths.
func (t *threader) brTable(tbl []uint32, k uint32) {
	if t.state != 2 || uint64(len(tbl)) != uint64(k)+1 {
		return
	}
	loop := t.cand.at
	if loop < 0 || loop >= len(t.stack) || t.stack[loop].id != t.cand.id || t.stack[loop].kind != ctlLoop {
		return
	}
	top := len(t.stack) - 1
	targets := make([]ctlRef, len(tbl))
	for i, d := range tbl {
		targets[i] = ctlRef{at: -1}
		at := top - int(d)
		if at > loop && at <= top && t.stack[at].kind == ctlBlock && t.stack[at].empty {
			targets[i] = ctlRef{at: at, id: t.stack[at].id}
		}
	}
	l := &t.stack[loop]
	l.dispatch, l.local, l.targets = true, t.candLocal, targets
}

// br returns the label depth to branch to for "br d": d itself, or the
// depth of the block the dispatch would reach when the two instructions
// before are "i32.const T; local.set $pc" and that block encloses the
// branch.
func (t *threader) br(d uint32) uint32 {
	top := len(t.stack) - 1
	at := top - int(d)
	if !threadJumps || at < 0 || t.op1 != 0x21 || t.op2 != 0x41 {
		return d
	}
	l := &t.stack[at]
	if !l.dispatch || l.kind != ctlLoop || !l.empty || uint32(t.imm1) != l.local {
		return d
	}
	v := uint32(t.imm2)
	ref := l.targets[len(l.targets)-1]
	if uint64(v) < uint64(len(l.targets)-1) {
		ref = l.targets[v]
	}
	if ref.at <= at || ref.at > top || t.stack[ref.at].id != ref.id {
		return d
	}
	t.threaded++
	return uint32(top - ref.at)
}

// note records an instruction just copied (opcode, and the immediate of
// local.get/local.set/i32.const).
func (t *threader) note(op uint32, imm uint64) {
	top := len(t.stack) - 1
	switch {
	case op == 0x03 && top >= 0 && t.stack[top].empty:
		t.state, t.cand = 1, ctlRef{at: top, id: t.stack[top].id}
	case op == 0x02 && t.state == 1 && top >= 0 && t.stack[top].empty:
	case op == 0x20 && t.state == 1:
		t.state, t.candLocal = 2, uint32(imm)
	default:
		t.state = 0
	}
	t.op2, t.imm2 = t.op1, t.imm1
	t.op1, t.imm1 = op, imm
}

// sleb32 reads a signed LEB128 of at most 32 bits.
func (r *wasmReader) sleb32() int32 {
	var x int64
	var shift uint
	for n := 0; ; n++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		x |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				x |= -1 << shift
			}
			return int32(x)
		}
		if n >= 4 {
			r.fail("integer too long")
			return 0
		}
	}
}
