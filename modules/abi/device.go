package abi

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DeviceMagic starts a device view: the bytes "RMDV".
const DeviceMagic uint32 = 'R' | 'M'<<8 | 'D'<<16 | 'V'<<24

// DeviceHeaderSize is the size of the device view's header.
const DeviceHeaderSize = 64

// Fields of the device view header (byte offsets).
const (
	devMagic       = 0
	devVersion     = 4
	devN           = 8
	devM           = 12
	devEpoch       = 16
	devQF          = 24
	devCF          = 28
	devOffQFlags   = 32
	devOffQFigures = 36
	devOffCouplers = 40
	devOffCFigures = 44
	devOffName     = 48
	devLenName     = 52
	devTotal       = 56
)

// QubitFigures is the number of f64 figures per qubit in a v1 device view,
// in this order: readout error, single-qubit gate error, T1 (µs), T2 (µs),
// single-qubit gate duration (ns), readout length (ns), frequency (GHz),
// anharmonicity (GHz). A newer host may send more (the header says how
// many); a v1 guest reads the first eight.
const QubitFigures = 8

// CouplerFigures is the number of f64 figures per coupler in a v1 device
// view: the error used for ESP (the best native 2-qubit gate over both
// directions) and that gate's duration (ns).
const CouplerFigures = 2

// FlagUsable marks a usable qubit or coupler in the device view's flags.
const FlagUsable uint32 = 1

// MaxQubits bounds the device size the ABI accepts.
const MaxQubits = 1 << 16

// MaxCouplers bounds the number of couplers the ABI accepts.
const MaxCouplers = 1 << 22

// Qubit is one qubit of a device view. Unknown figures are NaN.
type Qubit struct {
	Usable        bool
	ReadoutError  float64
	Error1Q       float64
	T1            float64 // µs
	T2            float64 // µs
	Duration1Q    float64 // ns
	ReadoutLength float64 // ns
	Frequency     float64 // GHz
	Anharmonicity float64 // GHz
}

// Coupler is one coupler between qubits A < B. Error is the error of the
// best native 2-qubit gate over both directions (NaN when unknown).
type Coupler struct {
	A, B     int
	Usable   bool
	Error    float64
	Duration float64 // ns
}

// Link is a neighbour of a qubit and the coupler that joins them.
type Link struct {
	Qubit   int
	Coupler int
}

// Device is a device view: what a module knows of the device during one
// calibration epoch. A usable coupler joins two usable qubits.
type Device struct {
	Epoch    uint64
	Name     string
	Qubits   []Qubit
	Couplers []Coupler

	adjOff []int32 // Neighbors(q) = links[adjOff[q]:adjOff[q+1]]
	links  []Link
}

// N is the number of qubits.
func (d *Device) N() int { return len(d.Qubits) }

// Neighbors returns the neighbours of q over every coupler (usable or not),
// in ascending order of qubit. Do not modify the result.
func (d *Device) Neighbors(q int) []Link {
	if d.adjOff == nil {
		d.buildAdjacency()
	}
	if q < 0 || q >= len(d.Qubits) {
		return nil
	}
	return d.links[d.adjOff[q]:d.adjOff[q+1]]
}

// CouplerIndex returns the index of the coupler between a and b, or -1.
func (d *Device) CouplerIndex(a, b int) int {
	for _, l := range d.Neighbors(a) {
		if l.Qubit == b {
			return l.Coupler
		}
	}
	return -1
}

func (d *Device) buildAdjacency() {
	n := len(d.Qubits)
	off := make([]int32, n+1)
	for _, c := range d.Couplers {
		if c.A >= 0 && c.A < n && c.B >= 0 && c.B < n {
			off[c.A+1]++
			off[c.B+1]++
		}
	}
	for i := 0; i < n; i++ {
		off[i+1] += off[i]
	}
	links := make([]Link, off[n])
	fill := append([]int32(nil), off[:n]...)
	for ci, c := range d.Couplers {
		if c.A >= 0 && c.A < n && c.B >= 0 && c.B < n {
			links[fill[c.A]] = Link{c.B, ci}
			fill[c.A]++
			links[fill[c.B]] = Link{c.A, ci}
			fill[c.B]++
		}
	}
	for q := 0; q < n; q++ {
		l := links[off[q]:off[q+1]]
		for i := 1; i < len(l); i++ {
			for j := i; j > 0 && l[j].Qubit < l[j-1].Qubit; j-- {
				l[j], l[j-1] = l[j-1], l[j]
			}
		}
	}
	d.adjOff, d.links = off, links
}

func align8(x int) int { return (x + 7) &^ 7 }

// AppendDevice appends the device view of d to dst.
func AppendDevice(dst []byte, d *Device) []byte {
	n, m := len(d.Qubits), len(d.Couplers)
	offQFlags := DeviceHeaderSize
	offQFig := align8(offQFlags + 4*n)
	offCpl := offQFig + 8*QubitFigures*n
	offCFig := align8(offCpl + 12*m)
	offName := offCFig + 8*CouplerFigures*m
	total := align8(offName + len(d.Name))

	start := len(dst)
	dst = grow(dst, total)
	b := dst[start:]
	le := binary.LittleEndian
	le.PutUint32(b[devMagic:], DeviceMagic)
	le.PutUint32(b[devVersion:], Version)
	le.PutUint32(b[devN:], uint32(n))
	le.PutUint32(b[devM:], uint32(m))
	le.PutUint64(b[devEpoch:], d.Epoch)
	le.PutUint32(b[devQF:], QubitFigures)
	le.PutUint32(b[devCF:], CouplerFigures)
	le.PutUint32(b[devOffQFlags:], uint32(offQFlags))
	le.PutUint32(b[devOffQFigures:], uint32(offQFig))
	le.PutUint32(b[devOffCouplers:], uint32(offCpl))
	le.PutUint32(b[devOffCFigures:], uint32(offCFig))
	le.PutUint32(b[devOffName:], uint32(offName))
	le.PutUint32(b[devLenName:], uint32(len(d.Name)))
	le.PutUint32(b[devTotal:], uint32(total))
	for i, q := range d.Qubits {
		var f uint32
		if q.Usable {
			f = FlagUsable
		}
		le.PutUint32(b[offQFlags+4*i:], f)
		p := offQFig + 8*QubitFigures*i
		for j, x := range [QubitFigures]float64{q.ReadoutError, q.Error1Q, q.T1, q.T2, q.Duration1Q, q.ReadoutLength, q.Frequency, q.Anharmonicity} {
			le.PutUint64(b[p+8*j:], math.Float64bits(x))
		}
	}
	for i, c := range d.Couplers {
		var f uint32
		if c.Usable {
			f = FlagUsable
		}
		p := offCpl + 12*i
		le.PutUint32(b[p:], uint32(c.A))
		le.PutUint32(b[p+4:], uint32(c.B))
		le.PutUint32(b[p+8:], f)
		p = offCFig + 8*CouplerFigures*i
		le.PutUint64(b[p:], math.Float64bits(c.Error))
		le.PutUint64(b[p+8:], math.Float64bits(c.Duration))
	}
	copy(b[offName:], d.Name)
	return dst
}

// grow extends dst by n zero bytes.
func grow(dst []byte, n int) []byte {
	l := len(dst)
	if cap(dst)-l < n {
		nd := make([]byte, l, 2*cap(dst)+n)
		copy(nd, dst)
		dst = nd
	}
	dst = dst[:l+n]
	clear(dst[l:])
	return dst
}

// DecodeError says what is wrong in an encoded value and where.
type DecodeError struct {
	What   string // "device view", "call input", "candidates", "scores"
	Offset int    // byte offset of the faulty field, -1 when not one field
	Msg    string
}

func (e *DecodeError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("abi: %s: byte %d: %s", e.What, e.Offset, e.Msg)
	}
	return fmt.Sprintf("abi: %s: %s", e.What, e.Msg)
}

func decodeErr(what string, off int, format string, args ...any) error {
	return &DecodeError{What: what, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// section checks that count elements of size bytes at off lie within b
// (and that off is aligned to align).
func section(what string, b []byte, field int, off, count, size, align uint32) error {
	if uint64(off)%uint64(align) != 0 {
		return decodeErr(what, field, "offset %d is not a multiple of %d", off, align)
	}
	end := uint64(off) + uint64(count)*uint64(size)
	if uint64(off) < 8 || end > uint64(len(b)) {
		return decodeErr(what, field, "section at %d of %d bytes exceeds the %d bytes given", off, uint64(count)*uint64(size), len(b))
	}
	return nil
}

// DecodeDevice reads a device view. It checks every offset and count, so
// that it never reads outside b, and that couplers join distinct qubits in
// range.
func DecodeDevice(b []byte) (*Device, error) {
	const what = "device view"
	if len(b) < DeviceHeaderSize {
		return nil, decodeErr(what, -1, "%d bytes, the header alone is %d", len(b), DeviceHeaderSize)
	}
	le := binary.LittleEndian
	if g := le.Uint32(b[devMagic:]); g != DeviceMagic {
		return nil, decodeErr(what, devMagic, "magic %#x, want %#x (\"RMDV\")", g, DeviceMagic)
	}
	if v := le.Uint32(b[devVersion:]); v != Version {
		return nil, decodeErr(what, devVersion, "version %d, this guest reads version %d", v, Version)
	}
	n, m := le.Uint32(b[devN:]), le.Uint32(b[devM:])
	if n == 0 || n > MaxQubits {
		return nil, decodeErr(what, devN, "%d qubits: want 1..%d", n, MaxQubits)
	}
	if m > MaxCouplers {
		return nil, decodeErr(what, devM, "%d couplers: at most %d", m, MaxCouplers)
	}
	qf, cf := le.Uint32(b[devQF:]), le.Uint32(b[devCF:])
	if qf < QubitFigures || qf > 1024 {
		return nil, decodeErr(what, devQF, "%d figures per qubit: want %d..1024", qf, QubitFigures)
	}
	if cf < CouplerFigures || cf > 1024 {
		return nil, decodeErr(what, devCF, "%d figures per coupler: want %d..1024", cf, CouplerFigures)
	}
	if t := le.Uint32(b[devTotal:]); uint64(t) > uint64(len(b)) {
		return nil, decodeErr(what, devTotal, "total length %d, only %d bytes given", t, len(b))
	}
	oqf, oqv := le.Uint32(b[devOffQFlags:]), le.Uint32(b[devOffQFigures:])
	oc, ocv := le.Uint32(b[devOffCouplers:]), le.Uint32(b[devOffCFigures:])
	on, ln := le.Uint32(b[devOffName:]), le.Uint32(b[devLenName:])
	for _, s := range []struct {
		field               int
		off, count, size, a uint32
	}{
		{devOffQFlags, oqf, n, 4, 4},
		{devOffQFigures, oqv, n, 8 * qf, 8},
		{devOffCouplers, oc, m, 12, 4},
		{devOffCFigures, ocv, m, 8 * cf, 8},
		{devOffName, on, ln, 1, 1},
	} {
		if err := section(what, b, s.field, s.off, s.count, s.size, s.a); err != nil {
			return nil, err
		}
	}
	d := &Device{Epoch: le.Uint64(b[devEpoch:]), Name: string(b[on : on+ln]),
		Qubits: make([]Qubit, n), Couplers: make([]Coupler, m)}
	f := func(p uint32) float64 { return math.Float64frombits(le.Uint64(b[p:])) }
	for i := range d.Qubits {
		p := oqv + 8*qf*uint32(i)
		d.Qubits[i] = Qubit{
			Usable:       le.Uint32(b[oqf+4*uint32(i):])&FlagUsable != 0,
			ReadoutError: f(p), Error1Q: f(p + 8), T1: f(p + 16), T2: f(p + 24),
			Duration1Q: f(p + 32), ReadoutLength: f(p + 40), Frequency: f(p + 48), Anharmonicity: f(p + 56),
		}
	}
	for i := range d.Couplers {
		p := oc + 12*uint32(i)
		a, bb := le.Uint32(b[p:]), le.Uint32(b[p+4:])
		if a >= n || bb >= n || a == bb {
			return nil, decodeErr(what, int(p), "coupler %d joins qubits %d and %d of %d", i, a, bb, n)
		}
		if a > bb {
			a, bb = bb, a
		}
		q := ocv + 8*cf*uint32(i)
		d.Couplers[i] = Coupler{A: int(a), B: int(bb), Usable: le.Uint32(b[p+8:])&FlagUsable != 0,
			Error: f(q), Duration: f(q + 8)}
	}
	return d, nil
}
