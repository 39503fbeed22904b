package config

import (
	"strings"
	"testing"
	"time"
)

// The reference document's configuration file, as users know it.
const referenceYAML = `
# configs/default/resource_manager.yaml
resource_manager:
  # Allocation settings
  allocation:
    default_strategy: "topology_aware"
    fallback_strategy: "first_fit"
    enable_caching: true
    cache_ttl: "1h"

  # Load balancing settings
  load_balancing:
    enabled: true
    algorithm: "weighted_round_robin"
    weights:
      ibm_quantum: 0.3
      rigetti: 0.25
      ionq: 0.25
      simulator: 0.2
    rebalance_interval: "5m"
    imbalance_threshold: 0.2

  # Isolation settings
  isolation:
    spatial:
      enabled: true
      minimum_distance: 2  # Minimum qubits between tasks
    temporal:
      enabled: true
      time_slice_duration: "10ms"
    logical:
      enabled: false  # Requires error-correcting codes

  # Monitoring settings
  monitoring:
    collect_interval: "10s"
    metrics_retention: "7d"
    alerting:
      enabled: true
      high_utilization_threshold: 0.85
      allocation_failure_threshold: 0.05

  # Policy settings
  policies:
    allocation_policies:
      - "fair_share"
      - "priority_based"
    isolation_policies:
      - "strict_isolation_for_high_priority"
    balancing_policies:
      - "avoid_overloaded_devices"
`

func TestReferenceFile(t *testing.T) {
	c, err := Parse("reference.yaml", []byte(referenceYAML), Default())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Allocation.CacheTTL.D() != time.Hour || c.LoadBalancing.RebalanceInterval.D() != 5*time.Minute {
		t.Errorf("durations: %v %v", c.Allocation.CacheTTL, c.LoadBalancing.RebalanceInterval)
	}
	if c.Monitoring.MetricsRetention.D() != 7*24*time.Hour {
		t.Errorf("metrics_retention = %v, want 168h", c.Monitoring.MetricsRetention)
	}
	if c.Isolation.Temporal.TimeSliceDuration.D() != 10*time.Millisecond || c.Isolation.Spatial.MinimumDistance != 2 {
		t.Errorf("isolation: %+v", c.Isolation)
	}
	if c.LoadBalancing.Weights["rigetti"] != 0.25 || len(c.LoadBalancing.Weights) != 4 {
		t.Errorf("weights: %v", c.LoadBalancing.Weights)
	}
	if len(c.Policies.AllocationPolicies) != 2 || c.Policies.BalancingPolicies[0] != "avoid_overloaded_devices" {
		t.Errorf("policies: %+v", c.Policies)
	}
}

func TestDefaultsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c2, err := Parse("empty.yaml", nil, Default())
	if err != nil || c2.Server.Endpoint != c.Server.Endpoint {
		t.Fatalf("empty file: %v %+v", err, c2.Server)
	}
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown top key", "resource_manager:\n  alocation: {}\n", "unknown key resource_manager.alocation"},
		{"unknown nested key", "resource_manager:\n  isolation:\n    spatial:\n      min_distance: 3\n", "test.yaml:4: unknown key resource_manager.isolation.spatial.min_distance"},
		{"unknown root", "rm:\n  x: 1\n", `unknown key "rm"`},
		{"bad duration", "resource_manager:\n  allocation:\n    cache_ttl: \"1 hour\"\n", "test.yaml:3: resource_manager.allocation.cache_ttl: bad duration"},
		{"bad day duration", "resource_manager:\n  monitoring:\n    metrics_retention: \"xd\"\n", "resource_manager.monitoring.metrics_retention: bad duration"},
		{"wrong type", "resource_manager:\n  isolation:\n    spatial:\n      minimum_distance: two\n", "test.yaml:4: resource_manager.isolation.spatial.minimum_distance: cannot unmarshal"},
		{"wrong bool", "resource_manager:\n  allocation:\n    enable_caching: maybe\n", "resource_manager.allocation.enable_caching"},
		{"not a mapping", "resource_manager:\n  allocation: 3\n", "resource_manager.allocation: expected a mapping"},
		{"syntax", "resource_manager:\n  allocation: [\n", "test.yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(tc.yaml), Default())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestValidateNamesKey(t *testing.T) {
	cases := []struct {
		yaml, want string
	}{
		{"resource_manager:\n  isolation:\n    spatial:\n      minimum_distance: -1\n", "resource_manager.isolation.spatial.minimum_distance: -1 is out of range"},
		{"resource_manager:\n  load_balancing:\n    imbalance_threshold: 1.5\n", "resource_manager.load_balancing.imbalance_threshold"},
		{"resource_manager:\n  load_balancing:\n    algorithm: random\n", `resource_manager.load_balancing.algorithm: "random" is not one of`},
		{"resource_manager:\n  allocation:\n    default_strategy: magic\n", "resource_manager.allocation.default_strategy"},
		{"resource_manager:\n  monitoring:\n    alerting:\n      high_utilization_threshold: 0\n", "high_utilization_threshold"},
		{"resource_manager:\n  policies:\n    allocation_policies: [\"fair_share\", \"lottery\"]\n", "policies.allocation_policies[1]"},
		{"resource_manager:\n  isolation:\n    temporal:\n      time_slice_duration: \"0s\"\n", "time_slice_duration"},
		{"resource_manager:\n  access:\n    tokens:\n      - {tenant: a, token: short}\n", "access.tokens[0].token"},
		{"resource_manager:\n  isolation:\n    logical:\n      enabled: true\n", "isolation.logical.enabled"},
	}
	for _, tc := range cases {
		c, err := Parse("test.yaml", []byte(tc.yaml), Default())
		if err != nil {
			t.Fatalf("%q: parse: %v", tc.yaml, err)
		}
		err = c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestEnvOverFile(t *testing.T) {
	c, err := Parse("f.yaml", []byte("resource_manager:\n  server:\n    endpoint: 127.0.0.1:1\n  storage:\n    path: /tmp/a\n"), Default())
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"RM_ENDPOINT": "127.0.0.1:7", "RM_STORAGE_PATH": "/tmp/b", "RM_LOG_LEVEL": "DEBUG",
		"RM_ALLOCATION_STRATEGY": "noise_aware", "RM_LOAD_BALANCING_ENABLED": "false", "RM_ISOLATION_LEVEL": "temporal"}
	if err := ApplyEnv(&c, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if c.Server.Endpoint != "127.0.0.1:7" || c.Storage.Path != "/tmp/b" || c.Log.Level != "debug" ||
		c.Allocation.DefaultStrategy != "noise_aware" || c.LoadBalancing.Enabled || c.Isolation.Spatial.Enabled || !c.Isolation.Temporal.Enabled {
		t.Fatalf("env not applied: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := func(k, v string) error {
		c := Default()
		return ApplyEnv(&c, func(q string) (string, bool) {
			if q == k {
				return v, true
			}
			return "", false
		})
	}
	if err := bad("RM_LOAD_BALANCING_ENABLED", "perhaps"); err == nil || !strings.Contains(err.Error(), "RM_LOAD_BALANCING_ENABLED") {
		t.Errorf("bad bool: %v", err)
	}
	if err := bad("RM_ISOLATION_LEVEL", "total"); err == nil || !strings.Contains(err.Error(), "RM_ISOLATION_LEVEL") {
		t.Errorf("bad level: %v", err)
	}
}

func TestLoopback(t *testing.T) {
	for ep, want := range map[string]bool{"127.0.0.1:1": true, "localhost:5": true, "[::1]:9": true, "0.0.0.0:1": false, ":80": false, "10.0.0.1:3": false} {
		if IsLoopback(ep) != want {
			t.Errorf("IsLoopback(%q) = %v", ep, !want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"10ms": 10 * time.Millisecond, "7d": 168 * time.Hour, "1.5d": 36 * time.Hour, "1h30m": 90 * time.Minute} {
		d, err := ParseDuration(in)
		if err != nil || d.D() != want {
			t.Errorf("%s: %v %v", in, d, err)
		}
	}
	for _, in := range []string{"", "d", "-1s", "5", "1 h"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
