// Package jsonscan is a small pull parser for JSON that the calibration
// importers use instead of encoding/json: it decodes only the values a
// caller asks for, skips the rest while still checking the syntax of the
// whole document, allocates little, and reports every error with its line,
// column and field path ("line 1, column 5123: field gates[12].qubits[0]:
// expected a number, found a string").
//
// Use: NewDecoder(data), then Object / Array with callbacks that read the
// values they need (Float, Int, String, Bytes, nested Object / Array). A
// callback that returns without reading its value has it skipped. Finish
// checks that nothing but white space follows the document.
//
// The parser never panics on any input; nesting deeper than MaxDepth is an
// error.
package jsonscan

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of objects and lists accepted.
const MaxDepth = 256

// Kind is the type of a JSON value.
type Kind uint8

// Kinds of value.
const (
	Invalid Kind = iota // not a value (or end of input)
	Null
	Bool
	Number
	String
	Array
	Object
)

// Error is a syntax or schema error at a position of the document.
type Error struct {
	Offset int    // byte offset of the offending value or byte
	Path   string // field path, e.g. "qubits[3][2].value"; "" at the top
	Msg    string
	data   []byte
}

// Position returns the 1-based line and column of the error. It is
// computed on demand, so that errors kept for later cost little.
func (e *Error) Position() (line, col int) { return lineCol(e.data, e.Offset) }

func (e *Error) Error() string {
	line, col := e.Position()
	if e.Path == "" {
		return fmt.Sprintf("line %d, column %d: %s", line, col, e.Msg)
	}
	return fmt.Sprintf("line %d, column %d: field %s: %s", line, col, e.Path, e.Msg)
}

type step struct {
	key   string
	index int // -1 for a key step
}

// Decoder reads one JSON document.
type Decoder struct {
	data  []byte
	pos   int
	depth int
	path  []step
	keys  map[string]string // interned object keys
}

// NewDecoder returns a decoder of data.
func NewDecoder(data []byte) *Decoder {
	return &Decoder{data: data, keys: make(map[string]string, 64)}
}

// Path is the field path of the value being read.
func (d *Decoder) Path() string {
	var sb strings.Builder
	for _, s := range d.path {
		if s.index >= 0 {
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(s.index))
			sb.WriteByte(']')
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(s.key)
	}
	return sb.String()
}

// Errorf returns an *Error at the current position and path.
func (d *Decoder) Errorf(format string, args ...any) error {
	return d.errAt(d.pos, fmt.Sprintf(format, args...))
}

func (d *Decoder) errAt(pos int, msg string) error {
	return &Error{Offset: max(0, min(pos, len(d.data))), Path: d.Path(), Msg: msg, data: d.data}
}

// Offset is the byte offset of the next value (after white space).
func (d *Decoder) Offset() int {
	d.ws()
	return d.pos
}

// LineCol converts a byte offset of the input into a 1-based line and
// column.
func (d *Decoder) LineCol(off int) (line, col int) { return lineCol(d.data, off) }

func lineCol(data []byte, off int) (line, col int) {
	off = max(0, min(off, len(data)))
	pre := data[:off]
	line = bytes.Count(pre, []byte{'\n'}) + 1
	col = off - (bytes.LastIndexByte(pre, '\n') + 1) + 1
	return line, col
}

func (d *Decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// Kind returns the kind of the next value without reading it.
func (d *Decoder) Kind() Kind {
	d.ws()
	if d.pos >= len(d.data) {
		return Invalid
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return Object
	case c == '[':
		return Array
	case c == '"':
		return String
	case c == 't' || c == 'f':
		return Bool
	case c == 'n':
		return Null
	case c == '-' || (c >= '0' && c <= '9'):
		return Number
	}
	return Invalid
}

// Found describes the next value for messages: "a string", "a list",
// "the end of the input (the file looks truncated)", ...
func (d *Decoder) Found() string {
	switch d.Kind() {
	case Object:
		return "an object"
	case Array:
		return "a list"
	case String:
		return "a string"
	case Bool:
		if bytes.HasPrefix(d.data[d.pos:], []byte("true")) || bytes.HasPrefix(d.data[d.pos:], []byte("false")) {
			return "a boolean"
		}
	case Null:
		if bytes.HasPrefix(d.data[d.pos:], []byte("null")) {
			return "null"
		}
	case Number:
		return "a number"
	}
	if d.pos >= len(d.data) {
		return "the end of the input (the file looks truncated)"
	}
	c := d.data[d.pos]
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("invalid character %q", c)
	}
	return fmt.Sprintf("invalid byte 0x%02x", c)
}

func (d *Decoder) expected(what string) error {
	d.ws()
	return d.errAt(d.pos, "expected "+what+", found "+d.Found())
}

// eof reports a premature end of input.
func (d *Decoder) eof() error {
	return d.errAt(len(d.data), "unexpected end of input (the file looks truncated)")
}

// Null reads a null if one comes next and reports whether it did.
func (d *Decoder) Null() bool {
	if d.Kind() == Null && bytes.HasPrefix(d.data[d.pos:], []byte("null")) {
		d.pos += 4
		return true
	}
	return false
}

// Object reads an object, calling fn for each member with the value's
// position current. fn reads the value or leaves it to be skipped.
func (d *Decoder) Object(fn func(key string) error) error {
	if d.Kind() != Object {
		return d.expected("an object")
	}
	if d.depth >= MaxDepth {
		return d.Errorf("nested more than %d deep", MaxDepth)
	}
	d.depth++
	defer func() { d.depth-- }()
	d.pos++
	d.ws()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return nil
	}
	for {
		d.ws()
		if d.pos >= len(d.data) {
			return d.eof()
		}
		if d.data[d.pos] != '"' {
			return d.expected("a member name in quotes")
		}
		kb, err := d.str()
		if err != nil {
			return err
		}
		key, ok := d.keys[string(kb)]
		if !ok {
			key = string(kb)
			if len(d.keys) < 4096 {
				d.keys[key] = key
			}
		}
		d.ws()
		if d.pos >= len(d.data) {
			return d.eof()
		}
		if d.data[d.pos] != ':' {
			return d.expected("':' after member name")
		}
		d.pos++
		d.ws()
		d.path = append(d.path, step{key: key, index: -1})
		if err := d.member(fn, key); err != nil {
			return err
		}
		d.path = d.path[:len(d.path)-1]
		d.ws()
		if d.pos >= len(d.data) {
			return d.eof()
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return nil
		default:
			return d.expected("',' or '}' after an object member")
		}
	}
}

func (d *Decoder) member(fn func(key string) error, key string) error {
	start := d.pos
	if err := fn(key); err != nil {
		return err
	}
	if d.pos == start {
		return d.Skip()
	}
	return nil
}

// Array reads a list, calling fn for each element with its index.
func (d *Decoder) Array(fn func(i int) error) error {
	if d.Kind() != Array {
		return d.expected("a list")
	}
	if d.depth >= MaxDepth {
		return d.Errorf("nested more than %d deep", MaxDepth)
	}
	d.depth++
	defer func() { d.depth-- }()
	d.pos++
	d.ws()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return nil
	}
	for i := 0; ; i++ {
		d.ws()
		d.path = append(d.path, step{index: i})
		start := d.pos
		if err := fn(i); err != nil {
			return err
		}
		if d.pos == start {
			if err := d.Skip(); err != nil {
				return err
			}
		}
		d.path = d.path[:len(d.path)-1]
		d.ws()
		if d.pos >= len(d.data) {
			return d.eof()
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return nil
		default:
			return d.expected("',' or ']' after a list element")
		}
	}
}

// String reads a string.
func (d *Decoder) String() (string, error) {
	b, err := d.Bytes()
	return string(b), err
}

// Bytes reads a string and returns its unescaped bytes; they may alias the
// input and must not be modified.
func (d *Decoder) Bytes() ([]byte, error) {
	if d.Kind() != String {
		return nil, d.expected("a string")
	}
	return d.str()
}

// Float reads a number.
func (d *Decoder) Float() (float64, error) {
	if d.Kind() != Number {
		return 0, d.expected("a number")
	}
	start := d.pos
	if err := d.number(); err != nil {
		return 0, err
	}
	lit := d.data[start:d.pos]
	v, err := strconv.ParseFloat(string(lit), 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, d.errAt(start, fmt.Sprintf("number %s is out of range", clip(lit)))
	}
	return v, nil
}

// FloatOrNull reads a number, or a null as NaN.
func (d *Decoder) FloatOrNull() (float64, error) {
	if d.Null() {
		return math.NaN(), nil
	}
	return d.Float()
}

// Int reads an integer (a number without fraction or exponent).
func (d *Decoder) Int() (int, error) {
	if d.Kind() != Number {
		return 0, d.expected("an integer")
	}
	start := d.pos
	if err := d.number(); err != nil {
		return 0, err
	}
	lit := d.data[start:d.pos]
	v, err := strconv.Atoi(string(lit))
	if err != nil {
		if bytes.ContainsAny(lit, ".eE") {
			return 0, d.errAt(start, fmt.Sprintf("expected an integer, found %s", clip(lit)))
		}
		return 0, d.errAt(start, fmt.Sprintf("integer %s is out of range", clip(lit)))
	}
	return v, nil
}

// Bool reads true or false.
func (d *Decoder) Bool() (bool, error) {
	d.ws()
	switch {
	case bytes.HasPrefix(d.data[d.pos:], []byte("true")):
		d.pos += 4
		return true, nil
	case bytes.HasPrefix(d.data[d.pos:], []byte("false")):
		d.pos += 5
		return false, nil
	}
	return false, d.expected("true or false")
}

// Skip reads and discards the next value, checking its syntax.
func (d *Decoder) Skip() error {
	switch d.Kind() {
	case Object:
		return d.Object(func(string) error { return nil })
	case Array:
		return d.Array(func(int) error { return nil })
	case String:
		_, err := d.str()
		return err
	case Number:
		return d.number()
	case Bool:
		_, err := d.Bool()
		return err
	case Null:
		if d.Null() {
			return nil
		}
		return d.expected("a value")
	}
	if d.pos >= len(d.data) {
		return d.eof()
	}
	return d.expected("a value")
}

// Raw reads the next value and returns its JSON text.
func (d *Decoder) Raw() ([]byte, error) {
	d.ws()
	start := d.pos
	if err := d.Skip(); err != nil {
		return nil, err
	}
	return d.data[start:d.pos], nil
}

// Finish checks that only white space follows the document.
func (d *Decoder) Finish() error {
	d.ws()
	if d.pos < len(d.data) {
		return d.errAt(d.pos, "unexpected data after the end of the document: "+d.Found())
	}
	return nil
}

// number scans a JSON number at d.pos.
func (d *Decoder) number() error {
	start := d.pos
	p := d.pos
	n := len(d.data)
	if p < n && d.data[p] == '-' {
		p++
	}
	digits := func() int {
		s := p
		for p < n && d.data[p] >= '0' && d.data[p] <= '9' {
			p++
		}
		return p - s
	}
	if p < n && d.data[p] == '0' {
		p++
	} else if digits() == 0 {
		if p >= n {
			return d.eof()
		}
		return d.errAt(start, "malformed number")
	}
	if p < n && d.data[p] == '.' {
		p++
		if digits() == 0 {
			if p >= n {
				return d.eof()
			}
			return d.errAt(start, "malformed number: no digits after '.'")
		}
	}
	if p < n && (d.data[p] == 'e' || d.data[p] == 'E') {
		p++
		if p < n && (d.data[p] == '+' || d.data[p] == '-') {
			p++
		}
		if digits() == 0 {
			if p >= n {
				return d.eof()
			}
			return d.errAt(start, "malformed number: no digits in the exponent")
		}
	}
	d.pos = p
	return nil
}

// str scans a string at d.pos (which holds '"') and returns its contents.
func (d *Decoder) str() ([]byte, error) {
	start := d.pos
	p := d.pos + 1
	n := len(d.data)
	for p < n {
		c := d.data[p]
		if c == '"' {
			d.pos = p + 1
			return d.data[start+1 : p], nil
		}
		if c == '\\' {
			return d.strSlow(start)
		}
		if c < 0x20 {
			return nil, d.errAt(p, "control character in a string")
		}
		p++
	}
	return nil, d.eof()
}

// strSlow decodes a string with escapes.
func (d *Decoder) strSlow(start int) ([]byte, error) {
	buf := make([]byte, 0, 32)
	p := start + 1
	n := len(d.data)
	for p < n {
		c := d.data[p]
		switch {
		case c == '"':
			d.pos = p + 1
			return buf, nil
		case c < 0x20:
			return nil, d.errAt(p, "control character in a string")
		case c != '\\':
			buf = append(buf, c)
			p++
			continue
		}
		if p+1 >= n {
			return nil, d.eof()
		}
		e := d.data[p+1]
		p += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(d.data, p)
			if !ok {
				if p+4 > n {
					return nil, d.eof()
				}
				return nil, d.errAt(p-2, `malformed \u escape`)
			}
			p += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(d.data, p+2); ok && p+1 < n && d.data[p] == '\\' && d.data[p+1] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						p += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return nil, d.errAt(p-2, fmt.Sprintf("invalid escape \\%c in a string", e))
		}
	}
	return nil, d.eof()
}

func hex4(b []byte, p int) (rune, bool) {
	if p < 0 || p+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[p : p+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r*16 + rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r*16 + rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r*16 + rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
