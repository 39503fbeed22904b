package store

import (
	"bytes"
	"testing"
	"time"
)

// Decoding arbitrary bytes never panics, and whatever decodes re-encodes
// to a record that decodes to the same thing.
func FuzzDecodeRecords(f *testing.F) {
	a := sampleAllocation("a")
	r := Reservation{ID: "r", Qubits: []int{}, Start: at(0), End: at(time.Hour)}
	q := QueuedRequest{ID: "q", Tenant: "t", IdempotencyKey: "k", Priority: -3, EnqueuedAt: at(0)}
	c := CalibrationRecord{Device: "d", Epoch: 1, Time: at(0), Summary: []byte{1, 2}}
	e := Event{Seq: 1, Time: at(0), Kind: "k", Data: []byte{3}}
	m := Module{Name: "m", Version: 1, SHA256: "00", Size: 4, CreatedAt: at(0)}
	for _, enc := range []func() ([]byte, error){
		func() ([]byte, error) { return encodeAllocation(&a) },
		func() ([]byte, error) { return encodeReservation(&r) },
		func() ([]byte, error) { return encodeQueued(&q) },
		func() ([]byte, error) { return encodeCalibration(&c) },
		func() ([]byte, error) { return encodeEvent(&e) },
		func() ([]byte, error) { return encodeModule(&m) },
		func() ([]byte, error) { return encodeString("id") },
		func() ([]byte, error) { return encodeUint(7) },
	} {
		b, err := enc()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add(garbage)
	f.Fuzz(func(t *testing.T, b []byte) {
		// Whatever decodes re-encodes to a fixed point: encode(decode(x))
		// decodes and encodes to the same bytes.
		if got, err := decodeAllocation(allocationKey("a"), b); err == nil {
			stable(t, got, encodeAllocation, func(v []byte) (*Allocation, error) { return decodeAllocation(allocationKey("a"), v) })
		}
		if got, err := decodeReservation(reservationKey("r"), b); err == nil {
			stable(t, got, encodeReservation, func(v []byte) (*Reservation, error) { return decodeReservation(reservationKey("r"), v) })
		}
		_, _ = decodeQueued(queueKey("q"), b)
		_, _ = decodeCalibration(calibrationKey("d", at(0), 1), b)
		_, _ = decodeEvent(eventKey(1), b)
		_, _ = decodeModule(moduleKey(kindModule, "m", 1), b)
		_, _ = decodeString(idempotencyKey("t", "k"), b)
		_, _ = decodeUint(markerKey, b)
		_ = keyString(b)
	})
}

func stable[T any](t *testing.T, rec *T, enc func(*T) ([]byte, error), dec func([]byte) (*T, error)) {
	t.Helper()
	b1, err := enc(rec)
	if err != nil {
		t.Fatalf("re-encode %+v: %v", rec, err)
	}
	back, err := dec(b1)
	if err != nil {
		t.Fatalf("decode of re-encoded %+v: %v", rec, err)
	}
	b2, err := enc(back)
	if err != nil || !bytes.Equal(b1, b2) {
		t.Fatalf("encoding not stable: %x then %x (%v)", b1, b2, err)
	}
}
