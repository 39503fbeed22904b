package mqtt

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Root is the first part of every topic of the federation, and Version the
// protocol version in the topic tree. A change that old controllers cannot
// read moves the whole tree to a new version ("eigen/rm/v2/..."); fields
// added to a v1 payload are ignored by older v1 readers.
const (
	Root    = "eigen/rm"
	Version = 1
)

// The leaf names of a device's topics, under eigen/rm/v1/{site}/{device}/.
const (
	LeafBirth         = "birth"          // retained, CBOR Birth
	LeafState         = "state"          // retained, CBOR State
	LeafDeath         = "death"          // retained, CBOR Death: the last will, also sent on clean shutdown
	LeafCommand       = "cmd"            // CBOR Command to the device's controller
	LeafCommandResult = "cmd/res"        // CBOR CommandResult, to the device of the command's origin
	LeafForwardReq    = "fwd/req"        // CBOR ForwardRequest to the owner of the device
	LeafForwardRes    = "fwd/res"        // CBOR ForwardResponse, to the device of the request's origin
	LeafTelemetry     = "telemetry"      // CBOR Telemetry for MQTT consumers (QoS 0, not retained)
	LeafTelemetryJSON = "telemetry/json" // the same in JSON, when Config.JSONTelemetry is set
)

// MaxNameLen bounds site, device and controller names.
const MaxNameLen = 128

// CheckName reports whether s can be a site, device or controller name: one
// topic level, 1..MaxNameLen bytes of valid UTF-8, without '/', '+', '#',
// NUL or control characters, and not starting with '$' (reserved by brokers).
func CheckName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty")
	case len(s) > MaxNameLen:
		return fmt.Errorf("%q is longer than %d bytes", s[:32]+"...", MaxNameLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%q is not valid UTF-8", s)
	case s[0] == '$':
		return fmt.Errorf("%q starts with '$' (reserved by MQTT brokers)", s)
	}
	for _, r := range s {
		if r == '/' || r == '+' || r == '#' || r < 0x20 || r == 0x7f {
			return fmt.Errorf("%q contains %q (not allowed in a topic level)", s, r)
		}
	}
	return nil
}

// Topics builds the topic names of one site.
type Topics struct {
	prefix string // "eigen/rm/v1/{site}/"
}

// NewTopics returns the topic builder of a site; the site must pass CheckName.
func NewTopics(site string) (Topics, error) {
	if err := CheckName(site); err != nil {
		return Topics{}, fmt.Errorf("site: %v", err)
	}
	return Topics{prefix: fmt.Sprintf("%s/v%d/%s/", Root, Version, site)}, nil
}

// Prefix is "eigen/rm/v1/{site}/".
func (t Topics) Prefix() string { return t.prefix }

// Device returns the topic of a device's leaf, e.g. Device("ibm_kyiv", LeafState)
// = "eigen/rm/v1/{site}/ibm_kyiv/state".
func (t Topics) Device(device, leaf string) string { return t.prefix + device + "/" + leaf }

// Every returns the filter matching a leaf of every device of the site, e.g.
// "eigen/rm/v1/{site}/+/birth".
func (t Topics) Every(leaf string) string { return t.prefix + "+/" + leaf }

// Parse splits a topic of the site into device and leaf. ok is false for a
// topic outside the site's tree or with an invalid device level.
func (t Topics) Parse(topic string) (device, leaf string, ok bool) {
	rest, found := strings.CutPrefix(topic, t.prefix)
	if !found {
		return "", "", false
	}
	device, leaf, found = strings.Cut(rest, "/")
	if !found || CheckName(device) != nil || leaf == "" {
		return "", "", false
	}
	return device, leaf, true
}
