package circuit

import (
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, src string) *Circuit {
	t.Helper()
	c, err := Parse("t.qasm", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v\nsource:\n%s", err, src)
	}
	checkInvariants(t, c)
	return c
}

func pairs(ps ...[3]int) []Pair {
	out := make([]Pair, len(ps))
	for i, p := range ps {
		out[i] = Pair{A: p[0], B: p[1], Count: p[2]}
	}
	return out
}

func wantPairs(t *testing.T, c *Circuit, want []Pair) {
	t.Helper()
	if len(want) == 0 && len(c.Pairs) == 0 {
		return
	}
	if !reflect.DeepEqual(c.Pairs, want) {
		t.Errorf("Pairs = %v, want %v", c.Pairs, want)
	}
}

func wantCounts(t *testing.T, c *Circuit, one, two, three, many int) {
	t.Helper()
	if c.OneQGates != one || c.TwoQGates != two || c.ThreeQGates != three || c.ManyQGates != many {
		t.Errorf("1q/2q/3q/4q+ = %d/%d/%d/%d, want %d/%d/%d/%d",
			c.OneQGates, c.TwoQGates, c.ThreeQGates, c.ManyQGates, one, two, three, many)
	}
}

const hdr = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n"

func TestMultiQubitBroadcast(t *testing.T) {
	c := mustParse(t, hdr+"qreg q[3];\nqreg r[3];\ncx q,r;\n")
	wantCounts(t, c, 0, 3, 0, 0)
	wantPairs(t, c, pairs([3]int{0, 3, 1}, [3]int{1, 4, 1}, [3]int{2, 5, 1}))
	if c.Qubits != 6 || c.NumPairs() != 3 || c.CliquePairs != 3 {
		t.Errorf("Qubits %d, pairs %d, clique pairs %d", c.Qubits, c.NumPairs(), c.CliquePairs)
	}

	// An indexed argument is repeated against the whole register.
	c = mustParse(t, hdr+"qreg q[1];\nqreg r[3];\ncx q[0], r;\ncx r,q[0];\n")
	wantCounts(t, c, 0, 6, 0, 0)
	wantPairs(t, c, pairs([3]int{0, 1, 2}, [3]int{0, 2, 2}, [3]int{0, 3, 2}))

	// Three whole registers: ccx broadcast element-wise.
	c = mustParse(t, hdr+"qreg a[2];qreg b[2];qreg c[2];\nccx a,b,c;\n")
	wantCounts(t, c, 0, 0, 2, 0)
	if !reflect.DeepEqual(c.Clique, pairs(
		[3]int{0, 2, 1}, [3]int{0, 4, 1}, [3]int{1, 3, 1}, [3]int{1, 5, 1}, [3]int{2, 4, 1}, [3]int{3, 5, 1})) {
		t.Errorf("Clique = %v", c.Clique)
	}

	// One-qubit broadcast.
	c = mustParse(t, hdr+"qreg q[4];\nh q;\nx q[2];\n")
	wantCounts(t, c, 5, 0, 0, 0)
	if !reflect.DeepEqual(c.OneQ, []int{1, 1, 2, 1}) {
		t.Errorf("OneQ = %v", c.OneQ)
	}
}

func TestConditionals(t *testing.T) {
	c := mustParse(t, hdr+"qreg q[2];\ncreg c[4];\n"+
		"if(c==1267650600228229401496703205376) x q[0];\n"+ // 2^100
		"if ( c == 000000000000000000000000000000000000000000000000000000000001 ) cx q[0],q[1];\n"+
		"if(c==2147483648) u1(-pi/2) q[1];\n"+
		"if(c==0) measure q[0] -> c[0];\n"+
		"if(c==3) reset q;\n"+
		"if(c==1) cx q[1],q[0];\n")
	wantCounts(t, c, 2, 2, 0, 0)
	wantPairs(t, c, pairs([3]int{0, 1, 2}))
	two100 := new(big.Int).Lsh(big.NewInt(1), 100)
	if len(c.Conditions) != 6 || c.Conditions[0] != (Condition{Register: "c", Value: two100.String(), Line: 5}) ||
		c.Conditions[1].Value != "1" || c.Conditions[2].Value != "2147483648" || c.Conditions[3].Value != "0" {
		t.Errorf("Conditions = %+v", c.Conditions)
	}
	if c.Conditionals != 6 || c.Resets != 2 || c.Measurements != 1 || !c.Measured[0] || c.Measured[1] {
		t.Errorf("Conditionals %d, Resets %d, Measurements %d, Measured %v", c.Conditionals, c.Resets, c.Measurements, c.Measured)
	}
}

func TestLineEndingsAndComments(t *testing.T) {
	crlf := "// CRLF file\r\nOPENQASM 2.0;\r\ninclude \"qelib1.inc\";\r\nqreg q[3];\r\ncreg c[3];\r\ncx q[0],q[1];\r\ncx q[1],q[2];\r\nmeasure q -> c;\r\n"
	c := mustParse(t, crlf)
	wantPairs(t, c, pairs([3]int{0, 1, 1}, [3]int{1, 2, 1}))
	// Line numbers count CRLF lines once.
	_, err := Parse("t.qasm", []byte(strings.Replace(crlf, "cx q[1],q[2];", "cx q[1],q[7];", 1)))
	wantErr(t, err, "t.qasm:7:11:", "index 7 out of range")

	utf := "// Schrödinger's cat: ∑ ψ 🐱 — ünïcödé\n" + hdr +
		"qreg q[2]; // régistre → 2 qubits ✓\n" +
		"h q[0]; cx q[0],q[1]; // 量子\n" +
		"x q[1]; // ends without newline: ∞"
	c = mustParse(t, utf)
	wantCounts(t, c, 2, 1, 0, 0)
	// Non-ASCII outside a comment is an error; the column counts characters.
	_, err = Parse("t.qasm", []byte("qreg q[1]; // é\nh q[0]; é\n"))
	wantErr(t, err, "t.qasm:2:9:", "unexpected character", "U+00E9")

	// A UTF-8 byte order mark is skipped.
	c = mustParse(t, "\xEF\xBB\xBF"+hdr+"qreg q[2];\ncz q[1],q[0];\n")
	wantPairs(t, c, pairs([3]int{0, 1, 1}))
}

func TestHeaderAndIncludes(t *testing.T) {
	c := mustParse(t, "// no header\ninclude \"qelib1.inc\";\nqreg q[2];\ncx q[0],q[1];\n")
	if c.Version != "" || c.Qubits != 2 || c.TwoQGates != 1 {
		t.Errorf("header-less: Version %q, Qubits %d, 2q %d", c.Version, c.Qubits, c.TwoQGates)
	}
	c = mustParse(t, "qreg q[1];\nx q[0];\n")
	if c.Version != "" || len(c.Includes) != 0 {
		t.Errorf("no header, no include: %q %q", c.Version, c.Includes)
	}
	// include is never opened, whatever it names.
	c = mustParse(t, "OPENQASM 2.0;\ninclude \"qelib1.inc\";\ninclude \"/nonexistent/lib.inc\";\nqreg q[1];\n")
	if c.Version != "2.0" || !reflect.DeepEqual(c.Includes, []string{"qelib1.inc", "/nonexistent/lib.inc"}) {
		t.Errorf("Version %q, Includes %q", c.Version, c.Includes)
	}
}

func TestGateDefinitions(t *testing.T) {
	src := hdr + `
gate cu1fixed (a, unused) c,t
{
  u1 (-3*pi/8) t;   cx c,t;
  u1(3*pi/8+a*0) t;
  cx c , t ;
}
gate ctu c,t { cu1fixed(0, 1) c,t; }
gate syndrome d1,d2,d3,a1,a2
{
  cx d1,a1; cx d2,a1;
  barrier d1, d2;
  cx d2,a2; cx d3,a2;
}
gate empty a { }
gate wide(theta) a,b,c { U(theta, sin(theta)/2, -ln(2)) a; CX a,b; ccx a,b,c; }
qreg q[3]; qreg anc[2];
ctu q[0],q[1]; ctu q[1] ,q[0];
syndrome q[0],q[1],q[2],anc[0],anc[1];
wide(pi) q[2],anc[0],anc[1];
empty q[2];
`
	c := mustParse(t, src)
	want := map[string]int{"cu1fixed": 2, "ctu": 2, "syndrome": 5, "empty": 1, "wide": 3}
	if !c.CustomGates || !reflect.DeepEqual(c.GateDefs, want) {
		t.Errorf("CustomGates %v, GateDefs %v, want %v", c.CustomGates, c.GateDefs, want)
	}
	// Bodies add nothing; arity comes from the call site.
	wantCounts(t, c, 1, 2, 1, 1)
	wantPairs(t, c, pairs([3]int{0, 1, 2}))
	// Clique: the 5-qubit syndrome adds all 10 pairs of q0..q2,anc0,anc1; wide adds q2-anc0-anc1.
	if c.CliquePairs != 10 {
		t.Errorf("CliquePairs = %d, want 10 (%v)", c.CliquePairs, c.Clique)
	}
	if got := c.Clique; got[0] != (Pair{0, 1, 3}) {
		t.Errorf("Clique[0] = %v, want {0 1 3}", got[0])
	}
}

func TestOpaqueAndUnknownGates(t *testing.T) {
	c := mustParse(t, hdr+"opaque magic(a) x,y;\nopaque plain z;\nqreg q[4];\n"+
		"magic(0.5) q[0],q[1];\nplain q[2];\nsx q[3];\nmygate q[0],q[1],q[2],q[3];\nfoo(1,2,3) q[3], q[2];\n")
	if c.CustomGates || len(c.GateDefs) != 0 || !reflect.DeepEqual(c.OpaqueDefs, map[string]int{"magic": 2, "plain": 1}) {
		t.Errorf("CustomGates %v, GateDefs %v, OpaqueDefs %v", c.CustomGates, c.GateDefs, c.OpaqueDefs)
	}
	wantCounts(t, c, 2, 2, 0, 1)
	wantPairs(t, c, pairs([3]int{0, 1, 1}, [3]int{2, 3, 1}))
	if c.CliquePairs != 6 {
		t.Errorf("CliquePairs = %d, want 6", c.CliquePairs)
	}
}

func TestSyntaxVariants(t *testing.T) {
	// Several statements on a line, whitespace everywhere, exponent literals,
	// empty parameter lists, built-ins U and CX.
	src := "OPENQASM 2.0; include \"qelib1.inc\"; qreg q[3]; creg c[3];\n" +
		"u1 (-3*pi/8) q[0]; rz(4.638775e+00) q[1]; rz(-1.5E-3) q[2]; rx(.5) q[0]; h() q[1];\n" +
		"cx q [ 0 ] , q [ 2 ] ;  CX q[2],q[0]; U(0, 0, pi) q[1];\n" +
		"\tcu3(pi/2,-pi/4,(1+2)*3^2) q[1],\n  q[0];\n" +
		"barrier q; barrier q[0],q[1]; reset q[0]; measure q[1] -> c[1];\n"
	c := mustParse(t, src)
	wantCounts(t, c, 6, 3, 0, 0)
	wantPairs(t, c, pairs([3]int{0, 1, 1}, [3]int{0, 2, 2}))
	if c.Resets != 1 || c.Measurements != 1 || !reflect.DeepEqual(c.MeasuredQubits(), []int{1}) {
		t.Errorf("Resets %d, Measurements %d, measured %v", c.Resets, c.Measurements, c.MeasuredQubits())
	}
}

func TestMeasureAndReset(t *testing.T) {
	c := mustParse(t, hdr+"qreg q[3];\nqreg a[2];\ncreg c[3];\ncreg syn[2];\n"+
		"measure a -> syn;\nmeasure q[2] -> c[0];\nreset q;\nreset a[1];\nbarrier q, a;\n")
	if !reflect.DeepEqual(c.Measured, []bool{false, false, true, true, true}) || c.Measurements != 3 {
		t.Errorf("Measured %v, Measurements %d", c.Measured, c.Measurements)
	}
	if c.Resets != 4 {
		t.Errorf("Resets = %d, want 4", c.Resets)
	}
	wantCounts(t, c, 0, 0, 0, 0)
	if c.Clbits != 5 || len(c.ClassicalRegisters) != 2 || c.ClassicalRegisters[1] != (Register{Name: "syn", Size: 2, Offset: 3, Line: 6}) {
		t.Errorf("Clbits %d, cregs %+v", c.Clbits, c.ClassicalRegisters)
	}
}

func TestUndeclaredMeasureWarns(t *testing.T) {
	c := mustParse(t, hdr+"qreg reg[2];\ncx reg[0],reg[1];\nmeasure q[0] -> c[0];\nmeasure reg[1] -> c[1];\nmeasure q -> c;\n")
	if c.WarningCount != 3 || len(c.Warnings) != 3 {
		t.Fatalf("warnings %d %v, want 3", c.WarningCount, c.Warnings)
	}
	if w := c.Warnings[0].Error(); w != "t.qasm:5:9: measure of undeclared register q skipped" {
		t.Errorf("warning = %q", w)
	}
	if !reflect.DeepEqual(c.Measured, []bool{false, true}) || c.Measurements != 1 {
		t.Errorf("Measured %v, Measurements %d", c.Measured, c.Measurements)
	}
	var b strings.Builder
	for i := 0; i < MaxWarnings+5; i++ {
		b.WriteString("measure x[0] -> y[0];\n")
	}
	c = mustParse(t, b.String())
	if c.WarningCount != MaxWarnings+5 || len(c.Warnings) != MaxWarnings {
		t.Errorf("WarningCount %d, kept %d", c.WarningCount, len(c.Warnings))
	}
}

func TestRegistersAndQubitNames(t *testing.T) {
	c := mustParse(t, "qreg cin[1];\nqreg a[4];\nh a[3];\nqreg b[4];\nqreg cout[1];\ncx a[3],cout[0];\n")
	want := []Register{{"cin", 1, 0, 1}, {"a", 4, 1, 2}, {"b", 4, 5, 4}, {"cout", 1, 9, 5}}
	if !reflect.DeepEqual(c.Registers, want) || c.Qubits != 10 {
		t.Errorf("Registers %+v, Qubits %d", c.Registers, c.Qubits)
	}
	wantPairs(t, c, pairs([3]int{4, 9, 1}))
	if c.OneQ[4] != 1 || c.QubitName(4) != "a[3]" || c.QubitName(9) != "cout[0]" || c.QubitName(10) != "#10" {
		t.Errorf("OneQ %v, names %s %s %s", c.OneQ, c.QubitName(4), c.QubitName(9), c.QubitName(10))
	}
	if c.PairCount(9, 4) != 1 || c.PairCount(0, 1) != 0 {
		t.Errorf("PairCount wrong")
	}
	sp := c.SortedPairs()
	sp[0].Count = 99
	if c.Pairs[0].Count != 1 {
		t.Errorf("SortedPairs does not return a copy")
	}
}

func TestEmpty(t *testing.T) {
	for _, src := range []string{"", "\n\n", "// only a comment", "OPENQASM 2.0;"} {
		c := mustParse(t, src)
		if c.Qubits != 0 || c.NumPairs() != 0 {
			t.Errorf("%q: %+v", src, c)
		}
	}
}

// wantErr checks that err is an *Error whose text contains every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Errorf("error %T is not an *Error: %v", err, err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestErrors(t *testing.T) {
	big := "qreg q[2];\nqreg r[3];\ncreg c[2];\n"
	cases := []struct {
		name, src string
		want      []string // position prefix, then parts of the message
	}{
		{"undeclared register", big + "cx q[0],s[1];", []string{"t.qasm:4:9:", "undeclared register s"}},
		{"classical as qubit", big + "x c[0];", []string{"t.qasm:4:3:", "c is a creg", "needs a qubit"}},
		{"index out of range", big + "h q[1];\nx q[2];", []string{"t.qasm:5:5:", "index 2 out of range", "qreg q has 2 elements (0..1)"}},
		{"huge index", big + "x r[99999999999999999999999999];", []string{"t.qasm:4:5:", "out of range"}},
		{"duplicate register", big + "creg q[2];", []string{"t.qasm:4:6:", "duplicate register q", "qreg at line 1"}},
		{"repeated qubit", big + "cx q[1], q[1];", []string{"t.qasm:4:10:", "qubit q[1] appears twice in one application of cx"}},
		{"repeated qubit by broadcast", big + "cx q, q[1];", []string{"t.qasm:4:7:", "qubit q[1] appears twice"}},
		{"repeated qubit wide", big + "qreg w[20];\nfoo w[0],w[1],w[2],w[3],w[4],w[5],w[6],w[7],w[8],w[9],w[10],w[11],w[12],w[13],w[14],w[15],w[16],w[3];",
			[]string{"t.qasm:5:", "qubit w[3] appears twice in one application of foo"}},
		{"broadcast mismatch", big + "cx q,r;", []string{"t.qasm:4:6:", "broadcast size mismatch in cx", "q has 2 elements but r has 3"}},
		{"unterminated statement", big + "h q[0]", []string{"t.qasm:4:7:", "expected ',' or ';'", "end of file"}},
		{"missing semicolon", big + "h q[0]\nx q[1];", []string{"t.qasm:5:1:", "expected ',' or ';'", "name \"x\"", "missing ';'?"}},
		{"unterminated qreg", "qreg q[2]\nqreg r[1];", []string{"t.qasm:2:1:", "expected ';' to end the qreg statement started at line 1", "missing ';'?"}},
		{"unterminated gate body", hdr + "gate g a {\n  x a;\n  h a;\n", []string{"t.qasm:3:10:", "body of gate g is not closed"}},
		{"missing brace", hdr + "gate g a\n  x a;\n}", []string{"t.qasm:4:3:", "expected '{' to open the body of gate g"}},
		{"garbage", big + "h q[0]; $%&", []string{"t.qasm:4:9:", "unexpected character '$'"}},
		{"garbage control", big + "h q[0];\x00", []string{"t.qasm:4:8:", "control character U+0000"}},
		{"invalid utf8", big + "h q[0]; \xff", []string{"t.qasm:4:9:", "not UTF-8"}},
		{"block comment", big + "/* no */", []string{"t.qasm:4:1:", "block comments"}},
		{"stray semicolon", big + ";", []string{"t.qasm:4:1:", "empty statement"}},
		{"statement starts with number", big + "3 q[0];", []string{"t.qasm:4:1:", "expected a statement, found number 3"}},
		{"unterminated string", "include \"qelib1.inc;\nqreg q[1];", []string{"t.qasm:1:9:", "unterminated string"}},
		{"malformed number", big + "rz(1e+) q[0];", []string{"t.qasm:4:4:", "malformed number"}},
		{"bad if single =", big + "if(c=1) x q[0];", []string{"t.qasm:4:5:", "if: expected '=='", "found '='"}},
		{"bad if !=", big + "if(c!=1) x q[0];", []string{"t.qasm:4:5:", "if: expected '=='"}},
		{"bad if negative", big + "if(c==-1) x q[0];", []string{"t.qasm:4:7:", "non-negative integer literal"}},
		{"bad if real", big + "if(c==1.0) x q[0];", []string{"t.qasm:4:7:", "non-negative integer literal", "number 1.0"}},
		{"bad if hex", big + "if(c==0x10) x q[0];", []string{"t.qasm:4:7:", "malformed number"}},
		{"bad if qreg", big + "if(q==1) x q[0];", []string{"t.qasm:4:4:", "q is a qreg"}},
		{"bad if undeclared", big + "if(d==1) x q[0];", []string{"t.qasm:4:4:", "undeclared register d"}},
		{"bad if bit", big + "if(c[0]==1) x q[0];", []string{"t.qasm:4:5:", "not one bit"}},
		{"bad if no paren", big + "if c==1 x q[0];", []string{"t.qasm:4:4:", "expected '(' after if"}},
		{"bad if no close", big + "if(c==1 x q[0];", []string{"t.qasm:4:9:", "expected ')'"}},
		{"bad if no op", big + "if(c==1);", []string{"t.qasm:4:9:", "expected a gate, measure or reset"}},
		{"bad if barrier", big + "if(c==1) barrier q;", []string{"t.qasm:4:10:", "barrier cannot be conditional"}},
		{"bad if nested", big + "if(c==1) if(c==2) x q[0];", []string{"t.qasm:4:10:", "if cannot be conditional"}},
		{"openqasm 3", "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[2] q;", []string{"t.qasm:1:10:", "OpenQASM 3.0 is not supported", "OpenQASM 2.0"}},
		{"openqasm 3 short", "OPENQASM 3;", []string{"t.qasm:1:10:", "OpenQASM 3 is not supported"}},
		{"openqasm 3 no header", "include \"stdgates.inc\";\nqubit[2] q;", []string{"t.qasm:2:6:", "OpenQASM 3 declarations", "not supported"}},
		{"openqasm 1", "OPENQASM 1.0;", []string{"t.qasm:1:10:", "unsupported OpenQASM version 1.0"}},
		{"header not first", "qreg q[1];\nOPENQASM 2.0;", []string{"t.qasm:2:1:", "must be the first statement"}},
		{"header twice", "OPENQASM 2.0;\nOPENQASM 2.0;", []string{"t.qasm:2:1:", "must be the first statement"}},
		{"huge qreg", "qreg q[1000000000000];", []string{"t.qasm:1:8:", "more than 1048576 qubits", "MaxQubits"}},
		{"huge qregs together", "qreg q[1048576];\nqreg r[1];", []string{"t.qasm:2:8:", "more than 1048576 qubits"}},
		{"huge creg", "creg c[1048577];", []string{"t.qasm:1:8:", "more than 1048576 classical bits", "MaxClbits"}},
		{"zero qreg", "qreg q[0];", []string{"t.qasm:1:8:", "size 0"}},
		{"keyword register", "qreg gate[2];", []string{"t.qasm:1:6:", "gate is a keyword"}},
		{"defined arity", hdr + "gate g a,b { cx a,b; }\nqreg q[2];\ng q[0];", []string{"t.qasm:5:1:", "g takes 2 qubit arguments (gate at line 3), got 1"}},
		{"defined params", hdr + "gate g(x) a { rz(x) a; }\nqreg q[2];\ng q[0];", []string{"t.qasm:5:1:", "g takes 1 parameter, got 0"}},
		{"qelib arity", hdr + "qreg q[2];\ncx q[0];", []string{"t.qasm:4:1:", "cx takes 2 qubit arguments (qelib1.inc), got 1"}},
		{"builtin params", "qreg q[1];\nU(0) q[0];", []string{"t.qasm:2:1:", "U takes 3 parameters, got 1"}},
		{"redefine builtin", "gate CX a,b { }", []string{"t.qasm:1:6:", "cannot redefine the built-in gate CX"}},
		{"duplicate gate", "gate g a { }\nopaque g b;", []string{"t.qasm:2:8:", "gate g already defined (gate) at line 1"}},
		{"body unknown qubit", "gate g a { x b; }", []string{"t.qasm:1:14:", "b is not a qubit argument of gate g"}},
		{"body param as qubit", "gate g(t) a { x t; }", []string{"t.qasm:1:17:", "t is a parameter of gate g"}},
		{"body indexed", "gate g a { x a[0]; }", []string{"t.qasm:1:15:", "cannot be indexed"}},
		{"body repeated", "gate g a,b { cx a,a; }", []string{"t.qasm:1:19:", "qubit a appears twice"}},
		{"body nested gate", "gate g a {\n gate h b { x b; }\n}", []string{"t.qasm:2:2:", "gate is not allowed in the body of gate g"}},
		{"body measure", "gate g a { measure a -> c; }", []string{"t.qasm:1:12:", "measure is not allowed"}},
		{"body recursion", "gate g a { g a; }", []string{"t.qasm:1:12:", "gate g calls itself"}},
		{"body arity", "gate g a,b { ccx a,b; }", []string{"t.qasm:1:14:", "ccx takes 3 qubit arguments"}},
		{"body missing semicolon", "gate g a { x a\n h a; }", []string{"t.qasm:2:2:", "expected ',' or ';'", "missing ';'?"}},
		{"body unknown expr name", "gate g(t) a { rz(s) a; }", []string{"t.qasm:1:18:", "unknown name s in a parameter expression"}},
		{"duplicate formal", "gate g(t) a,t { }", []string{"t.qasm:1:13:", "t of gate g is both a parameter and a qubit argument"}},
		{"duplicate qubit formal", "gate g a,a { }", []string{"t.qasm:1:10:", "qubit argument a of gate g declared twice"}},
		{"no qubit formals", "gate g { }", []string{"t.qasm:1:8:", "expected a qubit argument name"}},
		{"unbalanced paren", big + "rz(pi/2;", []string{"t.qasm:4:8:", "unexpected ';' in the parameter list opened at line 4 column 3"}},
		{"unclosed paren eof", big + "rz((pi/2)", []string{"t.qasm:4:3:", "unbalanced '('"}},
		{"expr unknown name", big + "rz(theta) q[0];", []string{"t.qasm:4:4:", "unknown name theta"}},
		{"expr empty param", big + "u3(1,,2) q[0];", []string{"t.qasm:4:6:", "empty parameter"}},
		{"expr trailing comma", big + "u3(1,2,) q[0];", []string{"t.qasm:4:8:", "empty parameter after ','"}},
		{"no qubit args", big + "h;", []string{"t.qasm:4:2:", "expected a qubit argument of h"}},
		{"measure sizes", big + "measure r -> c;", []string{"t.qasm:4:14:", "register sizes differ", "qreg r has 3 qubits, creg c has 2 bits"}},
		{"measure mixed", big + "measure q -> c[0];", []string{"t.qasm:4:1:", "both be whole registers or both be indexed"}},
		{"measure no arrow", big + "measure q[0] c[0];", []string{"t.qasm:4:14:", "expected '->'"}},
		{"measure into qreg", big + "measure q[0] -> r[0];", []string{"t.qasm:4:17:", "r is a qreg", "needs a classical bit"}},
		{"reset creg", big + "reset c[0];", []string{"t.qasm:4:7:", "c is a creg"}},
		{"include no string", "include qelib1;", []string{"t.qasm:1:9:", "expected a quoted file name"}},
		{"crlf error line", "qreg q[1];\r\n\r\nx q[1];\r\n", []string{"t.qasm:3:5:", "index 1 out of range"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.qasm", []byte(tc.src))
			if c != nil {
				t.Errorf("got a circuit with the error")
			}
			wantErr(t, err, tc.want...)
			if !strings.HasPrefix(err.Error(), tc.want[0]) {
				t.Errorf("error %q does not start with %q", err, tc.want[0])
			}
		})
	}
}

func TestLimits(t *testing.T) {
	// Broadcasts are charged element by element: with the work limit
	// lowered to 4096 (and nothing per byte), four broadcasts over 1024
	// qubits fit, a fifth fails.
	lim := defaultLimits
	lim.work, lim.workPerByte = 4096, 0
	var b strings.Builder
	b.WriteString("qreg q[1024];\n")
	for i := 0; i < 4; i++ {
		b.WriteString("h q;\n")
	}
	c, err := parse("t.qasm", []byte(b.String()), lim)
	if err != nil || c.OneQGates != 4096 {
		t.Fatalf("under the limit: %v", err)
	}
	b.WriteString("reset q;\n")
	_, err = parse("t.qasm", []byte(b.String()), lim)
	wantErr(t, err, "t.qasm:6:1:", "circuit too large", "past 4096 operations", "MaxWork")

	// The real limits: four broadcasts over 2^20 qubits fit in MaxWork plus
	// the allowance for a 36-byte file, a fifth does not.
	src := "qreg q[1048576];\n" + strings.Repeat("x q;\n", 4)
	if _, err := Parse("t.qasm", []byte(src)); err != nil {
		t.Fatalf("4 broadcasts: %v", err)
	}
	src += "x q;\n"
	_, err = Parse("t.qasm", []byte(src))
	wantErr(t, err, "t.qasm:6:1:", fmt.Sprintf("past %d operations", MaxWork+WorkPerByte*len(src)))

	// A wide application's pairs are charged before any work is done.
	wide := "qreg q[12000];\nfoo " + strings.Repeat("q[0],", 11999) + "q[0];"
	_, err = Parse("t.qasm", []byte(wide))
	wantErr(t, err, "t.qasm:2:1:", "MaxWork")

	// The distinct-pair limit, lowered for the test.
	lim = defaultLimits
	lim.pairs = 40
	src = "qreg q[10];\nfoo q[0],q[1],q[2],q[3],q[4],q[5],q[6],q[7],q[8];\nbar q[0],q[1],q[2],q[3],q[4],q[5],q[6],q[7],q[8],q[9];\n"
	if _, err := parse("t.qasm", []byte(src[:strings.Index(src, "bar")]), lim); err != nil {
		t.Fatalf("36 pairs under a limit of 40: %v", err)
	}
	_, err = parse("t.qasm", []byte(src), lim)
	wantErr(t, err, "t.qasm:3:1:", "more than 40 distinct qubit pairs in 3-qubit and wider applications", "MaxPairs")
	var two strings.Builder
	two.WriteString("qreg q[10];\n")
	for a := 0; a < 10; a++ {
		for b := a + 1; b < 10; b++ {
			fmt.Fprintf(&two, "cx q[%d],q[%d];\n", a, b)
		}
	}
	_, err = parse("t.qasm", []byte(two.String()), lim)
	wantErr(t, err, "t.qasm:42:1:", "more than 40 distinct qubit pairs (the limit")
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bell.qasm")
	if err := os.WriteFile(path, []byte(hdr+"qreg q[2];\nh q[0];\ncx q[0],q[1];\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != path || c.TwoQGates != 1 {
		t.Errorf("Name %q, 2q %d", c.Name, c.TwoQGates)
	}
	bad := filepath.Join(dir, "bad.qasm")
	if err := os.WriteFile(bad, []byte("qreg q[2];\ncx q[0],q[2];\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ParseFile(bad)
	wantErr(t, err, bad+":2:11:", "index 2 out of range")
	_, err = ParseFile(filepath.Join(dir, "missing.qasm"))
	if err == nil || !strings.Contains(err.Error(), "missing.qasm") {
		t.Errorf("missing file: %v", err)
	}
	_, err = ParseFile(dir)
	wantErr(t, err, dir, "is a directory")
}
