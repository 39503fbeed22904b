package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rmv1 "github.com/eigen-os/rm/api/rm/v1"
	"github.com/eigen-os/rm/api/rm/v1/rmv1connect"
)

func init() {
	register(&command{name: "allocate", summary: "allocate qubits on a running rmd", run: runAllocate})
	register(&command{name: "release", summary: "release an allocation (idempotent)", run: runRelease})
	register(&command{name: "list", summary: "list allocations", run: runList})
	register(&command{name: "reserve", summary: "reserve qubits for a tenant over a window (admin)", run: runReserve})
	register(&command{name: "reservations", summary: "list reservations; --cancel ID cancels one", run: runReservations})
	register(&command{name: "status", summary: "the controller's health, load and queue", run: runStatus})
	register(&command{name: "device", summary: "the device a running rmd serves (rmctl device show: offline)", run: runDevice})
	register(&command{name: "watch", summary: "stream the controller's events", run: runWatch})
}

// parseShapeFlag maps linear|ring|star|grid:RxC|clique|none to the API's shape.
func parseShapeFlag(s string) (rmv1.Shape, uint32, uint32, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch t {
	case "":
		return rmv1.Shape_SHAPE_UNSPECIFIED, 0, 0, nil
	case "linear":
		return rmv1.Shape_SHAPE_LINEAR, 0, 0, nil
	case "ring":
		return rmv1.Shape_SHAPE_RING, 0, 0, nil
	case "star":
		return rmv1.Shape_SHAPE_STAR, 0, 0, nil
	case "clique":
		return rmv1.Shape_SHAPE_CLIQUE, 0, 0, nil
	case "none":
		return rmv1.Shape_SHAPE_NONE, 0, 0, nil
	}
	if rest, ok := strings.CutPrefix(t, "grid:"); ok {
		r, c, ok := strings.Cut(rest, "x")
		rows, e1 := strconv.ParseUint(r, 10, 32)
		cols, e2 := strconv.ParseUint(c, 10, 32)
		if ok && e1 == nil && e2 == nil && rows > 0 && cols > 0 {
			return rmv1.Shape_SHAPE_GRID, uint32(rows), uint32(cols), nil
		}
	}
	return 0, 0, 0, fmt.Errorf("--shape %q: want linear, ring, star, grid:RxC, clique or none", s)
}

func runAllocate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("allocate", stderr)
	cf := addClientFlags(fs)
	qubits := fs.Int("qubits", 0, "number of logical qubits")
	shape := fs.String("shape", "", "linear, ring, star, grid:RxC, clique or none")
	circuit := fs.String("circuit", "", "OpenQASM 2 file: the interaction graph decides the placement")
	key := fs.String("key", "", "idempotency key: a retry with the same key returns the same allocation")
	task := fs.String("task", "", "task id")
	priority := fs.Int("priority", 0, "priority (higher first)")
	floor := fs.Float64("floor", 0, "fidelity floor: minimum estimated success probability")
	duration := fs.Duration("duration", 0, "how long the task runs (lease = duration + grace)")
	wait := fs.Duration("wait", 0, "how long the request may wait in the queue")
	buffer := fs.Int("buffer", -1, "isolation distance (idle qubits to other tasks); -1: the controller's setting")
	if _, err := parseFlags(fs, args); err != nil {
		return 2
	}
	sh, rows, cols, err := parseShapeFlag(*shape)
	if err != nil {
		return fail(stdout, stderr, *cf.asJSON, err)
	}
	if *qubits < 0 {
		return fail(stdout, stderr, *cf.asJSON, fmt.Errorf("--qubits %d: must be positive", *qubits))
	}
	req := &rmv1.AllocateRequest{TaskId: *task, IdempotencyKey: *key, Qubits: uint32(*qubits), Shape: sh, GridRows: rows,
		GridCols: cols, FidelityFloor: *floor, Priority: int32(*priority)}
	if *circuit != "" {
		src, err := os.ReadFile(*circuit)
		if err != nil {
			return fail(stdout, stderr, *cf.asJSON, err)
		}
		req.CircuitQasm = string(src)
	}
	if *duration > 0 {
		req.Duration = durationpb.New(*duration)
	}
	if *wait > 0 {
		req.MaxWait = durationpb.New(*wait)
	}
	if *buffer >= 0 {
		b := uint32(*buffer)
		req.MinDistance = &b
	}
	c, err := cf.client()
	if err != nil {
		return fail(stdout, stderr, *cf.asJSON, err)
	}
	ctx, cancel := cf.context()
	defer cancel()
	resp, err := c.Allocate(ctx, connect.NewRequest(req))
	if err != nil {
		return rpcFail(stdout, stderr, *cf.asJSON, err)
	}
	a := resp.Msg.Allocation
	if *cf.asJSON {
		_ = printProto(stdout, a)
		return 0
	}
	replay := ""
	if resp.Msg.Replayed {
		replay = " (replayed: the same key was granted before)"
	}
	fmt.Fprintf(stdout, "allocation %s%s\n", a.Id, replay)
	tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintf(tw, "device\t%s\n", a.Device)
	fmt.Fprintf(tw, "physical qubits\t%s\n", qubitList(a.PhysicalQubits))
	fmt.Fprintf(tw, "esp\t%.4f\n", a.Esp)
	fmt.Fprintf(tw, "swaps\t%d\n", a.Swaps)
	fmt.Fprintf(tw, "lease expires\t%s\n", timeStr(a.LeaseExpiresAt, a.LeaseExpiresAt != nil))
	tw.Flush()
	return 0
}

func runRelease(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("release", stderr)
	cf := addClientFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) == 0 {
		return fail(stdout, stderr, *cf.asJSON, fmt.Errorf("usage: rmctl release ID [ID...]"))
	}
	c, err := cf.client()
	if err != nil {
		return fail(stdout, stderr, *cf.asJSON, err)
	}
	ctx, cancel := cf.context()
	defer cancel()
	code := 0
	for _, id := range pos {
		resp, err := c.Release(ctx, connect.NewRequest(&rmv1.ReleaseRequest{Id: id}))
		if err != nil {
			code = rpcFail(stdout, stderr, *cf.asJSON, err)
			continue
		}
		if *cf.asJSON {
			_ = printProto(stdout, resp.Msg)
		} else if resp.Msg.ReleasedNow {
			fmt.Fprintf(stdout, "released %s\n", id)
		} else {
			fmt.Fprintf(stdout, "%s was already %s\n", id, resp.Msg.Allocation.GetState())
		}
	}
	return code
}

func runList(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("list", stderr)
	cf := addClientFlags(fs)
	all := fs.Bool("all", false, "include released and expired allocations")
	tenant := fs.String("tenant", "", "admin: another tenant's allocations (* for all)")
	if _, err := parseFlags(fs, args); err != nil {
		return 2
	}
	return call(cf, stdout, stderr, func(ctx context.Context, c rmv1connect.ResourceManagerClient) (*connect.Response[rmv1.ListAllocationsResponse], error) {
		return c.ListAllocations(ctx, connect.NewRequest(&rmv1.ListAllocationsRequest{IncludeInactive: *all, Tenant: *tenant}))
	}, func(msg *rmv1.ListAllocationsResponse) {
		tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTENANT\tSTATE\tQUBITS\tESP\tLEASE EXPIRES")
		for _, a := range msg.Allocations {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.4f\t%s\n", a.Id, a.Tenant, a.State, qubitList(a.PhysicalQubits), a.Esp,
				timeStr(a.LeaseExpiresAt, a.LeaseExpiresAt != nil))
		}
		tw.Flush()
	})
}

func runReserve(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("reserve", stderr)
	cf := addClientFlags(fs)
	tenant := fs.String("tenant", "", "tenant the qubits are kept for")
	count := fs.Int("count", 0, "reserve this many qubits (a compact region chosen by the controller)")
	qubits := fs.String("qubits", "", "reserve these qubits (comma-separated indices)")
	whole := fs.Bool("whole-device", false, "reserve the whole device")
	start := fs.String("start", "", "start: RFC 3339 time, or +DURATION from now (default now)")
	dur := fs.Duration("for", time.Hour, "length of the window")
	if _, err := parseFlags(fs, args); err != nil {
		return 2
	}
	req := &rmv1.ReserveRequest{Tenant: *tenant, Count: uint32(max(*count, 0)), WholeDevice: *whole}
	if *qubits != "" {
		for _, f := range strings.Split(*qubits, ",") {
			q, err := strconv.ParseUint(strings.TrimSpace(f), 10, 32)
			if err != nil {
				return fail(stdout, stderr, *cf.asJSON, fmt.Errorf("--qubits: %q is not a qubit index", f))
			}
			req.Qubits = append(req.Qubits, uint32(q))
		}
	}
	st := time.Now()
	if *start != "" {
		if d, ok := strings.CutPrefix(*start, "+"); ok {
			dd, err := time.ParseDuration(d)
			if err != nil {
				return fail(stdout, stderr, *cf.asJSON, fmt.Errorf("--start %q: %v", *start, err))
			}
			st = st.Add(dd)
		} else {
			t, err := time.Parse(time.RFC3339, *start)
			if err != nil {
				return fail(stdout, stderr, *cf.asJSON, fmt.Errorf("--start %q: not RFC 3339 or +DURATION", *start))
			}
			st = t
		}
	}
	req.Start, req.End = timestamppb.New(st), timestamppb.New(st.Add(*dur))
	return call(cf, stdout, stderr, func(ctx context.Context, c rmv1connect.ResourceManagerClient) (*connect.Response[rmv1.Reservation], error) {
		return c.Reserve(ctx, connect.NewRequest(req))
	}, func(r *rmv1.Reservation) {
		what := qubitList(r.Qubits)
		if r.WholeDevice {
			what = "the whole device"
		}
		fmt.Fprintf(stdout, "reservation %s for %s: %s from %s to %s\n", r.Id, r.Tenant, what,
			timeStr(r.Start, r.Start != nil), timeStr(r.End, r.End != nil))
	})
}

func runReservations(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("reservations", stderr)
	cf := addClientFlags(fs)
	cancelID := fs.String("cancel", "", "cancel the reservation with this id")
	past := fs.Bool("all", false, "include past and cancelled reservations")
	if _, err := parseFlags(fs, args); err != nil {
		return 2
	}
	c, err := cf.client()
	if err != nil {
		return fail(stdout, stderr, *cf.asJSON, err)
	}
	ctx, cancel := cf.context()
	defer cancel()
	if *cancelID != "" {
		resp, err := c.CancelReservation(ctx, connect.NewRequest(&rmv1.CancelReservationRequest{Id: *cancelID}))
		if err != nil {
			return rpcFail(stdout, stderr, *cf.asJSON, err)
		}
		if *cf.asJSON {
			_ = printProto(stdout, resp.Msg)
		} else {
			fmt.Fprintf(stdout, "cancelled %s\n", resp.Msg.Id)
		}
		return 0
	}
	resp, err := c.ListReservations(ctx, connect.NewRequest(&rmv1.ListReservationsRequest{IncludePast: *past}))
	if err != nil {
		return rpcFail(stdout, stderr, *cf.asJSON, err)
	}
	if *cf.asJSON {
		_ = printProto(stdout, resp.Msg)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTENANT\tQUBITS\tSTART\tEND\tACTIVE")
	for _, r := range resp.Msg.Reservations {
		what := qubitList(r.Qubits)
		if r.WholeDevice {
			what = "all"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", r.Id, r.Tenant, what, timeStr(r.Start, r.Start != nil), timeStr(r.End, r.End != nil), r.ActiveNow)
	}
	tw.Flush()
	return 0
}

func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("status", stderr)
	cf := addClientFlags(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return 2
	}
	return call(cf, stdout, stderr, func(ctx context.Context, c rmv1connect.ResourceManagerClient) (*connect.Response[rmv1.StatusResponse], error) {
		return c.Status(ctx, connect.NewRequest(&rmv1.StatusRequest{}))
	}, func(s *rmv1.StatusResponse) {
		tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintf(tw, "controller\t%s (%s)\n", s.Controller, s.Version)
		fmt.Fprintf(tw, "device\t%s, %s\n", s.Device, s.Health)
		fmt.Fprintf(tw, "qubits\t%d (%d allocated, %d free, utilization %.1f%%)\n", s.Qubits, s.AllocatedQubits, s.FreeQubits, 100*s.Utilization)
		fmt.Fprintf(tw, "allocations\t%d active, %d queued\n", s.ActiveAllocations, s.QueuedRequests)
		fmt.Fprintf(tw, "reservations\t%d active\n", s.ActiveReservations)
		fmt.Fprintf(tw, "cache hit rate\t%.1f%%\n", 100*s.CacheHitRate)
		fmt.Fprintf(tw, "calibration epoch\t%016x\n", s.CalibrationEpoch)
		fmt.Fprintf(tw, "started\t%s\n", timeStr(s.StartedAt, s.StartedAt != nil))
		tw.Flush()
	})
}

func runDevice(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("device", stderr)
	cf := addClientFlags(fs)
	detail := fs.Bool("detail", false, "include every qubit and coupler")
	if _, err := parseFlags(fs, args); err != nil {
		return 2
	}
	return call(cf, stdout, stderr, func(ctx context.Context, c rmv1connect.ResourceManagerClient) (*connect.Response[rmv1.DeviceInfo], error) {
		return c.GetDevice(ctx, connect.NewRequest(&rmv1.GetDeviceRequest{Detail: *detail}))
	}, func(d *rmv1.DeviceInfo) {
		tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintf(tw, "name\t%s (%s %s), %s\n", d.Name, d.Vendor, d.Family, d.Health)
		fmt.Fprintf(tw, "qubits\t%d (%d unusable)\n", d.Qubits, d.BrokenQubits)
		fmt.Fprintf(tw, "couplers\t%d (%d broken)\n", d.Couplers, d.BrokenCouplers)
		fmt.Fprintf(tw, "native 2q gate\t%s\n", d.Native_2Q)
		fmt.Fprintf(tw, "median 2q / readout error\t%.4g / %.4g\n", d.Median_2QError, d.MedianReadoutError)
		fmt.Fprintf(tw, "calibration\tepoch %016x at %s\n", d.Epoch, timeStr(d.CalibratedAt, d.CalibratedAt != nil))
		tw.Flush()
		if *detail {
			tw = tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
			fmt.Fprintln(tw, "\nQUBIT\tNAME\tUSABLE\tREADOUT\tOWNER")
			for _, q := range d.QubitDetail {
				fmt.Fprintf(tw, "%d\t%s\t%v\t%.4g\t%s\n", q.Index, q.Name, q.Usable, q.ReadoutError, q.Owner)
			}
			tw.Flush()
		}
	})
}

func runWatch(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("watch", stderr)
	cf := addClientFlags(fs)
	from := fs.Uint64("from", 0, "replay stored events from this sequence number")
	count := fs.Int("count", 0, "stop after this many events (0: until interrupted or --timeout)")
	if _, err := parseFlags(fs, args); err != nil {
		return 2
	}
	c, err := cf.client()
	if err != nil {
		return fail(stdout, stderr, *cf.asJSON, err)
	}
	ctx, cancel := cf.context()
	defer cancel()
	stream, err := c.WatchEvents(ctx, connect.NewRequest(&rmv1.WatchEventsRequest{FromSeq: *from}))
	if err != nil {
		return rpcFail(stdout, stderr, *cf.asJSON, err)
	}
	n := 0
	for stream.Receive() {
		e := stream.Msg()
		if *cf.asJSON {
			_ = printProto(stdout, e)
		} else {
			fmt.Fprintf(stdout, "%d %s %-12s %s %s\n", e.Seq, timeStr(e.Time, e.Time != nil), e.Kind, e.Subject, e.Detail)
		}
		n++
		if *count > 0 && n >= *count {
			return 0
		}
	}
	if err := stream.Err(); err != nil && ctx.Err() == nil {
		return rpcFail(stdout, stderr, *cf.asJSON, err)
	}
	return 0
}
