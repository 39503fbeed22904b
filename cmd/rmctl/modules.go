package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"connectrpc.com/connect"

	rmv1 "github.com/eigen-os/rm/api/rm/v1"
	"github.com/eigen-os/rm/api/rm/v1/rmv1connect"
)

func init() {
	register(&command{name: "modules push", summary: "push a WebAssembly strategy module (admin)", run: runModulesPush})
	register(&command{name: "modules list", summary: "list strategy modules and their versions", run: runModulesList})
	register(&command{name: "modules activate", summary: "activate NAME@VERSION (admin)", run: runModulesActivate})
	register(&command{name: "modules rollback", summary: "go back to the version active before (admin)", run: runModulesRollback})
}

func printModule(w io.Writer, m *rmv1.ModuleInfo) {
	state := m.State
	if m.Active {
		state += ", active"
	}
	if m.Shadow {
		state += ", shadow"
	}
	fmt.Fprintf(w, "%s@%d %s (%s), %d bytes, sha256 %s\n", m.Name, m.Version, m.Kind, state, m.Size, m.Sha256[:min(12, len(m.Sha256))])
}

func runModulesPush(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("modules push", stderr)
	cf := addClientFlags(fs)
	name := fs.String("name", "", "module name (lower-case letters, digits, . _ -)")
	kind := fs.String("kind", "", "placement or scoring (default: what the module says)")
	sig := fs.String("sig", "", "ed25519 signature file (default FILE.sig when it exists)")
	version := fs.Int("version", 0, "version to store (0: the next)")
	activate := fs.Bool("activate", false, "activate it once stored")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 || *name == "" {
		return fail(stdout, stderr, *cf.asJSON, fmt.Errorf("usage: rmctl modules push FILE.wasm --name NAME [--kind placement|scoring] [--sig FILE] [--activate]"))
	}
	if *version < 0 {
		return fail(stdout, stderr, *cf.asJSON, fmt.Errorf("--version %d: must not be negative", *version))
	}
	wasm, err := os.ReadFile(pos[0])
	if err != nil {
		return fail(stdout, stderr, *cf.asJSON, err)
	}
	req := &rmv1.PushModuleRequest{Name: *name, Kind: *kind, Wasm: wasm, Version: uint32(*version), Activate: *activate}
	sigFile := *sig
	if sigFile == "" {
		if _, err := os.Stat(pos[0] + ".sig"); err == nil {
			sigFile = pos[0] + ".sig"
		}
	}
	if sigFile != "" {
		if req.Signature, err = os.ReadFile(sigFile); err != nil {
			return fail(stdout, stderr, *cf.asJSON, err)
		}
	}
	return call(cf, stdout, stderr, func(ctx context.Context, c rmv1connect.ResourceManagerClient) (*connect.Response[rmv1.ModuleInfo], error) {
		return c.PushModule(ctx, connect.NewRequest(req))
	}, func(m *rmv1.ModuleInfo) { printModule(stdout, m) })
}

func runModulesList(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("modules list", stderr)
	cf := addClientFlags(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return 2
	}
	return call(cf, stdout, stderr, func(ctx context.Context, c rmv1connect.ResourceManagerClient) (*connect.Response[rmv1.ListModulesResponse], error) {
		return c.ListModules(ctx, connect.NewRequest(&rmv1.ListModulesRequest{}))
	}, func(msg *rmv1.ListModulesResponse) {
		tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "MODULE\tKIND\tSTATE\tACTIVE\tSIGNED\tSIZE\tCALLS\tFAILURES")
		for _, m := range msg.Modules {
			fmt.Fprintf(tw, "%s@%d\t%s\t%s\t%v\t%v\t%d\t%d\t%d\n", m.Name, m.Version, m.Kind, m.State, m.Active, m.Signed, m.Size, m.Calls, m.Failures)
		}
		tw.Flush()
	})
}

func runModulesActivate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("modules activate", stderr)
	cf := addClientFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return 2
	}
	name, ver, ok := strings.Cut(strings.Join(pos, ""), "@")
	v, perr := strconv.Atoi(ver)
	if len(pos) != 1 || !ok || perr != nil || v < 1 {
		return fail(stdout, stderr, *cf.asJSON, fmt.Errorf("usage: rmctl modules activate NAME@VERSION"))
	}
	return call(cf, stdout, stderr, func(ctx context.Context, c rmv1connect.ResourceManagerClient) (*connect.Response[rmv1.ModuleInfo], error) {
		return c.ActivateModule(ctx, connect.NewRequest(&rmv1.ActivateModuleRequest{Name: name, Version: uint32(v)}))
	}, func(msg *rmv1.ModuleInfo) {
		printModule(stdout, msg)
	})
}

func runModulesRollback(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("modules rollback", stderr)
	cf := addClientFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		return fail(stdout, stderr, *cf.asJSON, fmt.Errorf("usage: rmctl modules rollback NAME"))
	}
	return call(cf, stdout, stderr, func(ctx context.Context, c rmv1connect.ResourceManagerClient) (*connect.Response[rmv1.ModuleInfo], error) {
		return c.RollbackModule(ctx, connect.NewRequest(&rmv1.RollbackModuleRequest{Name: pos[0]}))
	}, func(msg *rmv1.ModuleInfo) {
		printModule(stdout, msg)
	})
}
