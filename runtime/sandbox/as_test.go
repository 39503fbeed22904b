package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/modules/bridge/bridgetest"
	"github.com/eigen-os/rm/runtime/alloc"
)

var (
	asOnce sync.Once
	asWasm []byte
	asSkip string
	asErr  error
)

// assemblyScriptWasm builds modules/examples/assemblyscript with the npm
// package it pins (npm ci when node_modules is absent), skipping the test
// when node or npm is missing or the package cannot be installed.
func assemblyScriptWasm(t *testing.T) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: building the AssemblyScript example takes seconds")
	}
	asOnce.Do(func() {
		for _, tool := range []string{"node", "npm", "npx"} {
			if _, err := exec.LookPath(tool); err != nil {
				asSkip = tool + " not found: the AssemblyScript example cannot be built (install Node.js 20 and npm)"
				return
			}
		}
		dir := filepath.Join(repoRoot(t), "modules", "examples", "assemblyscript")
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "assemblyscript")); err != nil {
			cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
			cmd.Dir = dir
			if b, err := cmd.CombinedOutput(); err != nil {
				asSkip = fmt.Sprintf("npm ci in %s failed (offline?): %v\n%s", dir, err, b)
				return
			}
		}
		out := filepath.Join(testDir, "greedy.wasm")
		cmd := exec.Command("npx", "--no-install", "asc", "assembly/index.ts", "-O3", "--runtime", "stub", "--use", "abort=", "-o", out)
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			asErr = fmt.Errorf("asc: %v\n%s", err, b)
			return
		}
		asWasm, asErr = os.ReadFile(out)
	})
	if asSkip != "" {
		t.Skip(asSkip)
	}
	if asErr != nil {
		t.Fatal(asErr)
	}
	return asWasm
}

// TestAssemblyScriptModule: a module in another language passes the push
// checks and the conformance run, and its answers (checked by the host on
// every call) place requests on a busy 127-qubit device.
func TestAssemblyScriptModule(t *testing.T) {
	wasm := assemblyScriptWasm(t)
	h := newHost(t, testHostConfig)
	mgr := newManager(t, h, newMemStore(), ManagerConfig{})
	ctx := context.Background()
	info, err := mgr.Push(ctx, PushRequest{Name: "greedy-as", Wasm: wasm, Kind: abi.KindPlacement})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Activate(ctx, info.Name, info.Version); err != nil {
		t.Fatal(err)
	}
	mod := mgr.Active(abi.KindPlacement)
	if len(mod.c.Imports) != 0 {
		t.Errorf("imports %v, want none", mod.c.Imports)
	}
	m := device(t, "heavyhex-127")
	eng, err := alloc.NewEngine(m, alloc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	occ := bridgetest.Occupy(m, 3, 0.4, 1)
	placed := 0
	for _, req := range []alloc.Request{
		{Qubits: 5, Shape: alloc.Shape{Kind: alloc.ShapeLinear}, Buffer: 1},
		{Qubits: 4, Shape: alloc.Shape{Kind: alloc.ShapeStar}},
		{Qubits: 3, Shape: alloc.Shape{Kind: alloc.ShapeNone}},
		{Qubits: 6, Shape: alloc.Shape{Kind: alloc.ShapeRing}},
		{Qubits: 3, Shape: alloc.Shape{Kind: alloc.ShapeClique}, NoRouting: true},
	} {
		cands, err := mod.Place(ctx, m, &req, occ, nil)
		if err != nil {
			t.Fatalf("%s: %v", req.Shape, err)
		}
		native, nerr := eng.Place(ctx, &req, occ, nil)
		if len(cands) > 0 {
			placed++
			t.Logf("%s: %d candidates, best cost %.4f (native %.4f, %v)", req.Shape, len(cands), cands[0].Cost, nativeCost(native), nerr)
		} else if nerr == nil {
			t.Logf("%s: no candidate (native placed it at cost %.4f)", req.Shape, native.Cost)
		}
	}
	if placed < 3 {
		t.Errorf("placed %d of 5 requests", placed)
	}
}

func nativeCost(p *alloc.Placement) float64 {
	if p == nil {
		return -1
	}
	return p.Cost
}
