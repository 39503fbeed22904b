// Package load recognises a folder of real-device calibration files and
// imports it with the right vendor importer (hal/ibm, hal/google,
// hal/rigetti).
//
// A device folder holds one device's snapshot as the vendor publishes it:
//
//   - IBM: conf_<name>.json and props_<name>.json;
//   - Google: *_calibration.json and *_device_spec_for_grid_device.proto.txt;
//   - Rigetti: a QCS ISA, qcs-isa-<name>.json or any single .json whose top
//     level has "architecture" and "instructions".
//
// Detect decides from the file names, and peeks at the top-level JSON keys
// only when the names do not settle it. Open detects and imports; it also
// takes synthetic device names ("synthetic:heavyhex-127@1", see hal/synth).
package load

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/hal/google"
	"github.com/eigen-os/rm/hal/ibm"
	"github.com/eigen-os/rm/hal/rigetti"
	"github.com/eigen-os/rm/hal/synth"
)

// Format is a vendor file format.
type Format string

// Formats Detect recognises.
const (
	IBM     Format = "ibm"     // conf_<name>.json + props_<name>.json
	Google  Format = "google"  // *_calibration.json + *_device_spec*.proto.txt
	Rigetti Format = "rigetti" // QCS InstructionSetArchitecture JSON
)

// expected says what a device folder should hold, for messages.
const expected = "expected a folder holding one device's calibration: IBM conf_<name>.json + props_<name>.json, " +
	"Google *_calibration.json + *_device_spec_for_grid_device.proto.txt, or a Rigetti QCS ISA (qcs-isa-<name>.json)"

// SyntheticPrefix marks a synthetic device name for Open.
const SyntheticPrefix = "synthetic:"

// ErrUnknownFormat is wrapped by Detect's error when a folder holds no
// recognisable device files.
var ErrUnknownFormat = errors.New("unknown device format")

// Detect returns the format of the device files in dir.
func Detect(dir string) (Format, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("device folder: %w", err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("%s is a file: %s", dir, expected)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("device folder: %w", err)
	}
	hits := map[Format][]string{}
	var jsons []string
	files := 0
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		files++
		n := e.Name()
		switch {
		case strings.HasSuffix(n, ".json") && (strings.HasPrefix(n, "conf_") || strings.HasPrefix(n, "props_")):
			hits[IBM] = append(hits[IBM], n)
		case google.IsCalibration(n) || google.IsSpec(n):
			hits[Google] = append(hits[Google], n)
		case strings.HasSuffix(n, ".json") && strings.HasPrefix(n, rigetti.FilePrefix):
			hits[Rigetti] = append(hits[Rigetti], n)
		case strings.HasSuffix(n, ".json"):
			jsons = append(jsons, n)
		}
	}
	switch len(hits) {
	case 1:
		for f := range hits {
			return f, nil
		}
	case 0:
	default:
		var parts []string
		for f, names := range hits {
			parts = append(parts, fmt.Sprintf("%s: %s", f, strings.Join(names, ", ")))
		}
		sort.Strings(parts)
		return "", fmt.Errorf("%s: holds files of several formats (%s): expected one device per folder", dir, strings.Join(parts, "; "))
	}
	// No telling name: peek at the JSON files' top-level keys.
	for _, n := range jsons {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err == nil && rigetti.IsISA(data) {
			return Rigetti, nil
		}
	}
	if files == 0 {
		return "", fmt.Errorf("%s: %w: the folder is empty; %s", dir, ErrUnknownFormat, expected)
	}
	return "", fmt.Errorf("%s: %w: none of its %d files is a device file; %s", dir, ErrUnknownFormat, files, expected)
}

// Open imports the device in the folder path, whatever its vendor format.
func Open(path string) (*hal.Model, error) {
	if spec, ok := strings.CutPrefix(path, SyntheticPrefix); ok {
		return synth.ByName(spec)
	}
	f, err := Detect(path)
	if err != nil {
		return nil, err
	}
	return OpenAs(path, f)
}

// OpenAs imports the device in the folder path as format f.
func OpenAs(path string, f Format) (*hal.Model, error) {
	switch f {
	case IBM:
		return ibm.Load(path)
	case Google:
		return google.Load(path)
	case Rigetti:
		return rigetti.Load(path)
	}
	return nil, fmt.Errorf("%w %q (known: %s, %s, %s)", ErrUnknownFormat, f, IBM, Google, Rigetti)
}
