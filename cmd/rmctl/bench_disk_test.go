package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchDisk(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runCmd("bench", "disk", "--dir", dir, "--writes", "40", "--rate", "0", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	var got benchDiskJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Writes != 40 || got.Bytes != 512 || got.Dir != dir || got.P50US <= 0 || got.P99US < got.P50US ||
		got.P999US < got.P99US || got.MaxUS < got.P999US {
		t.Errorf("%+v", got)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("bench disk left %d entries in %s", len(left), dir)
	}
	code, out, _ = runCmd("bench", "disk", "--dir", dir, "--writes", "5", "--rate", "500")
	if code != 0 || !strings.Contains(out, "5 synced writes of 512 bytes") || !strings.Contains(out, "500/s") {
		t.Errorf("human output: exit %d: %s", code, out)
	}
	for _, bad := range [][]string{
		{"--writes", "0"}, {"--bytes", "0"}, {"--rate", "-5"},
		{"--dir", filepath.Join(dir, "missing")},
	} {
		args := append([]string{"bench", "disk", "--json"}, bad...)
		if len(bad) == 2 && bad[0] != "--dir" {
			args = append(args, "--dir", dir)
		}
		code, out, errs := runCmd(args...)
		if code != 1 || !strings.Contains(out, `"error"`) || !strings.Contains(errs, "bench disk") {
			t.Errorf("%v: exit %d, %s %s", bad, code, out, errs)
		}
	}
}
