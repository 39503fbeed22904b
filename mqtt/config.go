package mqtt

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
)

// DefaultEmbeddedAddr is where the embedded broker listens when no broker is
// configured: the first controller on a machine binds it and hosts the
// broker, the others find it taken and connect to it.
const DefaultEmbeddedAddr = "127.0.0.1:1883"

// Config configures a Node. Zero values take the defaults documented on each
// field.
type Config struct {
	// Broker is the URL of an external broker: "tcp://host:port" (also
	// "mqtt://"), or "ssl://host:port" (also "tls://", "mqtts://") for TLS.
	// "" runs the embedded broker (see EmbeddedAddr).
	Broker string
	// EmbeddedAddr is the host:port of the embedded broker (default
	// 127.0.0.1:1883). The first node to bind it hosts a mochi-mqtt broker;
	// the others connect to it, and when its host goes away one of them
	// binds the address and hosts it in turn. A non-loopback address needs
	// Username and Password.
	EmbeddedAddr string

	// Site groups the devices of one fleet (default "default"); Device is
	// this controller's device (required); Controller names this
	// controller (default "rmd-" + Device). Each must pass CheckName.
	Site, Device, Controller string

	// Username and Password authenticate to the broker; the embedded broker
	// then accepts only them. TLS is the client TLS configuration for
	// ssl:// brokers (nil: system roots).
	Username, Password string
	TLS                *tls.Config

	// KeepAlive is the MQTT keepalive (default 10 s, at least 1 s; brokers
	// such as mochi-mqtt recommend 5 s or more). A peer that is silent for
	// 1.5 x its keepalive is marked offline, and the broker publishes the
	// last will of a client it has not heard from in that time.
	KeepAlive time.Duration
	// StateInterval is the longest gap between two state publications
	// (default 5 s, at most KeepAlive).
	StateInterval time.Duration
	// StateMinGap is the shortest gap between two state publications:
	// StateChanged calls closer than it are coalesced (default 20 ms).
	StateMinGap time.Duration
	// ForwardTimeout is how long Forward waits for an answer (default 2 s);
	// ForwardAttempts how many times ForwardFirst asks one device before it
	// withdraws the request and tries the next (default 2).
	ForwardTimeout  time.Duration
	ForwardAttempts int
	// ClockSkew is the largest clock difference assumed between controllers
	// (default 250 ms). A requester waits ForwardTimeout + ClockSkew before
	// it gives up; the owner does not grant after the request's deadline.
	ClockSkew time.Duration
	// DedupTTL is how long an owner remembers the grant (and a withdrawal)
	// of a forwarded (tenant, key) so that retries get the same answer
	// (default 10 min). The controller's own idempotency store covers the
	// time beyond.
	DedupTTL time.Duration
	// ConnectTimeout bounds one connection attempt (default 5 s);
	// MaxReconnectInterval the back-off between reconnection attempts
	// (default 5 s).
	ConnectTimeout       time.Duration
	MaxReconnectInterval time.Duration

	// JSONTelemetry also publishes telemetry in JSON on
	// .../{device}/telemetry/json for generic MQTT tools.
	JSONTelemetry bool

	// OnFleetChange, when set, is called after a peer's birth, state or
	// online status changes (not for this node itself). It runs on the
	// message path: it must return quickly and must not call Forward.
	OnFleetChange func(Peer)

	// Logger receives the node's logs (default: discarded).
	Logger *slog.Logger
}

// withDefaults validates c and fills its defaults. Errors name the field.
func (c Config) withDefaults() (Config, error) {
	if c.Site == "" {
		c.Site = "default"
	}
	if err := CheckName(c.Site); err != nil {
		return c, fmt.Errorf("mqtt config: Site: %v", err)
	}
	if err := CheckName(c.Device); err != nil {
		return c, fmt.Errorf("mqtt config: Device: %v", err)
	}
	if c.Controller == "" {
		c.Controller = "rmd-" + c.Device
	}
	if err := CheckName(c.Controller); err != nil {
		return c, fmt.Errorf("mqtt config: Controller: %v", err)
	}
	if c.Broker != "" {
		u, err := url.Parse(c.Broker)
		if err != nil {
			return c, fmt.Errorf("mqtt config: Broker %q: %v", c.Broker, err)
		}
		switch u.Scheme {
		case "tcp", "mqtt", "ssl", "tls", "mqtts":
		default:
			return c, fmt.Errorf("mqtt config: Broker %q: scheme %q is not tcp, mqtt, ssl, tls or mqtts", c.Broker, u.Scheme)
		}
		if u.Host == "" || u.Port() == "" {
			return c, fmt.Errorf("mqtt config: Broker %q: want scheme://host:port", c.Broker)
		}
		if c.TLS != nil && (u.Scheme == "tcp" || u.Scheme == "mqtt") {
			return c, fmt.Errorf("mqtt config: Broker %q: TLS is configured but the scheme is %s (use ssl://)", c.Broker, u.Scheme)
		}
	} else {
		if c.EmbeddedAddr == "" {
			c.EmbeddedAddr = DefaultEmbeddedAddr
		}
		host, port, err := net.SplitHostPort(c.EmbeddedAddr)
		if err != nil || port == "" || port == "0" {
			return c, fmt.Errorf("mqtt config: EmbeddedAddr %q: want host:port with a fixed port", c.EmbeddedAddr)
		}
		ip := net.ParseIP(host)
		loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
		if !loopback && (c.Username == "" || c.Password == "") {
			return c, fmt.Errorf("mqtt config: EmbeddedAddr %q is not a loopback address: set Username and Password", c.EmbeddedAddr)
		}
	}
	if c.Password != "" && c.Username == "" {
		return c, fmt.Errorf("mqtt config: Password is set without Username")
	}
	dur := func(name string, d *time.Duration, def, min time.Duration) error {
		if *d == 0 {
			*d = def
		}
		if *d < min {
			return fmt.Errorf("mqtt config: %s %v is shorter than %v", name, *d, min)
		}
		return nil
	}
	for _, f := range []struct {
		name     string
		d        *time.Duration
		def, min time.Duration
	}{
		{"KeepAlive", &c.KeepAlive, 10 * time.Second, time.Second},
		{"StateInterval", &c.StateInterval, 5 * time.Second, 10 * time.Millisecond},
		{"StateMinGap", &c.StateMinGap, 20 * time.Millisecond, time.Millisecond},
		{"ForwardTimeout", &c.ForwardTimeout, 2 * time.Second, time.Millisecond},
		{"ClockSkew", &c.ClockSkew, 250 * time.Millisecond, time.Millisecond},
		{"DedupTTL", &c.DedupTTL, 10 * time.Minute, time.Second},
		{"ConnectTimeout", &c.ConnectTimeout, 5 * time.Second, 10 * time.Millisecond},
		{"MaxReconnectInterval", &c.MaxReconnectInterval, 5 * time.Second, 10 * time.Millisecond},
	} {
		if err := dur(f.name, f.d, f.def, f.min); err != nil {
			return c, err
		}
	}
	if c.KeepAlive%time.Second != 0 {
		return c, fmt.Errorf("mqtt config: KeepAlive %v is not a whole number of seconds (MQTT counts seconds)", c.KeepAlive)
	}
	if c.KeepAlive > 18*time.Hour {
		return c, fmt.Errorf("mqtt config: KeepAlive %v is longer than MQTT allows (65535 s)", c.KeepAlive)
	}
	if c.StateInterval > c.KeepAlive {
		c.StateInterval = c.KeepAlive
	}
	if c.StateMinGap > c.StateInterval {
		c.StateMinGap = c.StateInterval
	}
	if c.ForwardAttempts == 0 {
		c.ForwardAttempts = 2
	}
	if c.ForwardAttempts < 1 || c.ForwardAttempts > 10 {
		return c, fmt.Errorf("mqtt config: ForwardAttempts %d is out of range 1..10", c.ForwardAttempts)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// brokerURL is the URL the client connects to.
func (c Config) brokerURL() string {
	if c.Broker != "" {
		return c.Broker
	}
	return "tcp://" + c.EmbeddedAddr
}

// clientID is the MQTT client id: unique per controller.
func (c Config) clientID() string {
	return strings.Join([]string{"eigen-rm", c.Site, c.Device, c.Controller}, ":")
}
