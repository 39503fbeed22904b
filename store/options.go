package store

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Defaults and bounds of Options. Memtables of 16 MB are flushed rarely
// enough (every several seconds at thousands of writes a second) that their
// tables do not crowd the journal's writes on the disk, and their write-ahead
// pages are dropped unwritten; an idle store touches little of them.
const (
	DefaultMemTableSize     = 16 << 20
	MinMemTableSize         = 1 << 20
	MaxMemTableSize         = 256 << 20
	DefaultValueLogFileSize = 16 << 20
	MinValueLogFileSize     = 1 << 20
	MaxValueLogFileSize     = 1 << 30
	DefaultBlockCacheSize   = 4 << 20
	MaxCacheSize            = 1 << 30
	DefaultGCInterval       = 5 * time.Minute
	DefaultGCDiscardRatio   = 0.5
	MinJournalSegmentSize   = 64 << 10
	MaxJournalSegmentSize   = 1 << 30

	// valueThreshold: values at least this large go to the value log, smaller
	// ones live in the LSM tree. Records are a few hundred bytes; module
	// binaries and large summaries go to the value log. It must stay below
	// 15% of the memtable (Badger's batch limit), which MinMemTableSize
	// guarantees.
	valueThreshold = 64 << 10
)

// Options configure a Store. The zero value is a sensible, durable
// configuration: every mutation is durable (in the journal) before it
// returns, 16 MB memtables and value-log files, value-log GC every five
// minutes.
type Options struct {
	// NoSync turns off the journal: no mutation is synced, and an
	// acknowledged write may be lost if the machine (not only the process)
	// goes down. The default (false) makes every mutation durable before it
	// returns, which the controller needs before it acknowledges an
	// allocation.
	NoSync bool

	// MemTableSize is the size of each of Badger's two memtables. 0 means
	// DefaultMemTableSize; otherwise it must lie in [MinMemTableSize,
	// MaxMemTableSize].
	MemTableSize int64

	// ValueLogFileSize is the size at which a value-log file is rotated.
	// 0 means DefaultValueLogFileSize; otherwise it must lie in
	// [MinValueLogFileSize, MaxValueLogFileSize]. No single value (a module
	// binary, say) may be larger.
	ValueLogFileSize int64

	// BlockCacheSize is the block cache in bytes. 0 means
	// DefaultBlockCacheSize; a negative value turns the cache off, and with
	// it block compression (Badger requires a cache to decompress). At most
	// MaxCacheSize.
	BlockCacheSize int64

	// IndexCacheSize bounds the memory used by table indexes and bloom
	// filters. 0 keeps them all in memory (best for a store this small);
	// otherwise at most MaxCacheSize. Negative values are rejected.
	IndexCacheSize int64

	// Logger receives Badger's messages under component=badger: its errors
	// and warnings at their level, its info lines at debug level and its
	// debug lines below debug. nil means slog.Default().
	Logger *slog.Logger

	// GCInterval is the period of value-log garbage collection. 0 means
	// DefaultGCInterval; a negative value turns the schedule off
	// (CollectGarbage still runs it on demand).
	GCInterval time.Duration

	// GCDiscardRatio: a value-log file is rewritten when at least this
	// fraction of it is garbage. 0 means DefaultGCDiscardRatio; otherwise it
	// must lie strictly between 0 and 1.
	GCDiscardRatio float64

	// InMemory keeps everything in memory (tests). Open's dir must be "".
	InMemory bool

	// CalibrationTTL, when positive, gives every calibration record a Badger
	// time-to-live ending CalibrationTTL after the record's Time, so that the
	// history is bounded even if PruneCalibrations is never called (the
	// controller's metrics_retention). 0 keeps records until pruned.
	CalibrationTTL time.Duration

	// JournalSegmentSize is the size of the write-ahead journal's segment
	// files: when one is full, writing moves to a new one, and the full one
	// is deleted once Badger has made its records durable (journal.go). 0
	// means 8 MB; otherwise it
	// must lie in [MinJournalSegmentSize, MaxJournalSegmentSize].
	JournalSegmentSize int64

	// EventTTL, when positive, does the same for events (counted from the
	// event's Time). 0 keeps events until PruneEvents removes them.
	EventTTL time.Duration
}

// resolve validates o and fills in defaults. Every error names the field.
func (o Options) resolve(dir string) (Options, error) {
	bad := func(field string, v any, rule string) (Options, error) {
		return o, fmt.Errorf("%w: Options.%s = %v: %s", ErrInvalid, field, v, rule)
	}
	if o.InMemory && dir != "" {
		return bad("InMemory", true, fmt.Sprintf("the directory must be empty, got %q", dir))
	}
	if !o.InMemory && dir == "" {
		return o, fmt.Errorf("%w: no directory given (set Options.InMemory for a store without one)", ErrInvalid)
	}
	// size takes 0 as the default and otherwise wants lo..hi bytes.
	size := func(field string, v *int64, def, lo, hi int64) error {
		switch {
		case *v == 0:
			*v = def
		case *v < lo || *v > hi:
			_, err := bad(field, *v, fmt.Sprintf("want 0 (default %d) or %d..%d bytes", def, lo, hi))
			return err
		}
		return nil
	}
	if err := size("MemTableSize", &o.MemTableSize, DefaultMemTableSize, MinMemTableSize, MaxMemTableSize); err != nil {
		return o, err
	}
	if err := size("ValueLogFileSize", &o.ValueLogFileSize, DefaultValueLogFileSize, MinValueLogFileSize, MaxValueLogFileSize); err != nil {
		return o, err
	}
	if err := size("JournalSegmentSize", &o.JournalSegmentSize, defaultSegmentSize, MinJournalSegmentSize, MaxJournalSegmentSize); err != nil {
		return o, err
	}
	switch {
	case o.BlockCacheSize == 0:
		o.BlockCacheSize = DefaultBlockCacheSize
	case o.BlockCacheSize > MaxCacheSize:
		return bad("BlockCacheSize", o.BlockCacheSize, fmt.Sprintf("at most %d bytes", MaxCacheSize))
	case o.BlockCacheSize < 0:
		o.BlockCacheSize = -1 // off; badgerOptions turns compression off too
	}
	if o.IndexCacheSize < 0 || o.IndexCacheSize > MaxCacheSize {
		return bad("IndexCacheSize", o.IndexCacheSize, fmt.Sprintf("want 0 (all in memory) or up to %d bytes", MaxCacheSize))
	}
	if o.GCInterval == 0 {
		o.GCInterval = DefaultGCInterval
	}
	switch {
	case o.GCDiscardRatio == 0:
		o.GCDiscardRatio = DefaultGCDiscardRatio
	case math.IsNaN(o.GCDiscardRatio) || o.GCDiscardRatio <= 0 || o.GCDiscardRatio >= 1:
		return bad("GCDiscardRatio", o.GCDiscardRatio, "want 0 (default 0.5) or a fraction strictly between 0 and 1")
	}
	if o.CalibrationTTL < 0 {
		return bad("CalibrationTTL", o.CalibrationTTL, "must not be negative")
	}
	if o.EventTTL < 0 {
		return bad("EventTTL", o.EventTTL, "must not be negative")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// badgerOptions translates resolved options. Every combination it produces
// passes Badger's own checks without panicking: the value threshold is below
// the batch limit of the smallest memtable, and compression is on only with a
// block cache.
func badgerOptions(dir string, o Options) badger.Options {
	bo := badger.DefaultOptions(dir).
		WithInMemory(o.InMemory).
		// Badger never syncs: durability comes from the store's own
		// journal (journal.go), one small O_DSYNC write per group commit.
		WithSyncWrites(false).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(2).
		WithValueLogFileSize(o.ValueLogFileSize).
		WithValueThreshold(valueThreshold).
		WithIndexCacheSize(o.IndexCacheSize).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithMetricsEnabled(false).
		WithVerifyValueChecksum(true).
		WithLogger(&badgerLogger{l: o.Logger.With("component", "badger")})
	if o.BlockCacheSize > 0 {
		bo = bo.WithBlockCacheSize(o.BlockCacheSize).WithCompression(options.Snappy)
	} else {
		bo = bo.WithBlockCacheSize(0).WithCompression(options.None)
	}
	return bo
}

// levelTrace is below slog.LevelDebug: Badger's own debug lines.
const levelTrace = slog.LevelDebug - 4

// badgerLogger adapts slog to badger.Logger. Badger's INFO lines (table
// loading, replay, compaction) are routine, so they go out at debug level.
type badgerLogger struct{ l *slog.Logger }

func (b *badgerLogger) log(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return
	}
	b.l.Log(ctx, level, strings.TrimRight(fmt.Sprintf(format, args...), "\n"))
}

func (b *badgerLogger) Errorf(format string, args ...any) { b.log(slog.LevelError, format, args) }
func (b *badgerLogger) Warningf(format string, args ...any) {
	b.log(slog.LevelWarn, format, args)
}
func (b *badgerLogger) Infof(format string, args ...any)  { b.log(slog.LevelDebug, format, args) }
func (b *badgerLogger) Debugf(format string, args ...any) { b.log(levelTrace, format, args) }
