package abi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

func testDevice() *Device {
	nan := math.NaN()
	return &Device{Epoch: 0xfeedbeef12345678, Name: "ibm_test",
		Qubits: []Qubit{
			{Usable: true, ReadoutError: 0.01, Error1Q: 2e-4, T1: 100, T2: 80, Duration1Q: 35, ReadoutLength: 1200, Frequency: 5.1, Anharmonicity: -0.3},
			{Usable: false, ReadoutError: 0.6, Error1Q: nan, T1: nan, T2: nan, Duration1Q: nan, ReadoutLength: nan, Frequency: nan, Anharmonicity: nan},
			{Usable: true, ReadoutError: 0.02, Error1Q: 3e-4, T1: 90, T2: 70, Duration1Q: 35, ReadoutLength: 1200, Frequency: 5.0, Anharmonicity: -0.31},
		},
		Couplers: []Coupler{{A: 0, B: 1, Usable: false, Error: 1, Duration: 500}, {A: 0, B: 2, Usable: true, Error: 0.007, Duration: 300}},
	}
}

// sameFloat treats NaNs as equal.
func sameFloat(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func TestDeviceRoundTrip(t *testing.T) {
	d := testDevice()
	b := AppendDevice([]byte("prefix"), d)
	got, err := DecodeDevice(b[len("prefix"):])
	if err != nil {
		t.Fatal(err)
	}
	if got.Epoch != d.Epoch || got.Name != d.Name || got.N() != 3 || len(got.Couplers) != 2 {
		t.Fatalf("got %+v", got)
	}
	for i, q := range d.Qubits {
		g := got.Qubits[i]
		if g.Usable != q.Usable {
			t.Errorf("qubit %d usable %v", i, g.Usable)
		}
		for j, pair := range [][2]float64{{g.ReadoutError, q.ReadoutError}, {g.Error1Q, q.Error1Q}, {g.T1, q.T1}, {g.T2, q.T2},
			{g.Duration1Q, q.Duration1Q}, {g.ReadoutLength, q.ReadoutLength}, {g.Frequency, q.Frequency}, {g.Anharmonicity, q.Anharmonicity}} {
			if !sameFloat(pair[0], pair[1]) {
				t.Errorf("qubit %d figure %d: %v, want %v", i, j, pair[0], pair[1])
			}
		}
	}
	if !reflect.DeepEqual(got.Couplers, d.Couplers) {
		t.Errorf("couplers %+v, want %+v", got.Couplers, d.Couplers)
	}
	if nb := got.Neighbors(0); len(nb) != 2 || nb[0] != (Link{1, 0}) || nb[1] != (Link{2, 1}) {
		t.Errorf("neighbours of 0: %v", nb)
	}
	if got.CouplerIndex(2, 0) != 1 || got.CouplerIndex(1, 2) != -1 || got.Neighbors(7) != nil {
		t.Error("coupler index or out-of-range neighbours wrong")
	}
	if len(b[len("prefix"):])%8 != 0 {
		t.Errorf("view of %d bytes is not a multiple of 8", len(b)-len("prefix"))
	}
}

func TestDeviceDecodeErrors(t *testing.T) {
	good := AppendDevice(nil, testDevice())
	cases := map[string]func(b []byte) []byte{
		"short":        func(b []byte) []byte { return b[:40] },
		"magic":        func(b []byte) []byte { b[0] = 'X'; return b },
		"version":      func(b []byte) []byte { b[devVersion] = 2; return b },
		"no qubits":    func(b []byte) []byte { put32(b, devN, 0); return b },
		"many qubits":  func(b []byte) []byte { put32(b, devN, 1000); return b },
		"few figures":  func(b []byte) []byte { put32(b, devQF, 3); return b },
		"truncated":    func(b []byte) []byte { return b[:len(b)-16] },
		"offset":       func(b []byte) []byte { put32(b, devOffCouplers, 1<<30); return b },
		"misaligned":   func(b []byte) []byte { put32(b, devOffQFigures, get32(b, devOffQFigures)+4); return b },
		"self coupler": func(b []byte) []byte { o := get32(b, devOffCouplers); put32(b, int(o)+4, 0); return b },
		"coupler out":  func(b []byte) []byte { o := get32(b, devOffCouplers); put32(b, int(o), 3); return b },
	}
	for name, mut := range cases {
		b := mut(append([]byte(nil), good...))
		_, err := DecodeDevice(b)
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: %v, want a *DecodeError", name, err)
		}
	}
}

func put32(b []byte, off int, v uint32) {
	b[off], b[off+1], b[off+2], b[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}
func get32(b []byte, off int) uint32 {
	return uint32(b[off]) | uint32(b[off+1])<<8 | uint32(b[off+2])<<16 | uint32(b[off+3])<<24
}

func testCall() (*Request, *Occupancy, *Candidates) {
	req := &Request{Epoch: 42, Qubits: 3, Shape: ShapeGraph, Buffer: 1, Budget: 1000, NoRouting: true, Floor: 0.5, FragWeight: 0.1,
		MaxCandidates: 4, Edges: []Edge{{0, 1, 3}, {1, 2, 1}}, Measured: []bool{true, false, true}, OneQ: []int{1, 2, 3}}
	occ := &Occupancy{Status: []QubitStatus{QubitAvailable, QubitHeld, QubitBuffered, QubitUnusable, QubitReserved, QubitAvailable},
		Owner: []int32{-1, 0, -1, -1, -1, -1}, TaskBuffers: []int{2}, Reserved: []int{4}}
	c := &Candidates{}
	c.Reset(3, 2)
	c.Add([]int{0, 5, 2}, 0.3, false)
	c.Add32([]int32{5, 0, 2}, math.NaN(), true)
	return req, occ, c
}

func TestCallRoundTrip(t *testing.T) {
	req, occ, c := testCall()
	b := AppendCall(nil, 6, req, occ, c)
	if CallEpoch(b) != 42 {
		t.Errorf("epoch %d", CallEpoch(b))
	}
	var r2 Request
	var o2 Occupancy
	var c2 Candidates
	if err := DecodeCall(b, &r2, &o2, &c2); err != nil {
		t.Fatal(err)
	}
	r2.MaxCandidates = req.MaxCandidates
	if !reflect.DeepEqual(&r2, req) {
		t.Errorf("request %+v, want %+v", r2, *req)
	}
	if !reflect.DeepEqual(&o2, occ) {
		t.Errorf("occupancy %+v, want %+v", o2, *occ)
	}
	if c2.Len() != 2 || c2.K() != 3 || !reflect.DeepEqual(c2.AppendMapping(nil, 1), []int{5, 0, 2}) || !c2.Routed(1) || c2.Routed(0) {
		t.Errorf("candidates %+v", c2)
	}
	if !o2.Available(0) || o2.Available(1) || o2.Available(-1) || o2.Available(6) {
		t.Error("Available wrong")
	}
	// A placement call carries no candidates; OneQ absent stays nil.
	req.OneQ = nil
	b = AppendCall(nil, 6, req, occ, nil)
	if err := DecodeCall(b, &r2, &o2, nil); err != nil {
		t.Fatal(err)
	}
	if r2.OneQ != nil || r2.MaxCandidates != 4 {
		t.Errorf("OneQ %v, max candidates %d", r2.OneQ, r2.MaxCandidates)
	}
}

func TestCallDecodeErrors(t *testing.T) {
	req, occ, c := testCall()
	good := AppendCall(nil, 6, req, occ, c)
	off := func(b []byte, field int) int { return int(get32(b, field)) }
	cases := map[string]func(b []byte) []byte{
		"short":          func(b []byte) []byte { return b[:100] },
		"magic":          func(b []byte) []byte { b[1] = 0; return b },
		"k zero":         func(b []byte) []byte { put32(b, callK, 0); return b },
		"k > n":          func(b []byte) []byte { put32(b, callK, 7); return b },
		"shape":          func(b []byte) []byte { put32(b, callShape, 9); return b },
		"edge order":     func(b []byte) []byte { o := off(b, callOffEdges); put32(b, o, 1); put32(b, o+4, 0); return b },
		"edge range":     func(b []byte) []byte { o := off(b, callOffEdges); put32(b, o+4, 3); return b },
		"edge count":     func(b []byte) []byte { o := off(b, callOffEdges); put32(b, o+8, 0); return b },
		"status":         func(b []byte) []byte { put32(b, off(b, callOffStatus), 5); return b },
		"owner":          func(b []byte) []byte { put32(b, off(b, callOffOwner), 1); return b },
		"owner 4":        func(b []byte) []byte { put32(b, off(b, callOffOwner)+16, 7); return b },
		"status 5":       func(b []byte) []byte { put32(b, off(b, callOffStatus)+20, 9); return b },
		"reserved":       func(b []byte) []byte { put32(b, off(b, callOffReserved), 6); return b },
		"candidate":      func(b []byte) []byte { put32(b, off(b, callOffCandidates), 6); return b },
		"many edges":     func(b []byte) []byte { put32(b, callNEdges, 1<<30); return b },
		"edges past end": func(b []byte) []byte { put32(b, callNEdges, 1000); return b },
		"total":          func(b []byte) []byte { put32(b, callTotal, uint32(len(b)+8)); return b },
	}
	for name, mut := range cases {
		b := mut(append([]byte(nil), good...))
		var r Request
		var o Occupancy
		var cc Candidates
		var de *DecodeError
		if err := DecodeCall(b, &r, &o, &cc); !errors.As(err, &de) {
			t.Errorf("%s: %v, want a *DecodeError", name, err)
		}
	}
	// The per-qubit arrays decode alike from an aligned buffer (read as
	// words) and a misaligned one (read byte by byte), and a fault in
	// either names its qubit.
	for _, shift := range []int{0, 1, 2, 3} {
		buf := make([]byte, len(good)+shift)
		b := buf[shift:]
		copy(b, good)
		var r Request
		var o Occupancy
		if err := DecodeCall(b, &r, &o, nil); err != nil {
			t.Fatalf("shift %d: %v", shift, err)
		}
		if fmt.Sprint(o.Status, o.Owner) != fmt.Sprint(occ.Status, occ.Owner) {
			t.Errorf("shift %d: status %v owner %v, want %v %v", shift, o.Status, o.Owner, occ.Status, occ.Owner)
		}
		put32(b, off(b, callOffOwner)+16, 7)
		if err := DecodeCall(b, &r, &o, nil); err == nil || !strings.Contains(err.Error(), "qubit 4 owned by task slot 7") {
			t.Errorf("shift %d: %v, want qubit 4's owner named", shift, err)
		}
	}
}

func TestCandidatesRoundTrip(t *testing.T) {
	_, _, c := testCall()
	if c.Add([]int{1, 2, 3}, 0, false) || !c.Full() {
		t.Error("Add beyond Max accepted")
	}
	var d Candidates
	d.Reset(2, 1)
	if d.Add([]int{1}, 0, false) {
		t.Error("Add of a wrong length accepted")
	}
	b := AppendCandidates(nil, c)
	if len(b) != CandidatesSize(2, 3) {
		t.Fatalf("%d bytes, want %d", len(b), CandidatesSize(2, 3))
	}
	var got Candidates
	if err := DecodeCandidates(b, 3, 2, 6, &got); err != nil {
		t.Fatal(err)
	}
	if got.Cost(0) != 0.3 || !math.IsNaN(got.Cost(1)) || !reflect.DeepEqual(got.AppendMapping(nil, 0), []int{0, 5, 2}) {
		t.Errorf("got %+v", got)
	}
	for name, f := range map[string]func() error{
		"too many":     func() error { return DecodeCandidates(b, 3, 1, 6, &got) },
		"other k":      func() error { return DecodeCandidates(b, 2, 2, 6, &got) },
		"out of range": func() error { return DecodeCandidates(b, 3, 2, 5, &got) },
		"length":       func() error { return DecodeCandidates(append(b, 0, 0, 0, 0), 3, 2, 6, &got) },
		"short":        func() error { return DecodeCandidates(b[:5], 3, 2, 6, &got) },
		"huge count": func() error {
			x := append([]byte(nil), b...)
			put32(x, 0, 1<<31)
			return DecodeCandidates(x, 3, 1<<30, 6, &got)
		},
	} {
		if err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	empty := AppendCandidates(nil, &Candidates{k: 3, max: 4})
	if err := DecodeCandidates(empty, 3, 4, 6, &got); err != nil || got.Len() != 0 {
		t.Errorf("empty answer: %v, %d", err, got.Len())
	}
}

func TestScoresRoundTrip(t *testing.T) {
	s := []Score{{ESP: 0.9, Frag: 2, Swaps: 0}, {ESP: 0, Frag: 0, Swaps: 3}, {ESP: 1, Frag: 0.5, Swaps: 1}}
	b := AppendScores(nil, s)
	got, err := DecodeScores(b, 3, nil)
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("%v %v", got, err)
	}
	for name, sc := range map[string]Score{"esp>1": {ESP: 1.5}, "esp<0": {ESP: -0.1}, "esp NaN": {ESP: math.NaN()},
		"frag<0": {ESP: 0.5, Frag: -1}, "frag inf": {ESP: 0.5, Frag: math.Inf(1)}, "frag NaN": {ESP: 0.5, Frag: math.NaN()}} {
		if _, err := DecodeScores(AppendScores(nil, []Score{sc}), 1, nil); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := DecodeScores(b, 2, nil); err == nil {
		t.Error("wrong count accepted")
	}
	if _, err := DecodeScores(b[:len(b)-1], 3, nil); err == nil {
		t.Error("wrong length accepted")
	}
}

func TestResultPacking(t *testing.T) {
	r := PackResult(0x7fff0000, 1234)
	if p, n, s := UnpackResult(r); p != 0x7fff0000 || n != 1234 || s != StatusOK || r < 0 {
		t.Errorf("%d -> %d %d %v", r, p, n, s)
	}
	if _, _, s := UnpackResult(ErrorResult(StatusNoDevice)); s != StatusNoDevice {
		t.Errorf("status %v", s)
	}
	if _, _, s := UnpackResult(math.MinInt64); s != StatusFailed {
		t.Errorf("status %v", s)
	}
}

func TestKindsAndImports(t *testing.T) {
	for _, s := range []string{"placement", "Scoring", " noise "} {
		if k, err := ParseKind(s); err != nil || !k.Valid() {
			t.Errorf("%q: %v %v", s, k, err)
		}
	}
	if _, err := ParseKind("routing"); err == nil {
		t.Error("unknown kind accepted")
	}
	if Kind(7).Valid() || Kind(7).String() != "kind(7)" {
		t.Error("unknown kind valid")
	}
	b, err := json.Marshal(map[string]Kind{"k": KindScoring})
	var back map[string]Kind
	if err != nil || string(b) != `{"k":"scoring"}` || json.Unmarshal(b, &back) != nil || back["k"] != KindScoring {
		t.Errorf("JSON of a kind: %s %v %v", b, err, back)
	}
	if !ImportAllowed(WASIModule, "fd_write") || ImportAllowed(WASIModule, "path_open") || ImportAllowed("env", "abort") {
		t.Error("import rules wrong")
	}
}

// FuzzDecode: no input makes a decoder panic or read out of bounds.
func FuzzDecode(f *testing.F) {
	req, occ, c := testCall()
	f.Add(AppendCall(nil, 6, req, occ, c))
	f.Add(AppendDevice(nil, testDevice()))
	f.Add(AppendCandidates(nil, c))
	f.Add(AppendScores(nil, []Score{{ESP: 0.5}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Request
		var o Occupancy
		var cc Candidates
		_ = DecodeCall(b, &r, &o, &cc)
		if d, err := DecodeDevice(b); err == nil {
			for q := range d.Qubits {
				d.Neighbors(q)
			}
		}
		_ = DecodeCandidates(b, 3, 8, 6, &cc)
		_, _ = DecodeScores(b, 2, nil)
	})
}
