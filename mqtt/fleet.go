package mqtt

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// Peer is one device of the fleet as this node sees it: the last birth and
// state its controller published, and whether it is online.
//
// A peer is online when its latest birth is newer than its latest death
// (by bdSeq) and it has been heard from within 1.5 x its keepalive. The
// slices inside Birth and State are shared: do not modify them.
type Peer struct {
	Device     string
	Controller string
	Self       bool // this node's own device
	Online     bool
	// Reason says why the peer is offline ("" when online).
	Reason   string
	HasBirth bool
	Birth    Birth
	HasState bool
	State    State
	// LastSeen is when the last birth or state of the current session
	// arrived (for Self: when it was published); Staleness is its age when
	// Fleet was called.
	LastSeen  time.Time
	Staleness time.Duration
	// Load is State.Load() (0 without a state).
	Load float64
	// Since is when Online last changed.
	Since time.Time
}

// Load is the demand on a device relative to its capacity, in [0, 1]:
// (held qubits + queued qubits) / usable qubits, capped at 1. It is the load
// that runtime/balance balances and scores imbalance on.
func (s State) Load() float64 {
	if s.Qubits <= 0 {
		return 1
	}
	l := s.Utilization + float64(s.QueuedQubits)/float64(s.Qubits)
	switch {
	case math.IsNaN(l) || l < 0:
		return 0
	case l > 1:
		return 1
	}
	return l
}

// maxPeers bounds the fleet view: births and states of further devices are
// ignored (counted as decode failures) so that a flood of bogus device names
// cannot exhaust memory.
const maxPeers = 4096

type peerEntry struct {
	Peer
	hasDeath   bool
	deathBd    uint64
	deathClean bool
	// The sequence: lastSeq of session seqBd, from a live (not retained)
	// message when liveSeq. See track.
	seqValid   bool
	liveSeq    bool
	fromBirth  bool // lastSeq is a birth's
	seqBd      uint64
	lastSeq    uint8
	keepAlive  time.Duration
	rebirthAt  time.Time     // last rebirth request sent
	rebirthGap time.Duration // back-off between rebirth requests
	// needBirth is when a state of a session whose birth is unknown
	// arrived (zero: none pending).
	needBirth   time.Time
	needBirthBd uint64
}

// birthGrace is how long a state may wait for its birth before a rebirth is
// requested: births and states travel on different topics.
const birthGrace = time.Second

type fleetView struct {
	mu    sync.Mutex
	peers map[string]*peerEntry
}

func newFleetView() *fleetView { return &fleetView{peers: map[string]*peerEntry{}} }

// entry returns the entry of device, creating it (nil when the view is full).
func (f *fleetView) entry(device string, keepAlive time.Duration) *peerEntry {
	e := f.peers[device]
	if e == nil {
		if len(f.peers) >= maxPeers {
			return nil
		}
		e = &peerEntry{Peer: Peer{Device: device, Reason: "no birth yet"}, keepAlive: keepAlive}
		f.peers[device] = e
	}
	return e
}

// alive: the latest birth is newer than the latest death.
func (e *peerEntry) alive() bool {
	return e.HasBirth && (!e.hasDeath || e.Birth.BdSeq > e.deathBd)
}

func (e *peerEntry) setOnline(on bool, reason string, now time.Time) bool {
	if on {
		reason = ""
	}
	changed := e.Online != on
	if changed {
		e.Since = now
	}
	e.Online, e.Reason = on, reason
	return changed
}

func (e *peerEntry) deathReason() string {
	if e.deathClean {
		return fmt.Sprintf("dead: clean shutdown (bd %d)", e.deathBd)
	}
	return fmt.Sprintf("dead: connection lost, last will (bd %d)", e.deathBd)
}

// wantRebirth reports whether a rebirth request may be sent to the peer now
// (at most one per second, backing off to one a minute while no birth
// answers).
func (e *peerEntry) wantRebirth(now time.Time) bool {
	if e.rebirthGap == 0 {
		e.rebirthGap = time.Second
	}
	if !e.rebirthAt.IsZero() && now.Sub(e.rebirthAt) < e.rebirthGap {
		return false
	}
	if !e.rebirthAt.IsZero() {
		e.rebirthGap = min(2*e.rebirthGap, time.Minute)
	}
	e.rebirthAt = now
	return true
}

// snapshot returns the peers sorted by device, with Staleness computed at now.
func (f *fleetView) snapshot(now time.Time) []Peer {
	f.mu.Lock()
	defer f.mu.Unlock()
	es := make([]*peerEntry, 0, len(f.peers))
	for _, e := range f.peers {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].Device < es[j].Device }) // pointers: cheap to swap
	out := make([]Peer, len(es))
	for i, e := range es {
		p := &out[i]
		*p = e.Peer
		if !p.LastSeen.IsZero() {
			p.Staleness = now.Sub(p.LastSeen)
		}
		if p.HasState {
			p.Load = p.State.Load()
		}
	}
	return out
}

// onBirth records a peer's birth.
func (n *Node) onBirth(b Birth, retained bool) {
	now := time.Now()
	f := n.fleet
	f.mu.Lock()
	e := f.entry(b.Device, n.cfg.KeepAlive)
	if e == nil {
		f.mu.Unlock()
		n.st.decodeFailures.Add(1)
		return
	}
	if e.HasBirth && b.BdSeq < e.Birth.BdSeq {
		f.mu.Unlock()
		n.st.staleIgnored.Add(1)
		return
	}
	if retained && e.HasBirth && b.BdSeq == e.Birth.BdSeq {
		// The retained copy of a birth already seen (it can arrive after
		// live states when the subscription races a publication): not news,
		// and it must not reset the sequence.
		f.mu.Unlock()
		return
	}
	if e.HasBirth && e.Controller != b.Controller && e.alive() && b.BdSeq != e.Birth.BdSeq {
		n.log.Info("fleet: device changed controller", "device", b.Device, "from", e.Controller, "to", b.Controller)
	}
	e.Birth, e.HasBirth, e.Controller = b, true, b.Controller
	if b.KeepAliveMs > 0 {
		e.keepAlive = time.Duration(b.KeepAliveMs) * time.Millisecond
	}
	if e.HasState && e.State.BdSeq < b.BdSeq {
		e.HasState, e.State = false, State{} // a state of an earlier session
	}
	e.track(b.BdSeq, b.Seq, retained, true)
	e.LastSeen = now
	e.rebirthGap = 0 // answered: back to one request a second at most
	if e.needBirthBd <= b.BdSeq {
		e.needBirth = time.Time{}
	}
	if e.alive() {
		e.setOnline(true, "", now)
	} else {
		e.setOnline(false, e.deathReason(), now)
	}
	p := e.Peer
	f.mu.Unlock()
	n.fleetChanged(p)
}

// onState records a peer's state, checking its sequence.
func (n *Node) onState(device string, s State, retained bool) {
	now := time.Now()
	f := n.fleet
	f.mu.Lock()
	e := f.entry(device, n.cfg.KeepAlive)
	if e == nil {
		f.mu.Unlock()
		n.st.decodeFailures.Add(1)
		return
	}
	rebirth := ""
	if (e.HasBirth && s.BdSeq < e.Birth.BdSeq) || (e.hasDeath && s.BdSeq <= e.deathBd) {
		// A state of a session that has ended (e.g. resent after a
		// reconnection): not news.
		f.mu.Unlock()
		n.st.staleIgnored.Add(1)
		return
	}
	ignore, gap, want := e.track(s.BdSeq, s.Seq, retained, false)
	if ignore {
		f.mu.Unlock()
		return
	}
	if gap {
		n.st.seqGaps.Add(1)
		if e.wantRebirth(now) {
			rebirth = fmt.Sprintf("sequence gap: got %d, want %d", s.Seq, want)
		}
	}
	e.State, e.HasState, e.LastSeen = s, true, now
	if !e.HasBirth || s.BdSeq > e.Birth.BdSeq {
		// A session whose birth we have not seen (we joined late and the
		// birth was lost, or it is still on its way).
		if e.needBirth.IsZero() {
			e.needBirth, e.needBirthBd = now, s.BdSeq // checkSilence asks after birthGrace
		}
	} else if e.alive() {
		e.setOnline(true, "", now)
	}
	p := e.Peer
	f.mu.Unlock()
	if rebirth != "" {
		n.requestRebirth(device, rebirth)
	}
	n.fleetChanged(p)
}

// track applies the sequence number of a birth or state of session bd. It
// reports a message to ignore (a duplicate, or an older retained copy), or a
// gap (and the number expected).
//
// Live messages of one session follow each other (seq + 1, modulo 256; a
// live birth restarts the count), and a live state that does not is a gap.
// A retained message is a copy of an earlier publication, delivered when the
// subscription is made, in no fixed order with the live messages around it
// (mochi and mosquitto subscribe filter by filter). So a retained state is
// taken only when it is newer than what is known (within half the sequence
// space, or anything after a birth, since a long session's states wrap past
// its birth's 0), a retained birth of a known session leaves the count alone,
// and the first live state after a retained message starts the live count
// without a gap check.
func (e *peerEntry) track(bd uint64, seq uint8, retained, birth bool) (ignore, gap bool, want uint8) {
	if !e.seqValid || e.seqBd != bd || (birth && !retained) {
		e.seqValid, e.seqBd, e.lastSeq, e.liveSeq, e.fromBirth = true, bd, seq, !retained, birth
		return false, false, 0
	}
	if birth {
		return false, false, 0 // a retained birth of a session already followed
	}
	d := seq - e.lastSeq
	if d == 0 {
		return true, false, 0 // a redelivery, or the twin of a retained copy
	}
	if retained {
		if !e.fromBirth && d >= 128 {
			return true, false, 0 // older than what we have
		}
		e.lastSeq, e.liveSeq, e.fromBirth = seq, false, false
		return false, false, 0
	}
	checked := e.liveSeq
	want = e.lastSeq + 1
	e.lastSeq, e.liveSeq, e.fromBirth = seq, true, false
	return false, checked && d != 1, want
}

// onDeath records a peer's death certificate.
func (n *Node) onDeath(d Death) {
	now := time.Now()
	f := n.fleet
	f.mu.Lock()
	e := f.entry(d.Device, n.cfg.KeepAlive)
	if e == nil {
		f.mu.Unlock()
		n.st.decodeFailures.Add(1)
		return
	}
	if e.hasDeath && d.BdSeq <= e.deathBd {
		f.mu.Unlock()
		n.st.staleIgnored.Add(1)
		return
	}
	e.hasDeath, e.deathBd, e.deathClean = true, d.BdSeq, d.Clean
	if e.HasBirth && d.BdSeq < e.Birth.BdSeq {
		n.st.staleIgnored.Add(1) // the death of a session that was already replaced
	}
	changed := false
	if !e.alive() {
		changed = e.setOnline(false, e.deathReason(), now)
		if e.Controller == "" {
			e.Controller = d.Controller
		}
	}
	p := e.Peer
	f.mu.Unlock()
	if changed {
		n.fleetChanged(p)
	}
}

// checkSilence marks offline the peers not heard from within 1.5 x their
// keepalive, and asks for the births that states have waited for longer
// than birthGrace.
func (n *Node) checkSilence(now time.Time) {
	var changed []Peer
	var rebirth []string
	f := n.fleet
	f.mu.Lock()
	for _, e := range f.peers {
		if !e.needBirth.IsZero() && now.Sub(e.needBirth) > birthGrace && e.wantRebirth(now) {
			rebirth = append(rebirth, e.Device)
		}
		if e.Self || !e.Online {
			continue
		}
		limit := e.keepAlive * 3 / 2
		if since := now.Sub(e.LastSeen); since > limit {
			e.setOnline(false, fmt.Sprintf("silent for %v (1.5 x keepalive %v)", since.Round(time.Millisecond), e.keepAlive), now)
			changed = append(changed, e.Peer)
		}
	}
	f.mu.Unlock()
	for _, d := range rebirth {
		n.requestRebirth(d, "a state without its birth")
	}
	for _, p := range changed {
		n.fleetChanged(p)
	}
}

// setSelf records what this node published about itself.
func (n *Node) setSelf(b *Birth, s *State, online bool, reason string) {
	now := time.Now()
	f := n.fleet
	f.mu.Lock()
	e := f.peers[n.cfg.Device]
	if e == nil {
		e = &peerEntry{Peer: Peer{Device: n.cfg.Device, Controller: n.cfg.Controller, Self: true}, keepAlive: n.cfg.KeepAlive}
		f.peers[n.cfg.Device] = e
	}
	if b != nil {
		e.Birth, e.HasBirth = *b, true
	}
	if s != nil {
		e.State, e.HasState = *s, true
	}
	e.LastSeen = now
	e.setOnline(online, reason, now)
	f.mu.Unlock()
}

func (n *Node) fleetChanged(p Peer) {
	if n.cfg.OnFleetChange != nil && !p.Self {
		if p.HasState {
			p.Load = p.State.Load()
		}
		n.cfg.OnFleetChange(p)
	}
}
