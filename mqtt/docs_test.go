package mqtt

import (
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// cborKeys lists the CBOR keys of a payload struct.
func cborKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("cbor"), ",")
		if name == "" || name == "-" {
			continue
		}
		keys = append(keys, name)
	}
	sort.Strings(keys)
	return keys
}

// The AsyncAPI file, the federation document and the Go payloads describe
// the same topics and fields.
func TestAsyncAPIMatchesPayloads(t *testing.T) {
	raw, err := os.ReadFile("../docs/asyncapi.yaml")
	if err != nil {
		t.Fatalf("docs/asyncapi.yaml: %v", err)
	}
	var doc struct {
		AsyncAPI string `yaml:"asyncapi"`
		Channels map[string]struct {
			Address  string         `yaml:"address"`
			Messages map[string]any `yaml:"messages"`
		} `yaml:"channels"`
		Components struct {
			Schemas map[string]struct {
				Type       string         `yaml:"type"`
				Properties map[string]any `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docs/asyncapi.yaml: %v", err)
	}
	if doc.AsyncAPI != "3.0.0" {
		t.Errorf("asyncapi version %q", doc.AsyncAPI)
	}
	addresses := map[string]bool{}
	for _, c := range doc.Channels {
		addresses[c.Address] = true
	}
	md, err := os.ReadFile("../docs/federation.md")
	if err != nil {
		t.Fatalf("docs/federation.md: %v", err)
	}
	for _, leaf := range []string{LeafBirth, LeafState, LeafDeath, LeafCommand, LeafCommandResult,
		LeafForwardReq, LeafForwardRes, LeafTelemetry, LeafTelemetryJSON} {
		addr := "eigen/rm/v1/{site}/{device}/" + leaf
		if !addresses[addr] {
			t.Errorf("asyncapi.yaml has no channel %s", addr)
		}
		if !strings.Contains(string(md), "`"+leaf+"`") {
			t.Errorf("federation.md does not document the leaf %q", leaf)
		}
		delete(addresses, addr)
	}
	for a := range addresses {
		t.Errorf("asyncapi.yaml channel %s is not a topic of the code", a)
	}
	for name, v := range map[string]any{"Birth": Birth{}, "DeviceSummary": DeviceSummary{}, "Module": Module{},
		"State": State{}, "Quality": Quality{}, "Death": Death{}, "Command": Command{}, "CommandResult": CommandResult{},
		"ForwardRequest": ForwardRequest{}, "ForwardResponse": ForwardResponse{}, "Telemetry": Telemetry{}} {
		s, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("asyncapi.yaml has no schema %s", name)
			continue
		}
		var props []string
		for p := range s.Properties {
			props = append(props, p)
		}
		sort.Strings(props)
		keys := cborKeys(reflect.TypeOf(v))
		if strings.Join(props, " ") != strings.Join(keys, " ") {
			t.Errorf("schema %s has %v; the Go type encodes %v", name, props, keys)
		}
		for _, k := range keys {
			if !strings.Contains(string(md), "`"+k+"`") {
				t.Errorf("federation.md does not mention the %s field `%s`", name, k)
			}
		}
	}
	if p := doc.Components.Schemas["Pair"]; p.Type != "array" {
		t.Errorf("Pair must be an array [a, b, count], schema says %q", p.Type)
	}
	for _, code := range []string{CodeNoCapacity, CodeBelowFloor, CodeBadRequest, CodeDraining, CodeOffline,
		CodeExpired, CodeCancelled, CodeLoop, CodeInternal, CmdRebirth, CmdDrain, CmdUndrain, CmdRollout, CmdCancel} {
		if !strings.Contains(string(raw), code) || !strings.Contains(string(md), "`"+code+"`") {
			t.Errorf("%q is not in both documents", code)
		}
	}
}
