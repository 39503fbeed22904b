package metrics

import (
	"bytes"
	"io"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestReferenceNames(t *testing.T) {
	m := New()
	m.AllocationRequests.Inc()
	m.AllocationSuccesses.Inc()
	m.AllocationFailures.Inc()
	m.AllocationLatency.Observe(0.0002)
	m.QubitUtilization.WithLabelValues("ibm_sherbrooke", "ibm_quantum").Set(0.5)
	m.CacheHitRate.Set(0.25)
	out := scrape(t, m)
	for _, want := range []string{
		"rm_allocation_requests_total 1",
		"rm_allocation_successes_total 1",
		"rm_allocation_failures_total 1",
		`rm_allocation_latency_seconds_bucket{le="0.001"} 1`,
		`rm_allocation_latency_seconds_bucket{le="0.005"} 1`,
		`rm_allocation_latency_seconds_bucket{le="1"} 1`,
		`rm_qubit_utilization{device_id="ibm_sherbrooke",device_type="ibm_quantum"} 0.5`,
		"rm_load_imbalance_score 0",
		"rm_isolation_violations_total 0",
		"rm_cache_hit_rate 0.25",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// promtool (Debian's prometheus package) must accept the exposition.
func TestPromtool(t *testing.T) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus; .ci/run does)")
	}
	m := New()
	m.AllocationRequests.Add(3)
	m.QubitUtilization.WithLabelValues("d", "t").Set(0.1)
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape(t, m))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out.String())
	}
}
