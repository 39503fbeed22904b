package circuit

// gateSig is what the parser knows about a gate name: how many qubit
// arguments (and, where known, parameters) a call must have.
type gateSig struct {
	qubits int
	params int    // -1: not checked
	line   int    // line of the definition in the file; 0 for built-ins
	origin string // "gate", "opaque", "built-in" or "qelib1.inc"
}

// builtins are the OpenQASM 2.0 built-in gates and the gates of the standard
// qelib1.inc (Qiskit's, a superset of the one in the OpenQASM 2.0 paper).
// A file's own definitions shadow the qelib1.inc names. Only the number of
// qubits is checked for qelib1.inc gates: variants of that file disagree on
// some parameter lists, never on arity. Names not listed here and not defined
// in the file are accepted with the arity of the call site.
var builtins = map[string]gateSig{
	"U":  {qubits: 1, params: 3, origin: "built-in"},
	"CX": {qubits: 2, params: 0, origin: "built-in"},

	"u3": q1, "u2": q1, "u1": q1, "u0": q1, "u": q1, "p": q1, "id": q1,
	"x": q1, "y": q1, "z": q1, "h": q1, "s": q1, "sdg": q1, "t": q1, "tdg": q1,
	"rx": q1, "ry": q1, "rz": q1, "sx": q1, "sxdg": q1,

	"cx": q2, "cy": q2, "cz": q2, "ch": q2, "swap": q2, "crx": q2, "cry": q2, "crz": q2,
	"cu1": q2, "cp": q2, "cu3": q2, "csx": q2, "cu": q2, "rxx": q2, "rzz": q2,

	"ccx": q3, "cswap": q3, "rccx": q3,

	"rc3x": q4, "c3x": q4, "c3sqrtx": q4,
	"c4x": {qubits: 5, params: -1, origin: "qelib1.inc"},
}

var (
	q1 = gateSig{qubits: 1, params: -1, origin: "qelib1.inc"}
	q2 = gateSig{qubits: 2, params: -1, origin: "qelib1.inc"}
	q3 = gateSig{qubits: 3, params: -1, origin: "qelib1.inc"}
	q4 = gateSig{qubits: 4, params: -1, origin: "qelib1.inc"}
)

// keywords may not name a register or a gate.
var keywords = map[string]bool{
	"OPENQASM": true, "include": true, "qreg": true, "creg": true, "gate": true,
	"opaque": true, "barrier": true, "measure": true, "reset": true, "if": true,
}

// exprNames are the identifiers an OpenQASM 2.0 parameter expression may use
// besides the enclosing gate's parameters.
var exprNames = map[string]bool{
	"pi": true, "sin": true, "cos": true, "tan": true, "exp": true, "ln": true, "sqrt": true,
}
