package sandbox

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// CallBuckets resolve module calls, from tens of microseconds to the
// deadline.
var CallBuckets = []float64{25e-6, 50e-6, 100e-6, 200e-6, 300e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 1}

// Metrics are the sandbox's Prometheus collectors. *Metrics is itself a
// prometheus.Collector: register it once (reg.MustRegister(m)).
//
//	rm_module_calls_total{module,version,kind,op}            calls made (op: place, score, load_device)
//	rm_module_failures_total{module,version,kind,cause}      failed calls by cause (trap, timeout, memory,
//	                                                         invalid_answer, quarantined)
//	rm_module_call_duration_seconds{module,kind,op}          latency of successful calls
//	rm_module_active_version{kind,module}                    active version of each kind (series removed on deactivation)
//	rm_module_quarantined{module,version}                    1 while quarantined
//	rm_module_instances{module,version}                      live instances
//	rm_module_pushes_total{result}                           pushes: accepted, or the check that refused them
//	rm_module_shadow_calls_total{module,version,kind}        shadow calls
//	rm_module_shadow_differences_total{module,version,kind}  shadow answers that differed from the primary
//	rm_module_shadow_dropped_total                           shadow jobs dropped (queue full)
type Metrics struct {
	Calls       *prometheus.CounterVec
	Failures    *prometheus.CounterVec
	Latency     *prometheus.HistogramVec
	Active      *prometheus.GaugeVec
	Quarantined *prometheus.GaugeVec
	Instances   *prometheus.GaugeVec
	Pushes      *prometheus.CounterVec
	ShadowCalls *prometheus.CounterVec
	ShadowDiffs *prometheus.CounterVec
	ShadowDrops prometheus.Counter
}

// NewMetrics creates the collectors (unregistered).
func NewMetrics() *Metrics {
	return &Metrics{
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rm_module_calls_total",
			Help: "Calls of strategy modules."}, []string{"module", "version", "kind", "op"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rm_module_failures_total",
			Help: "Failed calls of strategy modules, by cause; each fell back to the built-in strategy."},
			[]string{"module", "version", "kind", "cause"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rm_module_call_duration_seconds",
			Help: "Latency of successful module calls, input encoding and answer checks included.", Buckets: CallBuckets},
			[]string{"module", "kind", "op"}),
		Active: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rm_module_active_version",
			Help: "Active version of the module of each kind."}, []string{"kind", "module"}),
		Quarantined: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rm_module_quarantined",
			Help: "1 while a module version is quarantined."}, []string{"module", "version"}),
		Instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rm_module_instances",
			Help: "Live instances of a module version."}, []string{"module", "version"}),
		Pushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rm_module_pushes_total",
			Help: "Module pushes: accepted, or the check that refused them."}, []string{"result"}),
		ShadowCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rm_module_shadow_calls_total",
			Help: "Calls of modules running in shadow mode."}, []string{"module", "version", "kind"}),
		ShadowDiffs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rm_module_shadow_differences_total",
			Help: "Shadow answers that differed from the answer used."}, []string{"module", "version", "kind"}),
		ShadowDrops: prometheus.NewCounter(prometheus.CounterOpts{Name: "rm_module_shadow_dropped_total",
			Help: "Shadow jobs dropped because the shadow queue was full."}),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Calls, m.Failures, m.Latency, m.Active, m.Quarantined, m.Instances,
		m.Pushes, m.ShadowCalls, m.ShadowDiffs, m.ShadowDrops}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// moduleMetrics are one module version's pre-resolved series.
type moduleMetrics struct {
	m        *Metrics
	name     string
	version  string
	kind     string
	calls    prometheus.Counter
	loads    prometheus.Counter
	latency  prometheus.Observer
	inst     prometheus.Gauge
	quarant  prometheus.Gauge
	failures map[string]prometheus.Counter
}

func (m *Metrics) forModule(name string, version int, kind string) *moduleMetrics {
	if m == nil {
		return nil
	}
	v := strconv.Itoa(version)
	op := "place"
	if kind == "scoring" {
		op = "score"
	}
	mm := &moduleMetrics{m: m, name: name, version: v, kind: kind,
		calls:    m.Calls.WithLabelValues(name, v, kind, op),
		loads:    m.Calls.WithLabelValues(name, v, kind, "load_device"),
		latency:  m.Latency.WithLabelValues(name, kind, op),
		inst:     m.Instances.WithLabelValues(name, v),
		quarant:  m.Quarantined.WithLabelValues(name, v),
		failures: map[string]prometheus.Counter{},
	}
	for _, c := range []string{"trap", "timeout", "memory", "invalid_answer", "quarantined", "other"} {
		mm.failures[c] = m.Failures.WithLabelValues(name, v, kind, c)
	}
	return mm
}

// forget removes a closed version's gauges.
func (mm *moduleMetrics) forget() {
	if mm == nil {
		return
	}
	mm.m.Instances.DeleteLabelValues(mm.name, mm.version)
	mm.m.Quarantined.DeleteLabelValues(mm.name, mm.version)
}
