package load

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/hal/google"
	"github.com/eigen-os/rm/hal/ibm"
	"github.com/eigen-os/rm/hal/rigetti"
	"github.com/eigen-os/rm/internal/corpus"
)

// devices are the 13 shared snapshots with the qubit and coupler counts of
// the README.
var devices = []struct {
	path             string
	format           Format
	qubits, couplers int
	native           string
}{
	{"ibm/belem", IBM, 5, 4, "cx"},
	{"ibm/nairobi", IBM, 7, 6, "cx"},
	{"ibm/guadalupe", IBM, 16, 16, "cx"},
	{"ibm/kolkata", IBM, 27, 28, "cx"},
	{"ibm/mumbai", IBM, 27, 28, "cx"},
	{"ibm/manhattan", IBM, 65, 72, "cx"},
	{"ibm/sherbrooke", IBM, 127, 144, "ecr"},
	{"ibm/washington", IBM, 127, 142, "cx"},
	{"ibm/torino", IBM, 133, 150, "cz"},
	{"google/rainbow", Google, 23, 32, "syc"},
	{"google/weber", Google, 53, 86, "syc"},
	{"google/willow_pink", Google, 105, 182, "cz"},
	{"rigetti/aspen-8", Rigetti, 32, 38, "cz"},
}

func TestOpenEveryDevice(t *testing.T) {
	root := corpus.Devices(t)
	epochs := map[uint64]string{}
	for _, d := range devices {
		dir := filepath.Join(root, d.path)
		f, err := Detect(dir)
		if err != nil || f != d.format {
			t.Errorf("Detect(%s) = %q, %v; want %q", d.path, f, err, d.format)
			continue
		}
		m, err := Open(dir)
		if err != nil {
			t.Errorf("Open(%s): %v", d.path, err)
			continue
		}
		if m.Vendor != string(d.format) || m.N() != d.qubits || len(m.Couplers) != d.couplers || m.Native2Q != d.native {
			t.Errorf("%s: vendor %q, %d qubits, %d couplers, native %q", d.path, m.Vendor, m.N(), len(m.Couplers), m.Native2Q)
		}
		// The same model as the vendor importer's, and the same epoch when
		// loaded again.
		var direct *hal.Model
		switch d.format {
		case IBM:
			direct, err = ibm.Load(dir)
		case Google:
			direct, err = google.Load(dir)
		case Rigetti:
			direct, err = rigetti.Load(dir)
		}
		if err != nil || direct.Cal.Epoch != m.Cal.Epoch {
			t.Errorf("%s: vendor Load epoch differs (%v)", d.path, err)
		}
		if m.Cal.Epoch == 0 {
			t.Errorf("%s: epoch 0", d.path)
		}
		if other, dup := epochs[m.Cal.Epoch]; dup {
			t.Errorf("%s and %s share epoch %d", d.path, other, m.Cal.Epoch)
		}
		epochs[m.Cal.Epoch] = d.path
	}
}

func TestDetectErrors(t *testing.T) {
	root := corpus.Devices(t)
	write := func(d, n, s string) {
		if err := os.WriteFile(filepath.Join(d, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	empty := t.TempDir()
	unknown := t.TempDir()
	write(unknown, "notes.txt", "hello")
	write(unknown, "data.json", `{"qubits": 5}`)
	mixed := t.TempDir()
	write(mixed, "conf_x.json", "{}")
	write(mixed, "x_calibration.json", "{}")
	cases := []struct {
		name, path string
		want       []string
		unknown    bool
	}{
		{"missing", filepath.Join(empty, "nope"), []string{"device folder", "nope", "no such file"}, false},
		{"file", filepath.Join(root, "README.md"), []string{"README.md is a file", "expected a folder", "conf_<name>.json", "_calibration.json", "qcs-isa-"}, false},
		{"empty", empty, []string{empty, "unknown device format", "the folder is empty", "expected a folder"}, true},
		{"unknown", unknown, []string{unknown, "unknown device format", "none of its 2 files", "expected a folder"}, true},
		{"mixed", mixed, []string{"several formats", "google: x_calibration.json", "ibm: conf_x.json"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Detect(c.path); err == nil {
				t.Fatal("Detect: no error")
			}
			_, err := Open(c.path)
			if err == nil {
				t.Fatal("Open: no error")
			}
			t.Log(err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if errors.Is(err, ErrUnknownFormat) != c.unknown {
				t.Errorf("errors.Is(ErrUnknownFormat) = %v", !c.unknown)
			}
		})
	}
	if _, err := OpenAs(empty, "dwave"); err == nil || !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("OpenAs(dwave): %v", err)
	}
}

// Detection by name hands partial folders to the importer, whose error
// names the missing file; a renamed ISA is found by its keys.
func TestPartialAndRenamed(t *testing.T) {
	root := corpus.Devices(t)
	copyFile := func(src, dir, name string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	onlyConf := t.TempDir()
	copyFile(filepath.Join(root, "ibm/belem/conf_belem.json"), onlyConf, "conf_belem.json")
	if _, err := Open(onlyConf); err == nil || !strings.Contains(err.Error(), "no props_belem.json") {
		t.Errorf("IBM without props: %v", err)
	}
	renamed := t.TempDir()
	copyFile(filepath.Join(root, "rigetti/aspen-8/qcs-isa-Aspen-8.json"), renamed, "aspen8.json")
	if f, err := Detect(renamed); err != nil || f != Rigetti {
		t.Errorf("renamed ISA: %q, %v", f, err)
	}
	if m, err := Open(renamed); err != nil || m.Name != "Aspen-8" {
		t.Errorf("renamed ISA: %v", err)
	}
	truncated := t.TempDir()
	b, err := os.ReadFile(filepath.Join(root, "ibm/belem/props_belem.json"))
	if err != nil {
		t.Fatal(err)
	}
	copyFile(filepath.Join(root, "ibm/belem/conf_belem.json"), truncated, "conf_belem.json")
	if err := os.WriteFile(filepath.Join(truncated, "props_belem.json"), b[:len(b)-7], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(truncated); err == nil || !strings.Contains(err.Error(), "props_belem.json") || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated props: %v", err)
	}
}

func BenchmarkOpenSherbrooke(b *testing.B) {
	dir := filepath.Join(corpus.Devices(b), "ibm", "sherbrooke")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(dir); err != nil {
			b.Fatal(err)
		}
	}
}

func TestOpenSynthetic(t *testing.T) {
	m, err := Open("synthetic:heavyhex-27@3")
	if err != nil {
		t.Fatal(err)
	}
	if m.N() != 27 || len(m.Couplers) != 28 {
		t.Errorf("synthetic:heavyhex-27: %d qubits %d couplers", m.N(), len(m.Couplers))
	}
	if _, err := Open("synthetic:nonsense-3"); err == nil {
		t.Error("unknown synthetic family accepted")
	}
}
