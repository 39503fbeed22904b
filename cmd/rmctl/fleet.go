package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"

	rmv1 "github.com/eigen-os/rm/api/rm/v1"
)

func init() {
	register(&command{name: "fleet", summary: "the devices a controller sees over MQTT (itself included)", run: runFleet})
}

// fleetDevice is the JSON form of one device ({"devices": [...]}).
type fleetDevice struct {
	Device      string  `json:"device"`
	Controller  string  `json:"controller"`
	Online      bool    `json:"online"`
	Self        bool    `json:"self"`
	Reason      string  `json:"reason,omitempty"`
	Load        float64 `json:"load"`
	Utilization float64 `json:"utilization"`
	FreeQubits  uint32  `json:"free_qubits"`
	Qubits      uint32  `json:"qubits"`
	Queue       uint32  `json:"queue_length"`
	Health      string  `json:"health,omitempty"`
	Type        string  `json:"device_type,omitempty"`
	StalenessMs int64   `json:"staleness_ms"`
	BestESP5    float64 `json:"best_esp_5"`
	Endpoint    string  `json:"endpoint,omitempty"`
}

func runFleet(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("fleet", stderr)
	cf := addClientFlags(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return 2
	}
	c, err := cf.client()
	if err != nil {
		return fail(stdout, stderr, *cf.asJSON, err)
	}
	ctx, cancel := cf.context()
	defer cancel()
	resp, err := c.ListFleet(ctx, connect.NewRequest(&rmv1.ListFleetRequest{}))
	if err != nil {
		return rpcFail(stdout, stderr, *cf.asJSON, err)
	}
	devs := make([]fleetDevice, 0, len(resp.Msg.Devices))
	for _, d := range resp.Msg.Devices {
		devs = append(devs, fleetDevice{Device: d.Device, Controller: d.Controller, Online: d.Online, Self: d.Self, Reason: d.Reason,
			Load: d.Load, Utilization: d.Utilization, FreeQubits: d.FreeQubits, Qubits: d.Qubits, Queue: d.QueueLength,
			Health: d.Health, Type: d.DeviceType, StalenessMs: d.Staleness.AsDuration().Milliseconds(), BestESP5: d.BestEsp_5,
			Endpoint: d.Endpoint})
	}
	if *cf.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		out := map[string]any{"devices": devs, "imbalance": resp.Msg.Imbalance, "federated": resp.Msg.Federated}
		if p := resp.Msg.Plan; p != nil {
			moves := []map[string]any{}
			for _, m := range p.Moves {
				moves = append(moves, map[string]any{"task": m.TaskId, "from": m.From, "to": m.To, "tenant": m.Tenant,
					"qubits": m.Qubits, "predicted_esp": m.PredictedEsp, "error": m.Error})
			}
			out["rebalance_plan"] = map[string]any{"time": p.Time.AsTime(), "imbalance": p.Imbalance, "after": p.After,
				"threshold": p.Threshold, "note": p.Note, "executed": p.Executed, "moves": moves}
		}
		_ = enc.Encode(out)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tCONTROLLER\tONLINE\tLOAD\tFREE/QUBITS\tQUEUE\tESP(5)\tSTALENESS")
	for _, d := range devs {
		name := d.Device
		if d.Self {
			name += " *"
		}
		online := fmt.Sprint(d.Online)
		if !d.Online && d.Reason != "" {
			online += " (" + d.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%d/%d\t%d\t%.4f\t%s\n", name, d.Controller, online, d.Load, d.FreeQubits, d.Qubits,
			d.Queue, d.BestESP5, (time.Duration(d.StalenessMs) * time.Millisecond).String())
	}
	tw.Flush()
	fmt.Fprintf(stdout, "imbalance %.3f\n", resp.Msg.Imbalance)
	if p := resp.Msg.Plan; p != nil {
		fmt.Fprintf(stdout, "last rebalance plan: %d moves (imbalance %.3f -> %.3f, threshold %.2f) %s\n", len(p.Moves), p.Imbalance, p.After, p.Threshold, p.Note)
	}
	return 0
}
