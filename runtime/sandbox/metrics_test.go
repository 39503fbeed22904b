package sandbox

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsRegister: the collectors register together on a registry
// beside the controller's and expose valid families once used.
func TestMetricsRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics()
	reg.MustRegister(m)
	mm := m.forModule("greedy", 3, "placement")
	mm.calls.Inc()
	mm.latency.Observe(0.0002)
	mm.failures["timeout"].Inc()
	mm.inst.Set(2)
	m.Pushes.WithLabelValues("accepted").Inc()
	m.Active.WithLabelValues("placement", "greedy").Set(3)
	m.ShadowDrops.Inc()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
		if !strings.HasPrefix(f.GetName(), "rm_module_") {
			t.Errorf("family %s outside rm_module_", f.GetName())
		}
	}
	for _, want := range []string{"rm_module_calls_total", "rm_module_failures_total", "rm_module_call_duration_seconds",
		"rm_module_instances", "rm_module_pushes_total", "rm_module_active_version", "rm_module_shadow_dropped_total"} {
		if !names[want] {
			t.Errorf("family %s missing", want)
		}
	}
	mm.forget()
	if err := reg.Register(NewMetrics()); err == nil {
		t.Error("a second set registered on the same registry: names would collide unnoticed")
	}
}
