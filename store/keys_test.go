package store

import (
	"bytes"
	"math/rand"
	"sort"
	"testing"
	"time"
)

func TestKeyString(t *testing.T) {
	for _, c := range []struct {
		key  []byte
		want string
	}{
		{allocationKey("a-17"), `allocation "a-17"`},
		{activeKey("x"), `active-index "x"`},
		{idempotencyKey("t", "k\x00"), `idempotency tenant "t" key "k\x00"`},
		{calibrationKey("d", time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), 7), `calibration device "d" time 2026-01-02T03:04:05.000000006Z epoch 7`},
		{eventKey(42), "event 42"},
		{moduleKey(kindModuleWasm, "noise", 3), `module-wasm "noise" version 3`},
		{counterKey("events"), `counter "events"`},
		{markerKey, `"\x00eigen-os/rm/store/schema"`},
		{[]byte{schemaVersion, kindEvent, 1}, `"\x01e\x01"`},               // truncated
		{append(allocationKey("a"), 'x'), `"\x01a\x01ax"`},                 // trailing bytes
		{[]byte{schemaVersion, kindAllocation, 0xff}, `"\x01a\xff"`},       // bad length
		{[]byte{schemaVersion, kindAllocation, 0x05, 'a'}, `"\x01a\x05a"`}, // length past the end
		{[]byte{9, kindAllocation}, `"\ta"`},                               // other version
	} {
		if got := keyString(c.key); got != c.want {
			t.Errorf("keyString(%q) = %s, want %s", c.key, got, c.want)
		}
	}
}

// Key order is the order the listings rely on: calibration time, event
// sequence; and no ID is a prefix-match of another.
func TestKeyOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var times []time.Time
	for i := 0; i < 500; i++ {
		sec := rng.Int63n(1<<40) - 1<<39
		times = append(times, time.Unix(sec, rng.Int63n(1e9)))
	}
	keys := make([][]byte, len(times))
	for i, tm := range times {
		keys[i] = calibrationKey("dev", tm, 1)
	}
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	for i := range keys {
		r := keyReader{b: keys[i][2:]}
		r.string()
		if got := r.time(); !got.Equal(times[i]) {
			t.Fatalf("key %d holds %v, want %v", i, got, times[i])
		}
	}
	if bytes.Compare(eventKey(255), eventKey(256)) >= 0 {
		t.Fatal("event keys out of order")
	}
	if bytes.HasPrefix(calibrationPrefix("d1x"), calibrationPrefix("d1")) {
		t.Fatal("device d1's prefix matches device d1x")
	}
	if bytes.HasPrefix(modulePrefix(kindModule, "topology"), modulePrefix(kindModule, "topo")) {
		t.Fatal("module topo's prefix matches module topology")
	}
}
