package jsonscan

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestReadValues(t *testing.T) {
	doc := `{"name": "x\u00e9\"y", "n": 5, "f": -1.5e2, "list": [1, 2.5, null], "skip": {"a": [true, false, {}]}, "b": true}`
	d := NewDecoder([]byte(doc))
	var name string
	var n int
	var f float64
	var list []float64
	var b bool
	err := d.Object(func(key string) error {
		var err error
		switch key {
		case "name":
			name, err = d.String()
		case "n":
			n, err = d.Int()
		case "f":
			f, err = d.Float()
		case "list":
			err = d.Array(func(int) error {
				v, err := d.FloatOrNull()
				list = append(list, v)
				return err
			})
		case "b":
			b, err = d.Bool()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Finish(); err != nil {
		t.Fatal(err)
	}
	if name != "xé\"y" || n != 5 || f != -150 || len(list) != 3 || list[1] != 2.5 || !math.IsNaN(list[2]) || !b {
		t.Fatalf("decoded %q %d %v %v %v", name, n, f, list, b)
	}
}

func TestErrorsNamePathAndLine(t *testing.T) {
	cases := []struct {
		doc  string
		want string
	}{
		{"{\"gates\": [{\"qubits\": [1]},\n {\"qubits\": [1, {}]}]}", `line 2, column 17: field gates[1].qubits[1]: expected an integer, found an object`},
		{`{"a": [1, 2`, `unexpected end of input (the file looks truncated)`},
		{`{"a": 1,}`, `expected a member name in quotes`},
		{`{"a": 1} x`, `unexpected data after the end of the document`},
		{`{"a": 01}`, `expected ',' or '}'`},
		{`{"a": "\q"}`, `invalid escape \q`},
		{`{"a": 1e999}`, `out of range`},
		{`{"a": 1.5}`, `expected an integer, found 1.5`},
		{``, `expected an object, found the end of the input`},
		{strings.Repeat("[", 300), `nested more than 256 deep`},
	}
	for _, c := range cases {
		d := NewDecoder([]byte(c.doc))
		var read func() error
		read = func() error {
			switch d.Kind() {
			case Array:
				return d.Array(func(int) error { return read() })
			case Number:
				if strings.Contains(c.doc, "e999") {
					_, err := d.Float()
					return err
				}
				_, err := d.Int()
				return err
			case String:
				_, err := d.String()
				return err
			case Object:
				if strings.Contains(c.doc, "qubits") && strings.Contains(d.Path(), "qubits[") {
					_, err := d.Int()
					return err
				}
			}
			return d.Object(func(string) error { return read() })
		}
		err := read()
		if err == nil {
			err = d.Finish()
		}
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an *Error containing %q", c.doc, err, c.want)
			continue
		}
		if line, col := e.Position(); !strings.Contains(err.Error(), fmt.Sprintf("line %d, column %d", line, col)) || e.Offset > len(c.doc) {
			t.Errorf("%q: position %d:%d (offset %d) inconsistent with %v", c.doc, line, col, e.Offset, err)
		}
	}
}

// FuzzSkip checks that Skip+Finish accepts exactly what encoding/json
// accepts (up to the nesting limit) and never panics.
func FuzzSkip(f *testing.F) {
	for _, s := range []string{`{}`, `[1,2,{"a":"b\n"}]`, `"\ud83d\ude00"`, `-0.5e+3`, `{"a":[null,true,false]}`, `[1,]`, `{"a" 1}`, `"\u12"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(data)
		err := d.Skip()
		if err == nil {
			err = d.Finish()
		}
		valid := json.Valid(data)
		if err != nil && strings.Contains(err.Error(), "nested more than") {
			return
		}
		if (err == nil) != valid {
			t.Fatalf("jsonscan error %v, encoding/json valid %v for %q", err, valid, data)
		}
		// encoding/json accepts null into a string as "leave it alone";
		// String, which importers use for required strings, refuses it.
		if err == nil && strings.TrimSpace(string(data)) != "null" {
			var s string
			if json.Unmarshal(data, &s) == nil {
				got, err := NewDecoder(data).String()
				if err != nil || (got != s && !strings.ContainsRune(s, '\uFFFD')) {
					t.Fatalf("string %q: got %q, %v; encoding/json %q", data, got, err, s)
				}
			}
		}
	})
}
