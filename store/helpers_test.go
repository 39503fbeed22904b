package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"
)

// quietLogger drops everything below warnings: tests assert on Badger's
// warnings through captureHandler when they care.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// openTemp opens a store in a fresh temporary directory and closes it at
// the end of the test.
func openTemp(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	return openDir(t, dir, opts), dir
}

func openDir(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// reopen closes s and opens its directory again.
func reopen(t testing.TB, s *Store, opts Options) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openDir(t, s.Dir(), opts)
}

// at returns a fixed instant with nanoseconds and a non-UTC zone, so that
// round trips prove exactness.
func at(offset time.Duration) time.Time {
	base := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))
	return base.Add(offset)
}

func sampleAllocation(id string) Allocation {
	return Allocation{
		ID: id, Device: "ibm_sherbrooke", Tenant: "tenant-a", TaskID: "task-" + id,
		IdempotencyKey: "key-" + id, Qubits: []int{3, 1, 4}, Shape: "line:3",
		Request: []byte{0xa1, 0x01, 0x02}, ESP: 0.8731, Swaps: 2, Priority: 5,
		Epoch: 0xfeedface12345678, CreatedAt: at(0), LeaseExpires: at(time.Hour),
		Duration: 90 * time.Second, State: StateActive,
	}
}

// sameTime compares times as instants (the store returns UTC).
func sameTime(a, b time.Time) bool { return a.Equal(b) && a.IsZero() == b.IsZero() }

// equalAllocation compares every field, times as instants.
func equalAllocation(t *testing.T, got, want Allocation) {
	t.Helper()
	for _, p := range []struct {
		name string
		g, w time.Time
	}{{"CreatedAt", got.CreatedAt, want.CreatedAt}, {"LeaseExpires", got.LeaseExpires, want.LeaseExpires}, {"ReleasedAt", got.ReleasedAt, want.ReleasedAt}} {
		if !sameTime(p.g, p.w) {
			t.Errorf("allocation %s: %s = %v, want %v", want.ID, p.name, p.g, p.w)
		}
	}
	got.CreatedAt, got.LeaseExpires, got.ReleasedAt = time.Time{}, time.Time{}, time.Time{}
	want.CreatedAt, want.LeaseExpires, want.ReleasedAt = time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("allocation %s:\n got %+v\nwant %+v", want.ID, got, want)
	}
}

func mustErrIs(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want errors.Is(err, %v)", what, err, target)
	}
}

func noBad(t *testing.T, bad []error, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(bad) != 0 {
		t.Fatalf("%s: unexpected bad records: %v", what, bad)
	}
}

// captureHandler records every log record it is given.
type captureHandler struct {
	mu    sync.Mutex
	level slog.Level
	recs  []capturedRecord
	attrs []slog.Attr
}

type capturedRecord struct {
	level slog.Level
	msg   string
	attrs string
}

func (h *captureHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	for _, a := range h.attrs {
		fmt.Fprintf(&b, "%s=%v ", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, "%s=%v ", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, capturedRecord{level: r.Level, msg: r.Message, attrs: b.String()})
	return nil
}

func (h *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.mu.Lock()
	defer h.mu.Unlock()
	return &captureView{h: h, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}

func (h *captureHandler) WithGroup(string) slog.Handler { return h }

func (h *captureHandler) records() []capturedRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]capturedRecord(nil), h.recs...)
}

// captureView is a captureHandler with extra attributes that records into
// the same list.
type captureView struct {
	h     *captureHandler
	attrs []slog.Attr
}

func (v *captureView) Enabled(ctx context.Context, l slog.Level) bool { return v.h.Enabled(ctx, l) }

func (v *captureView) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(v.attrs...)
	return v.h.Handle(ctx, r)
}

func (v *captureView) WithAttrs(as []slog.Attr) slog.Handler {
	return &captureView{h: v.h, attrs: append(append([]slog.Attr{}, v.attrs...), as...)}
}

func (v *captureView) WithGroup(string) slog.Handler { return v }
