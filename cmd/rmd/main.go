// Command rmd is the edge Resource Manager's controller: one per quantum
// device. With no configuration at all it serves the built-in synthetic
// device (synthetic:heavyhex-127) from a local store in ./.rm-data, on
// 127.0.0.1:50052, with Prometheus metrics on the same port.
//
// Configuration: flags over RM_* environment variables over the YAML file
// (--config) over defaults.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eigen-os/rm/hal/load"
	"github.com/eigen-os/rm/hal/sim"
	"github.com/eigen-os/rm/mqtt"
	"github.com/eigen-os/rm/runtime/balance"
	"github.com/eigen-os/rm/runtime/config"
	"github.com/eigen-os/rm/runtime/controller"
	"github.com/eigen-os/rm/runtime/metrics"
	"github.com/eigen-os/rm/runtime/sandbox"
	"github.com/eigen-os/rm/runtime/server"
	"github.com/eigen-os/rm/store"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)) }

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer, env config.Env) int {
	cfg, err := configure(args, stderr, env)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "rmd:", err)
		return 2
	}
	log := newLogger(cfg.Log, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, cfg, log, stdout); err != nil {
		log.Error("rmd stopped", "err", err)
		return 1
	}
	return 0
}

// configure applies defaults, the file, the environment and the flags, in
// that order, and validates the result.
func configure(args []string, stderr io.Writer, env config.Env) (config.Config, error) {
	fs := flag.NewFlagSet("rmd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "YAML configuration file (resource_manager: ...)")
	endpoint := fs.String("endpoint", "", "API address HOST:PORT (RM_ENDPOINT; default 127.0.0.1:50052)")
	metricsEP := fs.String("metrics-endpoint", "", "serve /metrics here instead of on the API port")
	storagePath := fs.String("storage", "", "store directory (RM_STORAGE_PATH; default ./.rm-data)")
	device := fs.String("device", "", "calibration folder or synthetic:NAME (default synthetic:heavyhex-127)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (RM_LOG_LEVEL)")
	strategy := fs.String("strategy", "", "allocation strategy (RM_ALLOCATION_STRATEGY)")
	isolation := fs.String("isolation", "", "none, spatial, temporal or spatial_temporal (RM_ISOLATION_LEVEL)")
	insecure := fs.Bool("insecure", false, "allow a non-loopback endpoint with no tokens configured")
	tlsCert := fs.String("tls-cert", "", "TLS certificate (PEM)")
	tlsKey := fs.String("tls-key", "", "TLS key (PEM)")
	drift := fs.Duration("drift", -1, "simulated calibration drift interval (0: none)")
	broker := fs.String("broker", "", "external MQTT broker tcp://HOST:PORT or ssl://HOST:PORT (RM_BROKER; default: embedded)")
	mqttAddr := fs.String("mqtt", "", "address of the embedded MQTT broker (default 127.0.0.1:1883)")
	site := fs.String("site", "", "fleet site name (default \"default\")")
	noFed := fs.Bool("no-federation", false, "do not join a fleet over MQTT")
	pprofAddr := fs.String("pprof", "", "serve Go's profiler (net/http/pprof) on this loopback HOST:PORT (server.pprof_endpoint)")
	noSync := fs.Bool("no-sync", false, "do not sync store writes (benchmarks only: an acknowledged allocation may be lost in a crash)")
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	if fs.NArg() > 0 {
		return config.Config{}, fmt.Errorf("unexpected arguments %q (flags only)", fs.Args())
	}
	cfg := config.Default()
	var err error
	if *file != "" {
		if cfg, err = config.LoadFile(*file, cfg); err != nil {
			return cfg, err
		}
	}
	if err := config.ApplyEnv(&cfg, env); err != nil {
		return cfg, err
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Server.Endpoint, *endpoint)
	set(&cfg.Server.MetricsEndpoint, *metricsEP)
	set(&cfg.Server.PprofEndpoint, *pprofAddr)
	set(&cfg.Storage.Path, *storagePath)
	set(&cfg.Device.Path, *device)
	set(&cfg.Log.Level, strings.ToLower(*logLevel))
	set(&cfg.Allocation.DefaultStrategy, *strategy)
	set(&cfg.Server.TLSCert, *tlsCert)
	set(&cfg.Server.TLSKey, *tlsKey)
	if *isolation != "" {
		if err := config.SetIsolationLevel(&cfg, *isolation); err != nil {
			return cfg, fmt.Errorf("--isolation: %v", err)
		}
	}
	if *insecure {
		cfg.Server.Insecure = true
	}
	if *drift >= 0 {
		cfg.Device.DriftInterval = config.Duration(*drift)
	}
	if *noSync {
		cfg.Storage.SyncWrites = false
	}
	set(&cfg.Federation.Broker, *broker)
	set(&cfg.Federation.EmbeddedAddr, *mqttAddr)
	set(&cfg.Federation.Site, *site)
	if *noFed {
		cfg.Federation.Enabled = false
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("configuration:\n%v", err)
	}
	if len(cfg.Access.Tokens) == 0 && !config.IsLoopback(cfg.Server.Endpoint) && !cfg.Server.Insecure {
		return cfg, fmt.Errorf("refusing to listen on %s with no access tokens configured: configure resource_manager.access.tokens, listen on loopback, or pass --insecure", cfg.Server.Endpoint)
	}
	return cfg, nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the controller until ctx ends, then shuts down gracefully:
// stop accepting calls, finish in-flight ones, stop the controller, close
// the store.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	started := time.Now()
	model, err := load.Open(cfg.Device.Path)
	if err != nil {
		return fmt.Errorf("device: %w", err)
	}
	dev := sim.New(model, sim.Options{Seed: cfg.Device.Seed, DriftInterval: cfg.Device.DriftInterval.D(), DriftSigma: cfg.Device.DriftSigma})
	dev.Start(ctx)
	defer dev.Close()

	st, err := store.Open(cfg.Storage.Path, store.Options{NoSync: !cfg.Storage.SyncWrites, GCInterval: cfg.Storage.GCInterval.D(),
		Logger: log, CalibrationTTL: cfg.Monitoring.MetricsRetention.D(), EventTTL: cfg.Monitoring.MetricsRetention.D()})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("store close", "err", err)
		}
	}()
	auth, err := server.NewAuth(cfg.Access.Tokens, nil)
	if err != nil {
		return err
	}
	met := metrics.New()
	var mods *sandbox.Manager
	var ctlRef atomic.Pointer[controller.Controller]
	if cfg.Modules.Enabled {
		onEvent := func(e sandbox.Event) {
			detail := e.Detail
			if e.Err != nil {
				detail = strings.TrimSpace(detail + " " + e.Err.Error())
			}
			if c := ctlRef.Load(); c != nil {
				c.Record("module_"+string(e.Kind), fmt.Sprintf("%s@%d", e.Module, e.Version), detail)
			}
			log.Info("module event", "kind", e.Kind, "module", e.Module, "version", e.Version, "detail", detail)
		}
		if mods, err = startModules(ctx, cfg, st, met, onEvent); err != nil {
			return fmt.Errorf("strategy modules: %w", err)
		}
		defer mods.Close(context.Background())
		if err := mods.Warm(ctx, model); err != nil {
			log.Warn("strategy modules: warm-up failed; the native engine serves until they load", "err", err)
		}
	}
	ctl, err := controller.New(ctx, cfg, controller.Options{Device: dev, Store: st, Metrics: met, Logger: log, Modules: mods})
	if err != nil {
		return err
	}
	ctlRef.Store(ctl)
	defer ctl.Close()
	var fleet *server.Federation
	if cfg.Federation.Enabled {
		bal, err := balance.New(balance.PolicyFromConfig(cfg, ctl.DeviceID()))
		if err != nil {
			return fmt.Errorf("load balancing: %w", err)
		}
		fleet = &server.Federation{Balancer: bal, Enabled: cfg.LoadBalancing.Enabled, Local: ctl.DeviceID()}
	}
	srv, err := server.Listen(ctl, server.Config{Endpoint: cfg.Server.Endpoint, MetricsEndpoint: cfg.Server.MetricsEndpoint,
		TLSCert: cfg.Server.TLSCert, TLSKey: cfg.Server.TLSKey, Auth: auth, Fleet: fleet, Modules: mods, Logger: log})
	if err != nil {
		return err
	}
	if fleet != nil {
		node, err := startFleet(ctx, cfg, ctl, srv.APIAddr(), log)
		if err != nil {
			return fmt.Errorf("federation: %w", err)
		}
		defer node.Close()
		fleet.Node = node
		ctl.OnChange(node.StateChanged)
		go rebalance(ctx, cfg, ctl, fleet, log)
	}
	scheme := "http"
	if cfg.Server.TLSCert != "" {
		scheme = "https"
	}
	s := model.Summarize()
	fmt.Fprintf(stdout, "rmd %s serving %s (%d qubits, %d couplers, %s)\n", controller.Version, ctl.DeviceID(), s.Qubits, s.Couplers, s.Native2Q)
	fmt.Fprintf(stdout, "  API      %s://%s  (gRPC, gRPC-Web, Connect JSON; try: rmctl status --endpoint %s)\n", scheme, srv.APIAddr(), srv.APIAddr())
	fmt.Fprintf(stdout, "  metrics  %s\n", srv.MetricsURL())
	fmt.Fprintf(stdout, "  store    %s\n", cfg.Storage.Path)
	if auth.Open() {
		fmt.Fprintln(stdout, "  access   open (no tokens configured; loopback only)")
	}
	if fleet != nil {
		where := cfg.Federation.Broker
		if where == "" {
			where = "embedded broker at " + cfg.Federation.EmbeddedAddr
		}
		fmt.Fprintf(stdout, "  fleet    site %s via %s (rmctl fleet lists the devices)\n", cfg.Federation.Site, where)
	}
	log.Info("ready", "device", ctl.DeviceID(), "api", srv.APIAddr(), "startup", time.Since(started).Round(time.Millisecond))

	if cfg.Server.PprofEndpoint != "" {
		stop, err := servePprof(cfg.Server.PprofEndpoint, log)
		if err != nil {
			return err
		}
		defer stop()
		fmt.Fprintf(stdout, "  pprof    http://%s/debug/pprof/\n", cfg.Server.PprofEndpoint)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight calls")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.D())
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown did not finish in time", "err", err)
	}
	return nil
}

// startFleet joins the fleet: the embedded broker (hosted here when its
// address is free, else joined) or an external one.
func startFleet(ctx context.Context, cfg config.Config, ctl *controller.Controller, endpoint string, log *slog.Logger) (*mqtt.Node, error) {
	f := cfg.Federation
	mc := mqtt.Config{Broker: f.Broker, EmbeddedAddr: f.EmbeddedAddr, Site: f.Site, Device: ctl.DeviceID(),
		Username: f.Username, Password: f.Password, KeepAlive: f.KeepAlive.D(), StateInterval: f.StateInterval.D(),
		ForwardTimeout: f.ForwardTimeout.D(), JSONTelemetry: f.JSONTelemetry, Logger: log}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("federation.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("federation.ca_file %s: no PEM certificate", f.CAFile)
		}
		mc.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return mqtt.Start(ctx, mc, ctl.FleetAdapter(endpoint))
}

// rebalance runs the rebalancer: every load_balancing.rebalance_interval it
// scores the fleet's imbalance (rm_load_imbalance_score), plans moves of
// this controller's queued (never running) tasks to less loaded peers, and,
// when load balancing is enabled and the imbalance is above the threshold,
// forwards them there. The plan is visible through ListFleet.
func rebalance(ctx context.Context, cfg config.Config, ctl *controller.Controller, fleet *server.Federation, log *slog.Logger) {
	pol := balance.PolicyFromConfig(cfg, ctl.DeviceID())
	self := ctl.DeviceID()
	r := &balance.Rebalancer{Interval: cfg.LoadBalancing.RebalanceInterval.D(), Policy: pol,
		Snapshot: func() ([]balance.Candidate, []balance.Task) {
			peers := fleet.Node.Fleet()
			var loads []float64
			for _, p := range peers {
				if p.Online {
					loads = append(loads, p.Load)
				}
			}
			ctl.Metrics().LoadImbalanceScore.Set(balance.Imbalance(loads))
			var tasks []balance.Task
			if cfg.LoadBalancing.Enabled {
				for _, q := range ctl.QueuedTasks() {
					need, _ := server.NeedOf(q.Params)
					tasks = append(tasks, balance.Task{ID: q.ID, Device: self, Need: need, Tenant: q.Tenant, Key: q.Key, Queued: q.Waiting})
				}
			}
			return balance.FromPeers(peers), tasks
		},
		Execute: func(ctx context.Context, m balance.Move) error {
			err := ctl.MoveQueued(ctx, m.TaskID, func(ctx context.Context, t controller.QueuedTask) (controller.RemoteGrant, error) {
				_, fr := server.NeedOf(t.Params)
				fr.Tenant, fr.Key = t.Tenant, t.Key
				resp, err := fleet.Node.ForwardFirst(ctx, []string{m.To}, fr)
				if err != nil || !resp.OK {
					return controller.RemoteGrant{}, fmt.Errorf("forward to %s: %v %s", m.To, err, resp.Message)
				}
				return controller.RemoteGrant{ID: resp.AllocationID, Device: resp.Device, Qubits: resp.Qubits, ESP: resp.ESP,
					Swaps: resp.Swaps, LeaseEnd: time.UnixMilli(resp.LeaseEndMs)}, nil
			})
			if errors.Is(err, controller.ErrNotQueued) {
				// Withdraw a grant nobody waits for any more.
				_ = fleet.Node.Command(ctx, m.To, mqtt.Command{Kind: mqtt.CmdCancel, Tenant: m.Tenant, Key: m.Key})
			}
			if err == nil {
				ctl.Metrics().RebalanceOperations.Inc()
			}
			return err
		},
		Report: func(p balance.Plan, errs []error) {
			fleet.SetPlan(server.PlanToProto(p, errs, cfg.LoadBalancing.Enabled))
			if len(p.Moves) > 0 {
				log.Info("rebalance", "imbalance", p.Imbalance, "after", p.After, "moves", len(p.Moves))
			}
		},
	}
	if err := r.Run(ctx); err != nil && ctx.Err() == nil {
		log.Error("rebalancer stopped", "err", err)
	}
}

// startModules opens the WebAssembly host (compilation cache under the
// store) and the module manager (modules and their history in the store),
// and watches a directory when configured.
func startModules(ctx context.Context, cfg config.Config, st *store.Store, met *metrics.Metrics, onEvent func(sandbox.Event)) (*sandbox.Manager, error) {
	mc := cfg.Modules
	cache := mc.CacheDir
	if cache == "" {
		cache = filepath.Join(cfg.Storage.Path, "module-cache")
	}
	smet := sandbox.NewMetrics()
	if err := met.Registry.Register(smet); err != nil {
		return nil, err
	}
	host, err := sandbox.NewHost(ctx, sandbox.Config{CacheDir: cache, MemoryPages: uint32(mc.MemoryPages), CallTimeout: mc.CallTimeout.D(),
		Metrics: smet, OnEvent: onEvent})
	if err != nil {
		return nil, err
	}
	var keys []ed25519.PublicKey
	for i, k := range mc.TrustedKeys {
		pk, err := sandbox.ParsePublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("resource_manager.modules.trusted_keys[%d]: %w", i, err)
		}
		keys = append(keys, pk)
	}
	m, err := sandbox.NewManager(ctx, host, st, sandbox.ManagerConfig{MaxModuleSize: mc.MaxSize, TrustedKeys: keys})
	if err != nil {
		return nil, err
	}
	if mc.WatchDir != "" {
		go func() {
			if err := m.Watch(ctx, sandbox.WatchConfig{Dir: mc.WatchDir, Activate: true}); err != nil && ctx.Err() == nil {
				onEvent(sandbox.Event{Kind: "watch_stopped", Module: mc.WatchDir, Err: err})
			}
		}()
	}
	return m, nil
}

// servePprof serves Go's profiler on addr, which must be a loopback
// address: profiles reveal memory contents and cost CPU, so they are never
// offered to the network.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--pprof %q: the profiler listens on loopback only (127.0.0.1 or ::1)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof server stopped", "err", err)
		}
	}()
	return func() { _ = hs.Close() }, nil
}
