package store

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4/options"
)

func TestResolveOptions(t *testing.T) {
	o, err := Options{}.resolve("/x")
	if err != nil {
		t.Fatal(err)
	}
	if o.NoSync || o.MemTableSize != DefaultMemTableSize || o.ValueLogFileSize != DefaultValueLogFileSize ||
		o.BlockCacheSize != DefaultBlockCacheSize || o.IndexCacheSize != 0 || o.GCInterval != DefaultGCInterval ||
		o.GCDiscardRatio != DefaultGCDiscardRatio || o.Logger == nil {
		t.Fatalf("defaults = %+v", o)
	}
	bo := badgerOptions("/x", o)
	if bo.SyncWrites || o.JournalSegmentSize != defaultSegmentSize {
		t.Errorf("Badger syncs (%v) or journal segments are %d: durability is the journal's", bo.SyncWrites, o.JournalSegmentSize)
	}
	if bo.Compression != options.Snappy || bo.BlockCacheSize != DefaultBlockCacheSize {
		t.Errorf("default compression %v with block cache %d", bo.Compression, bo.BlockCacheSize)
	}
	if bo.ValueThreshold*100 >= bo.MemTableSize*15 {
		t.Errorf("value threshold %d not below 15%% of the memtable %d", bo.ValueThreshold, bo.MemTableSize)
	}

	// No block cache: compression goes too (Badger panics otherwise).
	o, err = Options{BlockCacheSize: -1}.resolve("/x")
	if err != nil {
		t.Fatal(err)
	}
	if bo := badgerOptions("/x", o); bo.BlockCacheSize != 0 || bo.Compression != options.None {
		t.Errorf("BlockCacheSize -1 gives cache %d, compression %v", bo.BlockCacheSize, bo.Compression)
	}
	o, err = Options{NoSync: true}.resolve("/x")
	if err != nil {
		t.Fatal(err)
	}
	if bo := badgerOptions("/x", o); bo.SyncWrites {
		t.Error("NoSync ignored")
	}

	for _, c := range []struct {
		o     Options
		field string
	}{
		{Options{MemTableSize: -1}, "MemTableSize"},
		{Options{JournalSegmentSize: -1}, "JournalSegmentSize"},
		{Options{JournalSegmentSize: MinJournalSegmentSize - 1}, "JournalSegmentSize"},
		{Options{JournalSegmentSize: MaxJournalSegmentSize + 1}, "JournalSegmentSize"},
		{Options{MemTableSize: MinMemTableSize - 1}, "MemTableSize"},
		{Options{MemTableSize: MaxMemTableSize + 1}, "MemTableSize"},
		{Options{ValueLogFileSize: -1}, "ValueLogFileSize"},
		{Options{ValueLogFileSize: 1 << 31}, "ValueLogFileSize"},
		{Options{BlockCacheSize: MaxCacheSize + 1}, "BlockCacheSize"},
		{Options{IndexCacheSize: -1}, "IndexCacheSize"},
		{Options{IndexCacheSize: 1 << 40}, "IndexCacheSize"},
		{Options{GCDiscardRatio: 1}, "GCDiscardRatio"},
		{Options{GCDiscardRatio: -0.1}, "GCDiscardRatio"},
		{Options{GCDiscardRatio: math.NaN()}, "GCDiscardRatio"},
		{Options{CalibrationTTL: -time.Second}, "CalibrationTTL"},
		{Options{EventTTL: -time.Second}, "EventTTL"},
	} {
		_, err := c.o.resolve("/x")
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "Options."+c.field) {
			t.Errorf("%+v: err = %v, want ErrInvalid naming Options.%s", c.o, err, c.field)
		}
	}
}

// Open never panics, whatever the options: every combination of a grid of
// sizes (including those that make badger.Open panic or abort when passed
// through) either opens a working store or fails with ErrInvalid.
func TestOpenOptionGridNeverPanics(t *testing.T) {
	mem := []int64{-1, 0, 1, 1 << 10, MinMemTableSize - 1, MinMemTableSize, 8 << 20, 1 << 40}
	vlog := []int64{-1, 0, 1 << 10, MinValueLogFileSize, 1<<31 - 1, 1 << 40}
	block := []int64{-1, 0, 1 << 20, 1 << 40}
	index := []int64{-1, 0, 1 << 20}
	ratio := []float64{-1, 0, 0.5, 1, math.NaN()}
	opened, rejected := 0, 0
	try := func(o Options, inMemory bool) {
		o.InMemory = inMemory
		o.Logger = quietLogger()
		o.GCInterval = -1
		name := fmt.Sprintf("%+v", o)
		dir := ""
		if !inMemory {
			dir = t.TempDir()
		}
		var s *Store
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("Open(%s) panicked: %v", name, r)
				}
			}()
			s, err = Open(dir, o)
		}()
		if err != nil {
			if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "panicked") {
				t.Fatalf("Open(%s): unexpected error %v", name, err)
			}
			rejected++
			return
		}
		opened++
		defer s.Close()
		a := sampleAllocation("grid")
		a.Request = make([]byte, 10<<10) // compressible, goes through a block
		if _, err := s.CreateAllocation(a); err != nil {
			t.Fatalf("%s: CreateAllocation: %v", name, err)
		}
		if _, err := s.GetAllocation("grid"); err != nil {
			t.Fatalf("%s: GetAllocation: %v", name, err)
		}
	}
	// Full grid of the sizes Badger is sensitive to; the other options
	// vary alone (they are validated independently).
	for _, m := range mem {
		for _, v := range vlog {
			for _, b := range block {
				for _, inMem := range []bool{false, true} {
					if inMem && v != 0 {
						continue // the value log does not exist in memory
					}
					try(Options{MemTableSize: m, ValueLogFileSize: v, BlockCacheSize: b, NoSync: true}, inMem)
				}
			}
		}
	}
	for _, i := range index {
		try(Options{IndexCacheSize: i, NoSync: true}, false)
	}
	for _, r := range ratio {
		try(Options{GCDiscardRatio: r, NoSync: true}, false)
	}
	if opened == 0 || rejected == 0 {
		t.Fatalf("grid opened %d stores and rejected %d option sets; want both", opened, rejected)
	}
	t.Logf("opened %d, rejected %d", opened, rejected)
}
