// Package metrics defines the controller's Prometheus metrics with the
// reference's names (rm_allocation_requests_total, rm_allocation_latency_seconds
// with the reference's buckets, rm_qubit_utilization{device_id,device_type},
// rm_load_imbalance_score, rm_isolation_violations, rm_cache_hit_rate, ...).
//
// Counters follow the Prometheus convention that a counter's samples end in
// _total: the reference's rm_allocation_successes counter is the metric
// family rm_allocation_successes, exposed as rm_allocation_successes_total
// (which is what OpenMetrics requires and what promtool checks).
package metrics

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// LatencyBuckets are the reference's buckets for rm_allocation_latency_seconds.
var LatencyBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0}

// DecisionBuckets resolve the allocator's microsecond decisions.
var DecisionBuckets = []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3}

// Metrics is one controller's set of metrics, registered on its own registry.
type Metrics struct {
	Registry *prometheus.Registry

	hookMu sync.Mutex
	hooks  []func()

	AllocationRequests  prometheus.Counter
	AllocationSuccesses prometheus.Counter
	AllocationFailures  prometheus.Counter
	FailuresByReason    *prometheus.CounterVec
	AllocationLatency   prometheus.Histogram
	Releases            prometheus.Counter
	LeaseExpiries       prometheus.Counter

	QubitUtilization  *prometheus.GaugeVec
	DeviceUtilization *prometheus.GaugeVec
	GateUtilization   *prometheus.GaugeVec
	ActiveAllocations prometheus.Gauge
	QueueLength       prometheus.Gauge

	LoadImbalanceScore  prometheus.Gauge
	RebalanceOperations prometheus.Counter
	RebalanceLatency    prometheus.Histogram

	IsolationViolations prometheus.Counter
	IsolationOverhead   prometheus.Histogram

	DecisionTime      prometheus.Histogram
	Speculation       *prometheus.CounterVec
	CacheHitRate      prometheus.Gauge
	CalibrationEpoch  prometheus.Gauge
	CalibrationEvents prometheus.Counter
	StoreWriteLatency prometheus.Histogram
}

// New creates the metrics on a fresh registry, with Go and process collectors.
func New() *Metrics {
	r := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	m := &Metrics{Registry: r}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		f(c)
		return c
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		f(g)
		return g
	}
	hist := func(name, help string, b []float64) prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: b})
		f(h)
		return h
	}
	devLabels := []string{"device_id", "device_type"}
	gaugeVec := func(name, help string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, devLabels)
		f(g)
		return g
	}

	m.AllocationRequests = counter("rm_allocation_requests_total", "Total number of allocation requests")
	m.AllocationSuccesses = counter("rm_allocation_successes_total", "Allocation requests that were granted")
	m.AllocationFailures = counter("rm_allocation_failures_total", "Allocation requests that were refused or failed")
	m.FailuresByReason = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rm_allocation_failures_by_reason_total",
		Help: "Allocation failures by reason (invalid, no_fit, fidelity, timeout, offline, internal)"}, []string{"reason"})
	f(m.FailuresByReason)
	m.AllocationLatency = hist("rm_allocation_latency_seconds", "Allocation decision latency", LatencyBuckets)
	m.Releases = counter("rm_releases_total", "Allocations released by their clients")
	m.LeaseExpiries = counter("rm_lease_expiries_total", "Allocations released because their lease expired")

	m.QubitUtilization = gaugeVec("rm_qubit_utilization", "Qubit utilization per device")
	m.DeviceUtilization = gaugeVec("rm_device_utilization", "Device utilization: qubits allocated or kept idle as buffers, over usable qubits")
	m.GateUtilization = gaugeVec("rm_gate_utilization", "Fraction of usable couplers inside allocations")
	m.ActiveAllocations = gauge("rm_active_allocations", "Allocations currently held")
	m.QueueLength = gauge("rm_queue_length", "Requests waiting in the queue")

	m.LoadImbalanceScore = gauge("rm_load_imbalance_score", "Load imbalance across the fleet (0 balanced .. 1)")
	m.RebalanceOperations = counter("rm_rebalance_operations_total", "Rebalance plans executed")
	m.RebalanceLatency = hist("rm_rebalance_latency_seconds", "Time to compute and execute a rebalance plan", LatencyBuckets)

	m.IsolationViolations = counter("rm_isolation_violations_total", "Placements refused by validation for breaking isolation (from any strategy)")
	m.IsolationOverhead = hist("rm_isolation_overhead", "Idle buffer qubits kept around an allocation", []float64{0, 1, 2, 4, 8, 16, 32, 64})

	m.DecisionTime = hist("rm_decision_making_time_seconds", "Time of the placement search alone", DecisionBuckets)
	m.Speculation = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rm_speculative_placements_total",
		Help: "Placements searched outside the controller's lock, by outcome (used, searched_again: the state changed under them)"}, []string{"outcome"})
	f(m.Speculation)
	m.CacheHitRate = gauge("rm_cache_hit_rate", "Allocation cache hit rate since start")
	m.CalibrationEpoch = gauge("rm_calibration_epoch_info", "Low 52 bits of the current calibration epoch")
	m.CalibrationEvents = counter("rm_calibration_events_total", "Calibration epochs seen")
	m.StoreWriteLatency = hist("rm_store_write_seconds", "Synced store writes", DecisionBuckets)

	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format (and OpenMetrics
// when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Gatherer(), promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: m.Registry})
}

// OnGather registers fn to run before every gathering (a scrape): gauges
// that are costly to keep current on every change are computed there.
func (m *Metrics) OnGather(fn func()) {
	m.hookMu.Lock()
	m.hooks = append(m.hooks, fn)
	m.hookMu.Unlock()
}

// Gatherer gathers the registry after running the OnGather hooks.
func (m *Metrics) Gatherer() prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		m.hookMu.Lock()
		hooks := m.hooks
		m.hookMu.Unlock()
		for _, fn := range hooks {
			fn()
		}
		return m.Registry.Gather()
	})
}
