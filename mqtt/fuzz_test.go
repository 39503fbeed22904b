package mqtt

import (
	"errors"
	"math"
	"testing"
)

// Seeds: valid encodings of every payload, and a few broken ones. The
// property: a decoder never panics, and what it accepts is valid and
// survives a round trip.

func seedBirth() Birth {
	f := newFake("seed")
	b := f.Birth()
	b.V, b.Site, b.Device, b.Controller, b.BdSeq, b.TimeMs, b.KeepAliveMs, b.StateIntervalMs = 1, "site", "seed", "rmd-seed", 1795770000000000, 1795770000000, 10000, 5000
	b.Summary.Median1QError = math.NaN()
	return b
}

func seedState() State {
	return State{V: 1, BdSeq: 7, Seq: 200, TimeMs: 1795770000000, Health: "online", Qubits: 127, FreeQubits: 100,
		Utilization: 27.0 / 127, QueueLength: 2, QueuedQubits: 9, ActiveAllocations: 3, ExpectedWaitMs: 1500, Epoch: 99,
		Quality: Quality{Linear: []float32{0.99, 0.97, 0.95, 0.9, 0}, Idle: []float32{0.99, 0.98, 0.96, 0.94, 0.9},
			Readout: 0.012, Pair: 0.008}}
}

func seedForward() ForwardRequest {
	return ForwardRequest{V: 1, RequestID: "r1", Origin: "rmd-a", OriginDevice: "a", Tenant: "acme", Key: "k1",
		TaskID: "t1", Qubits: 4, Pairs: []Pair{{A: 0, B: 1, Count: 3}, {A: 2, B: 3, Count: 1}}, Floor: 0.8,
		DurationMs: 60000, Priority: -3, MaxWaitMs: 500, Isolation: "spatial", DeadlineMs: 1795770000000, Hops: 1}
}

func addSeeds(f *testing.F, valid ...any) {
	for _, v := range valid {
		b, err := Encode(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if len(b) > 4 {
			f.Add(b[:len(b)/2]) // truncated
			c := append([]byte(nil), b...)
			c[len(c)/3] ^= 0x5a // corrupted
			f.Add(c)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0xa1, 0x61, 0x76, 0x02}) // {"v": 2}
	f.Add([]byte{0x9f, 0xff})             // indefinite-length array
}

func FuzzDecodeBirth(f *testing.F) {
	addSeeds(f, seedBirth())
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeBirth(b)
		if err != nil {
			return
		}
		again, err := Encode(v)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := DecodeBirth(again); err != nil {
			t.Fatalf("accepted %x, refused its re-encoding: %v", b, err)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	addSeeds(f, seedState())
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeState(b)
		if err != nil {
			return
		}
		if l := v.Load(); l < 0 || l > 1 || l != l {
			t.Fatalf("load %v out of [0, 1] for %+v", l, v)
		}
		again, _ := Encode(v)
		if _, err := DecodeState(again); err != nil {
			t.Fatalf("accepted %x, refused its re-encoding: %v", b, err)
		}
	})
}

func FuzzDecodeDeath(f *testing.F) {
	addSeeds(f, Death{V: 1, Site: "s", Device: "d", Controller: "c", BdSeq: 3, TimeMs: 5, Clean: true})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeDeath(b)
		if err != nil {
			return
		}
		again, _ := Encode(v)
		if _, err := DecodeDeath(again); err != nil {
			t.Fatalf("accepted %x, refused its re-encoding: %v", b, err)
		}
	})
}

func FuzzDecodeForward(f *testing.F) {
	addSeeds(f, seedForward(), ForwardRequest{V: 1, RequestID: "r", Origin: "o", OriginDevice: "o", Tenant: "t", Key: "k", Qubits: 5, Shape: "grid:1x5"})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeForward(b)
		if err != nil {
			return
		}
		for _, p := range v.Pairs {
			if p.A < 0 || p.A >= v.Qubits || p.B < 0 || p.B >= v.Qubits || p.A == p.B {
				t.Fatalf("accepted a bad pair %+v for %d qubits", p, v.Qubits)
			}
		}
		again, _ := Encode(v)
		if _, err := DecodeForward(again); err != nil {
			t.Fatalf("accepted %x, refused its re-encoding: %v", b, err)
		}
	})
}

func FuzzDecodeForwardResponse(f *testing.F) {
	addSeeds(f, ForwardResponse{V: 1, RequestID: "r", OK: true, AllocationID: "a1", Device: "d", Controller: "c",
		Qubits: []int{4, 5, 6}, ESP: 0.9, Swaps: 1, LeaseEndMs: 99},
		ForwardResponse{V: 1, RequestID: "r", Device: "d", Code: CodeNoCapacity, Message: "full"})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeForwardResponse(b)
		if err != nil {
			return
		}
		if v.OK && v.AllocationID == "" {
			t.Fatal("accepted a grant without an allocation id")
		}
		again, _ := Encode(v)
		if _, err := DecodeForwardResponse(again); err != nil {
			t.Fatalf("accepted %x, refused its re-encoding: %v", b, err)
		}
	})
}

func FuzzDecodeCommand(f *testing.F) {
	addSeeds(f, Command{V: 1, ID: "c1", Kind: CmdRollout, Origin: "ops", OriginDevice: "ops", TimeMs: 1,
		Args: map[string]string{"module": "vf2", "version": "1.2.0"}},
		Command{V: 1, Kind: CmdCancel, Origin: "a", OriginDevice: "a", Tenant: "t", Key: "k"})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeCommand(b)
		if err != nil {
			return
		}
		if v.Kind == CmdCancel && (v.Tenant == "" || v.Key == "") {
			t.Fatal("accepted a cancel without tenant and key")
		}
		again, _ := Encode(v)
		if _, err := DecodeCommand(again); err != nil {
			t.Fatalf("accepted %x, refused its re-encoding: %v", b, err)
		}
	})
}

func TestDecodeRoundTrip(t *testing.T) {
	b := seedBirth()
	got, err := DecodeBirth(mustEncode(t, b))
	if err != nil || got.BdSeq != b.BdSeq || got.Summary.Qubits != 27 || !math.IsNaN(got.Summary.Median1QError) || len(got.Modules) != 1 {
		t.Errorf("birth: %+v %v", got, err)
	}
	s := seedState()
	gs, err := DecodeState(mustEncode(t, s))
	if err != nil || gs.Seq != 200 || len(gs.Quality.Linear) != 5 || gs.Quality.Pair != s.Quality.Pair {
		t.Errorf("state: %+v %v", gs, err)
	}
	fr := seedForward()
	gf, err := DecodeForward(mustEncode(t, fr))
	if err != nil || len(gf.Pairs) != 2 || gf.Pairs[0] != fr.Pairs[0] || gf.Priority != -3 {
		t.Errorf("forward: %+v %v", gf, err)
	}
	// Pairs are compact arrays on the wire.
	enc := mustEncode(t, Pair{A: 1, B: 2, Count: 3})
	if len(enc) != 4 || enc[0] != 0x83 {
		t.Errorf("pair encodes as %x, want the array [1,2,3]", enc)
	}
	// Validation names the field.
	s.Utilization = 1.5
	if _, err := DecodeState(mustEncode(t, s)); err == nil || err.Error() != "bad payload: state.util: 1.5 is out of range [0, 1]" {
		t.Errorf("state with util 1.5: %v", err)
	}
	s = seedState()
	s.V = 2
	if _, err := DecodeState(mustEncode(t, s)); err == nil || !errors.Is(err, ErrUnknownVersion) {
		t.Errorf("v2: %v", err)
	}
}

// The sequence rules of track, message by message.
func TestSequenceTracking(t *testing.T) {
	type msg struct {
		bd       uint64
		seq      uint8
		retained bool
		birth    bool
		ignore   bool // want: ignored
		gap      bool // want: a gap
	}
	for _, tc := range []struct {
		name string
		msgs []msg
	}{
		{"live run with a loss", []msg{{1, 0, false, true, false, false}, {1, 1, false, false, false, false},
			{1, 2, false, false, false, false}, {1, 4, false, false, false, true}, {1, 5, false, false, false, false}}},
		{"duplicate", []msg{{1, 0, false, true, false, false}, {1, 1, false, false, false, false}, {1, 1, false, false, true, false}}},
		{"retained state after a live birth", []msg{{1, 0, false, true, false, false}, {1, 1, true, false, false, false},
			{1, 2, false, false, false, false}, {1, 3, false, false, false, false}, {1, 5, false, false, false, true}}},
		{"retained state before its retained birth", []msg{{1, 5, true, false, false, false}, {1, 0, true, true, false, false},
			{1, 6, false, false, false, false}, {1, 8, false, false, false, true}}},
		{"older retained copy after live", []msg{{1, 0, false, true, false, false}, {1, 7, false, false, false, true},
			{1, 6, true, false, true, false}, {1, 7, true, false, true, false}, {1, 8, false, false, false, false}}},
		{"long session wraps past its birth", []msg{{1, 0, true, true, false, false}, {1, 200, true, false, false, false},
			{1, 201, false, false, false, false}}},
		{"new session restarts", []msg{{1, 0, false, true, false, false}, {1, 1, false, false, false, false},
			{2, 9, false, false, false, false}, {2, 10, false, false, false, false}, {2, 0, false, true, false, false},
			{2, 1, false, false, false, false}}},
		{"wrap 255 to 0", []msg{{1, 0, false, true, false, false}, {1, 255, false, false, false, true},
			{1, 0, false, false, false, false}}},
	} {
		var e peerEntry
		for i, m := range tc.msgs {
			ignore, gap, _ := e.track(m.bd, m.seq, m.retained, m.birth)
			if ignore != m.ignore || gap != m.gap {
				t.Errorf("%s: message %d %+v: ignore %v gap %v", tc.name, i, m, ignore, gap)
			}
		}
	}
}
