package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Values are CBOR maps with small integer keys (the wire structs below), so
// that fields can be added later without breaking old records: a decoder
// ignores keys it does not know, and a missing key decodes as the zero value.
// Never renumber or reuse a key; add new ones at the end.

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{}.EncMode()
	if err != nil {
		panic("store: cbor encoder options: " + err.Error()) // constant options: cannot happen
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  16,
		MaxArrayElements: 1 << 20,
		MaxMapPairs:      1 << 16,
	}.DecMode()
	if err != nil {
		panic("store: cbor decoder options: " + err.Error()) // constant options: cannot happen
	}
}

// wireTime is a time as [Unix seconds, nanoseconds]: exact over time.Time's
// whole range. The zero time is encoded as an absent field (nil pointer).
type wireTime struct {
	_    struct{} `cbor:",toarray"`
	Sec  int64
	Nsec int64
}

func toWire(t time.Time) *wireTime {
	if t.IsZero() {
		return nil
	}
	return &wireTime{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

func fromWire(w *wireTime, field string) (time.Time, error) {
	if w == nil {
		return time.Time{}, nil
	}
	if w.Nsec < 0 || w.Nsec >= 1e9 {
		return time.Time{}, fmt.Errorf("field %s: nanoseconds %d out of range", field, w.Nsec)
	}
	return time.Unix(w.Sec, w.Nsec).UTC(), nil
}

// timeDecoder collects the first error of several fromWire calls.
type timeDecoder struct{ err error }

func (d *timeDecoder) get(w *wireTime, field string) time.Time {
	t, err := fromWire(w, field)
	if err != nil && d.err == nil {
		d.err = err
	}
	return t
}

func encode(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("store: encode %T: %w", v, err)
	}
	return b, nil
}

// decodeInto decodes a value read under key into the wire struct v. Any
// failure is a *CorruptError naming the key.
func decodeInto(key, val []byte, v any) error {
	if err := decMode.Unmarshal(val, v); err != nil {
		return corrupt(key, err)
	}
	return nil
}

func corrupt(key []byte, err error) error {
	return &CorruptError{Key: keyString(key), Err: err}
}

// ---- allocation ----

type wireAllocation struct {
	ID             string    `cbor:"1,keyasint,omitempty"`
	Device         string    `cbor:"2,keyasint,omitempty"`
	Tenant         string    `cbor:"3,keyasint,omitempty"`
	TaskID         string    `cbor:"4,keyasint,omitempty"`
	IdempotencyKey string    `cbor:"5,keyasint,omitempty"`
	Qubits         []int     `cbor:"6,keyasint,omitempty"`
	Shape          string    `cbor:"7,keyasint,omitempty"`
	Request        []byte    `cbor:"8,keyasint,omitempty"`
	ESP            float64   `cbor:"9,keyasint,omitempty"`
	Swaps          int       `cbor:"10,keyasint,omitempty"`
	Priority       int       `cbor:"11,keyasint,omitempty"`
	Epoch          uint64    `cbor:"12,keyasint,omitempty"`
	CreatedAt      *wireTime `cbor:"13,keyasint,omitempty"`
	LeaseExpires   *wireTime `cbor:"14,keyasint,omitempty"`
	Duration       int64     `cbor:"15,keyasint,omitempty"`
	State          uint8     `cbor:"16,keyasint,omitempty"`
	ReleasedAt     *wireTime `cbor:"17,keyasint,omitempty"`
}

// Allocation states on the wire.
var stateCodes = map[string]uint8{StateActive: 1, StateReleased: 2, StateExpired: 3}

func stateName(c uint8) (string, bool) {
	for n, v := range stateCodes {
		if v == c {
			return n, true
		}
	}
	return "", false
}

func encodeAllocation(a *Allocation) ([]byte, error) {
	return encode(&wireAllocation{
		ID: a.ID, Device: a.Device, Tenant: a.Tenant, TaskID: a.TaskID,
		IdempotencyKey: a.IdempotencyKey, Qubits: a.Qubits, Shape: a.Shape,
		Request: a.Request, ESP: a.ESP, Swaps: a.Swaps, Priority: a.Priority,
		Epoch: a.Epoch, CreatedAt: toWire(a.CreatedAt), LeaseExpires: toWire(a.LeaseExpires),
		Duration: int64(a.Duration), State: stateCodes[a.State], ReleasedAt: toWire(a.ReleasedAt),
	})
}

func decodeAllocation(key, val []byte) (*Allocation, error) {
	var w wireAllocation
	if err := decodeInto(key, val, &w); err != nil {
		return nil, err
	}
	state, ok := stateName(w.State)
	if !ok {
		return nil, corrupt(key, fmt.Errorf("unknown allocation state code %d", w.State))
	}
	var td timeDecoder
	a := &Allocation{
		ID: w.ID, Device: w.Device, Tenant: w.Tenant, TaskID: w.TaskID,
		IdempotencyKey: w.IdempotencyKey, Qubits: w.Qubits, Shape: w.Shape,
		Request: w.Request, ESP: w.ESP, Swaps: w.Swaps, Priority: w.Priority, Epoch: w.Epoch,
		CreatedAt: td.get(w.CreatedAt, "CreatedAt"), LeaseExpires: td.get(w.LeaseExpires, "LeaseExpires"),
		Duration: time.Duration(w.Duration), State: state, ReleasedAt: td.get(w.ReleasedAt, "ReleasedAt"),
	}
	if td.err != nil {
		return nil, corrupt(key, td.err)
	}
	if err := a.validate(); err != nil {
		return nil, corrupt(key, err)
	}
	if want := allocationKey(a.ID); string(want) != string(key) {
		return nil, corrupt(key, fmt.Errorf("record holds allocation %q", a.ID))
	}
	return a, nil
}

// ---- reservation ----

type wireReservation struct {
	ID        string    `cbor:"1,keyasint,omitempty"`
	Device    string    `cbor:"2,keyasint,omitempty"`
	Tenant    string    `cbor:"3,keyasint,omitempty"`
	Qubits    []int     `cbor:"4,keyasint"` // null = whole device, [] = none: keep the difference
	Count     int       `cbor:"5,keyasint,omitempty"`
	Start     *wireTime `cbor:"6,keyasint,omitempty"`
	End       *wireTime `cbor:"7,keyasint,omitempty"`
	CreatedAt *wireTime `cbor:"8,keyasint,omitempty"`
	Cancelled bool      `cbor:"9,keyasint,omitempty"`
}

func encodeReservation(r *Reservation) ([]byte, error) {
	return encode(&wireReservation{
		ID: r.ID, Device: r.Device, Tenant: r.Tenant, Qubits: r.Qubits, Count: r.Count,
		Start: toWire(r.Start), End: toWire(r.End), CreatedAt: toWire(r.CreatedAt), Cancelled: r.Cancelled,
	})
}

func decodeReservation(key, val []byte) (*Reservation, error) {
	var w wireReservation
	if err := decodeInto(key, val, &w); err != nil {
		return nil, err
	}
	var td timeDecoder
	r := &Reservation{
		ID: w.ID, Device: w.Device, Tenant: w.Tenant, Qubits: w.Qubits, Count: w.Count,
		Start: td.get(w.Start, "Start"), End: td.get(w.End, "End"),
		CreatedAt: td.get(w.CreatedAt, "CreatedAt"), Cancelled: w.Cancelled,
	}
	if td.err != nil {
		return nil, corrupt(key, td.err)
	}
	if err := r.validate(); err != nil {
		return nil, corrupt(key, err)
	}
	if want := reservationKey(r.ID); string(want) != string(key) {
		return nil, corrupt(key, fmt.Errorf("record holds reservation %q", r.ID))
	}
	return r, nil
}

// ---- queued request ----

type wireQueued struct {
	ID             string    `cbor:"1,keyasint,omitempty"`
	Tenant         string    `cbor:"2,keyasint,omitempty"`
	IdempotencyKey string    `cbor:"3,keyasint,omitempty"`
	Priority       int       `cbor:"4,keyasint,omitempty"`
	Request        []byte    `cbor:"5,keyasint,omitempty"`
	EnqueuedAt     *wireTime `cbor:"6,keyasint,omitempty"`
	Deadline       *wireTime `cbor:"7,keyasint,omitempty"`
}

func encodeQueued(q *QueuedRequest) ([]byte, error) {
	return encode(&wireQueued{
		ID: q.ID, Tenant: q.Tenant, IdempotencyKey: q.IdempotencyKey, Priority: q.Priority,
		Request: q.Request, EnqueuedAt: toWire(q.EnqueuedAt), Deadline: toWire(q.Deadline),
	})
}

func decodeQueued(key, val []byte) (*QueuedRequest, error) {
	var w wireQueued
	if err := decodeInto(key, val, &w); err != nil {
		return nil, err
	}
	var td timeDecoder
	q := &QueuedRequest{
		ID: w.ID, Tenant: w.Tenant, IdempotencyKey: w.IdempotencyKey, Priority: w.Priority,
		Request: w.Request, EnqueuedAt: td.get(w.EnqueuedAt, "EnqueuedAt"), Deadline: td.get(w.Deadline, "Deadline"),
	}
	if td.err != nil {
		return nil, corrupt(key, td.err)
	}
	if err := q.validate(); err != nil {
		return nil, corrupt(key, err)
	}
	if want := queueKey(q.ID); string(want) != string(key) {
		return nil, corrupt(key, fmt.Errorf("record holds queued request %q", q.ID))
	}
	return q, nil
}

// ---- calibration ----

type wireCalibration struct {
	Device  string    `cbor:"1,keyasint,omitempty"`
	Epoch   uint64    `cbor:"2,keyasint,omitempty"`
	Time    *wireTime `cbor:"3,keyasint,omitempty"`
	Summary []byte    `cbor:"4,keyasint,omitempty"`
}

func encodeCalibration(c *CalibrationRecord) ([]byte, error) {
	return encode(&wireCalibration{Device: c.Device, Epoch: c.Epoch, Time: toWire(c.Time), Summary: c.Summary})
}

func decodeCalibration(key, val []byte) (*CalibrationRecord, error) {
	var w wireCalibration
	if err := decodeInto(key, val, &w); err != nil {
		return nil, err
	}
	t, err := fromWire(w.Time, "Time")
	if err != nil {
		return nil, corrupt(key, err)
	}
	c := &CalibrationRecord{Device: w.Device, Epoch: w.Epoch, Time: t, Summary: w.Summary}
	if err := c.validate(); err != nil {
		return nil, corrupt(key, err)
	}
	if want := calibrationKey(c.Device, c.Time, c.Epoch); string(want) != string(key) {
		return nil, corrupt(key, errors.New("record does not match its key"))
	}
	return c, nil
}

// ---- event ----

type wireEvent struct {
	Seq     uint64    `cbor:"1,keyasint,omitempty"`
	Time    *wireTime `cbor:"2,keyasint,omitempty"`
	Kind    string    `cbor:"3,keyasint,omitempty"`
	Subject string    `cbor:"4,keyasint,omitempty"`
	Detail  string    `cbor:"5,keyasint,omitempty"`
	Data    []byte    `cbor:"6,keyasint,omitempty"`
}

func encodeEvent(e *Event) ([]byte, error) {
	return encode(&wireEvent{Seq: e.Seq, Time: toWire(e.Time), Kind: e.Kind, Subject: e.Subject, Detail: e.Detail, Data: e.Data})
}

func decodeEvent(key, val []byte) (*Event, error) {
	var w wireEvent
	if err := decodeInto(key, val, &w); err != nil {
		return nil, err
	}
	t, err := fromWire(w.Time, "Time")
	if err != nil {
		return nil, corrupt(key, err)
	}
	e := &Event{Seq: w.Seq, Time: t, Kind: w.Kind, Subject: w.Subject, Detail: w.Detail, Data: w.Data}
	if want := eventKey(e.Seq); string(want) != string(key) {
		return nil, corrupt(key, fmt.Errorf("record holds event %d", e.Seq))
	}
	return e, nil
}

// ---- module ----

type wireModule struct {
	Name      string    `cbor:"1,keyasint,omitempty"`
	Version   int       `cbor:"2,keyasint,omitempty"`
	Kind      string    `cbor:"3,keyasint,omitempty"`
	SHA256    string    `cbor:"4,keyasint,omitempty"`
	Size      int64     `cbor:"5,keyasint,omitempty"`
	Signature []byte    `cbor:"6,keyasint,omitempty"`
	State     string    `cbor:"7,keyasint,omitempty"`
	CreatedAt *wireTime `cbor:"8,keyasint,omitempty"`
}

func encodeModule(m *Module) ([]byte, error) {
	return encode(&wireModule{
		Name: m.Name, Version: m.Version, Kind: m.Kind, SHA256: m.SHA256, Size: m.Size,
		Signature: m.Signature, State: m.State, CreatedAt: toWire(m.CreatedAt),
	})
}

func decodeModule(key, val []byte) (*Module, error) {
	var w wireModule
	if err := decodeInto(key, val, &w); err != nil {
		return nil, err
	}
	t, err := fromWire(w.CreatedAt, "CreatedAt")
	if err != nil {
		return nil, corrupt(key, err)
	}
	m := &Module{Name: w.Name, Version: w.Version, Kind: w.Kind, SHA256: w.SHA256, Size: w.Size,
		Signature: w.Signature, State: w.State, CreatedAt: t}
	if err := checkVersion(m.Version); err != nil {
		return nil, corrupt(key, err)
	}
	if want := moduleKey(kindModule, m.Name, m.Version); string(want) != string(key) {
		return nil, corrupt(key, fmt.Errorf("record holds module %q version %d", m.Name, m.Version))
	}
	return m, nil
}

// ---- scalars (idempotency entries, pointers, counters, the schema marker) ----

func encodeString(s string) ([]byte, error) { return encode(s) }

func decodeString(key, val []byte) (string, error) {
	var s string
	if err := decodeInto(key, val, &s); err != nil {
		return "", err
	}
	if s == "" {
		return "", corrupt(key, errors.New("empty reference"))
	}
	return s, nil
}

func encodeUint(v uint64) ([]byte, error) { return encode(v) }

func decodeUint(key, val []byte) (uint64, error) {
	var v uint64
	if err := decodeInto(key, val, &v); err != nil {
		return 0, err
	}
	return v, nil
}
