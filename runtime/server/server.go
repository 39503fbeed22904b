package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/eigen-os/rm/api/rm/v1/rmv1connect"
	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/runtime/controller"
	"github.com/eigen-os/rm/runtime/sandbox"
)

// Config says where and how to listen.
type Config struct {
	Endpoint        string // API (and metrics unless MetricsEndpoint is set)
	MetricsEndpoint string
	TLSCert         string
	TLSKey          string
	Auth            *Auth
	Fleet           *Federation      // nil: serve locally only
	Modules         *sandbox.Manager // nil: strategy modules disabled
	Logger          *slog.Logger
	// MaxBodyBytes bounds a request's body (default 16 MiB).
	MaxBodyBytes int64
}

// Server is the running network front of one controller.
type Server struct {
	cfg      Config
	api      *http.Server
	metrics  *http.Server
	apiLn    net.Listener
	metLn    net.Listener
	log      *slog.Logger
	shutdown chan struct{}
}

// Handler builds the HTTP handler: the service, health, reflection and,
// when metrics share the port, /metrics.
func Handler(c *controller.Controller, fleet *Federation, mods *sandbox.Manager, auth *Auth, withMetrics bool, maxBody int64) http.Handler {
	mux := http.NewServeMux()
	// Small answers are not worth compressing (gzip setup costs more than it saves).
	opts := []connect.HandlerOption{connect.WithInterceptors(auth.Interceptor()), connect.WithReadMaxBytes(int(maxBody)),
		connect.WithCompressMinBytes(4096)}
	path, h := rmv1connect.NewResourceManagerHandler(NewAPI(c, fleet, mods), opts...)
	mux.Handle(path, h)
	checker := &healthChecker{c: c}
	mux.Handle(grpchealth.NewHandler(checker))
	reflector := grpcreflect.NewStaticReflector(rmv1connect.ResourceManagerName, grpchealth.HealthV1ServiceName)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	if withMetrics {
		mux.Handle("/metrics", c.Metrics().Handler())
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if c.Health() == hal.HealthOffline {
			http.Error(w, "device offline", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

type healthChecker struct{ c *controller.Controller }

func (h *healthChecker) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	switch req.Service {
	case "", rmv1connect.ResourceManagerName:
	default:
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("unknown service %q", req.Service))
	}
	if h.c.Health() == hal.HealthOffline {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}

// Listen opens the listeners (so that the caller can print the real
// addresses when a port is 0) and returns the server, not yet serving.
func Listen(c *controller.Controller, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	s := &Server{cfg: cfg, log: cfg.Logger, shutdown: make(chan struct{})}
	ln, err := listen(cfg.Endpoint, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("API endpoint %s: %w", cfg.Endpoint, err)
	}
	s.apiLn = ln
	var tlsCfg *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("TLS certificate: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true) // gRPC over plaintext (h2c)
	s.api = &http.Server{Handler: Handler(c, cfg.Fleet, cfg.Modules, cfg.Auth, cfg.MetricsEndpoint == "", cfg.MaxBodyBytes), Protocols: &protos,
		TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second}
	if cfg.MetricsEndpoint != "" {
		mln, err := listen(cfg.MetricsEndpoint, cfg.Logger)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("metrics endpoint %s: %w", cfg.MetricsEndpoint, err)
		}
		s.metLn = mln
		mux := http.NewServeMux()
		mux.Handle("/metrics", c.Metrics().Handler())
		s.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	}
	return s, nil
}

// APIAddr is the address the API listens on.
func (s *Server) APIAddr() string { return s.apiLn.Addr().String() }

// MetricsURL is where Prometheus scrapes.
func (s *Server) MetricsURL() string {
	scheme := "http"
	if s.cfg.TLSCert != "" && s.metLn == nil {
		scheme = "https"
	}
	if s.metLn != nil {
		return "http://" + s.metLn.Addr().String() + "/metrics"
	}
	return scheme + "://" + s.APIAddr() + "/metrics"
}

// Serve serves until Shutdown; it returns nil after a clean shutdown.
func (s *Server) Serve() error {
	errc := make(chan error, 2)
	go func() {
		var err error
		if s.cfg.TLSCert != "" {
			err = s.api.ServeTLS(s.apiLn, "", "")
		} else {
			err = s.api.Serve(s.apiLn)
		}
		errc <- err
	}()
	if s.metrics != nil {
		go func() { errc <- s.metrics.Serve(s.metLn) }()
	}
	err := <-errc
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting calls and waits for in-flight ones (streams are
// cancelled) until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	if s.metrics != nil {
		err = s.metrics.Shutdown(ctx)
	}
	if e := s.api.Shutdown(ctx); e != nil {
		err = e
	}
	return err
}
