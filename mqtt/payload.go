package mqtt

// Payloads of the v1 topic tree. Every payload is a CBOR map with string keys
// (the `cbor` tags below) and a "v" key holding PayloadVersion. Times are Unix
// milliseconds, durations milliseconds, errors and ESPs probabilities in
// [0, 1]. docs/federation.md and docs/asyncapi.yaml describe the same fields;
// a test keeps the three in step.

// PayloadVersion is the value of the "v" key of every v1 payload. A payload
// with another value is counted in Stats.UnknownVersions and ignored.
const PayloadVersion = 1

// Birth is a controller's birth certificate, published retained on
// eigen/rm/v1/{site}/{device}/birth after every (re)connection and on a
// rebirth command. Local.Birth provides the device part; the node fills the
// header (V, Site, Device, Controller, BdSeq, Seq, TimeMs, KeepAliveMs,
// StateIntervalMs).
type Birth struct {
	V          int    `cbor:"v" json:"v"`
	Site       string `cbor:"site" json:"site"`
	Device     string `cbor:"device" json:"device"`
	Controller string `cbor:"controller" json:"controller"`
	// BdSeq is the birth/death sequence of the MQTT session: the Death that
	// ends this session carries the same value. It starts at the Unix time
	// in microseconds when the node starts and grows by one at every
	// (re)connection, so it also grows across restarts.
	BdSeq uint64 `cbor:"bd" json:"bd"`
	// Seq is the per-message sequence (0..255, wrapping) shared by the
	// node's births and states; a birth restarts it at 0.
	Seq    uint8 `cbor:"seq" json:"seq"`
	TimeMs int64 `cbor:"t_ms" json:"t_ms"`
	// KeepAliveMs is the MQTT keepalive of the session; a peer silent for
	// 1.5 times it is offline. StateIntervalMs is the longest gap between
	// two states of the node (it is at most KeepAliveMs).
	KeepAliveMs     int64 `cbor:"keepalive_ms" json:"keepalive_ms"`
	StateIntervalMs int64 `cbor:"state_interval_ms" json:"state_interval_ms"`

	// DeviceType is the load-balancing type of the device (the keys of
	// load_balancing.weights: "ibm_quantum", "rigetti", "simulator", ...).
	DeviceType string        `cbor:"type" json:"type"`
	Summary    DeviceSummary `cbor:"summary" json:"summary"`
	// TopologyDigest identifies the coupling graph (see TopologyDigest);
	// CalibrationEpoch is hal.Calibration.Epoch at birth (State.Epoch
	// follows later calibrations without a rebirth).
	TopologyDigest   uint64 `cbor:"topology_digest" json:"topology_digest"`
	CalibrationEpoch uint64 `cbor:"calibration_epoch" json:"calibration_epoch"`
	// Capabilities are what the controller accepts: the shapes ("linear",
	// "ring", "star", "grid", "clique", "none", "graph"), "routing",
	// "reservations", "isolation:spatial", "isolation:temporal", ...
	Capabilities []string `cbor:"capabilities" json:"capabilities"`
	// Modules are the strategy modules loaded, with their versions.
	Modules []Module `cbor:"modules" json:"modules"`
	// Software is the controller's version; Endpoint its API address for
	// direct clients ("" when not published).
	Software string `cbor:"software" json:"software"`
	Endpoint string `cbor:"endpoint,omitempty" json:"endpoint,omitempty"`
}

// DeviceSummary is the headline of a device (hal.Summary in short). Unknown
// medians are NaN in CBOR.
type DeviceSummary struct {
	Vendor             string  `cbor:"vendor" json:"vendor"`
	Family             string  `cbor:"family" json:"family"`
	Native2Q           string  `cbor:"native_2q" json:"native_2q"`
	Qubits             int     `cbor:"qubits" json:"qubits"`
	Couplers           int     `cbor:"couplers" json:"couplers"`
	UsableQubits       int     `cbor:"usable_qubits" json:"usable_qubits"`
	UsableCouplers     int     `cbor:"usable_couplers" json:"usable_couplers"`
	MaxDegree          int     `cbor:"max_degree" json:"max_degree"`
	Median2QError      float64 `cbor:"median_2q_error" json:"median_2q_error"`
	MedianReadoutError float64 `cbor:"median_readout_error" json:"median_readout_error"`
	Median1QError      float64 `cbor:"median_1q_error" json:"median_1q_error"`
}

// Module is one strategy module of a controller.
type Module struct {
	Name    string `cbor:"name" json:"name"`
	Kind    string `cbor:"kind" json:"kind"` // "topology" | "noise" | ...
	Version string `cbor:"version" json:"version"`
	Digest  string `cbor:"digest,omitempty" json:"digest,omitempty"` // sha256 of the WebAssembly binary, hex
	Active  bool   `cbor:"active" json:"active"`
}

// State is a controller's load and quality, published retained on
// eigen/rm/v1/{site}/{device}/state when it changes (Node.StateChanged,
// coalesced) and at least every StateInterval. Local.State provides the
// body; the node fills V, BdSeq, Seq and TimeMs.
type State struct {
	V      int    `cbor:"v" json:"v"`
	BdSeq  uint64 `cbor:"bd" json:"bd"`
	Seq    uint8  `cbor:"seq" json:"seq"`
	TimeMs int64  `cbor:"t_ms" json:"t_ms"`

	Health   string `cbor:"health" json:"health"` // hal.Health: online, degraded, calibrating, offline
	Draining bool   `cbor:"draining,omitempty" json:"draining,omitempty"`
	// Qubits is the capacity: usable qubits now (held ones included);
	// FreeQubits the usable qubits no task holds; Utilization the held
	// fraction of Qubits.
	Qubits      int     `cbor:"qubits" json:"qubits"`
	FreeQubits  int     `cbor:"free" json:"free"`
	Utilization float64 `cbor:"util" json:"util"`
	// QueueLength requests wait for QueuedQubits qubits in all;
	// ActiveAllocations are held now.
	QueueLength       int `cbor:"queue" json:"queue"`
	QueuedQubits      int `cbor:"queued_qubits" json:"queued_qubits"`
	ActiveAllocations int `cbor:"active" json:"active"`
	// ExpectedWaitMs is the owner's estimate of how long a request that
	// cannot be placed now waits (0: unknown).
	ExpectedWaitMs int64   `cbor:"wait_ms" json:"wait_ms"`
	Epoch          uint64  `cbor:"epoch" json:"epoch"` // calibration epoch now
	Quality        Quality `cbor:"quality" json:"quality"`
}

// MaxProfile is the longest quality profile accepted.
const MaxProfile = 128

// Quality is the compact quality profile of a device, computed by its owner
// with its real allocation engine.
//
// Linear[k-1] is the best ESP of a linear chain of k qubits that the owner
// could place now, on its free qubits and with its isolation buffer; 0 when
// no such chain can be placed now. Idle[k-1] is the same on the idle device
// (no task held), which changes only with the calibration. Owners publish
// k = 1..16 (DefaultProfileLen); longer profiles are allowed up to
// MaxProfile. Readout is the median readout error of the free usable qubits
// and Pair the median error of the free usable couplers (0 when unknown).
//
// runtime/balance predicts other sizes and shapes from these numbers (see
// docs/federation.md, "Quality profile").
type Quality struct {
	Linear  []float32 `cbor:"linear" json:"linear"`
	Idle    []float32 `cbor:"idle" json:"idle"`
	Readout float32   `cbor:"readout" json:"readout"`
	Pair    float32   `cbor:"pair" json:"pair"`
}

// DefaultProfileLen is the profile length owners publish (k = 1..16).
const DefaultProfileLen = 16

// Death ends a session: the MQTT last will of the node (armed at connection
// time, published by the broker when the connection is lost) and the
// message the node publishes on a clean shutdown. Retained.
type Death struct {
	V          int    `cbor:"v" json:"v"`
	Site       string `cbor:"site" json:"site"`
	Device     string `cbor:"device" json:"device"`
	Controller string `cbor:"controller" json:"controller"`
	BdSeq      uint64 `cbor:"bd" json:"bd"`
	// TimeMs is when the will was armed (for a will) or when the node shut
	// down (Clean).
	TimeMs int64 `cbor:"t_ms" json:"t_ms"`
	Clean  bool  `cbor:"clean" json:"clean"`
}

// Command kinds.
const (
	// CmdRebirth asks the node to publish its birth and state again; the
	// node handles it itself.
	CmdRebirth = "rebirth"
	// CmdDrain asks the controller to stop accepting new work (running
	// tasks finish); CmdUndrain reverses it.
	CmdDrain   = "drain"
	CmdUndrain = "undrain"
	// CmdRollout asks the controller to load a strategy module: Args
	// "module", "version", "digest" (sha256 hex) and "source".
	CmdRollout = "rollout"
	// CmdCancel withdraws a forwarded request (Tenant, Key): the owner
	// releases whatever it granted for it and refuses it from then on. A
	// requester sends it before trying another device after a timeout.
	CmdCancel = "cancel"
)

// Command is sent to eigen/rm/v1/{site}/{device}/cmd. With an ID, the
// controller answers on the origin device's cmd/res topic.
type Command struct {
	V            int               `cbor:"v" json:"v"`
	ID           string            `cbor:"id,omitempty" json:"id,omitempty"`
	Kind         string            `cbor:"kind" json:"kind"`
	Origin       string            `cbor:"origin" json:"origin"`               // controller that sent it
	OriginDevice string            `cbor:"origin_device" json:"origin_device"` // its device (for the answer)
	TimeMs       int64             `cbor:"t_ms" json:"t_ms"`
	Args         map[string]string `cbor:"args,omitempty" json:"args,omitempty"`
	Tenant       string            `cbor:"tenant,omitempty" json:"tenant,omitempty"` // CmdCancel
	Key          string            `cbor:"key,omitempty" json:"key,omitempty"`       // CmdCancel
}

// CommandResult answers a Command that has an ID.
type CommandResult struct {
	V      int    `cbor:"v" json:"v"`
	ID     string `cbor:"id" json:"id"`
	Device string `cbor:"device" json:"device"`
	OK     bool   `cbor:"ok" json:"ok"`
	Error  string `cbor:"error,omitempty" json:"error,omitempty"`
}

// Pair is one interaction of a forwarded request's graph: Count 2-qubit
// gates between logical qubits A and B. Encoded as the array [a, b, count].
type Pair struct {
	_     struct{} `cbor:",toarray"`
	A     int      `json:"a"`
	B     int      `json:"b"`
	Count int      `json:"count"`
}

// ForwardRequest asks the owner of a device to allocate for a peer. It is
// published on the device's fwd/req topic; the answer comes on the origin
// device's fwd/res topic with the same RequestID.
//
// Tenant and Key are the client's tenant and idempotency key: the owner
// grants at most one allocation per (Tenant, Key), however many times and
// by however many paths the request arrives.
type ForwardRequest struct {
	V int `cbor:"v" json:"v"`
	// RequestID correlates one attempt with its answer; Forward sets it.
	RequestID    string `cbor:"id" json:"id"`
	Origin       string `cbor:"origin" json:"origin"`               // controller that forwards
	OriginDevice string `cbor:"origin_device" json:"origin_device"` // its device: the answer goes to its fwd/res
	Tenant       string `cbor:"tenant" json:"tenant"`
	Key          string `cbor:"key" json:"key"` // idempotency key
	TaskID       string `cbor:"task" json:"task"`
	Qubits       int    `cbor:"qubits" json:"qubits"`
	// Shape is a shape ("linear", "ring", "star", "grid:2x3", "clique",
	// "none"); when empty, Pairs is the interaction graph.
	Shape      string  `cbor:"shape,omitempty" json:"shape,omitempty"`
	Pairs      []Pair  `cbor:"pairs,omitempty" json:"pairs,omitempty"`
	Floor      float64 `cbor:"floor" json:"floor"` // fidelity floor (lowest ESP), 0: none
	DurationMs int64   `cbor:"duration_ms" json:"duration_ms"`
	Priority   int     `cbor:"priority" json:"priority"`
	MaxWaitMs  int64   `cbor:"max_wait_ms" json:"max_wait_ms"`
	// Isolation is the request's isolation level ("" = the owner's
	// configuration; "none", "spatial", "temporal", "spatial_temporal").
	Isolation string `cbor:"isolation,omitempty" json:"isolation,omitempty"`
	// DeadlineMs is when the requester stops waiting (its clock): the owner
	// does not start the request after it and rolls back a grant that
	// completes after it.
	DeadlineMs int64 `cbor:"deadline_ms" json:"deadline_ms"`
	// Hops counts forwards: the owner receives Hops >= 1 and must place the
	// request locally, never forward it again.
	Hops int `cbor:"hops" json:"hops"`
}

// Forward error codes (ForwardResponse.Code).
const (
	CodeNoCapacity = "no_capacity" // cannot place now and cannot queue within max wait
	CodeBelowFloor = "below_floor" // best placement below the fidelity floor
	CodeBadRequest = "bad_request" // the request is invalid for this device
	CodeDraining   = "draining"    // the controller is draining
	CodeOffline    = "offline"     // the device is offline
	CodeExpired    = "expired"     // the deadline passed before the owner could answer
	CodeCancelled  = "cancelled"   // the requester withdrew the request (CmdCancel)
	CodeLoop       = "loop"        // a forwarded request was forwarded again
	CodeInternal   = "internal"    // anything else
)

// ForwardResponse is the owner's answer.
type ForwardResponse struct {
	V            int     `cbor:"v" json:"v"`
	RequestID    string  `cbor:"id" json:"id"`
	OK           bool    `cbor:"ok" json:"ok"`
	AllocationID string  `cbor:"allocation,omitempty" json:"allocation,omitempty"`
	Device       string  `cbor:"device" json:"device"`
	Controller   string  `cbor:"controller" json:"controller"`
	Qubits       []int   `cbor:"qubits,omitempty" json:"qubits,omitempty"` // physical qubits, in logical order
	ESP          float64 `cbor:"esp" json:"esp"`
	Swaps        int     `cbor:"swaps" json:"swaps"`
	LeaseEndMs   int64   `cbor:"lease_end_ms,omitempty" json:"lease_end_ms,omitempty"`
	Replayed     bool    `cbor:"replayed,omitempty" json:"replayed,omitempty"` // the grant of an earlier attempt
	Code         string  `cbor:"code,omitempty" json:"code,omitempty"`
	Message      string  `cbor:"message,omitempty" json:"message,omitempty"`
}

// Telemetry is published (QoS 0, not retained) with every state, for MQTT
// consumers: a flat record with units in the names. With
// Config.JSONTelemetry the same record goes to telemetry/json in JSON.
type Telemetry struct {
	V                 int       `cbor:"v" json:"v"`
	Site              string    `cbor:"site" json:"site"`
	Device            string    `cbor:"device" json:"device"`
	Controller        string    `cbor:"controller" json:"controller"`
	DeviceType        string    `cbor:"type" json:"type"`
	TimeMs            int64     `cbor:"t_ms" json:"t_ms"`
	Health            string    `cbor:"health" json:"health"`
	Draining          bool      `cbor:"draining" json:"draining"`
	Qubits            int       `cbor:"qubits" json:"qubits"`
	FreeQubits        int       `cbor:"free_qubits" json:"free_qubits"`
	Utilization       float64   `cbor:"utilization" json:"utilization"`
	QueueLength       int       `cbor:"queue_length" json:"queue_length"`
	QueuedQubits      int       `cbor:"queued_qubits" json:"queued_qubits"`
	ActiveAllocations int       `cbor:"active_allocations" json:"active_allocations"`
	ExpectedWaitMs    int64     `cbor:"expected_wait_ms" json:"expected_wait_ms"`
	Epoch             uint64    `cbor:"epoch" json:"epoch"`
	BestESP           []float32 `cbor:"best_esp_linear" json:"best_esp_linear"`
	FleetOnline       int       `cbor:"fleet_online" json:"fleet_online"`
	FleetSize         int       `cbor:"fleet_size" json:"fleet_size"`
}
