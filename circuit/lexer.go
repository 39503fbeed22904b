package circuit

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// tokKind is the kind of a token.
type tokKind uint8

const (
	tEOF    tokKind = iota
	tIdent          // [A-Za-z_][A-Za-z0-9_]*
	tInt            // [0-9]+
	tReal           // decimal with a point and/or an exponent
	tString         // "..." (no newline inside)
	tArrow          // ->
	tEqEq           // ==
	tPunct          // one of the characters marked in punct
)

// token is one lexical token. start and end are byte offsets into the source;
// line (1-based) and lineStart (byte offset of that line) place it for errors.
type token struct {
	kind      tokKind
	ch        byte // the character of a tPunct
	start     int
	end       int
	line      int
	lineStart int
}

// lexer is a streaming tokenizer over the whole source: next returns one token
// at a time and allocates nothing.
type lexer struct {
	src       []byte
	pos       int
	line      int
	lineStart int
}

// lexError is a tokenizer error at a byte position.
type lexError struct {
	pos, line, lineStart int
	msg                  string
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// next reads the next token into t. It returns an error for a character
// that cannot start a token, an unterminated string or a malformed number.
func (l *lexer) next(t *token) *lexError {
	src := l.src
	pos := l.pos
	// Skip white space and // comments.
	for pos < len(src) {
		c := src[pos]
		if c == '\n' {
			pos++
			l.line++
			l.lineStart = pos
		} else if c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' {
			pos++
		} else if c == '/' && pos+1 < len(src) && src[pos+1] == '/' {
			// A comment runs to the end of the line and may hold any bytes.
			if i := bytes.IndexByte(src[pos:], '\n'); i >= 0 {
				pos += i
			} else {
				pos = len(src)
			}
		} else {
			break
		}
	}
	t.start, t.line, t.lineStart = pos, l.line, l.lineStart
	if pos >= len(src) {
		t.kind, t.end, l.pos = tEOF, pos, pos
		return nil
	}
	l.pos = pos
	c := src[pos]
	switch {
	case isLetter(c):
		pos++
		for pos < len(src) && (isLetter(src[pos]) || isDigit(src[pos])) {
			pos++
		}
		t.kind = tIdent
	case isDigit(c) || c == '.' && pos+1 < len(src) && isDigit(src[pos+1]):
		return l.number(t)
	case c == '"':
		pos++
		for pos < len(src) && src[pos] != '"' && src[pos] != '\n' {
			pos++
		}
		if pos >= len(src) || src[pos] != '"' {
			return l.errAt(l.pos, "unterminated string")
		}
		pos++
		t.kind = tString
	case c == '/' && pos+1 < len(src) && src[pos+1] == '*':
		return l.errAt(pos, "block comments /* */ are not OpenQASM 2.0 (only // to end of line)")
	case c == '-' && pos+1 < len(src) && src[pos+1] == '>':
		t.kind, pos = tArrow, pos+2
	case c == '=' && pos+1 < len(src) && src[pos+1] == '=':
		t.kind, pos = tEqEq, pos+2
	case punct[c]:
		t.kind, t.ch, pos = tPunct, c, pos+1
	default:
		return l.errAt(pos, "unexpected character "+describeChar(src[pos:]))
	}
	t.end, l.pos = pos, pos
	return nil
}

// punct marks the single-character tokens. = < > ! only occur in errors
// (if(c=1)), where the parser names them.
var punct = [256]bool{
	';': true, ',': true, '[': true, ']': true, '(': true, ')': true, '{': true, '}': true,
	'+': true, '-': true, '*': true, '/': true, '^': true, '=': true, '<': true, '>': true, '!': true,
}

// number lexes an integer or a real at l.pos: digits, an optional fraction
// and an optional exponent (e, optional sign, digits).
func (l *lexer) number(t *token) *lexError {
	src := l.src
	p := l.pos
	for p < len(src) && isDigit(src[p]) {
		p++
	}
	t.kind = tInt
	if p < len(src) && src[p] == '.' {
		t.kind = tReal
		p++
		for p < len(src) && isDigit(src[p]) {
			p++
		}
	}
	if p < len(src) && (src[p] == 'e' || src[p] == 'E') {
		t.kind = tReal
		p++
		if p < len(src) && (src[p] == '+' || src[p] == '-') {
			p++
		}
		if p >= len(src) || !isDigit(src[p]) {
			return l.errAt(l.pos, "malformed number "+strconv.Quote(string(src[l.pos:p]))+": exponent has no digits")
		}
		for p < len(src) && isDigit(src[p]) {
			p++
		}
	}
	if p < len(src) && isLetter(src[p]) {
		q := p
		for q < len(src) && (isLetter(src[q]) || isDigit(src[q])) {
			q++
		}
		return l.errAt(l.pos, "malformed number "+strconv.Quote(string(src[l.pos:q])))
	}
	l.pos = p
	t.end = p
	return nil
}

func (l *lexer) errAt(pos int, msg string) *lexError {
	return &lexError{pos: pos, line: l.line, lineStart: l.lineStart, msg: msg}
}

// describeChar names the character at the start of b for an error message.
func describeChar(b []byte) string {
	r, n := utf8.DecodeRune(b)
	switch {
	case r == utf8.RuneError && n <= 1:
		return fmt.Sprintf("byte 0x%02x (not UTF-8)", b[0])
	case r < 0x20 || r == 0x7f:
		return fmt.Sprintf("control character U+%04X", r)
	case r < 0x80:
		return strconv.QuoteRune(r)
	default:
		return fmt.Sprintf("%q (U+%04X)", r, r)
	}
}
