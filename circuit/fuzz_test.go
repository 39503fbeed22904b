package circuit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eigen-os/rm/internal/corpus"
)

// FuzzParse checks that Parse never panics, that every failure is an *Error
// naming the source and a line, and that every circuit it returns is
// internally consistent. Seeds: every workload file (read from the shared
// corpus at test time) and a few inline sources.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		hdr + "qreg q[3];\ncreg c[3];\nh q;\ncx q[0],q[1];\nccx q[0],q[1],q[2];\nmeasure q -> c;\n",
		"qreg q[2];\r\nqreg r[2];\r\ncx q,r; // ü\r\nif(c==1267650600228229401496703205376) x q[0];\r\n",
		"gate g(t) a,b\n{\n  rz(t/2) a; cx a,b;\n}\nopaque o a,b,c,d;\nqreg q[4];\ng(pi) q[3],q[0];\no q[0],q[1],q[2],q[3];\nreset q;\nbarrier q;\n",
		"qreg q[1];\ncreg c[1];\nif(c==0) measure q[0] -> c[0];\nmeasure x -> y;\n",
		"OPENQASM 3.0;\nqubit[2] q;\n",
	} {
		f.Add([]byte(s))
	}
	if root := corpus.Root(); root != "" {
		files, _ := filepath.Glob(filepath.Join(root, "workloads", "qasmbench", "*.qasm"))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := Parse("fuzz.qasm", src)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not an *Error: %v", err, err)
			}
			if pe.File != "fuzz.qasm" || pe.Line < 1 || pe.Col < 1 || pe.Msg == "" || !strings.HasPrefix(err.Error(), "fuzz.qasm:") {
				t.Fatalf("error without a position: %#v", pe)
			}
			if c != nil {
				t.Fatal("circuit returned with an error")
			}
			return
		}
		checkInvariants(t, c)
		for _, w := range c.Warnings {
			if w.File != "fuzz.qasm" || w.Line < 1 {
				t.Fatalf("warning without a position: %#v", w)
			}
		}
		if c.WarningCount < len(c.Warnings) || len(c.Warnings) > MaxWarnings {
			t.Fatalf("WarningCount %d, %d kept", c.WarningCount, len(c.Warnings))
		}
	})
}

// BenchmarkParse parses the largest workload (QASMBench QV_n32, 274 KB).
func BenchmarkParse(b *testing.B) {
	dir := filepath.Join(corpus.Workloads(b), "qasmbench")
	files, err := filepath.Glob(filepath.Join(dir, "*.qasm"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no workloads in %s", dir)
	}
	var largest []byte
	var name string
	for _, p := range files {
		src, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		if len(src) > len(largest) {
			largest, name = src, p
		}
	}
	b.Logf("%s: %d bytes", filepath.Base(name), len(largest))
	b.SetBytes(int64(len(largest)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(name, largest); err != nil {
			b.Fatal(err)
		}
	}
}
