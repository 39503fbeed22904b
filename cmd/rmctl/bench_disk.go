package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/eigen-os/rm/store"
)

func init() {
	register(&command{name: "bench disk", summary: "the floor of a synced write: the store's journal writes alone, on the disk rmd would use (offline)", run: runBenchDisk})
}

// benchDiskJSON is the output of rmctl bench disk --json.
type benchDiskJSON struct {
	Dir     string  `json:"dir"`
	Direct  bool    `json:"direct"`
	Writes  int     `json:"writes"`
	Bytes   int     `json:"bytes"`
	Rate    float64 `json:"rate"`
	P50US   float64 `json:"p50_us"`
	P90US   float64 `json:"p90_us"`
	P99US   float64 `json:"p99_us"`
	P999US  float64 `json:"p999_us"`
	MaxUS   float64 `json:"max_us"`
	Seconds float64 `json:"seconds"`
}

// runBenchDisk measures what one synced journal write costs on the disk
// under --dir, with nothing else running: the floor under the latency of
// a durable allocation (rmctl bench api), which waits for one such write.
func runBenchDisk(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench disk", stderr)
	def := os.Getenv("RM_STORAGE_PATH")
	if def == "" {
		def = ".rm-data"
	}
	dir := fs.String("dir", def, "directory on the disk to measure (a temporary directory is made in it and removed; default RM_STORAGE_PATH, else ./.rm-data)")
	writes := fs.Int("writes", 4000, "number of synced writes")
	size := fs.Int("bytes", 512, "bytes per record (an allocation's record is a few hundred; a direct write covers whole 4 KB blocks either way)")
	rate := fs.Float64("rate", 800, "writes per second, paced (0: back to back); rmctl bench api --rate R makes about 2R")
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) > 0 {
		fail(stdout, stderr, *asJSON, fmt.Errorf("bench disk: unexpected arguments %q", pos))
		return 2
	}
	t0 := time.Now()
	res, err := store.ProbeJournal(*dir, *writes, *size, *rate)
	if err != nil {
		return fail(stdout, stderr, *asJSON, fmt.Errorf("bench disk: %w", err))
	}
	lat := slices.Clone(res.Latencies)
	slices.Sort(lat)
	us := func(p float64) float64 { return float64(quantile(lat, p).Nanoseconds()) / 1e3 }
	out := benchDiskJSON{Dir: *dir, Direct: res.Direct, Writes: len(lat), Bytes: *size, Rate: *rate,
		P50US: us(0.5), P90US: us(0.9), P99US: us(0.99), P999US: us(0.999), MaxUS: us(1), Seconds: time.Since(t0).Seconds()}
	if *asJSON {
		_ = printJSON(stdout, out)
		return 0
	}
	mode := "O_DIRECT|O_DSYNC"
	if !out.Direct {
		mode = "buffered O_DSYNC"
	}
	pace := fmt.Sprintf("%.0f/s", out.Rate)
	if out.Rate == 0 {
		pace = "back to back"
	}
	fmt.Fprintf(stdout, "%d synced writes of %d bytes (%s, %s) in %s\n", out.Writes, out.Bytes, mode, pace, out.Dir)
	fmt.Fprintf(stdout, "latency us: p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f\n", out.P50US, out.P90US, out.P99US, out.P999US, out.MaxUS)
	return 0
}

// quantile is the p-quantile (0 <= p <= 1) of sorted, non-empty latencies:
// the one at index p*(n-1), rounded down.
func quantile(sorted []time.Duration, p float64) time.Duration {
	return sorted[int(p*float64(len(sorted)-1))]
}
