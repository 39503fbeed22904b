package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// Local is what a node needs from its controller. The methods are called
// from the node's goroutines, concurrently with each other.
type Local interface {
	// Birth describes the device: DeviceType, Summary, TopologyDigest,
	// CalibrationEpoch, Capabilities, Modules, Software, Endpoint. The node
	// fills the header fields. Called at every (re)connection and rebirth.
	Birth() Birth
	// State reports load and quality now: Health, Draining, Qubits,
	// FreeQubits, Utilization, QueueLength, QueuedQubits,
	// ActiveAllocations, ExpectedWaitMs, Epoch, Quality. The node fills the
	// header fields. Called for every state publication.
	State() State
	// HandleForward allocates locally for a peer. It must be idempotent on
	// (req.Tenant, req.Key): a repeated request returns the same grant
	// (Replayed) and never a second one. req.Hops >= 1: it must not be
	// forwarded again. ctx ends when every requester has given up; a grant
	// returned after that is withdrawn with a CmdCancel command.
	HandleForward(ctx context.Context, req ForwardRequest) ForwardResponse
	// HandleCommand carries out CmdDrain, CmdUndrain, CmdRollout and
	// CmdCancel (release what was granted for cmd.Tenant and cmd.Key, if
	// anything, and refuse that key from then on; idempotent). Unknown kinds
	// return an error. CmdRebirth is handled by the node.
	HandleCommand(ctx context.Context, cmd Command) error
}

// Errors of Forward, ForwardFirst and Command. They are wrapped with the
// device and detail.
var (
	ErrClosed         = errors.New("mqtt node closed")
	ErrNotConnected   = errors.New("not connected to the broker")
	ErrPeerOffline    = errors.New("device offline or unknown")
	ErrForwardTimeout = errors.New("no answer in time")
	ErrLoop           = errors.New("a forwarded request cannot be forwarded again")
	ErrNoDevice       = errors.New("no device granted the request")
)

// MaxHops is the largest Hops a forwarded request may carry: a request is
// forwarded at most once.
const MaxHops = 1

// Stats are a node's counters since Start.
type Stats struct {
	Connected     bool
	HostingBroker bool
	BdSeq         uint64
	Reconnects    uint64 // connections after the first

	MessagesIn, MessagesOut uint64
	BytesIn, BytesOut       uint64
	// DecodeFailures counts payloads that failed to decode or validate (or
	// came on a malformed topic); UnknownVersions payloads with another "v".
	// Both are ignored.
	DecodeFailures  uint64
	UnknownVersions uint64
	// StaleIgnored counts births, states and deaths of ended sessions.
	StaleIgnored uint64
	// SeqGaps counts sequence gaps seen; RebirthsRequested the rebirth
	// commands sent (gaps, states without a birth); RebirthsServed the
	// rebirths this node published on request.
	SeqGaps           uint64
	RebirthsRequested uint64
	RebirthsServed    uint64
	// Conflicts counts births for this node's device from another
	// controller (two controllers claiming one device).
	Conflicts uint64

	ForwardsSent     uint64 // forward attempts published
	ForwardTimeouts  uint64 // attempts that got no answer in time
	ForwardsReceived uint64 // requests received as owner
	// ForwardsDeduplicated counts requests answered from an earlier attempt
	// (in flight or granted) without calling Local.HandleForward again.
	ForwardsDeduplicated uint64
	// LateGrantsRolledBack counts grants that completed after every
	// requester gave up (or withdrew) and were cancelled.
	LateGrantsRolledBack uint64
	// LateResponses counts answers that arrived after their attempt ended.
	LateResponses    uint64
	CommandsReceived uint64
	Dropped          uint64 // messages not published (not connected, queue full)

	// Broker is set while this node hosts the embedded broker.
	Broker *BrokerStats
}

type counters struct {
	msgsIn, msgsOut, bytesIn, bytesOut                          atomic.Uint64
	decodeFailures, unknownVersions, staleIgnored               atomic.Uint64
	seqGaps, rebirthsRequested, rebirthsServed, conflicts       atomic.Uint64
	fwdSent, fwdTimeouts, fwdReceived, fwdDedup, lateRollbacks  atomic.Uint64
	lateResponses, commandsReceived, dropped, reconnects, conns atomic.Uint64
}

// Node is a controller's presence in the fleet: it publishes the device's
// birth, state and death, keeps the fleet view, forwards requests and
// serves those forwarded to it. Create it with Start; it is safe for
// concurrent use.
type Node struct {
	cfg    Config
	local  Local
	log    *slog.Logger
	topics Topics
	client paho.Client

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
	once   sync.Once

	hostMu sync.Mutex
	host   *embedded

	bd            atomic.Uint64 // bdSeq of the current (or next) session
	connected     atomic.Bool
	everConnected atomic.Bool
	ready         chan struct{} // closed when first subscribed and born
	readyOnce     sync.Once

	pubMu   sync.Mutex // orders births and states, guards seq and lastPub
	seq     uint8
	lastPub time.Time
	kick    chan struct{}
	rebirth atomic.Bool

	outbox chan outMsg
	work   chan struct{} // semaphore for command and forward handlers

	fleet *fleetView
	fw    forwarder
	st    counters

	logMu   sync.Mutex
	lastBad time.Time
}

type outMsg struct {
	topic    string
	qos      byte
	retained bool
	payload  []byte
}

// qosData is the QoS of births, states and telemetry. As in Sparkplug B,
// they go at QoS 0: the sequence numbers detect a loss and a rebirth repairs
// it, and at fleet scale the acknowledgements of QoS 1 cost the broker more
// than the messages (100 nodes: every state is 100 deliveries). Deaths,
// commands and forwards go at QoS 1.
const qosData = 0

// maxHandlers bounds concurrent command and forward handlers; requests
// beyond are dropped (the requester times out and retries).
const maxHandlers = 256

// Start connects to the broker (hosting the embedded one when the
// configuration names none and the embedded address is free), subscribes to
// the fleet, publishes the birth and state, and returns the running node
// (the retained births and states of the peers may still be arriving).
//
// ctx bounds the first connection attempt only; the node runs until Close.
// Configuration errors and refused credentials or certificates are
// returned; when the broker is merely unreachable, Start logs it and the
// node keeps trying in the background (Stats().Connected tells).
func Start(ctx context.Context, cfg Config, local Local) (*Node, error) {
	if local == nil {
		return nil, errors.New("mqtt: Start: nil Local")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	topics, err := NewTopics(cfg.Site)
	if err != nil {
		return nil, fmt.Errorf("mqtt config: %v", err)
	}
	n := &Node{cfg: cfg, local: local, topics: topics, fleet: newFleetView(),
		log:    cfg.Logger.With("component", "mqtt", "device", cfg.Device),
		kick:   make(chan struct{}, 1),
		outbox: make(chan outMsg, 256),
		work:   make(chan struct{}, maxHandlers),
		ready:  make(chan struct{}),
	}
	n.fw.init()
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.bd.Store(uint64(time.Now().UnixMicro()))

	if cfg.Broker == "" {
		if err := n.tryHost(); err != nil && !errAddrInUse(err) {
			n.cancel()
			return nil, fmt.Errorf("mqtt: embedded broker: %w", err)
		}
	}
	n.client = paho.NewClient(n.clientOptions())

	n.wg.Add(3)
	go n.publisher()
	go n.housekeeper()
	go n.sender()

	tok := n.client.Connect()
	timer := time.NewTimer(cfg.ConnectTimeout + 100*time.Millisecond)
	defer timer.Stop()
	select {
	case <-tok.Done():
		err = tok.Error()
	case <-timer.C:
		err = fmt.Errorf("no answer within %v", cfg.ConnectTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil {
		n.everConnected.Store(true)
		// Connected: wait until subscribed and born, so that the node sees
		// and is seen when Start returns.
		select {
		case <-n.ready:
		case <-time.After(cfg.ConnectTimeout):
			n.log.Warn("mqtt: connected, but not yet subscribed and born", "after", cfg.ConnectTimeout)
		case <-ctx.Done():
		}
	} else {
		if fatalConnectError(err) || ctx.Err() != nil {
			n.shutdown(false)
			return nil, fmt.Errorf("mqtt: connect to %s as %q: %w", cfg.brokerURL(), cfg.Username, err)
		}
		n.log.Warn("mqtt: broker unreachable, retrying in the background", "broker", cfg.brokerURL(), "error", err)
	}
	return n, nil
}

// fatalConnectError: retrying cannot help (credentials, authorization,
// protocol, certificates).
func fatalConnectError(err error) bool {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &verify) || errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) ||
		errors.Is(err, packets.ErrorRefusedNotAuthorised) ||
		errors.Is(err, packets.ErrorRefusedIDRejected) ||
		errors.Is(err, packets.ErrorRefusedBadProtocolVersion) ||
		errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid)
}

func (n *Node) clientOptions() *paho.ClientOptions {
	c := n.cfg
	o := paho.NewClientOptions().
		AddBroker(c.brokerURL()).
		SetClientID(c.clientID()).
		SetUsername(c.Username).
		SetPassword(c.Password).
		SetKeepAlive(c.KeepAlive).
		SetPingTimeout(min(c.KeepAlive/2, 10*time.Second)).
		SetCleanSession(true).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetConnectTimeout(c.ConnectTimeout).
		SetWriteTimeout(max(c.ForwardTimeout, 5*time.Second)).
		SetMaxReconnectInterval(c.MaxReconnectInterval).
		SetBinaryWill(n.topics.Device(c.Device, LeafDeath), n.deathPayload(n.bd.Load(), false), 1, true).
		SetOnConnectHandler(n.onConnect).
		SetConnectionLostHandler(n.onLost).
		SetReconnectingHandler(func(_ paho.Client, o *paho.ClientOptions) {
			// A new session: a new bdSeq, and the will that matches it.
			o.WillPayload = n.deathPayload(n.bd.Add(1), false)
		}).
		SetDefaultPublishHandler(n.onMessage)
	if c.TLS != nil {
		o.SetTLSConfig(c.TLS)
	}
	return o
}

func (n *Node) deathPayload(bd uint64, clean bool) []byte {
	b, err := Encode(Death{V: PayloadVersion, Site: n.cfg.Site, Device: n.cfg.Device, Controller: n.cfg.Controller,
		BdSeq: bd, TimeMs: time.Now().UnixMilli(), Clean: clean})
	if err != nil { // a fixed struct of strings and integers
		panic(fmt.Sprintf("mqtt: encode death: %v", err))
	}
	return b
}

// tryHost binds the embedded address and hosts the broker on it.
func (n *Node) tryHost() error {
	n.hostMu.Lock()
	defer n.hostMu.Unlock()
	if n.host != nil || n.closed.Load() {
		return nil
	}
	h, err := hostBroker(n.cfg.EmbeddedAddr, n.cfg.Username, n.cfg.Password, n.cfg.Logger)
	if err != nil {
		return err
	}
	n.host = h
	n.log.Info("mqtt: hosting the embedded broker", "addr", h.addr)
	return nil
}

// filters are the node's subscriptions, in two SUBSCRIBEs: every device's
// birth first, so that the retained births arrive before the retained
// states; then every device's state and death, and this node's own command,
// forward and answer topics. Births and states are QoS 0, so the first
// SUBSCRIBE leaves nothing in flight: mochi-mqtt 2.7.9 refuses a SUBSCRIBE
// whose packet id equals that of a QoS 1 message it is still delivering to
// the client (ids are per direction in MQTT). A refused filter is detected
// in the SUBACK and the SUBSCRIBE is sent again.
func (n *Node) filters() []map[string]byte {
	t, d := n.topics, n.cfg.Device
	return []map[string]byte{
		{t.Every(LeafBirth): 1},
		{t.Every(LeafState): 1, t.Every(LeafDeath): 1,
			t.Device(d, LeafCommand): 1, t.Device(d, LeafCommandResult): 1,
			t.Device(d, LeafForwardReq): 1, t.Device(d, LeafForwardRes): 1},
	}
}

// subscribe sends one SUBSCRIBE and checks every filter was granted.
func (n *Node) subscribe(c paho.Client, filters map[string]byte) error {
	// No per-filter callback: every message goes to the default handler
	// (onMessage), which saves the client matching each topic against
	// every filter.
	tok := c.SubscribeMultiple(filters, nil)
	if !tok.WaitTimeout(n.cfg.ConnectTimeout) {
		return fmt.Errorf("no SUBACK within %v", n.cfg.ConnectTimeout)
	}
	if err := tok.Error(); err != nil {
		return err
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for filter, qos := range st.Result() {
			if qos > 2 {
				return fmt.Errorf("the broker refused the subscription to %s (code 0x%02x)", filter, qos)
			}
		}
	}
	return nil
}

func (n *Node) onConnect(c paho.Client) {
	if n.st.conns.Add(1) > 1 {
		n.st.reconnects.Add(1)
	}
	n.everConnected.Store(true)
	n.connected.Store(true)
	n.log.Info("mqtt: connected", "broker", n.cfg.brokerURL(), "bd", n.bd.Load())
	for _, f := range n.filters() {
		for attempt := 1; ; attempt++ {
			err := n.subscribe(c, f)
			if err == nil {
				break
			}
			if attempt == 3 || !c.IsConnectionOpen() || n.closed.Load() {
				n.log.Error("mqtt: subscribe failed; reconnecting", "error", err)
				// Without subscriptions the node is deaf: drop the
				// connection and let the automatic reconnection start
				// over.
				go c.Disconnect(0)
				return
			}
			n.log.Warn("mqtt: subscribe failed; retrying", "error", err)
		}
	}
	n.publishBirth()
	n.readyOnce.Do(func() { close(n.ready) })
}

func (n *Node) onLost(_ paho.Client, err error) {
	n.connected.Store(false)
	if !n.closed.Load() {
		n.log.Warn("mqtt: connection lost; reconnecting", "error", err)
	}
}

// publish sends a message now (not from a message handler: see sender).
func (n *Node) publish(topic string, qos byte, retained bool, payload []byte) paho.Token {
	if !n.client.IsConnectionOpen() {
		n.st.dropped.Add(1)
		return nil
	}
	n.st.msgsOut.Add(1)
	n.st.bytesOut.Add(uint64(len(payload)))
	return n.client.Publish(topic, qos, retained, payload)
}

// enqueue publishes from a message handler, which must not block on the
// client: the sender goroutine publishes.
func (n *Node) enqueue(m outMsg) {
	select {
	case n.outbox <- m:
	default:
		n.st.dropped.Add(1)
	}
}

func (n *Node) sender() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case m := <-n.outbox:
			n.publish(m.topic, m.qos, m.retained, m.payload)
		}
	}
}

// publishBirth publishes the birth (seq 0) and then the state.
func (n *Node) publishBirth() {
	n.pubMu.Lock()
	defer n.pubMu.Unlock()
	if !n.client.IsConnectionOpen() || n.closed.Load() {
		return
	}
	b := n.local.Birth()
	b.V, b.Site, b.Device, b.Controller = PayloadVersion, n.cfg.Site, n.cfg.Device, n.cfg.Controller
	b.BdSeq, b.Seq, b.TimeMs = n.bd.Load(), 0, time.Now().UnixMilli()
	b.KeepAliveMs, b.StateIntervalMs = n.cfg.KeepAlive.Milliseconds(), n.cfg.StateInterval.Milliseconds()
	if err := b.Validate(); err != nil {
		n.log.Error("mqtt: the controller's birth is invalid; not published", "error", err)
		return
	}
	payload, err := Encode(b)
	if err != nil {
		n.log.Error("mqtt: encode birth", "error", err)
		return
	}
	n.publish(n.topics.Device(n.cfg.Device, LeafBirth), qosData, true, payload)
	// Clear the retained death of an earlier session: the new birth
	// (higher bdSeq) supersedes it anyway, but generic tools show it.
	n.publish(n.topics.Device(n.cfg.Device, LeafDeath), qosData, true, []byte{})
	n.seq = 0
	n.setSelf(&b, nil, true, "")
	n.publishStateLocked()
}

// publishStateLocked publishes the state with the next sequence number.
func (n *Node) publishStateLocked() {
	if !n.client.IsConnectionOpen() || n.closed.Load() {
		return
	}
	s := n.local.State()
	s.V, s.BdSeq, s.TimeMs = PayloadVersion, n.bd.Load(), time.Now().UnixMilli()
	s.Seq = n.seq + 1
	if err := s.Validate(); err != nil {
		n.log.Error("mqtt: the controller's state is invalid; not published", "error", err)
		return
	}
	payload, err := Encode(s)
	if err != nil {
		n.log.Error("mqtt: encode state", "error", err)
		return
	}
	n.seq = s.Seq
	n.lastPub = time.Now()
	n.publish(n.topics.Device(n.cfg.Device, LeafState), qosData, true, payload)
	n.setSelf(nil, &s, true, "")
	n.publishTelemetry(s)
}

func (n *Node) publishTelemetry(s State) {
	self, _ := n.peer(n.cfg.Device)
	online, size := 0, 0
	n.fleet.mu.Lock()
	for _, e := range n.fleet.peers {
		size++
		if e.Online {
			online++
		}
	}
	n.fleet.mu.Unlock()
	t := Telemetry{V: PayloadVersion, Site: n.cfg.Site, Device: n.cfg.Device, Controller: n.cfg.Controller,
		DeviceType: self.Birth.DeviceType, TimeMs: s.TimeMs, Health: s.Health, Draining: s.Draining,
		Qubits: s.Qubits, FreeQubits: s.FreeQubits, Utilization: s.Utilization, QueueLength: s.QueueLength,
		QueuedQubits: s.QueuedQubits, ActiveAllocations: s.ActiveAllocations, ExpectedWaitMs: s.ExpectedWaitMs,
		Epoch: s.Epoch, BestESP: s.Quality.Linear, FleetOnline: online, FleetSize: size}
	if b, err := Encode(t); err == nil {
		n.publish(n.topics.Device(n.cfg.Device, LeafTelemetry), 0, false, b)
	}
	if n.cfg.JSONTelemetry {
		if b, err := EncodeJSON(t); err == nil {
			n.publish(n.topics.Device(n.cfg.Device, LeafTelemetryJSON), 0, false, b)
		}
	}
}

// StateChanged tells the node that the state changed (after a grant or a
// release): it publishes soon, coalescing calls closer than
// Config.StateMinGap. It never blocks.
func (n *Node) StateChanged() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// Rebirth republishes the birth (and state), e.g. after a module rollout or
// when the device's summary changed. It never blocks.
func (n *Node) Rebirth() {
	n.rebirth.Store(true)
	n.StateChanged()
}

func (n *Node) publisher() {
	defer n.wg.Done()
	tick := time.NewTicker(n.cfg.StateInterval)
	defer tick.Stop()
	var gap *time.Timer
	var gapC <-chan time.Time
	publish := func() {
		if n.rebirth.Swap(false) {
			n.publishBirth()
		} else {
			n.pubMu.Lock()
			n.publishStateLocked()
			n.pubMu.Unlock()
		}
		tick.Reset(n.cfg.StateInterval)
	}
	for {
		select {
		case <-n.ctx.Done():
			if gap != nil {
				gap.Stop()
			}
			return
		case <-tick.C:
			publish()
		case <-n.kick:
			if gapC != nil {
				continue // already scheduled
			}
			n.pubMu.Lock()
			wait := n.cfg.StateMinGap - time.Since(n.lastPub)
			n.pubMu.Unlock()
			if wait > 0 {
				gap = time.NewTimer(wait)
				gapC = gap.C
				continue
			}
			publish()
		case <-gapC:
			gapC = nil
			publish()
		}
	}
}

// housekeeper marks silent peers offline, expires the dedup tables, and,
// while disconnected, hosts the embedded broker when its address is free
// and retries the first connection.
func (n *Node) housekeeper() {
	defer n.wg.Done()
	period := min(250*time.Millisecond, n.cfg.KeepAlive/10)
	tick := time.NewTicker(period)
	defer tick.Stop()
	var connecting atomic.Bool
	lastSweep := time.Now()
	for {
		select {
		case <-n.ctx.Done():
			return
		case now := <-tick.C:
			n.checkSilence(now)
			if now.Sub(lastSweep) > time.Second {
				n.fw.sweep(now)
				lastSweep = now
			}
			if n.connected.Load() {
				continue
			}
			if n.cfg.Broker == "" {
				n.hostMu.Lock()
				hosting := n.host != nil
				n.hostMu.Unlock()
				if !hosting {
					if err := n.tryHost(); err == nil {
						n.log.Info("mqtt: took over the embedded broker")
					}
				}
			}
			// Before the first connection, retry it here; after it, paho
			// reconnects by itself (IsConnected is then true while it
			// does).
			if !n.everConnected.Load() && !n.client.IsConnected() && connecting.CompareAndSwap(false, true) {
				n.wg.Add(1)
				go func() {
					defer n.wg.Done()
					defer connecting.Store(false)
					tok := n.client.Connect()
					select {
					case <-tok.Done():
					case <-n.ctx.Done():
					}
					if n.closed.Load() {
						n.client.Disconnect(0) // Close raced this attempt
					}
				}()
			}
		}
	}
}

// onMessage handles every message; it runs on the client's router and must
// not block.
func (n *Node) onMessage(_ paho.Client, m paho.Message) {
	payload := m.Payload()
	n.st.msgsIn.Add(1)
	n.st.bytesIn.Add(uint64(len(payload)))
	device, leaf, ok := n.topics.Parse(m.Topic())
	if !ok {
		n.bad(m.Topic(), fmt.Errorf("%w: topic outside %s", ErrDecode, n.topics.Prefix()))
		return
	}
	if len(payload) == 0 {
		return // a cleared retained message
	}
	self := device == n.cfg.Device
	switch leaf {
	case LeafBirth:
		b, err := DecodeBirth(payload)
		if err == nil && (b.Device != device || b.Site != n.cfg.Site) {
			err = fmt.Errorf("%w: birth of %s/%s on the topic of %s", ErrDecode, b.Site, b.Device, device)
		}
		switch {
		case err != nil:
			n.bad(m.Topic(), err)
		case self:
			// A retained birth of an earlier run is not a conflict; a live
			// one, or one newer than this session, is.
			if b.Controller != n.cfg.Controller && (!m.Retained() || b.BdSeq > n.bd.Load()) {
				n.st.conflicts.Add(1)
				n.log.Error("mqtt: another controller publishes births for this device", "controller", b.Controller, "bd", b.BdSeq)
			}
		default:
			n.onBirth(b, m.Retained())
		}
	case LeafState:
		s, err := DecodeState(payload)
		switch {
		case err != nil:
			n.bad(m.Topic(), err)
		case !self:
			n.onState(device, s, m.Retained())
		}
	case LeafDeath:
		d, err := DecodeDeath(payload)
		if err == nil && (d.Device != device || d.Site != n.cfg.Site) {
			err = fmt.Errorf("%w: death of %s/%s on the topic of %s", ErrDecode, d.Site, d.Device, device)
		}
		switch {
		case err != nil:
			n.bad(m.Topic(), err)
		case self:
			if d.BdSeq == n.bd.Load() && d.Controller == n.cfg.Controller && !n.closed.Load() && !m.Retained() {
				n.log.Warn("mqtt: the broker published this node's last will while it is connected (session taken over?)")
			}
		default:
			n.onDeath(d)
		}
	case LeafCommand:
		if !self {
			return
		}
		c, err := DecodeCommand(payload)
		if err != nil {
			n.bad(m.Topic(), err)
			return
		}
		n.st.commandsReceived.Add(1)
		if c.Kind == CmdRebirth {
			n.st.rebirthsServed.Add(1)
			n.Rebirth()
			return
		}
		n.spawn(func() { n.serveCommand(c) })
	case LeafCommandResult:
		if !self {
			return
		}
		r, err := DecodeCommandResult(payload)
		if err != nil {
			n.bad(m.Topic(), err)
			return
		}
		n.fw.deliverCommand(r, &n.st)
	case LeafForwardReq:
		if !self {
			return
		}
		r, err := DecodeForward(payload)
		if err != nil {
			n.bad(m.Topic(), err)
			return
		}
		n.st.fwdReceived.Add(1)
		n.spawn(func() { n.serveForward(r) })
	case LeafForwardRes:
		if !self {
			return
		}
		r, err := DecodeForwardResponse(payload)
		if err != nil {
			n.bad(m.Topic(), err)
			return
		}
		n.fw.deliverForward(r, &n.st)
	}
}

// spawn runs f in a goroutine when fewer than maxHandlers run; otherwise the
// message is dropped (its sender times out and retries).
func (n *Node) spawn(f func()) {
	select {
	case n.work <- struct{}{}:
	default:
		n.st.dropped.Add(1)
		n.log.Warn("mqtt: too many requests in flight; dropped one")
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer func() { <-n.work }()
		f()
	}()
}

// bad counts a payload that failed to decode and logs it (at most one line
// a second, so that a misbehaving publisher cannot flood the log).
func (n *Node) bad(topic string, err error) {
	if errors.Is(err, ErrUnknownVersion) {
		n.st.unknownVersions.Add(1)
	} else {
		n.st.decodeFailures.Add(1)
	}
	n.logMu.Lock()
	now := time.Now()
	quiet := now.Sub(n.lastBad) < time.Second
	if !quiet {
		n.lastBad = now
	}
	n.logMu.Unlock()
	if !quiet {
		n.log.Warn("mqtt: ignored a payload", "topic", topic, "error", err)
	}
}

// requestRebirth asks a peer to publish its birth again.
func (n *Node) requestRebirth(device, why string) {
	c := Command{V: PayloadVersion, Kind: CmdRebirth, Origin: n.cfg.Controller, OriginDevice: n.cfg.Device,
		TimeMs: time.Now().UnixMilli()}
	b, err := Encode(c)
	if err != nil {
		return
	}
	n.st.rebirthsRequested.Add(1)
	n.log.Info("mqtt: requesting a rebirth", "peer", device, "why", why)
	n.enqueue(outMsg{topic: n.topics.Device(device, LeafCommand), qos: 1, payload: b})
}

// Fleet returns every device seen, this node's own included, sorted by
// device name.
func (n *Node) Fleet() []Peer { return n.fleet.snapshot(time.Now()) }

// peer returns one device of the fleet view.
func (n *Node) peer(device string) (Peer, bool) {
	n.fleet.mu.Lock()
	defer n.fleet.mu.Unlock()
	e, ok := n.fleet.peers[device]
	if !ok {
		return Peer{}, false
	}
	return e.Peer, true
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	s := Stats{Connected: n.connected.Load(), BdSeq: n.bd.Load(), Reconnects: n.st.reconnects.Load(),
		MessagesIn: n.st.msgsIn.Load(), MessagesOut: n.st.msgsOut.Load(),
		BytesIn: n.st.bytesIn.Load(), BytesOut: n.st.bytesOut.Load(),
		DecodeFailures: n.st.decodeFailures.Load(), UnknownVersions: n.st.unknownVersions.Load(),
		StaleIgnored: n.st.staleIgnored.Load(), SeqGaps: n.st.seqGaps.Load(),
		RebirthsRequested: n.st.rebirthsRequested.Load(), RebirthsServed: n.st.rebirthsServed.Load(),
		Conflicts: n.st.conflicts.Load(), ForwardsSent: n.st.fwdSent.Load(), ForwardTimeouts: n.st.fwdTimeouts.Load(),
		ForwardsReceived: n.st.fwdReceived.Load(), ForwardsDeduplicated: n.st.fwdDedup.Load(),
		LateGrantsRolledBack: n.st.lateRollbacks.Load(), LateResponses: n.st.lateResponses.Load(),
		CommandsReceived: n.st.commandsReceived.Load(), Dropped: n.st.dropped.Load()}
	n.hostMu.Lock()
	if n.host != nil {
		s.HostingBroker = true
		bs := n.host.stats()
		s.Broker = &bs
	}
	n.hostMu.Unlock()
	return s
}

// Close publishes the death certificate (clean shutdown), disconnects, waits
// for the handlers in flight (their contexts are cancelled), and stops the
// embedded broker if this node hosts it (another node then takes it over).
// It is idempotent.
func (n *Node) Close() error {
	n.shutdown(true)
	return nil
}

func (n *Node) shutdown(death bool) {
	n.once.Do(func() {
		if death && n.client.IsConnectionOpen() {
			n.pubMu.Lock()
			n.closed.Store(true)
			tok := n.client.Publish(n.topics.Device(n.cfg.Device, LeafDeath), 1, true, n.deathPayload(n.bd.Load(), true))
			n.pubMu.Unlock()
			n.st.msgsOut.Add(1)
			tok.WaitTimeout(time.Second)
		}
		n.closed.Store(true)
		n.setSelf(nil, nil, false, "closed")
		n.cancel()
		n.fw.closeAll()
		n.client.Disconnect(100)
		n.wg.Wait()
		n.hostMu.Lock()
		if n.host != nil {
			if n.host.stats().ClientsConnected > 0 {
				// Let the death reach the other clients before the
				// broker goes.
				time.Sleep(50 * time.Millisecond)
			}
			n.host.close()
			n.host = nil
		}
		n.hostMu.Unlock()
	})
}
