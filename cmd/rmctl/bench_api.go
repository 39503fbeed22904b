package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sort"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	rmv1 "github.com/eigen-os/rm/api/rm/v1"
	"github.com/eigen-os/rm/api/rm/v1/rmv1connect"
)

func init() {
	register(&command{name: "bench api", summary: "load a running rmd: concurrent allocate+release pairs", run: runBenchAPI})
}

// runBenchAPI drives a running rmd with concurrent clients, each looping
// allocate -> release, and reports allocate latency percentiles and the
// sustained rate of allocate+release pairs.
func runBenchAPI(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench api", stderr)
	cf := addClientFlags(fs)
	nclients := fs.Int("clients", 8, "concurrent clients")
	qubits := fs.Int("qubits", 5, "qubits per request")
	shape := fs.String("shape", "linear", "shape of each request")
	dur := fs.Duration("duration", 10*time.Second, "how long to run")
	warmup := fs.Duration("warmup", time.Second, "run this long before measuring")
	grpc := fs.Bool("grpc", false, "use the gRPC protocol (h2c) instead of Connect")
	cpuprofile := fs.String("cpuprofile", "", "write the client's CPU profile to this file (is the load generator the bottleneck?)")
	rate := fs.Float64("rate", 0, "offered load in allocate+release pairs per second, spread over the clients (0: each client as fast as it can)")
	transport := fs.String("transport", "auto", "conn: each client has one connection that it writes and reads on its own goroutine (Connect over plain HTTP/1.1); pool: the clients share Go's http.Transport (its connection pool, and a reader and a writer goroutine per connection); auto: conn unless --grpc or TLS")
	if _, err := parseFlags(fs, args); err != nil {
		return 2
	}
	sh, rows, cols, err := parseShapeFlag(*shape)
	if err != nil || *nclients < 1 || *qubits < 1 {
		return fail(stdout, stderr, *cf.asJSON, fmt.Errorf("bench api: bad --shape, --clients or --qubits"))
	}
	if *grpc {
		*cf.endpoint = "http://" + trimScheme(*cf.endpoint)
		cf.h2c = true
	}
	if *transport == "auto" {
		*transport = "pool"
		if cf.plainHTTP() {
			*transport = "conn"
		}
	}
	clients := make([]rmv1connect.ResourceManagerClient, *nclients)
	switch *transport {
	case "pool": // one client, shared
		c, err := cf.client()
		if err != nil {
			return fail(stdout, stderr, *cf.asJSON, err)
		}
		for i := range clients {
			clients[i] = c
		}
	case "conn": // a client each, with a connection of its own
		for i := range clients {
			if clients[i], err = cf.connClientFor(); err != nil {
				return fail(stdout, stderr, *cf.asJSON, err)
			}
		}
	default:
		return fail(stdout, stderr, *cf.asJSON, fmt.Errorf("bench api: --transport %q: want conn, pool or auto", *transport))
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return fail(stdout, stderr, *cf.asJSON, err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(stdout, stderr, *cf.asJSON, err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithTimeout(context.Background(), *warmup+*dur+30*time.Second)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var pairs, failures int
	start := time.Now()
	measureFrom := start.Add(*warmup)
	stopAt := measureFrom.Add(*dur)
	// With --rate, client w starts pair i at start + (i*nclients+w)/rate: an
	// open-loop schedule. When the previous pair ran past that time, the
	// latency is counted from the scheduled start, so a server that falls
	// behind is charged for the wait it causes (no coordinated omission);
	// otherwise from the moment the request is sent, so that the client's
	// own timer slack (a sleeping thread's wake-up, a few hundred
	// microseconds on a virtual machine) is not charged to the server.
	var interval time.Duration
	if *rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(*nclients) / *rate)
	}
	var wg sync.WaitGroup
	for w := 0; w < *nclients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := clients[w]
			var mine []time.Duration
			n, f := 0, 0
			for i := 0; time.Now().Before(stopAt); i++ {
				t0 := time.Now()
				if interval > 0 {
					due := start.Add(time.Duration(i)*interval + time.Duration(w)*interval/time.Duration(*nclients))
					if !due.Before(stopAt) {
						break
					}
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
						t0 = time.Now()
					} else {
						t0 = due // late because of the previous pair
					}
				}
				resp, err := c.Allocate(ctx, connect.NewRequest(&rmv1.AllocateRequest{Qubits: uint32(*qubits), Shape: sh,
					GridRows: rows, GridCols: cols, IdempotencyKey: fmt.Sprintf("bench-%d-%d-%d", t0.UnixNano(), w, i),
					Duration: durationpb.New(time.Minute)}))
				el := time.Since(t0)
				if err != nil {
					if t0.After(measureFrom) {
						f++
					}
					continue
				}
				_, err = c.Release(ctx, connect.NewRequest(&rmv1.ReleaseRequest{Id: resp.Msg.Allocation.Id}))
				if t0.After(measureFrom) {
					mine = append(mine, el)
					if err == nil {
						n++
					} else {
						f++
					}
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			pairs += n
			failures += f
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	if len(lat) == 0 {
		return fail(stdout, stderr, *cf.asJSON, fmt.Errorf("bench api: no successful allocation (%d failures)", failures))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(quantile(lat, p).Microseconds()) }
	out := map[string]any{
		"clients": *nclients, "transport": *transport, "offered_pairs_per_second": *rate, "qubits": *qubits, "shape": *shape, "seconds": dur.Seconds(),
		"allocations": len(lat), "failures": failures,
		"allocate_p50_us": pct(0.50), "allocate_p99_us": pct(0.99), "allocate_max_us": float64(lat[len(lat)-1].Microseconds()),
		"pairs_per_second": float64(pairs) / dur.Seconds(),
	}
	if *cf.asJSON {
		_ = printJSON(stdout, out)
		return 0
	}
	fmt.Fprintf(stdout, "%d clients, %d-qubit %s, %s: %d allocate+release pairs (%.0f/s), %d failures\n",
		*nclients, *qubits, *shape, *dur, pairs, float64(pairs)/dur.Seconds(), failures)
	fmt.Fprintf(stdout, "allocate latency: p50 %.0f us, p99 %.0f us, max %.0f us\n", pct(0.5), pct(0.99), float64(lat[len(lat)-1].Microseconds()))
	return 0
}

func trimScheme(s string) string {
	for _, p := range []string{"http://", "https://"} {
		if len(s) > len(p) && s[:len(p)] == p {
			return s[len(p):]
		}
	}
	return s
}
