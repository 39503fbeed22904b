package synth_test

import (
	"strings"
	"testing"

	"github.com/eigen-os/rm/hal/synth"
)

func TestByName(t *testing.T) {
	cases := []struct {
		spec, name string
		qubits     int
		couplers   int
		family     string
	}{
		{"heavyhex-127", "synthetic-heavyhex-127", 127, 144, "heavy-hex (Eagle-like)"},
		{"synthetic:heavyhex-127", "synthetic-heavyhex-127", 127, 144, "heavy-hex (Eagle-like)"},
		{"heavyhex-127@1", "synthetic-heavyhex-127", 127, 144, "heavy-hex (Eagle-like)"},
		{"heavyhex-127@42", "synthetic-heavyhex-127@42", 127, 144, "heavy-hex (Eagle-like)"},
		{"heavyhex-127@-3", "synthetic-heavyhex-127@-3", 127, 144, "heavy-hex (Eagle-like)"},
		{"synthetic-heavyhex-127@42", "synthetic-heavyhex-127@42", 127, 144, "heavy-hex (Eagle-like)"},
		{" HeavyHex-27 ", "synthetic-heavyhex-27", 27, 28, "heavy-hex (Falcon-like)"},
		{"heavyhex-1121", "synthetic-heavyhex-1121", 1121, 1320, "heavy-hex (Condor-like)"},
		{"heavyhex-7x15@2", "synthetic-heavyhex-7x15@2", 127, 144, "heavy-hex (Eagle-like)"},
		{"heavyhex-100", "synthetic-heavyhex-100", 100, 0, "heavy-hex (Eagle-like)"},
		{"grid-8x8", "synthetic-grid-8x8", 64, 112, "square grid (Willow-like)"},
		{"grid-6X9@7", "synthetic-grid-6x9@7", 54, 93, "square grid (Willow-like)"},
		{"octagons-4", "synthetic-octagons-4", 32, 38, "octagons (Aspen-like)"},
		{"alltoall-32", "synthetic-alltoall-32", 32, 496, "all-to-all (trapped-ion)"},
	}
	for _, c := range cases {
		m, err := synth.ByName(c.spec)
		if err != nil {
			t.Errorf("%q: %v", c.spec, err)
			continue
		}
		if m.Name != c.name || m.N() != c.qubits || (c.couplers > 0 && len(m.Couplers) != c.couplers) || m.Family != c.family || m.Vendor != "synthetic" {
			t.Errorf("%q: %s %q, %d qubits, %d couplers, family %q", c.spec, m.Vendor, m.Name, m.N(), len(m.Couplers), m.Family)
		}
	}
}

func TestByNameErrors(t *testing.T) {
	cases := map[string]string{
		"":                                 "empty name",
		"synthetic:":                       "empty name",
		"heavyhex":                         "needs a size",
		"heavyhex-":                        "needs a size",
		"heavyhex-0":                       "at least 1",
		"heavyhex--5":                      "negative",
		"heavyhex-100001":                  "between 1 and 10000",
		"heavyhex-99999999999":             "absurdly large",
		"heavyhex-12a":                     "not a whole number",
		"heavyhex-+12":                     "not a whole number",
		"heavyhex-1.5":                     "not a whole number",
		"heavyhex-127@":                    "seed",
		"heavyhex-127@x":                   "seed",
		"heavyhex-127@1@2":                 "seed",
		"heavyhex-127@9223372036854775808": "seed",
		"heavyhex-7x14":                    "4k+3",
		"heavyhex-1x15":                    "at least 2 rows",
		"heavyhex-99x399":                  "more than 10000",
		"grid-8":                           "ROWSxCOLS",
		"grid-8x":                          "columns",
		"grid-x8":                          "rows",
		"grid-0x8":                         "at least 1",
		"grid-8x8x8":                       "not a whole number",
		"grid-1000x1000":                   "more than 10000",
		"octagons-0":                       "at least 1",
		"octagons-101":                     "between 1 and 100",
		"alltoall-257":                     "between 1 and 256",
		"alltoall--1":                      "negative",
		"hexagons-4":                       `unknown family "hexagons"`,
		"ibm:heavyhex-127":                 "unknown family",
		"synthetic:synthetic:grid-2x2":     "unknown family",
	}
	for spec, want := range cases {
		_, err := synth.ByName(spec)
		if err == nil {
			t.Errorf("%q: no error", spec)
			continue
		}
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "synthetic device") {
			t.Errorf("%q: error %q does not say %q", spec, err, want)
		}
	}
}

func TestSpecRoundTrip(t *testing.T) {
	for _, spec := range []string{"heavyhex-127", "heavyhex-127@42", "heavyhex-7x15", "grid-6x9@-1", "octagons-10", "alltoall-11@5"} {
		s, err := synth.ParseSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		if s.String() != spec {
			t.Errorf("ParseSpec(%q).String() = %q", spec, s.String())
		}
		m, err := s.Model()
		if err != nil {
			t.Fatal(err)
		}
		if m.Name != "synthetic-"+spec {
			t.Errorf("%q: device name %q", spec, m.Name)
		}
	}
	if _, err := (synth.Spec{Family: "nope", N: 3}).Model(); err == nil {
		t.Error("Spec with unknown family built a model")
	}
}

func TestNamesExamplesParse(t *testing.T) {
	docs := synth.Names()
	if len(docs) < 5 {
		t.Fatalf("Names lists %d forms", len(docs))
	}
	for _, d := range docs {
		if d.Pattern == "" || d.Description == "" || len(d.Examples) == 0 {
			t.Errorf("incomplete name doc %+v", d)
		}
		for _, ex := range d.Examples {
			m, err := synth.ByName(ex)
			if err != nil {
				t.Errorf("example %q of %s: %v", ex, d.Pattern, err)
				continue
			}
			fam := strings.SplitN(d.Pattern, "-", 2)[0]
			if !strings.HasPrefix(m.Name, "synthetic-"+fam+"-") {
				t.Errorf("example %q built %q", ex, m.Name)
			}
		}
	}
}

func TestDeterministicByName(t *testing.T) {
	for _, spec := range []string{"heavyhex-27", "heavyhex-133", "heavyhex-300", "grid-5x5", "octagons-4", "alltoall-16"} {
		a, err := synth.ByName(spec)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := synth.ByName(spec)
		c, _ := synth.ByName(spec + "@2")
		if a.Cal.Epoch != b.Cal.Epoch {
			t.Errorf("%s: epochs %x and %x for the same seed", spec, a.Cal.Epoch, b.Cal.Epoch)
		}
		if a.Cal.Epoch == c.Cal.Epoch {
			t.Errorf("%s: seeds 1 and 2 share epoch %x", spec, a.Cal.Epoch)
		}
		// Another seed changes the noise, not the graph.
		if len(a.Couplers) != len(c.Couplers) {
			t.Fatalf("%s: seed changed the coupler count", spec)
		}
		for i := range a.Couplers {
			if a.Couplers[i] != c.Couplers[i] {
				t.Fatalf("%s: seed changed coupler %d", spec, i)
			}
		}
	}
}

func TestDefault(t *testing.T) {
	m := synth.Default()
	want, err := synth.ByName(synth.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "synthetic-heavyhex-127" || m.N() != 127 || m.Cal.Epoch != want.Cal.Epoch {
		t.Fatalf("Default: %q %d qubits epoch %x; ByName(%q) epoch %x", m.Name, m.N(), m.Cal.Epoch, synth.DefaultName, want.Cal.Epoch)
	}
	if !m.Cal.Time.Equal(synth.CalibrationTime()) {
		t.Fatalf("Default calibrated at %v", m.Cal.Time)
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, d := range synth.Names() {
		for _, ex := range d.Examples {
			f.Add(ex)
		}
	}
	for _, s := range []string{"", "synthetic:", "heavyhex--1", "grid-8x8x8", "octagons-4@", "alltoall-1@-9223372036854775808", "heavyhex-3x3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := synth.ParseSpec(spec)
		if err != nil {
			if !strings.Contains(err.Error(), "synthetic device") {
				t.Fatalf("error %q does not name the spec", err)
			}
			return
		}
		again, err := synth.ParseSpec(s.String())
		if err != nil || again != s {
			t.Fatalf("%q parsed to %+v, whose String %q parses to %+v, %v", spec, s, s.String(), again, err)
		}
		// Build the small ones (generation is the benchmark's business).
		if s.N <= 300 && s.Rows*s.Cols <= 300 && s.Rows <= 20 {
			m, err := s.Model()
			if err != nil {
				t.Fatalf("%q parsed but does not build: %v", spec, err)
			}
			if m.Name != "synthetic-"+s.String() {
				t.Fatalf("%q: device %q", spec, m.Name)
			}
		}
	})
}
