package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// MaxPayload is the largest payload a node decodes; larger ones are
// decode failures.
const MaxPayload = 1 << 20

// Limits on decoded payloads.
const (
	maxStringLen  = 4096  // any string field
	maxIDLen      = 256   // ids, tenants, keys
	maxList       = 256   // capabilities, modules, args
	maxPairs      = 65536 // interaction graph pairs
	maxQubits     = 1 << 16
	maxAllocation = 1 << 16
)

// ErrUnknownVersion wraps the error of a payload whose "v" is not
// PayloadVersion.
var ErrUnknownVersion = errors.New("unknown payload version")

// ErrDecode wraps every other decoding or validation failure.
var ErrDecode = errors.New("bad payload")

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{Sort: cbor.SortNone, ShortestFloat: cbor.ShortestFloatNone}.EncMode()
	if err != nil {
		panic(fmt.Sprintf("mqtt: CBOR encoder options: %v", err)) // static options: cannot fail at run time
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  16,
		MaxArrayElements: maxPairs,
		MaxMapPairs:      1024,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("mqtt: CBOR decoder options: %v", err))
	}
}

// Encode encodes a payload in CBOR.
func Encode(v any) ([]byte, error) { return encMode.Marshal(v) }

// EncodeJSON encodes a payload in JSON (for telemetry/json). JSON has no
// NaN: give finite figures.
func EncodeJSON(v any) ([]byte, error) { return json.Marshal(v) }

type versionOnly struct {
	V int `cbor:"v"`
}

// versioned is every payload: its "v".
type versioned interface{ version() int }

func (v *Birth) version() int           { return v.V }
func (v *State) version() int           { return v.V }
func (v *Death) version() int           { return v.V }
func (v *Command) version() int         { return v.V }
func (v *CommandResult) version() int   { return v.V }
func (v *ForwardRequest) version() int  { return v.V }
func (v *ForwardResponse) version() int { return v.V }
func (v *Telemetry) version() int       { return v.V }

// decode checks the size and version of b and decodes it into v. One pass
// in the common case; a payload that fails to decode is decoded again for
// its version only, to tell an unknown version from garbage.
func decode(what string, b []byte, v versioned) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: %s: empty payload", ErrDecode, what)
	}
	if len(b) > MaxPayload {
		return fmt.Errorf("%w: %s: %d bytes is more than %d", ErrDecode, what, len(b), MaxPayload)
	}
	err := decMode.Unmarshal(b, v)
	var h versionOnly
	if err != nil {
		if decMode.Unmarshal(b, &h) != nil || h.V == PayloadVersion {
			return fmt.Errorf("%w: %s: %v", ErrDecode, what, err)
		}
	} else {
		h.V = v.version()
	}
	if h.V != PayloadVersion {
		return fmt.Errorf("%w: %s: v=%d, this controller reads v=%d", ErrUnknownVersion, what, h.V, PayloadVersion)
	}
	return nil
}

// checker accumulates the first validation error, naming the field.
type checker struct {
	what string
	err  error
}

func (c *checker) fail(field, format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: %s.%s: %s", ErrDecode, c.what, field, fmt.Sprintf(format, args...))
	}
}

func (c *checker) name(field, s string) {
	if err := CheckName(s); err != nil {
		c.fail(field, "%v", err)
	}
}

func (c *checker) str(field, s string, max int, required bool) {
	switch {
	case required && s == "":
		c.fail(field, "missing")
	case len(s) > max:
		c.fail(field, "%d bytes is more than %d", len(s), max)
	case !utf8.ValidString(s):
		c.fail(field, "not valid UTF-8")
	}
}

func (c *checker) prob(field string, x float64, nanOK bool) {
	if math.IsNaN(x) {
		if !nanOK {
			c.fail(field, "NaN")
		}
		return
	}
	if x < 0 || x > 1 {
		c.fail(field, "%v is out of range [0, 1]", x)
	}
}

func (c *checker) nonneg(field string, x int64, max int64) {
	if x < 0 || x > max {
		c.fail(field, "%d is out of range [0, %d]", x, max)
	}
}

func (c *checker) profile(field string, p []float32) {
	if len(p) > MaxProfile {
		c.fail(field, "%d entries is more than %d", len(p), MaxProfile)
		return
	}
	for i, x := range p {
		if !(x >= 0 && x <= 1) { // NaN fails too
			c.fail(fmt.Sprintf("%s[%d]", field, i), "%v is out of range [0, 1]", x)
			return
		}
	}
}

const maxMs = int64(1) << 50 // about 35,000 years of milliseconds

// DecodeBirth decodes and validates a birth certificate.
func DecodeBirth(b []byte) (Birth, error) {
	var v Birth
	if err := decode("birth", b, &v); err != nil {
		return Birth{}, err
	}
	return v, v.Validate()
}

// Validate checks a birth's fields.
func (v *Birth) Validate() error {
	c := checker{what: "birth"}
	c.name("site", v.Site)
	c.name("device", v.Device)
	c.name("controller", v.Controller)
	c.nonneg("t_ms", v.TimeMs, maxMs)
	c.nonneg("keepalive_ms", v.KeepAliveMs, maxMs)
	c.nonneg("state_interval_ms", v.StateIntervalMs, maxMs)
	c.str("type", v.DeviceType, maxIDLen, false)
	s := v.Summary
	c.str("summary.vendor", s.Vendor, maxIDLen, false)
	c.str("summary.family", s.Family, maxIDLen, false)
	c.str("summary.native_2q", s.Native2Q, maxIDLen, false)
	c.nonneg("summary.qubits", int64(s.Qubits), maxQubits)
	c.nonneg("summary.couplers", int64(s.Couplers), maxQubits*maxQubits)
	c.nonneg("summary.usable_qubits", int64(s.UsableQubits), int64(s.Qubits))
	c.nonneg("summary.usable_couplers", int64(s.UsableCouplers), int64(s.Couplers))
	c.nonneg("summary.max_degree", int64(s.MaxDegree), maxQubits)
	c.prob("summary.median_2q_error", s.Median2QError, true)
	c.prob("summary.median_readout_error", s.MedianReadoutError, true)
	c.prob("summary.median_1q_error", s.Median1QError, true)
	if len(v.Capabilities) > maxList {
		c.fail("capabilities", "%d entries is more than %d", len(v.Capabilities), maxList)
	}
	for i, s := range v.Capabilities {
		c.str(fmt.Sprintf("capabilities[%d]", i), s, maxIDLen, true)
	}
	if len(v.Modules) > maxList {
		c.fail("modules", "%d entries is more than %d", len(v.Modules), maxList)
	}
	for i, m := range v.Modules {
		f := fmt.Sprintf("modules[%d]", i)
		c.str(f+".name", m.Name, maxIDLen, true)
		c.str(f+".kind", m.Kind, maxIDLen, false)
		c.str(f+".version", m.Version, maxIDLen, false)
		c.str(f+".digest", m.Digest, maxIDLen, false)
	}
	c.str("software", v.Software, maxIDLen, false)
	c.str("endpoint", v.Endpoint, maxIDLen, false)
	return c.err
}

// DecodeState decodes and validates a state.
func DecodeState(b []byte) (State, error) {
	var v State
	if err := decode("state", b, &v); err != nil {
		return State{}, err
	}
	return v, v.Validate()
}

// Validate checks a state's fields.
func (v *State) Validate() error {
	c := checker{what: "state"}
	c.nonneg("t_ms", v.TimeMs, maxMs)
	c.str("health", v.Health, maxIDLen, true)
	c.nonneg("qubits", int64(v.Qubits), maxQubits)
	c.nonneg("free", int64(v.FreeQubits), int64(v.Qubits))
	c.prob("util", v.Utilization, false)
	c.nonneg("queue", int64(v.QueueLength), math.MaxInt32)
	c.nonneg("queued_qubits", int64(v.QueuedQubits), math.MaxInt32)
	c.nonneg("active", int64(v.ActiveAllocations), math.MaxInt32)
	c.nonneg("wait_ms", v.ExpectedWaitMs, maxMs)
	c.profile("quality.linear", v.Quality.Linear)
	c.profile("quality.idle", v.Quality.Idle)
	c.prob("quality.readout", float64(v.Quality.Readout), false)
	c.prob("quality.pair", float64(v.Quality.Pair), false)
	return c.err
}

// DecodeDeath decodes and validates a death certificate.
func DecodeDeath(b []byte) (Death, error) {
	var v Death
	if err := decode("death", b, &v); err != nil {
		return Death{}, err
	}
	c := checker{what: "death"}
	c.name("site", v.Site)
	c.name("device", v.Device)
	c.name("controller", v.Controller)
	c.nonneg("t_ms", v.TimeMs, maxMs)
	return v, c.err
}

// DecodeCommand decodes and validates a command.
func DecodeCommand(b []byte) (Command, error) {
	var v Command
	if err := decode("command", b, &v); err != nil {
		return Command{}, err
	}
	c := checker{what: "command"}
	c.str("id", v.ID, maxIDLen, false)
	c.str("kind", v.Kind, maxIDLen, true)
	c.str("origin", v.Origin, MaxNameLen, false)
	if v.OriginDevice != "" {
		c.name("origin_device", v.OriginDevice)
	} else if v.ID != "" {
		c.fail("origin_device", "missing (needed to answer a command with an id)")
	}
	c.nonneg("t_ms", v.TimeMs, maxMs)
	if len(v.Args) > maxList {
		c.fail("args", "%d entries is more than %d", len(v.Args), maxList)
	}
	for k, a := range v.Args {
		c.str("args key", k, maxIDLen, true)
		c.str("args."+k, a, maxStringLen, false)
	}
	c.str("tenant", v.Tenant, maxIDLen, v.Kind == CmdCancel)
	c.str("key", v.Key, maxIDLen, v.Kind == CmdCancel)
	return v, c.err
}

// DecodeCommandResult decodes and validates a command result.
func DecodeCommandResult(b []byte) (CommandResult, error) {
	var v CommandResult
	if err := decode("command result", b, &v); err != nil {
		return CommandResult{}, err
	}
	c := checker{what: "command_result"}
	c.str("id", v.ID, maxIDLen, true)
	c.name("device", v.Device)
	c.str("error", v.Error, maxStringLen, false)
	return v, c.err
}

// DecodeForward decodes and validates a forwarded request.
func DecodeForward(b []byte) (ForwardRequest, error) {
	var v ForwardRequest
	if err := decode("forward request", b, &v); err != nil {
		return ForwardRequest{}, err
	}
	return v, v.Validate()
}

// Validate checks a forwarded request's fields.
func (v *ForwardRequest) Validate() error {
	c := checker{what: "forward"}
	c.str("id", v.RequestID, maxIDLen, true)
	c.name("origin", v.Origin)
	c.name("origin_device", v.OriginDevice)
	c.str("tenant", v.Tenant, maxIDLen, true)
	c.str("key", v.Key, maxIDLen, true)
	c.str("task", v.TaskID, maxIDLen, false)
	if v.Qubits < 1 || v.Qubits > maxQubits {
		c.fail("qubits", "%d is out of range [1, %d]", v.Qubits, maxQubits)
	}
	c.str("shape", v.Shape, maxIDLen, false)
	if v.Shape == "" && len(v.Pairs) == 0 && v.Qubits > 1 {
		c.fail("shape", "missing: give a shape or pairs")
	}
	if len(v.Pairs) > maxPairs {
		c.fail("pairs", "%d entries is more than %d", len(v.Pairs), maxPairs)
	}
	for i, p := range v.Pairs {
		if p.A < 0 || p.A >= v.Qubits || p.B < 0 || p.B >= v.Qubits || p.A == p.B || p.Count < 1 || p.Count > 1<<30 {
			c.fail(fmt.Sprintf("pairs[%d]", i), "(%d,%d)x%d: want distinct qubits in [0, %d) and count >= 1", p.A, p.B, p.Count, v.Qubits)
			break
		}
	}
	c.prob("floor", v.Floor, false)
	c.nonneg("duration_ms", v.DurationMs, maxMs)
	c.nonneg("max_wait_ms", v.MaxWaitMs, maxMs)
	c.nonneg("deadline_ms", v.DeadlineMs, maxMs)
	if v.Priority < math.MinInt32 || v.Priority > math.MaxInt32 {
		c.fail("priority", "%d is out of the 32-bit range", v.Priority)
	}
	c.str("isolation", v.Isolation, maxIDLen, false)
	c.nonneg("hops", int64(v.Hops), 64)
	return c.err
}

// DecodeForwardResponse decodes and validates a forward answer.
func DecodeForwardResponse(b []byte) (ForwardResponse, error) {
	var v ForwardResponse
	if err := decode("forward response", b, &v); err != nil {
		return ForwardResponse{}, err
	}
	return v, v.Validate()
}

// Validate checks a forward answer's fields.
func (v *ForwardResponse) Validate() error {
	c := checker{what: "forward_response"}
	c.str("id", v.RequestID, maxIDLen, true)
	c.name("device", v.Device)
	c.str("controller", v.Controller, MaxNameLen, false)
	c.str("allocation", v.AllocationID, maxIDLen, v.OK)
	if len(v.Qubits) > maxAllocation {
		c.fail("qubits", "%d entries is more than %d", len(v.Qubits), maxAllocation)
	}
	for i, q := range v.Qubits {
		if q < 0 || q >= maxQubits {
			c.fail(fmt.Sprintf("qubits[%d]", i), "%d is out of range", q)
			break
		}
	}
	c.prob("esp", v.ESP, false)
	c.nonneg("swaps", int64(v.Swaps), math.MaxInt32)
	c.nonneg("lease_end_ms", v.LeaseEndMs, maxMs)
	c.str("code", v.Code, maxIDLen, !v.OK)
	c.str("message", v.Message, maxStringLen, false)
	return c.err
}

// DecodeTelemetry decodes and validates a CBOR telemetry record.
func DecodeTelemetry(b []byte) (Telemetry, error) {
	var v Telemetry
	if err := decode("telemetry", b, &v); err != nil {
		return Telemetry{}, err
	}
	c := checker{what: "telemetry"}
	c.name("site", v.Site)
	c.name("device", v.Device)
	c.prob("utilization", v.Utilization, false)
	c.profile("best_esp_linear", v.BestESP)
	return v, c.err
}
