package google

import (
	"fmt"
	"strconv"
	"strings"
)

// field is one field of a protobuf text-format message: a scalar (Value,
// with Quoted telling strings from identifiers and numbers) or a nested
// message (Fields non-nil).
type field struct {
	Name   string
	Line   int
	Value  string
	Quoted bool
	Fields []*field // non-nil for a message
}

// isMsg reports whether f is a nested message.
func (f *field) isMsg() bool { return f.Fields != nil }

// all returns the fields of message m named name, in file order.
func all(m []*field, name string) []*field {
	var out []*field
	for _, f := range m {
		if f.Name == name {
			out = append(out, f)
		}
	}
	return out
}

// first returns the first field of m named name, or nil.
func first(m []*field, name string) *field {
	for _, f := range m {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// maxDepth bounds message nesting so that hostile input cannot exhaust the
// stack. Device specifications nest four levels deep.
const maxDepth = 64

// parseTextProto parses the protobuf text format (the subset that device
// specifications use: scalar fields, nested messages with {} or <>, lists in
// [], # comments, single- or double-quoted strings with C escapes). It knows
// no schema, so it accepts any field names.
func parseTextProto(src []byte) ([]*field, error) {
	p := &tpParser{src: src, line: 1}
	fs, err := p.message(0, 0)
	if err != nil {
		return nil, err
	}
	return fs, nil
}

type tpParser struct {
	src  []byte
	pos  int
	line int
}

func (p *tpParser) errf(format string, args ...any) error {
	return fmt.Errorf("line %d: %s", p.line, fmt.Sprintf(format, args...))
}

// skip passes over white space and comments.
func (p *tpParser) skip() {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// ident reads a field name (a plain identifier, or an extension or Any
// type name in [brackets]).
func (p *tpParser) ident() (string, error) {
	if p.pos < len(p.src) && p.src[p.pos] == '[' {
		end := strings.IndexByte(string(p.src[p.pos:]), ']')
		nl := strings.IndexByte(string(p.src[p.pos:]), '\n')
		if end < 0 || (nl >= 0 && nl < end) {
			return "", p.errf("unterminated [extension name]")
		}
		s := string(p.src[p.pos : p.pos+end+1])
		p.pos += end + 1
		return s, nil
	}
	if p.pos >= len(p.src) || !isIdentStart(p.src[p.pos]) {
		return "", p.errf("expected a field name, found %s", p.found())
	}
	start := p.pos
	for p.pos < len(p.src) && isIdentChar(p.src[p.pos]) {
		p.pos++
	}
	return string(p.src[start:p.pos]), nil
}

func (p *tpParser) found() string {
	if p.pos >= len(p.src) {
		return "end of file"
	}
	c := p.src[p.pos]
	if c < 0x20 || c >= 0x7f {
		return fmt.Sprintf("byte 0x%02x", c)
	}
	return strconv.QuoteRune(rune(c))
}

// message reads fields until the closing delimiter close (0: end of input).
func (p *tpParser) message(close byte, depth int) ([]*field, error) {
	if depth > maxDepth {
		return nil, p.errf("messages nested more than %d deep", maxDepth)
	}
	fs := []*field{}
	for {
		p.skip()
		if p.pos >= len(p.src) {
			if close != 0 {
				return nil, p.errf("unexpected end of file: missing %q", close)
			}
			return fs, nil
		}
		if c := p.src[p.pos]; close != 0 && c == close {
			p.pos++
			return fs, nil
		}
		line := p.line
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		p.skip()
		colon := false
		if p.pos < len(p.src) && p.src[p.pos] == ':' {
			colon = true
			p.pos++
			p.skip()
		}
		if p.pos >= len(p.src) {
			return nil, p.errf("unexpected end of file after field %s", name)
		}
		switch c := p.src[p.pos]; {
		case c == '{' || c == '<':
			p.pos++
			end := byte('}')
			if c == '<' {
				end = '>'
			}
			sub, err := p.message(end, depth+1)
			if err != nil {
				return nil, err
			}
			fs = append(fs, &field{Name: name, Line: line, Fields: sub})
		case c == '[':
			if !colon {
				return nil, p.errf("field %s: expected ':' before '['", name)
			}
			p.pos++
			items, err := p.list(name, line, depth+1)
			if err != nil {
				return nil, err
			}
			fs = append(fs, items...)
		default:
			if !colon {
				return nil, p.errf("field %s: expected ':' or '{', found %s", name, p.found())
			}
			v, quoted, err := p.scalar()
			if err != nil {
				return nil, fmt.Errorf("%w (field %s)", err, name)
			}
			fs = append(fs, &field{Name: name, Line: line, Value: v, Quoted: quoted})
		}
		p.skip()
		if p.pos < len(p.src) && (p.src[p.pos] == ';' || p.src[p.pos] == ',') {
			p.pos++
		}
	}
}

// list reads the elements of name: [a, b, ...] after the '['.
func (p *tpParser) list(name string, line, depth int) ([]*field, error) {
	var out []*field
	for {
		p.skip()
		if p.pos >= len(p.src) {
			return nil, p.errf("unexpected end of file in list %s", name)
		}
		if p.src[p.pos] == ']' {
			p.pos++
			return out, nil
		}
		if len(out) > 0 {
			if p.src[p.pos] != ',' {
				return nil, p.errf("list %s: expected ',' or ']', found %s", name, p.found())
			}
			p.pos++
			p.skip()
			if p.pos >= len(p.src) {
				return nil, p.errf("unexpected end of file in list %s", name)
			}
		}
		if c := p.src[p.pos]; c == '{' || c == '<' {
			p.pos++
			end := byte('}')
			if c == '<' {
				end = '>'
			}
			sub, err := p.message(end, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, &field{Name: name, Line: line, Fields: sub})
			continue
		}
		v, quoted, err := p.scalar()
		if err != nil {
			return nil, fmt.Errorf("%w (list %s)", err, name)
		}
		out = append(out, &field{Name: name, Line: line, Value: v, Quoted: quoted})
	}
}

// scalar reads a string (adjacent strings concatenate), a number or an
// identifier (enum value, true, false, inf, nan).
func (p *tpParser) scalar() (string, bool, error) {
	c := p.src[p.pos]
	if c == '"' || c == '\'' {
		var sb strings.Builder
		for p.pos < len(p.src) && (p.src[p.pos] == '"' || p.src[p.pos] == '\'') {
			s, err := p.str()
			if err != nil {
				return "", false, err
			}
			sb.WriteString(s)
			p.skip()
		}
		return sb.String(), true, nil
	}
	start := p.pos
	if c == '-' || c == '+' {
		p.pos++
		p.skip()
	}
	sign := string(p.src[start:p.pos])
	sign = strings.TrimSpace(sign)
	tokStart := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if isIdentChar(c) || c == '.' || ((c == '-' || c == '+') && p.pos > tokStart && (p.src[p.pos-1] == 'e' || p.src[p.pos-1] == 'E')) {
			p.pos++
			continue
		}
		break
	}
	if p.pos == tokStart {
		return "", false, p.errf("expected a value, found %s", p.found())
	}
	return sign + string(p.src[tokStart:p.pos]), false, nil
}

// str reads one quoted string with C-style escapes.
func (p *tpParser) str() (string, error) {
	q := p.src[p.pos]
	p.pos++
	var sb strings.Builder
	for {
		if p.pos >= len(p.src) {
			return "", p.errf("unterminated string")
		}
		c := p.src[p.pos]
		switch {
		case c == q:
			p.pos++
			return sb.String(), nil
		case c == '\n':
			return "", p.errf("newline inside a string")
		case c == '\\':
			p.pos++
			if p.pos >= len(p.src) {
				return "", p.errf("unterminated string")
			}
			e := p.src[p.pos]
			p.pos++
			switch e {
			case 'n':
				sb.WriteByte('\n')
			case 't':
				sb.WriteByte('\t')
			case 'r':
				sb.WriteByte('\r')
			case 'a':
				sb.WriteByte('\a')
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case 'v':
				sb.WriteByte('\v')
			case '\\', '\'', '"', '?':
				sb.WriteByte(e)
			case 'x', 'X':
				n := 0
				v := 0
				for n < 2 && p.pos < len(p.src) && isHex(p.src[p.pos]) {
					v = v*16 + hexVal(p.src[p.pos])
					p.pos++
					n++
				}
				if n == 0 {
					return "", p.errf(`\x escape without hex digits`)
				}
				sb.WriteByte(byte(v))
			case '0', '1', '2', '3', '4', '5', '6', '7':
				v := int(e - '0')
				for n := 1; n < 3 && p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '7'; n++ {
					v = v*8 + int(p.src[p.pos]-'0')
					p.pos++
				}
				if v > 255 {
					return "", p.errf("octal escape out of range")
				}
				sb.WriteByte(byte(v))
			default:
				return "", p.errf("unknown escape \\%c in string", e)
			}
		default:
			sb.WriteByte(c)
			p.pos++
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	default:
		return int(c-'A') + 10
	}
}
