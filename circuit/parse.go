package circuit

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Error is a syntax or semantic error in a circuit, with its position.
type Error struct {
	File string // the name given to Parse, or the path given to ParseFile
	Line int    // 1-based; 0 when the error concerns the whole file
	Col  int    // 1-based, in characters; 0 when unknown
	Msg  string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	default:
		return e.File + ": " + e.Msg
	}
}

// ParseFile reads and parses the OpenQASM 2 file at path. Errors name path.
func ParseFile(path string) (*Circuit, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, &Error{File: path, Msg: "is a directory, not an OpenQASM file"}
	}
	if st.Size() > MaxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("file is %d bytes, more than the limit of %d (circuit.MaxFileSize)", st.Size(), MaxFileSize)}
	}
	src, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(src) > MaxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("file is more than the limit of %d bytes (circuit.MaxFileSize)", MaxFileSize)}
	}
	return Parse(path, src)
}

// Parse parses OpenQASM 2 source. name identifies the source in errors and
// becomes Circuit.Name. The returned error is an *Error.
func Parse(name string, src []byte) (*Circuit, error) {
	return parse(name, src, defaultLimits)
}

// limits are the bounds a parse enforces (tests lower them).
type limits struct {
	qubits, clbits, work, workPerByte, pairs int
}

var defaultLimits = limits{qubits: MaxQubits, clbits: MaxClbits, work: MaxWork, workPerByte: WorkPerByte, pairs: MaxPairs}

func parse(name string, src []byte, lim limits) (*Circuit, error) {
	p := &parser{
		lim:    lim,
		name:   name,
		src:    src,
		lx:     lexer{src: src, line: 1},
		regs:   map[string]*regInfo{},
		defs:   map[string]gateSig{},
		budget: lim.work + lim.workPerByte*len(src),
		names:  map[string]string{},
		pairs:  map[uint64]int{},
		wide:   map[uint64]int{},
		c: &Circuit{
			Name:       name,
			GateDefs:   map[string]int{},
			OpaqueDefs: map[string]int{},
		},
	}
	// A UTF-8 byte order mark is not part of the text.
	if len(src) >= 3 && src[0] == 0xEF && src[1] == 0xBB && src[2] == 0xBF {
		p.lx.pos, p.lx.lineStart = 3, 3
	}
	if err := p.run(); err != nil {
		return nil, err
	}
	p.finish()
	return p.c, nil
}

// regInfo is a declared register.
type regInfo struct {
	name    string
	quantum bool
	size    int
	offset  int
	line    int
}

func (r *regInfo) kind() string {
	if r.quantum {
		return "qreg"
	}
	return "creg"
}

// arg is one register argument: a whole register (index -1) or an element.
type arg struct {
	reg   *regInfo
	index int
	tok   token // the register name, for errors
}

type parser struct {
	lim      limits
	name     string
	src      []byte
	lx       lexer
	tok      token
	c        *Circuit
	regs     map[string]*regInfo
	defs     map[string]gateSig // the file's gate and opaque definitions
	pairs    map[uint64]int     // 2-qubit applications per pair
	wide     map[uint64]int     // every pair of every 3+ qubit application
	work     int                // expanded work done so far
	budget   int                // the most work this source may cause
	names    map[string]string  // interned gate names
	lastReg  *regInfo           // the register found last
	lastGate struct {           // the gate looked up last
		valid, known bool
		name         string
		sig          gateSig
	}
	statements int // top-level statements parsed so far
	args       []arg
	flat       []int
	sorted     []int
}

// run parses the top-level statements up to the end of the source.
func (p *parser) run() error {
	if err := p.advance(); err != nil {
		return err
	}
	for p.tok.kind != tEOF {
		if err := p.statement(); err != nil {
			return err
		}
		p.statements++
	}
	return nil
}

// advance moves to the next token.
func (p *parser) advance() error {
	if lerr := p.lx.next(&p.tok); lerr != nil {
		return &Error{File: p.name, Line: lerr.line, Col: p.column(lerr.lineStart, lerr.pos), Msg: lerr.msg}
	}
	return nil
}

func (p *parser) column(lineStart, pos int) int {
	return utf8.RuneCount(p.src[lineStart:pos]) + 1
}

// errorAt returns an *Error at token t.
func (p *parser) errorAt(t token, format string, a ...any) error {
	return &Error{File: p.name, Line: t.line, Col: p.column(t.lineStart, t.start), Msg: fmt.Sprintf(format, a...)}
}

// intern returns the text of t, allocating it only the first time it is
// seen (gate names repeat on every line).
func (p *parser) intern(t token) string {
	b := p.src[t.start:t.end]
	if s, ok := p.names[string(b)]; ok {
		return s
	}
	s := string(b)
	p.names[s] = s
	return s
}

// lookupReg returns the register named by t, or nil. Consecutive arguments
// usually name the same register, so the last one found is tried first.
func (p *parser) lookupReg(t token) *regInfo {
	b := p.src[t.start:t.end]
	if p.lastReg != nil && string(b) == p.lastReg.name {
		return p.lastReg
	}
	r := p.regs[string(b)]
	if r != nil {
		p.lastReg = r
	}
	return r
}

// text returns the source text of t.
func (p *parser) text(t token) string { return string(p.src[t.start:t.end]) }

// is reports whether the current token is the punctuation ch.
func (p *parser) is(ch byte) bool { return p.tok.kind == tPunct && p.tok.ch == ch }

// describe names a token for an error message.
func (p *parser) describe(t token) string {
	s := p.src[t.start:t.end]
	if len(s) > 40 {
		s = append(append([]byte{}, s[:37]...), "..."...)
	}
	switch t.kind {
	case tEOF:
		return "end of file"
	case tIdent:
		return "name " + strconv.Quote(string(s))
	case tInt, tReal:
		return "number " + string(s)
	case tString:
		return "string " + string(s)
	default:
		return "'" + string(s) + "'"
	}
}

// expect consumes the punctuation ch or fails with "expected 'ch' what".
func (p *parser) expect(ch byte, what string) error {
	if !p.is(ch) {
		return p.errorAt(p.tok, "expected '%c' %s, found %s", ch, what, p.describe(p.tok))
	}
	return p.advance()
}

// end consumes the ';' that ends the statement started by start.
func (p *parser) end(start token, what string) error {
	if p.is(';') {
		return p.advance()
	}
	return p.errorAt(p.tok, "expected ';' to end the %s statement started at line %d, found %s%s",
		what, start.line, p.describe(p.tok), p.missingSemicolonHint(start))
}

// missingSemicolonHint suggests a missing ';' when the unexpected token is on
// a later line than the statement's start.
func (p *parser) missingSemicolonHint(start token) string {
	if p.tok.kind != tEOF && p.tok.line > start.line {
		return " (missing ';'?)"
	}
	return ""
}

// statement parses one top-level statement.
func (p *parser) statement() error {
	t := p.tok
	if t.kind != tIdent {
		if p.is(';') {
			return p.errorAt(t, "empty statement (stray ';')")
		}
		return p.errorAt(t, "expected a statement, found %s", p.describe(t))
	}
	switch string(p.src[t.start:t.end]) {
	case "OPENQASM":
		return p.header()
	case "include":
		return p.include()
	case "qreg":
		return p.register(true)
	case "creg":
		return p.register(false)
	case "gate":
		return p.gateDef(false)
	case "opaque":
		return p.gateDef(true)
	case "barrier":
		return p.barrier()
	case "measure":
		return p.measure()
	case "reset":
		return p.reset()
	case "if":
		return p.conditional()
	default:
		return p.application()
	}
}

// header parses "OPENQASM 2.0;".
func (p *parser) header() error {
	start := p.tok
	if p.statements > 0 {
		return p.errorAt(start, "the OPENQASM header must be the first statement of the file")
	}
	if err := p.advance(); err != nil {
		return err
	}
	v := p.tok
	if v.kind != tInt && v.kind != tReal {
		return p.errorAt(v, "expected a version number after OPENQASM, found %s", p.describe(v))
	}
	ver := p.text(v)
	major := ver
	for i := 0; i < len(ver); i++ {
		if ver[i] == '.' {
			major = ver[:i]
			break
		}
	}
	switch {
	case ver == "2.0" || ver == "2":
	case major == "3":
		return p.errorAt(v, "OpenQASM %s is not supported: this parser reads OpenQASM 2.0", ver)
	default:
		return p.errorAt(v, "unsupported OpenQASM version %s: this parser reads OpenQASM 2.0", ver)
	}
	p.c.Version = ver
	if err := p.advance(); err != nil {
		return err
	}
	return p.end(start, "OPENQASM")
}

// include parses `include "file";`, a no-op: the file is not opened.
func (p *parser) include() error {
	start := p.tok
	if err := p.advance(); err != nil {
		return err
	}
	if p.tok.kind != tString {
		return p.errorAt(p.tok, "expected a quoted file name after include, found %s", p.describe(p.tok))
	}
	p.c.Includes = append(p.c.Includes, string(p.src[p.tok.start+1:p.tok.end-1]))
	if err := p.advance(); err != nil {
		return err
	}
	return p.end(start, "include")
}

// declaration reads a declaring keyword (qreg, creg, gate, opaque) and the
// name after it, which must be an identifier and not a keyword; what says
// what the name names, for errors.
func (p *parser) declaration(what string) (start token, kw string, nt token, name string, err error) {
	start = p.tok
	kw = p.text(start)
	if err = p.advance(); err != nil {
		return
	}
	nt = p.tok
	if nt.kind != tIdent {
		err = p.errorAt(nt, "expected a %s name after %s, found %s", what, kw, p.describe(nt))
		return
	}
	name = p.text(nt)
	if keywords[name] {
		err = p.errorAt(nt, "%s is a keyword and cannot name a %s", name, what)
	}
	return
}

// register parses "qreg name[size];" or "creg name[size];".
func (p *parser) register(quantum bool) error {
	start, kw, nt, name, err := p.declaration("register")
	if err != nil {
		return err
	}
	if old, dup := p.regs[name]; dup {
		return p.errorAt(nt, "duplicate register %s: already declared as %s at line %d", name, old.kind(), old.line)
	}
	if err := p.advance(); err != nil {
		return err
	}
	if err := p.expect('[', "after the register name "+name); err != nil {
		return err
	}
	st := p.tok
	if st.kind != tInt {
		return p.errorAt(st, "expected the size of register %s (an integer), found %s", name, p.describe(st))
	}
	used, limit, unit, lname := p.c.Qubits, p.lim.qubits, "qubits", "circuit.MaxQubits"
	if !quantum {
		used, limit, unit, lname = p.c.Clbits, p.lim.clbits, "classical bits", "circuit.MaxClbits"
	}
	size, ok := parseUint(p.src[st.start:st.end], limit-used)
	if !ok {
		return p.errorAt(st, "%s %s[%s] would bring the circuit to more than %d %s (the limit, %s)",
			kw, name, p.text(st), limit, unit, lname)
	}
	if size == 0 {
		return p.errorAt(st, "register %s has size 0; a register needs at least 1 element", name)
	}
	if err := p.advance(); err != nil {
		return err
	}
	if err := p.expect(']', "after the size of register "+name); err != nil {
		return err
	}
	if err := p.end(start, kw); err != nil {
		return err
	}
	r := &regInfo{name: name, quantum: quantum, size: size, line: nt.line}
	if quantum {
		r.offset = p.c.Qubits
		p.c.Qubits += size
		p.c.Registers = append(p.c.Registers, Register{Name: name, Size: size, Offset: r.offset, Line: r.line})
		p.c.OneQ = append(p.c.OneQ, make([]int, size)...)
		p.c.Measured = append(p.c.Measured, make([]bool, size)...)
	} else {
		r.offset = p.c.Clbits
		p.c.Clbits += size
		p.c.ClassicalRegisters = append(p.c.ClassicalRegisters, Register{Name: name, Size: size, Offset: r.offset, Line: r.line})
	}
	p.regs[name] = r
	return nil
}

// parseUint parses decimal digits; ok is false when the value exceeds limit.
func parseUint(b []byte, limit int) (v int, ok bool) {
	for _, c := range b {
		v = v*10 + int(c-'0')
		if v > limit {
			return 0, false
		}
	}
	return v, true
}

// gateDef parses a gate definition "gate name(params) a,b { body }" or an
// opaque declaration "opaque name(params) a,b;". Bodies are checked but add
// nothing to the counts.
func (p *parser) gateDef(opaque bool) error {
	start, kw, nt, name, err := p.declaration("gate")
	if err != nil {
		return err
	}
	if b, ok := builtins[name]; ok && b.origin == "built-in" {
		return p.errorAt(nt, "cannot redefine the built-in gate %s", name)
	}
	if old, dup := p.defs[name]; dup {
		return p.errorAt(nt, "gate %s already defined (%s) at line %d", name, old.origin, old.line)
	}
	if err := p.advance(); err != nil {
		return err
	}
	// formals: 1 = parameter, 2 = qubit argument.
	formals := map[string]int{}
	nparams := 0
	if p.is('(') {
		if err := p.advance(); err != nil {
			return err
		}
		if !p.is(')') {
			for {
				if p.tok.kind != tIdent {
					return p.errorAt(p.tok, "expected a parameter name in the definition of %s, found %s", name, p.describe(p.tok))
				}
				pn := p.text(p.tok)
				if formals[pn] != 0 {
					return p.errorAt(p.tok, "parameter %s of gate %s declared twice", pn, name)
				}
				formals[pn] = 1
				nparams++
				if err := p.advance(); err != nil {
					return err
				}
				if !p.is(',') {
					break
				}
				if err := p.advance(); err != nil {
					return err
				}
			}
		}
		if err := p.expect(')', "to close the parameter list of gate "+name); err != nil {
			return err
		}
	}
	nqubits := 0
	for {
		if p.tok.kind != tIdent {
			return p.errorAt(p.tok, "expected a qubit argument name in the definition of %s, found %s", name, p.describe(p.tok))
		}
		an := p.text(p.tok)
		switch formals[an] {
		case 1:
			return p.errorAt(p.tok, "%s of gate %s is both a parameter and a qubit argument", an, name)
		case 2:
			return p.errorAt(p.tok, "qubit argument %s of gate %s declared twice", an, name)
		}
		formals[an] = 2
		nqubits++
		if err := p.advance(); err != nil {
			return err
		}
		if !p.is(',') {
			break
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
	sig := gateSig{qubits: nqubits, params: nparams, line: nt.line, origin: kw}
	if opaque {
		if err := p.end(start, "opaque"); err != nil {
			return err
		}
		p.defs[name] = sig
		p.lastGate.valid = false
		p.c.OpaqueDefs[name] = nqubits
		return nil
	}
	if !p.is('{') {
		return p.errorAt(p.tok, "expected '{' to open the body of gate %s, found %s", name, p.describe(p.tok))
	}
	if err := p.body(name, p.tok, formals); err != nil {
		return err
	}
	p.defs[name] = sig
	p.lastGate.valid = false
	p.c.GateDefs[name] = nqubits
	p.c.CustomGates = true
	return nil
}

// body parses a gate body from its '{' to the matching '}'. It holds gate
// calls and barriers on the gate's qubit arguments.
func (p *parser) body(gate string, open token, formals map[string]int) error {
	if err := p.advance(); err != nil {
		return err
	}
	var names []string
	for {
		t := p.tok
		switch {
		case t.kind == tEOF:
			return p.errorAt(open, "the body of gate %s is not closed: '{' here has no matching '}'", gate)
		case p.is('}'):
			return p.advance()
		case t.kind != tIdent:
			return p.errorAt(t, "expected a gate call or '}' in the body of gate %s, found %s", gate, p.describe(t))
		}
		word := p.text(t)
		isBarrier := word == "barrier"
		if keywords[word] && !isBarrier {
			return p.errorAt(t, "%s is not allowed in the body of gate %s (only gate calls and barrier)", word, gate)
		}
		if word == gate {
			return p.errorAt(t, "gate %s calls itself", gate)
		}
		if err := p.advance(); err != nil {
			return err
		}
		nparams := -1
		if !isBarrier && p.is('(') {
			n, err := p.params(formals)
			if err != nil {
				return err
			}
			nparams = n
		}
		names = names[:0]
		for {
			at := p.tok
			if at.kind != tIdent {
				return p.errorAt(at, "expected a qubit argument of gate %s after %s, found %s", gate, word, p.describe(at))
			}
			an := p.text(at)
			switch formals[an] {
			case 0:
				return p.errorAt(at, "%s is not a qubit argument of gate %s", an, gate)
			case 1:
				return p.errorAt(at, "%s is a parameter of gate %s, not a qubit argument", an, gate)
			}
			if !isBarrier && slices.Contains(names, an) {
				return p.errorAt(at, "qubit %s appears twice in one application of %s", an, word)
			}
			names = append(names, an)
			if err := p.advance(); err != nil {
				return err
			}
			if p.is('[') {
				return p.errorAt(p.tok, "qubit arguments cannot be indexed inside the body of gate %s", gate)
			}
			if !p.is(',') {
				break
			}
			if err := p.advance(); err != nil {
				return err
			}
		}
		if !p.is(';') {
			return p.errorAt(p.tok, "expected ',' or ';' after the arguments of %s in the body of gate %s, found %s%s",
				word, gate, p.describe(p.tok), p.missingSemicolonHint(t))
		}
		if err := p.advance(); err != nil {
			return err
		}
		if !isBarrier {
			if err := p.checkSig(t, word, len(names), nparams); err != nil {
				return err
			}
		}
	}
}

// params skips a balanced parameter list starting at '(' and returns the
// number of parameters. Expressions are checked token by token (numbers,
// pi, sin/cos/tan/exp/ln/sqrt, the enclosing gate's parameters, operators and
// parentheses) but not evaluated.
func (p *parser) params(formals map[string]int) (int, error) {
	open := p.tok
	if err := p.advance(); err != nil {
		return 0, err
	}
	depth, items, afterSep := 1, 0, true
	for {
		t := p.tok
		switch t.kind {
		case tEOF:
			return 0, p.errorAt(open, "unbalanced '(': the parameter list is not closed")
		case tInt, tReal:
		case tIdent:
			id := p.src[t.start:t.end]
			if string(id) != "pi" && !exprNames[string(id)] && formals[string(id)] != 1 {
				return 0, p.errorAt(t, "unknown name %s in a parameter expression (allowed: numbers, pi, sin, cos, tan, exp, ln, sqrt and the gate's parameters)", id)
			}
		case tPunct:
			switch t.ch {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					if afterSep && items > 0 {
						return 0, p.errorAt(t, "empty parameter after ','")
					}
					if !afterSep {
						items++
					}
					return items, p.advance()
				}
			case ',':
				if depth != 1 {
					return 0, p.errorAt(t, "unexpected ',' inside parentheses of a parameter expression")
				}
				if afterSep {
					return 0, p.errorAt(t, "empty parameter before ','")
				}
				items++
				afterSep = true
				if err := p.advance(); err != nil {
					return 0, err
				}
				continue
			case '+', '-', '*', '/', '^':
			default:
				return 0, p.errorAt(t, "unexpected %s in the parameter list opened at line %d column %d (unbalanced parentheses?)",
					p.describe(t), open.line, p.column(open.lineStart, open.start))
			}
		default:
			return 0, p.errorAt(t, "unexpected %s in a parameter expression", p.describe(t))
		}
		afterSep = false
		if err := p.advance(); err != nil {
			return 0, err
		}
	}
}

// checkSig checks a call of gate name with nq qubits and np parameters (-1:
// no parameter list) against the file's definitions, the built-ins and
// qelib1.inc. Unknown names are accepted.
func (p *parser) checkSig(at token, name string, nq, np int) error {
	sig, ok := p.lookupGate(name)
	if !ok {
		return nil
	}
	if sig.qubits != nq {
		where := sig.origin
		if sig.line > 0 {
			where = fmt.Sprintf("%s at line %d", sig.origin, sig.line)
		}
		return p.errorAt(at, "%s takes %d qubit argument%s (%s), got %d", name, sig.qubits, plural(sig.qubits), where, nq)
	}
	if np < 0 {
		np = 0
	}
	if sig.params >= 0 && sig.params != np {
		return p.errorAt(at, "%s takes %d parameter%s, got %d", name, sig.params, plural(sig.params), np)
	}
	return nil
}

// lookupGate returns what is known about gate name: the file's definition,
// else the built-in or qelib1.inc one. The last answer is cached; a new
// definition clears the cache.
func (p *parser) lookupGate(name string) (gateSig, bool) {
	if p.lastGate.valid && name == p.lastGate.name {
		return p.lastGate.sig, p.lastGate.known
	}
	sig, ok := p.defs[name]
	if !ok {
		sig, ok = builtins[name]
	}
	p.lastGate.valid, p.lastGate.name, p.lastGate.sig, p.lastGate.known = true, name, sig, ok
	return sig, ok
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// arg parses one register argument "name" or "name[index]" that must be a
// quantum (or classical) register. With undeclaredOK, a register that is not
// declared yields an arg with a nil reg (its index is not range-checked).
func (p *parser) arg(quantum bool, what string, undeclaredOK bool) (arg, error) {
	t := p.tok
	want := "qubit"
	if !quantum {
		want = "classical bit"
	}
	if t.kind != tIdent {
		return arg{}, p.errorAt(t, "expected a %s argument of %s (register or register[index]), found %s", want, what, p.describe(t))
	}
	r := p.lookupReg(t)
	switch {
	case r == nil && !undeclaredOK:
		return arg{}, p.errorAt(t, "undeclared register %s in %s", p.text(t), what)
	case r != nil && r.quantum != quantum:
		return arg{}, p.errorAt(t, "%s is a %s, but %s needs a %s here", r.name, r.kind(), what, want)
	}
	if err := p.advance(); err != nil {
		return arg{}, err
	}
	a := arg{reg: r, index: -1, tok: t}
	if !p.is('[') {
		return a, nil
	}
	if err := p.advance(); err != nil {
		return arg{}, err
	}
	it := p.tok
	name := ""
	if r != nil {
		name = r.name
	} else {
		name = p.text(t)
	}
	if it.kind != tInt {
		return arg{}, p.errorAt(it, "expected an integer index into %s, found %s", name, p.describe(it))
	}
	limit := MaxQubits
	if r != nil {
		limit = r.size - 1
	}
	idx, ok := parseUint(p.src[it.start:it.end], limit)
	if !ok {
		if r == nil {
			return arg{}, p.errorAt(it, "index %s into %s is out of range", p.text(it), name)
		}
		return arg{}, p.errorAt(it, "index %s out of range: %s %s has %d element%s (0..%d)",
			p.text(it), r.kind(), r.name, r.size, plural(r.size), r.size-1)
	}
	a.index = idx
	if err := p.advance(); err != nil {
		return arg{}, err
	}
	if !p.is(']') {
		return arg{}, p.errorAt(p.tok, "expected ']' after the index into %s, found %s", name, p.describe(p.tok))
	}
	return a, p.advance()
}

// qargs parses a comma-separated list of qubit arguments ending with ';'
// (consumed) into p.args.
func (p *parser) qargs(start token, what string) error {
	p.args = p.args[:0]
	for {
		a, err := p.arg(true, what, false)
		if err != nil {
			return err
		}
		p.args = append(p.args, a)
		if p.is(';') {
			return p.advance()
		}
		if !p.is(',') {
			return p.errorAt(p.tok, "expected ',' or ';' after the argument %s of %s, found %s%s",
				p.text(a.tok), what, p.describe(p.tok), p.missingSemicolonHint(start))
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
}

// spend charges n element-wise operations of cost per against the budget.
func (p *parser) spend(at token, n, per int) error {
	if per > p.budget || n > (p.budget-p.work)/per {
		return p.errorAt(at, "circuit too large: this statement brings the expanded work past %d operations (the limit for %d bytes of source, circuit.MaxWork + circuit.WorkPerByte per byte)",
			p.budget, len(p.src))
	}
	p.work += n * per
	return nil
}

// broadcast returns the number of element-wise applications of args: the
// common size of the whole-register arguments, or 1.
func (p *parser) broadcast(what string, args []arg) (int, error) {
	n, first := 1, -1
	for i := range args {
		a := &args[i]
		if a.index >= 0 {
			continue
		}
		if first < 0 {
			first, n = i, a.reg.size
			continue
		}
		if a.reg.size != n {
			f := args[first].reg
			return 0, p.errorAt(a.tok, "broadcast size mismatch in %s: register %s has %d element%s but %s has %d",
				what, f.name, f.size, plural(f.size), a.reg.name, a.reg.size)
		}
	}
	return n, nil
}

// application parses a gate application "name(params) args;" and counts it.
func (p *parser) application() error {
	nt := p.tok
	name := p.intern(nt)
	if err := p.advance(); err != nil {
		return err
	}
	np := -1
	if p.is('(') {
		n, err := p.params(nil)
		if err != nil {
			return err
		}
		np = n
	}
	if p.is('[') {
		return p.errorAt(p.tok, "unexpected '[' after %s: OpenQASM 3 declarations such as qubit[2] q; are not supported (this parser reads OpenQASM 2.0)", name)
	}
	if err := p.qargs(nt, name); err != nil {
		return err
	}
	if err := p.checkSig(nt, name, len(p.args), np); err != nil {
		return err
	}
	return p.apply(nt, name, p.args)
}

// apply counts the element-wise applications of gate name on args.
func (p *parser) apply(nt token, name string, args []arg) error {
	n, err := p.broadcast(name, args)
	if err != nil {
		return err
	}
	k := len(args)
	if err := p.spend(nt, n, k+k*(k-1)/2); err != nil {
		return err
	}
	c := p.c
	for e := 0; e < n; e++ {
		flat := p.flat[:0]
		for i := range args {
			idx := args[i].index
			if idx < 0 {
				idx = e
			}
			flat = append(flat, args[i].reg.offset+idx)
		}
		p.flat = flat
		if j := p.repeated(flat); j >= 0 {
			return p.errorAt(args[j].tok, "qubit %s appears twice in one application of %s", c.QubitName(flat[j]), name)
		}
		switch k {
		case 1:
			c.OneQGates++
			c.OneQ[flat[0]]++
			continue
		case 2:
			c.TwoQGates++
			p.pairs[pairKey(flat[0], flat[1])]++
			if len(p.pairs) > p.lim.pairs {
				return p.errorAt(nt, "circuit too large: more than %d distinct qubit pairs (the limit, circuit.MaxPairs)", p.lim.pairs)
			}
			continue
		case 3:
			c.ThreeQGates++
		default:
			c.ManyQGates++
		}
		for i := 0; i < k; i++ {
			for j := i + 1; j < k; j++ {
				p.wide[pairKey(flat[i], flat[j])]++
			}
			if len(p.wide) > p.lim.pairs {
				return p.errorAt(nt, "circuit too large: more than %d distinct qubit pairs in 3-qubit and wider applications (the limit, circuit.MaxPairs)", p.lim.pairs)
			}
		}
	}
	return nil
}

// repeated returns the position of the second occurrence of a qubit that
// appears twice in flat, or -1.
func (p *parser) repeated(flat []int) int {
	if len(flat) <= 16 {
		for j := 1; j < len(flat); j++ {
			for i := 0; i < j; i++ {
				if flat[i] == flat[j] {
					return j
				}
			}
		}
		return -1
	}
	p.sorted = append(p.sorted[:0], flat...)
	slices.Sort(p.sorted)
	for i := 1; i < len(p.sorted); i++ {
		if p.sorted[i] == p.sorted[i-1] {
			q := p.sorted[i]
			first := slices.Index(flat, q)
			return first + 1 + slices.Index(flat[first+1:], q)
		}
	}
	return -1
}

func pairKey(a, b int) uint64 {
	if a > b {
		a, b = b, a
	}
	return uint64(a)<<32 | uint64(b)
}

// barrier parses "barrier args;": checked, never counted.
func (p *parser) barrier() error {
	start := p.tok
	if err := p.advance(); err != nil {
		return err
	}
	if err := p.qargs(start, "barrier"); err != nil {
		return err
	}
	return p.spend(start, 1, len(p.args))
}

// measure parses "measure q -> c;" (both whole registers of equal size or
// both elements) and marks the qubits measured.
//
// A measure that names an undeclared register is not an error but a
// warning: measurement does not change the interaction graph, and real
// benchmark files carry this mistake (QASMBench's vqe_uccsd_n6 declares only
// reg but measures q into c). If the qubit register is undeclared the
// statement is skipped; if only the classical one is, the qubits still count
// as measured.
func (p *parser) measure() error {
	start := p.tok
	if err := p.advance(); err != nil {
		return err
	}
	q, err := p.arg(true, "measure", true)
	if err != nil {
		return err
	}
	if p.tok.kind != tArrow {
		return p.errorAt(p.tok, "expected '->' after the measured qubit, found %s", p.describe(p.tok))
	}
	if err := p.advance(); err != nil {
		return err
	}
	cl, err := p.arg(false, "measure", true)
	if err != nil {
		return err
	}
	if err := p.end(start, "measure"); err != nil {
		return err
	}
	if (q.index < 0) != (cl.index < 0) {
		return p.errorAt(start, "measure: %s and %s must both be whole registers or both be indexed", p.text(q.tok), p.text(cl.tok))
	}
	switch {
	case q.reg == nil:
		p.warn(q.tok, "measure of undeclared register %s skipped", p.text(q.tok))
		return nil
	case cl.reg == nil:
		p.warn(cl.tok, "measure into undeclared register %s: the qubits count as measured", p.text(cl.tok))
	}
	n := 1
	if q.index < 0 {
		n = q.reg.size
		if cl.reg != nil && q.reg.size != cl.reg.size {
			return p.errorAt(cl.tok, "measure: register sizes differ: qreg %s has %d qubit%s, creg %s has %d bit%s",
				q.reg.name, q.reg.size, plural(q.reg.size), cl.reg.name, cl.reg.size, plural(cl.reg.size))
		}
	}
	if err := p.spend(start, n, 1); err != nil {
		return err
	}
	for e := 0; e < n; e++ {
		idx := q.index
		if idx < 0 {
			idx = e
		}
		p.c.Measured[q.reg.offset+idx] = true
	}
	p.c.Measurements += n
	return nil
}

// warn records a warning at t; after MaxWarnings it only counts them.
func (p *parser) warn(t token, format string, a ...any) {
	p.c.WarningCount++
	if len(p.c.Warnings) < MaxWarnings {
		p.c.Warnings = append(p.c.Warnings, p.errorAt(t, format, a...).(*Error))
	}
}

// reset parses "reset q;" or "reset q[i];".
func (p *parser) reset() error {
	start := p.tok
	if err := p.advance(); err != nil {
		return err
	}
	q, err := p.arg(true, "reset", false)
	if err != nil {
		return err
	}
	if err := p.end(start, "reset"); err != nil {
		return err
	}
	n := 1
	if q.index < 0 {
		n = q.reg.size
	}
	if err := p.spend(start, n, 1); err != nil {
		return err
	}
	p.c.Resets += n
	return nil
}

// conditional parses "if(creg==N) op;" where op is a gate application,
// measure or reset. N is any non-negative decimal integer literal, however
// long; it is checked and kept as text, never converted to a fixed-width
// integer.
func (p *parser) conditional() error {
	start := p.tok
	if err := p.advance(); err != nil {
		return err
	}
	if !p.is('(') {
		return p.errorAt(p.tok, "if: expected '(' after if, found %s", p.describe(p.tok))
	}
	if err := p.advance(); err != nil {
		return err
	}
	ct := p.tok
	if ct.kind != tIdent {
		return p.errorAt(ct, "if: expected a creg name, found %s", p.describe(ct))
	}
	r := p.regs[string(p.src[ct.start:ct.end])]
	switch {
	case r == nil:
		return p.errorAt(ct, "if: undeclared register %s", p.text(ct))
	case r.quantum:
		return p.errorAt(ct, "if: %s is a qreg; a condition compares a creg", r.name)
	}
	if err := p.advance(); err != nil {
		return err
	}
	if p.is('[') {
		return p.errorAt(p.tok, "if: OpenQASM 2.0 compares a whole creg (if(%s==N)), not one bit", r.name)
	}
	if p.tok.kind != tEqEq {
		return p.errorAt(p.tok, "if: expected '==' after %s, found %s", r.name, p.describe(p.tok))
	}
	if err := p.advance(); err != nil {
		return err
	}
	if p.tok.kind != tInt {
		return p.errorAt(p.tok, "if: expected a non-negative integer literal after '==', found %s", p.describe(p.tok))
	}
	value := p.src[p.tok.start:p.tok.end]
	for len(value) > 1 && value[0] == '0' {
		value = value[1:]
	}
	cond := Condition{Register: r.name, Value: string(value), Line: start.line}
	if err := p.advance(); err != nil {
		return err
	}
	if !p.is(')') {
		return p.errorAt(p.tok, "if: expected ')' after the value, found %s", p.describe(p.tok))
	}
	if err := p.advance(); err != nil {
		return err
	}
	op := p.tok
	if op.kind != tIdent {
		return p.errorAt(op, "if: expected a gate, measure or reset after the condition, found %s", p.describe(op))
	}
	var err error
	switch word := p.text(op); {
	case word == "measure":
		err = p.measure()
	case word == "reset":
		err = p.reset()
	case keywords[word]:
		return p.errorAt(op, "if: %s cannot be conditional (only a gate, measure or reset)", word)
	default:
		err = p.application()
	}
	if err != nil {
		return err
	}
	p.c.Conditions = append(p.c.Conditions, cond)
	p.c.Conditionals++
	return nil
}

// finish turns the pair maps into sorted slices; the clique graph is the
// union of the 2-qubit pairs and the pairs of wider applications.
func (p *parser) finish() {
	p.c.Pairs = sortedPairs(p.pairs)
	for k, n := range p.pairs {
		p.wide[k] += n
	}
	p.c.Clique = sortedPairs(p.wide)
	p.c.CliquePairs = len(p.c.Clique)
}

func sortedPairs(m map[uint64]int) []Pair {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]Pair, len(keys))
	for i, k := range keys {
		out[i] = Pair{A: int(k >> 32), B: int(k & 0xffffffff), Count: m[k]}
	}
	return out
}
