// Package config reads the controller's configuration: the reference's YAML
// file (`resource_manager:` with allocation, load_balancing, isolation,
// monitoring and policies, plus this controller's own sections), the RM_*
// environment variables, and command-line flags. Precedence: flags over
// environment over file over defaults.
//
// Unknown keys, bad durations and out-of-range values are refused with an
// error that names the key (and the line of the file).
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as text: Go's units ("10ms", "1h30m")
// plus "d" for days ("7d").
type Duration time.Duration

// ParseDuration parses Go durations and a plain day count ("7d", "1.5d").
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "d") && !strings.HasSuffix(s, "ms") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad duration %q (use e.g. 10ms, 5m, 1h, 7d)", s)
		}
		return Duration(time.Duration(n * float64(24*time.Hour))), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (use e.g. 10ms, 5m, 1h, 7d)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("bad duration %q: negative", s)
	}
	return Duration(d), nil
}

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration as Go does.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML accepts a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("expected a duration such as \"10ms\" or \"7d\"")
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML writes the duration as text.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Config is the whole configuration. Field names follow the reference's YAML.
type Config struct {
	Allocation    Allocation    `yaml:"allocation"`
	LoadBalancing LoadBalancing `yaml:"load_balancing"`
	Isolation     Isolation     `yaml:"isolation"`
	Monitoring    Monitoring    `yaml:"monitoring"`
	Policies      Policies      `yaml:"policies"`

	// This controller's own sections (not in the reference).
	Server     Server     `yaml:"server"`
	Storage    Storage    `yaml:"storage"`
	Device     Device     `yaml:"device"`
	Access     Access     `yaml:"access"`
	Log        Log        `yaml:"log"`
	Federation Federation `yaml:"federation"`
	Modules    Modules    `yaml:"modules"`
}

// Modules configures the WebAssembly strategy modules.
type Modules struct {
	Enabled bool `yaml:"enabled"`
	// CacheDir keeps compiled modules (default: <storage.path>/module-cache).
	CacheDir string `yaml:"cache_dir"`
	// WatchDir, when set, is polled for .wasm files (with optional .sig
	// beside them) that are pushed and activated.
	WatchDir string `yaml:"watch_dir"`
	// TrustedKeys are ed25519 public keys (PEM, hex or base64); when set,
	// every module must be signed by one of them.
	TrustedKeys []string `yaml:"trusted_keys"`
	// CallTimeout is the deadline of one module call; MemoryPages the
	// memory limit of an instance (64 KiB pages).
	CallTimeout Duration `yaml:"call_timeout"`
	MemoryPages int      `yaml:"memory_pages"`
	// MaxSize bounds a module binary in bytes.
	MaxSize int `yaml:"max_size"`
}

// Federation is how this controller joins its fleet over MQTT.
type Federation struct {
	// Enabled joins the fleet (default true: controllers on one machine
	// federate out of the box through the embedded broker).
	Enabled bool `yaml:"enabled"`
	// Broker is an external broker ("tcp://host:1883", "ssl://host:8883");
	// empty: the embedded broker at EmbeddedAddr (RM_BROKER).
	Broker       string `yaml:"broker"`
	EmbeddedAddr string `yaml:"embedded_addr"`
	Site         string `yaml:"site"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	// CAFile verifies an ssl:// broker (empty: system roots).
	CAFile         string   `yaml:"ca_file"`
	KeepAlive      Duration `yaml:"keepalive"`
	StateInterval  Duration `yaml:"state_interval"`
	ForwardTimeout Duration `yaml:"forward_timeout"`
	JSONTelemetry  bool     `yaml:"json_telemetry"`
}

// Allocation settings (reference: resource_manager.allocation).
type Allocation struct {
	DefaultStrategy  string   `yaml:"default_strategy"`  // topology_aware | noise_aware | first_fit
	FallbackStrategy string   `yaml:"fallback_strategy"` // used when the default cannot place
	EnableCaching    bool     `yaml:"enable_caching"`
	CacheTTL         Duration `yaml:"cache_ttl"`
	// Search budget per request in search nodes (deterministic) and a wall-clock safety net.
	SearchNodes    int      `yaml:"search_nodes"`
	SearchDeadline Duration `yaml:"search_deadline"`
	// Weight of the fragmentation tie-break (0: pure ESP).
	FragmentationWeight float64 `yaml:"fragmentation_weight"`
	// Default task duration when a request gives none, and the lease grace.
	DefaultDuration Duration `yaml:"default_duration"`
	LeaseGrace      Duration `yaml:"lease_grace"`
	// How long a request may wait in the queue at most (requests may ask less).
	MaxWaitTime Duration `yaml:"max_wait_time"`
	// Largest number of queued requests.
	MaxQueue int `yaml:"max_queue"`
}

// LoadBalancing settings (reference: resource_manager.load_balancing).
type LoadBalancing struct {
	Enabled            bool               `yaml:"enabled"`
	Algorithm          string             `yaml:"algorithm"` // weighted_round_robin | least_loaded | best_fidelity | fidelity_wait
	Weights            map[string]float64 `yaml:"weights"`
	RebalanceInterval  Duration           `yaml:"rebalance_interval"`
	ImbalanceThreshold float64            `yaml:"imbalance_threshold"`
}

// Isolation settings (reference: resource_manager.isolation).
type Isolation struct {
	Spatial struct {
		Enabled         bool `yaml:"enabled"`
		MinimumDistance int  `yaml:"minimum_distance"`
		// Buffer for high-priority tasks under strict_isolation_for_high_priority.
		HighPriorityDistance int `yaml:"high_priority_distance"`
	} `yaml:"spatial"`
	Temporal struct {
		Enabled           bool     `yaml:"enabled"`
		TimeSliceDuration Duration `yaml:"time_slice_duration"`
	} `yaml:"temporal"`
	Logical struct {
		Enabled bool `yaml:"enabled"`
	} `yaml:"logical"`
}

// Monitoring settings (reference: resource_manager.monitoring).
type Monitoring struct {
	CollectInterval  Duration `yaml:"collect_interval"`
	MetricsRetention Duration `yaml:"metrics_retention"`
	Alerting         struct {
		Enabled                    bool    `yaml:"enabled"`
		HighUtilizationThreshold   float64 `yaml:"high_utilization_threshold"`
		AllocationFailureThreshold float64 `yaml:"allocation_failure_threshold"`
	} `yaml:"alerting"`
}

// Policies (reference: resource_manager.policies).
type Policies struct {
	AllocationPolicies []string `yaml:"allocation_policies"`
	IsolationPolicies  []string `yaml:"isolation_policies"`
	BalancingPolicies  []string `yaml:"balancing_policies"`
	// Priority at and above which a task is "high priority".
	HighPriority int `yaml:"high_priority"`
}

// Server is where the API and metrics listen.
type Server struct {
	Endpoint        string `yaml:"endpoint"`         // host:port of the API (RM_ENDPOINT)
	MetricsEndpoint string `yaml:"metrics_endpoint"` // "" = /metrics on the API port
	// PprofEndpoint, when set, serves Go's profiler (net/http/pprof) there;
	// loopback addresses only.
	PprofEndpoint string `yaml:"pprof_endpoint"`
	TLSCert       string `yaml:"tls_cert"`
	TLSKey        string `yaml:"tls_key"`
	// Insecure allows a non-loopback endpoint with no tokens configured.
	Insecure        bool     `yaml:"insecure"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// Storage is the local store.
type Storage struct {
	Path       string   `yaml:"path"` // RM_STORAGE_PATH
	SyncWrites bool     `yaml:"sync_writes"`
	GCInterval Duration `yaml:"gc_interval"`
}

// Device is the device this controller serves.
type Device struct {
	// Path is a calibration folder or a synthetic name ("synthetic:heavyhex-127").
	Path string `yaml:"path"`
	ID   string `yaml:"id"`   // device id in metrics and the fleet; default: the device name
	Type string `yaml:"type"` // device type label (ibm_quantum, rigetti, ...); default from the vendor
	// Simulated calibration drift (hal/sim).
	DriftInterval Duration `yaml:"drift_interval"`
	DriftSigma    float64  `yaml:"drift_sigma"`
	Seed          int64    `yaml:"seed"`
}

// Access holds bearer tokens.
type Access struct {
	Tokens []Token `yaml:"tokens"`
}

// Token grants a tenant (and optionally the admin role) to a bearer token.
type Token struct {
	Tenant string `yaml:"tenant"`
	Token  string `yaml:"token"`
	Role   string `yaml:"role"` // tenant (default) | admin
	// Expires, when set, is an RFC 3339 time after which the token is refused.
	Expires string `yaml:"expires"`
}

// Log settings.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error (RM_LOG_LEVEL)
	Format string `yaml:"format"` // text | json
}

// Known policy and strategy names.
var (
	Strategies          = []string{"topology_aware", "noise_aware", "first_fit"}
	BalancingAlgorithms = []string{"weighted_round_robin", "least_loaded", "best_fidelity", "fidelity_wait"}
	AllocationPolicies  = []string{"fair_share", "priority_based"}
	IsolationPolicies   = []string{"strict_isolation_for_high_priority"}
	BalancingPolicies   = []string{"avoid_overloaded_devices"}
	IsolationLevels     = []string{"none", "spatial", "temporal", "spatial_temporal"}
	LogLevels           = []string{"debug", "info", "warn", "error"}
)

// Default returns the reference's defaults, with this controller's own
// settings: a local store under ./.rm-data and the API on 127.0.0.1:50052.
func Default() Config {
	var c Config
	c.Allocation = Allocation{DefaultStrategy: "topology_aware", FallbackStrategy: "noise_aware", EnableCaching: true,
		CacheTTL: Duration(time.Hour), SearchNodes: 100000, SearchDeadline: Duration(5 * time.Millisecond),
		FragmentationWeight: 0.05, DefaultDuration: Duration(time.Minute), LeaseGrace: Duration(30 * time.Second),
		MaxWaitTime: Duration(30 * time.Second), MaxQueue: 10000}
	c.LoadBalancing = LoadBalancing{Enabled: true, Algorithm: "weighted_round_robin",
		Weights:           map[string]float64{"ibm_quantum": 0.3, "rigetti": 0.25, "ionq": 0.25, "simulator": 0.2},
		RebalanceInterval: Duration(5 * time.Minute), ImbalanceThreshold: 0.2}
	c.Isolation.Spatial.Enabled = true
	c.Isolation.Spatial.MinimumDistance = 2
	c.Isolation.Spatial.HighPriorityDistance = 3
	c.Isolation.Temporal.Enabled = true
	c.Isolation.Temporal.TimeSliceDuration = Duration(10 * time.Millisecond)
	c.Monitoring.CollectInterval = Duration(10 * time.Second)
	c.Monitoring.MetricsRetention = Duration(7 * 24 * time.Hour)
	c.Monitoring.Alerting.Enabled = true
	c.Monitoring.Alerting.HighUtilizationThreshold = 0.85
	c.Monitoring.Alerting.AllocationFailureThreshold = 0.05
	c.Policies = Policies{AllocationPolicies: []string{"fair_share", "priority_based"},
		IsolationPolicies: []string{"strict_isolation_for_high_priority"},
		BalancingPolicies: []string{"avoid_overloaded_devices"}, HighPriority: 10}
	c.Server = Server{Endpoint: "127.0.0.1:50052", ShutdownTimeout: Duration(10 * time.Second)}
	c.Storage = Storage{Path: ".rm-data", SyncWrites: true, GCInterval: Duration(5 * time.Minute)}
	c.Device = Device{Path: "synthetic:heavyhex-127", DriftSigma: 0.02, Seed: 1}
	c.Log = Log{Level: "info", Format: "text"}
	c.Modules = Modules{Enabled: true, CallTimeout: Duration(50 * time.Millisecond), MemoryPages: 512, MaxSize: 32 << 20}
	c.Federation = Federation{Enabled: true, EmbeddedAddr: "127.0.0.1:1883", Site: "default",
		KeepAlive: Duration(10 * time.Second), StateInterval: Duration(5 * time.Second), ForwardTimeout: Duration(2 * time.Second)}
	return c
}

type file struct {
	ResourceManager *yaml.Node `yaml:"resource_manager"`
}

// Parse reads a configuration file's bytes over the defaults. name is used
// in error messages.
func Parse(name string, data []byte, base Config) (Config, error) {
	var top yaml.Node
	if err := yaml.Unmarshal(data, &top); err != nil {
		return base, fmt.Errorf("%s: %v", name, err)
	}
	if len(top.Content) == 0 {
		return base, nil // empty file: defaults
	}
	root := top.Content[0]
	if root.Kind != yaml.MappingNode {
		return base, fmt.Errorf("%s:%d: expected a mapping with a resource_manager key", name, root.Line)
	}
	var rm *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if k.Value != "resource_manager" {
			return base, fmt.Errorf("%s:%d: unknown key %q (the file holds one key, resource_manager)", name, k.Line, k.Value)
		}
		rm = root.Content[i+1]
	}
	if rm == nil || rm.Kind == yaml.ScalarNode && rm.Value == "" {
		return base, nil
	}
	if err := checkKeys(name, "resource_manager", rm, reflect.TypeOf(Config{})); err != nil {
		return base, err
	}
	c := base
	if err := rm.Decode(&c); err != nil {
		return base, fmt.Errorf("%s: resource_manager: %v", name, fixYAMLError(err))
	}
	return c, nil
}

// fixYAMLError turns yaml's type errors into one line.
func fixYAMLError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return err.Error()
}

// checkKeys walks the YAML tree against the Go type and reports the first
// unknown key, or the first value of the wrong type, with its full path and
// line (yaml's own messages lack the path).
func checkKeys(name, path string, n *yaml.Node, t reflect.Type) error {
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil
		}
		return fmt.Errorf("%s:%d: %s: expected a mapping", name, n.Line, path)
	}
	fields := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok {
			known := make([]string, 0, len(fields))
			for f := range fields {
				known = append(known, f)
			}
			sort.Strings(known)
			return fmt.Errorf("%s:%d: unknown key %s.%s (known: %s)", name, k.Line, path, k.Value, strings.Join(known, ", "))
		}
		p := path + "." + k.Value
		if ft.Kind() == reflect.Struct {
			if err := checkKeys(name, p, v, ft); err != nil {
				return err
			}
			continue
		}
		if err := v.Decode(reflect.New(ft).Interface()); err != nil {
			return fmt.Errorf("%s:%d: %s: %s", name, v.Line, p, strings.TrimPrefix(fixYAMLError(err), fmt.Sprintf("line %d: ", v.Line)))
		}
	}
	return nil
}

// yamlFields maps the yaml names of a struct's fields to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		m[tag] = f.Type
	}
	return m
}

// LoadFile reads a configuration file over the defaults.
func LoadFile(path string, base Config) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return base, fmt.Errorf("configuration: %v", err)
	}
	return Parse(path, data, base)
}

// Env is the environment, as a lookup function (os.LookupEnv in production).
type Env func(string) (string, bool)

// ApplyEnv applies the reference's RM_* variables over c.
func ApplyEnv(c *Config, env Env) error {
	if v, ok := env("RM_ENDPOINT"); ok && v != "" {
		c.Server.Endpoint = v
	}
	if v, ok := env("RM_STORAGE_PATH"); ok && v != "" {
		c.Storage.Path = v
	}
	if v, ok := env("RM_LOG_LEVEL"); ok && v != "" {
		c.Log.Level = strings.ToLower(v)
	}
	if v, ok := env("RM_ALLOCATION_STRATEGY"); ok && v != "" {
		c.Allocation.DefaultStrategy = v
	}
	if v, ok := env("RM_LOAD_BALANCING_ENABLED"); ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("RM_LOAD_BALANCING_ENABLED: %q is not true or false", v)
		}
		c.LoadBalancing.Enabled = b
	}
	if v, ok := env("RM_ISOLATION_LEVEL"); ok && v != "" {
		if err := SetIsolationLevel(c, v); err != nil {
			return fmt.Errorf("RM_ISOLATION_LEVEL: %v", err)
		}
	}
	if v, ok := env("RM_BROKER"); ok && v != "" {
		c.Federation.Broker = v
	}
	if v, ok := env("RM_DEVICE"); ok && v != "" {
		c.Device.Path = v
	}
	return nil
}

// SetIsolationLevel maps none|spatial|temporal|spatial_temporal onto the
// isolation switches.
func SetIsolationLevel(c *Config, level string) error {
	switch strings.ToLower(level) {
	case "none":
		c.Isolation.Spatial.Enabled, c.Isolation.Temporal.Enabled = false, false
	case "spatial":
		c.Isolation.Spatial.Enabled, c.Isolation.Temporal.Enabled = true, false
	case "temporal":
		c.Isolation.Spatial.Enabled, c.Isolation.Temporal.Enabled = false, true
	case "spatial_temporal":
		c.Isolation.Spatial.Enabled, c.Isolation.Temporal.Enabled = true, true
	default:
		return fmt.Errorf("unknown isolation level %q (one of %s)", level, strings.Join(IsolationLevels, ", "))
	}
	return nil
}

// Validate checks ranges and names; the error names the key.
func (c *Config) Validate() error {
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, "resource_manager."+key+": "+fmt.Sprintf(format, args...))
	}
	oneOf := func(key, v string, allowed []string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	oneOf("allocation.default_strategy", c.Allocation.DefaultStrategy, Strategies)
	oneOf("allocation.fallback_strategy", c.Allocation.FallbackStrategy, Strategies)
	if c.Allocation.SearchNodes < 1 || c.Allocation.SearchNodes > 1e9 {
		bad("allocation.search_nodes", "%d is out of range 1..1e9", c.Allocation.SearchNodes)
	}
	if c.Allocation.SearchDeadline.D() <= 0 || c.Allocation.SearchDeadline.D() > 10*time.Second {
		bad("allocation.search_deadline", "%s is out of range (0, 10s]", c.Allocation.SearchDeadline)
	}
	if c.Allocation.FragmentationWeight < 0 || c.Allocation.FragmentationWeight > 10 {
		bad("allocation.fragmentation_weight", "%g is out of range 0..10", c.Allocation.FragmentationWeight)
	}
	if c.Allocation.DefaultDuration.D() <= 0 {
		bad("allocation.default_duration", "must be positive")
	}
	if c.Allocation.MaxQueue < 0 {
		bad("allocation.max_queue", "must not be negative")
	}
	oneOf("load_balancing.algorithm", c.LoadBalancing.Algorithm, BalancingAlgorithms)
	for k, w := range c.LoadBalancing.Weights {
		if w < 0 || w > 1e6 {
			bad("load_balancing.weights."+k, "%g is out of range 0..1e6", w)
		}
	}
	if c.LoadBalancing.ImbalanceThreshold < 0 || c.LoadBalancing.ImbalanceThreshold > 1 {
		bad("load_balancing.imbalance_threshold", "%g is out of range 0..1", c.LoadBalancing.ImbalanceThreshold)
	}
	if c.LoadBalancing.RebalanceInterval.D() < time.Second {
		bad("load_balancing.rebalance_interval", "%s is shorter than 1s", c.LoadBalancing.RebalanceInterval)
	}
	if d := c.Isolation.Spatial.MinimumDistance; d < 0 || d > 16 {
		bad("isolation.spatial.minimum_distance", "%d is out of range 0..16", d)
	}
	if d := c.Isolation.Spatial.HighPriorityDistance; d < 0 || d > 16 {
		bad("isolation.spatial.high_priority_distance", "%d is out of range 0..16", d)
	}
	if t := c.Isolation.Temporal.TimeSliceDuration.D(); t < time.Microsecond || t > time.Hour {
		bad("isolation.temporal.time_slice_duration", "%s is out of range 1us..1h", t)
	}
	if c.Isolation.Logical.Enabled {
		bad("isolation.logical.enabled", "logical isolation needs error-correcting codes, which this controller does not provide yet")
	}
	if c.Monitoring.CollectInterval.D() < 100*time.Millisecond {
		bad("monitoring.collect_interval", "%s is shorter than 100ms", c.Monitoring.CollectInterval)
	}
	if c.Monitoring.MetricsRetention.D() < time.Minute {
		bad("monitoring.metrics_retention", "%s is shorter than 1m", c.Monitoring.MetricsRetention)
	}
	if t := c.Monitoring.Alerting.HighUtilizationThreshold; t <= 0 || t > 1 {
		bad("monitoring.alerting.high_utilization_threshold", "%g is out of range (0, 1]", t)
	}
	if t := c.Monitoring.Alerting.AllocationFailureThreshold; t < 0 || t > 1 {
		bad("monitoring.alerting.allocation_failure_threshold", "%g is out of range 0..1", t)
	}
	for i, p := range c.Policies.AllocationPolicies {
		oneOf(fmt.Sprintf("policies.allocation_policies[%d]", i), p, AllocationPolicies)
	}
	for i, p := range c.Policies.IsolationPolicies {
		oneOf(fmt.Sprintf("policies.isolation_policies[%d]", i), p, IsolationPolicies)
	}
	for i, p := range c.Policies.BalancingPolicies {
		oneOf(fmt.Sprintf("policies.balancing_policies[%d]", i), p, BalancingPolicies)
	}
	if c.Server.Endpoint == "" {
		bad("server.endpoint", "must not be empty (RM_ENDPOINT)")
	} else if _, _, err := splitHostPort(c.Server.Endpoint); err != nil {
		bad("server.endpoint", "%v", err)
	}
	if (c.Server.TLSCert == "") != (c.Server.TLSKey == "") {
		bad("server.tls_cert", "tls_cert and tls_key go together")
	}
	if c.Storage.Path == "" {
		bad("storage.path", "must not be empty (RM_STORAGE_PATH)")
	}
	oneOf("log.level", c.Log.Level, LogLevels)
	oneOf("log.format", c.Log.Format, []string{"text", "json"})
	seen := map[string]bool{}
	for i, t := range c.Access.Tokens {
		key := fmt.Sprintf("access.tokens[%d]", i)
		if t.Tenant == "" {
			bad(key+".tenant", "must not be empty")
		}
		if len(t.Token) < 16 {
			bad(key+".token", "must be at least 16 characters")
		}
		if seen[t.Token] {
			bad(key+".token", "is used twice")
		}
		seen[t.Token] = true
		if t.Role != "" && t.Role != "tenant" && t.Role != "admin" {
			bad(key+".role", "%q is not tenant or admin", t.Role)
		}
		if t.Expires != "" {
			if _, err := time.Parse(time.RFC3339, t.Expires); err != nil {
				bad(key+".expires", "%q is not an RFC 3339 time", t.Expires)
			}
		}
	}
	if f := c.Federation; f.Enabled {
		if f.Broker != "" && !strings.Contains(f.Broker, "://") {
			bad("federation.broker", "%q is not a URL such as tcp://host:1883 or ssl://host:8883", f.Broker)
		}
		if f.Broker == "" {
			if _, _, err := splitHostPort(f.EmbeddedAddr); err != nil {
				bad("federation.embedded_addr", "%v", err)
			}
		}
		if f.KeepAlive.D() < time.Second || f.KeepAlive.D() > 10*time.Minute {
			bad("federation.keepalive", "%s is out of range 1s..10m", f.KeepAlive)
		}
		if f.StateInterval.D() <= 0 || f.StateInterval.D() > f.KeepAlive.D() {
			bad("federation.state_interval", "%s must be positive and at most the keepalive (%s)", f.StateInterval, f.KeepAlive)
		}
		if f.ForwardTimeout.D() <= 0 || f.ForwardTimeout.D() > time.Minute {
			bad("federation.forward_timeout", "%s is out of range (0, 1m]", f.ForwardTimeout)
		}
		if (f.Username == "") != (f.Password == "") {
			bad("federation.username", "username and password go together")
		}
	}
	if m := c.Modules; m.Enabled {
		if m.CallTimeout.D() < 100*time.Microsecond || m.CallTimeout.D() > 10*time.Second {
			bad("modules.call_timeout", "%s is out of range 100us..10s", m.CallTimeout)
		}
		if m.MemoryPages < 256 || m.MemoryPages > 65536 {
			bad("modules.memory_pages", "%d is out of range 256..65536 (Go guests need 256 pages at least)", m.MemoryPages)
		}
		if m.MaxSize < 1024 || m.MaxSize > 256<<20 {
			bad("modules.max_size", "%d is out of range 1 KiB..256 MiB", m.MaxSize)
		}
	}
	if c.Device.DriftSigma < 0 || c.Device.DriftSigma > 1 {
		bad("device.drift_sigma", "%g is out of range 0..1", c.Device.DriftSigma)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

func splitHostPort(ep string) (string, int, error) {
	i := strings.LastIndex(ep, ":")
	if i < 0 {
		return "", 0, fmt.Errorf("%q is not HOST:PORT", ep)
	}
	p, err := strconv.Atoi(ep[i+1:])
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("%q: port is not a number in 0..65535", ep)
	}
	return ep[:i], p, nil
}

// IsLoopback reports whether a HOST:PORT endpoint listens on loopback only.
func IsLoopback(ep string) bool {
	h, _, err := splitHostPort(ep)
	if err != nil {
		return false
	}
	h = strings.Trim(h, "[]")
	return h == "localhost" || h == "::1" || strings.HasPrefix(h, "127.")
}
