package mqtt

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// embedded is a mochi-mqtt broker hosted by a node.
type embedded struct {
	srv  *mochi.Server
	addr string
}

// BrokerStats are the figures of the embedded broker a node hosts.
type BrokerStats struct {
	Addr             string
	ClientsConnected int64
	MessagesReceived int64 // PUBLISH packets received from clients
	MessagesSent     int64 // PUBLISH packets sent to clients
	MessagesDropped  int64 // PUBLISH packets the broker could not queue for a client
	Retained         int64
	Inflight         int64 // QoS 1 messages sent and not yet acknowledged
}

// errAddrInUse reports whether err says the address is already bound.
func errAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

// hostBroker binds addr and serves a broker on it. It fails with an error
// satisfying errAddrInUse when another process (or node) holds the address.
func hostBroker(addr, user, pass string, log *slog.Logger) (*embedded, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	caps := mochi.NewDefaultServerCapabilities()
	// Retained births must outlive a day; mochi drops retained messages
	// older than this unless it is 0.
	caps.MaximumMessageExpiryInterval = 0
	srv := mochi.New(&mochi.Options{
		Capabilities: caps,
		// mochi logs every client error at WARN (and keepalives under 5 s);
		// only its errors reach our log.
		Logger:                 slog.New(minLevel{h: log.Handler(), min: slog.LevelError}).With("component", "embedded-broker"),
		SysTopicResendInterval: 10,
	})
	err = srv.AddHook(&authHook{user: user, pass: pass}, nil)
	if err == nil {
		err = srv.AddListener(listeners.NewNet("rm", ln))
	}
	if err == nil {
		err = srv.Serve()
	}
	if err != nil {
		ln.Close()
		srv.Close()
		return nil, fmt.Errorf("embedded broker on %s: %w", addr, err)
	}
	return &embedded{srv: srv, addr: ln.Addr().String()}, nil
}

func (e *embedded) stats() BrokerStats {
	i := e.srv.Info
	return BrokerStats{Addr: e.addr, ClientsConnected: atomic.LoadInt64(&i.ClientsConnected),
		MessagesReceived: atomic.LoadInt64(&i.MessagesReceived), MessagesSent: atomic.LoadInt64(&i.MessagesSent),
		MessagesDropped: atomic.LoadInt64(&i.MessagesDropped),
		Retained:        atomic.LoadInt64(&i.Retained), Inflight: atomic.LoadInt64(&i.Inflight)}
}

func (e *embedded) close() { e.srv.Close() }

// minLevel drops records below min.
type minLevel struct {
	h   slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}
func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }
func (m minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h: m.h.WithAttrs(a), min: m.min}
}
func (m minLevel) WithGroup(g string) slog.Handler { return minLevel{h: m.h.WithGroup(g), min: m.min} }

// authHook admits every client when user is empty, otherwise only clients
// that give user and pass. (mochi's own auth package needs a YAML library
// this module does not carry.)
type authHook struct {
	mochi.HookBase
	user, pass string
}

func (h *authHook) ID() string { return "rm-auth" }

func (h *authHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mochi.OnConnectAuthenticate, mochi.OnACLCheck}, []byte{b})
}

func (h *authHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	if h.user == "" {
		return true
	}
	u := subtle.ConstantTimeCompare(cl.Properties.Username, []byte(h.user))
	p := subtle.ConstantTimeCompare(pk.Connect.Password, []byte(h.pass))
	return u&p == 1
}

func (h *authHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }
