package store

import (
	"fmt"
	"os"
	"time"
)

// ProbeResult is what ProbeJournal measured.
type ProbeResult struct {
	// Direct: the writes were O_DIRECT, as the journal makes them where
	// the file system allows (otherwise buffered, with O_DSYNC both ways).
	Direct bool
	// Latencies holds each write's time, from handing the record to the
	// journal to its being on disk, in the order written.
	Latencies []time.Duration
}

// Bounds of ProbeJournal's arguments: the probe's segment holds every
// record, and stays below maxProbeBytes.
const (
	MaxProbeWrites = 1_000_000
	MaxProbeRecord = 1 << 20
	maxProbeBytes  = 256 << 20
)

// ProbeJournal measures the floor of a durable write on the disk under dir:
// n records of size bytes go through the journal's own path (a segment
// prepared ahead, O_DSYNC, O_DIRECT where the file system allows it), one
// write each, paced at rate writes per second (0: back to back). Nothing
// else runs, so no write waits for another: what a store's synced write
// costs beyond this is the store's. The probe works in a temporary
// directory under dir (which must exist), removed afterwards, and touches
// nothing else there.
func ProbeJournal(dir string, n, size int, rate float64) (ProbeResult, error) {
	switch {
	case n < 1 || n > MaxProbeWrites:
		return ProbeResult{}, fmt.Errorf("store: probe: %w: %d writes: want 1 to %d", ErrInvalid, n, MaxProbeWrites)
	case size < 1 || size > MaxProbeRecord:
		return ProbeResult{}, fmt.Errorf("store: probe: %w: records of %d bytes: want 1 to %d", ErrInvalid, size, MaxProbeRecord)
	case int64(n)*int64(size+recordHeader) > maxProbeBytes:
		return ProbeResult{}, fmt.Errorf("store: probe: %w: %d writes of %d bytes exceed %d MB", ErrInvalid, n, size, maxProbeBytes>>20)
	case rate < 0 || rate != rate:
		return ProbeResult{}, fmt.Errorf("store: probe: %w: rate %v: want 0 (back to back) or more", ErrInvalid, rate)
	}
	tmp, err := os.MkdirTemp(dir, "journal-probe-")
	if err != nil {
		return ProbeResult{}, fmt.Errorf("store: probe: %w", err)
	}
	defer os.RemoveAll(tmp)

	// Room for every record, so that the journal never moves to another
	// segment (direct writes reach the end of the block they end in).
	segSize := (int64(n)*int64(size+recordHeader) + 2*blockSize) &^ (blockSize - 1)
	j := &journal{dir: tmp, segSize: segSize, nextID: 1, stop: make(chan struct{})}
	j.cond.L = &j.mu
	j.direct = !bufferedJournal && probeDirect(tmp)
	f, sg, err := j.createSegment(true, 0)
	if err != nil {
		return ProbeResult{}, fmt.Errorf("store: probe: %w", err)
	}
	j.f, j.cur = f, sg
	defer f.Close()

	rec := make([]byte, size)
	for i := range rec {
		rec[i] = byte(i)
	}
	res := ProbeResult{Direct: j.direct, Latencies: make([]time.Duration, 0, n)}
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
		}
		t0 := time.Now()
		seq, err := j.append(rec)
		if err == nil {
			err = j.waitLazy(seq, 0)
		}
		if err != nil {
			return res, fmt.Errorf("store: probe: write %d: %w", i+1, err)
		}
		res.Latencies = append(res.Latencies, time.Since(t0))
	}
	return res, nil
}
