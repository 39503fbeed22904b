package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Key layout.
//
// Every record key starts with the schema version byte of the layout it was
// written with, then one byte naming the kind of record, then the fields that
// identify the record:
//
//	[version][kind][fields...]
//
// Strings inside keys are length-prefixed (uvarint length, then the bytes) so
// that any byte may appear in an ID, a tenant or a key without ambiguity.
// Numbers are big-endian so that byte order is numeric order; signed numbers
// (Unix seconds) have their sign bit flipped for the same reason.
//
// One key lives outside the versioned space: markerKey holds the schema
// version of the database as a whole, so that a later build can find it
// whatever the layout of version 1 was, and migrate.
const schemaVersion byte = 1

// markerKey holds the schema version of the store (a CBOR unsigned integer).
var markerKey = []byte("\x00eigen-os/rm/store/schema")

// Record kinds (the second byte of a key).
const (
	kindAllocation   byte = 'a' // id -> allocation
	kindActive       byte = 'A' // id -> empty: index of active allocations
	kindIdempotency  byte = 'i' // tenant, key -> allocation id
	kindReservation  byte = 'r' // id -> reservation
	kindQueue        byte = 'q' // id -> queued request
	kindQueueIdem    byte = 'j' // tenant, key -> queued request id
	kindCalibration  byte = 'c' // device, time, epoch -> calibration record
	kindEvent        byte = 'e' // seq -> event
	kindModule       byte = 'm' // name, version -> module metadata
	kindModuleWasm   byte = 'w' // name, version -> module binary
	kindActiveModule byte = 'p' // name -> active version
	kindCounter      byte = 's' // name -> counter (uint64)
)

var kindNames = map[byte]string{
	kindAllocation:   "allocation",
	kindActive:       "active-index",
	kindIdempotency:  "idempotency",
	kindReservation:  "reservation",
	kindQueue:        "queue",
	kindQueueIdem:    "queue-idempotency",
	kindCalibration:  "calibration",
	kindEvent:        "event",
	kindModule:       "module",
	kindModuleWasm:   "module-wasm",
	kindActiveModule: "active-module",
	kindCounter:      "counter",
}

// prefix returns the key prefix of every record of a kind.
func prefix(kind byte) []byte { return []byte{schemaVersion, kind} }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendUint64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// appendTime appends t so that byte order is time order: Unix seconds with
// the sign bit flipped, then nanoseconds.
func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

func idKey(kind byte, id string) []byte { return appendString(prefix(kind), id) }

func pairKey(kind byte, a, b string) []byte {
	return appendString(appendString(prefix(kind), a), b)
}

func allocationKey(id string) []byte  { return idKey(kindAllocation, id) }
func activeKey(id string) []byte      { return idKey(kindActive, id) }
func reservationKey(id string) []byte { return idKey(kindReservation, id) }
func queueKey(id string) []byte       { return idKey(kindQueue, id) }
func counterKey(name string) []byte   { return idKey(kindCounter, name) }

func idempotencyKey(tenant, key string) []byte {
	return pairKey(kindIdempotency, tenant, key)
}

func queueIdemKey(tenant, key string) []byte { return pairKey(kindQueueIdem, tenant, key) }

func calibrationPrefix(device string) []byte { return appendString(prefix(kindCalibration), device) }

func calibrationKey(device string, t time.Time, epoch uint64) []byte {
	return appendUint64(appendTime(calibrationPrefix(device), t), epoch)
}

func eventKey(seq uint64) []byte { return appendUint64(prefix(kindEvent), seq) }

func modulePrefix(kind byte, name string) []byte { return appendString(prefix(kind), name) }

func moduleKey(kind byte, name string, version int) []byte {
	return binary.BigEndian.AppendUint32(modulePrefix(kind, name), uint32(version))
}

func activeModuleKey(name string) []byte { return idKey(kindActiveModule, name) }

// keyReader takes the fields of a key apart; any malformation sets bad.
type keyReader struct {
	b   []byte
	bad bool
}

func (r *keyReader) string() string {
	n, w := binary.Uvarint(r.b)
	if w <= 0 || n > uint64(len(r.b)-w) {
		r.bad = true
		return ""
	}
	s := string(r.b[w : w+int(n)])
	r.b = r.b[w+int(n):]
	return s
}

func (r *keyReader) uint64() uint64 {
	if len(r.b) < 8 {
		r.bad = true
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *keyReader) uint32() uint32 {
	if len(r.b) < 4 {
		r.bad = true
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *keyReader) time() time.Time {
	s := r.uint64() ^ (1 << 63)
	ns := r.uint32()
	return time.Unix(int64(s), int64(ns)).UTC()
}

// keyString renders a key for error messages, e.g. `allocation "a-17"` or
// `event 42`; a key it cannot take apart is shown quoted.
func keyString(k []byte) string {
	if len(k) < 2 || k[0] != schemaVersion || kindNames[k[1]] == "" {
		return strconv.Quote(string(k))
	}
	r := &keyReader{b: k[2:]}
	var s string
	switch k[1] {
	case kindAllocation, kindActive, kindReservation, kindQueue, kindActiveModule, kindCounter:
		s = strconv.Quote(r.string())
	case kindIdempotency, kindQueueIdem:
		t := r.string()
		s = fmt.Sprintf("tenant %q key %q", t, r.string())
	case kindCalibration:
		d := r.string()
		t := r.time()
		s = fmt.Sprintf("device %q time %s epoch %d", d, t.Format(time.RFC3339Nano), r.uint64())
	case kindEvent:
		s = strconv.FormatUint(r.uint64(), 10)
	case kindModule, kindModuleWasm:
		n := r.string()
		s = fmt.Sprintf("%q version %d", n, r.uint32())
	}
	if r.bad || len(r.b) != 0 {
		return strconv.Quote(string(k))
	}
	return kindNames[k[1]] + " " + s
}

// checkVersion validates a module version for use in a key.
func checkVersion(v int) error {
	if v < 1 || int64(v) > math.MaxUint32 {
		return fmt.Errorf("version %d: must be between 1 and %d", v, uint32(math.MaxUint32))
	}
	return nil
}
