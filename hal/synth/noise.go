package synth

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/eigen-os/rm/hal"
)

// CalibrationTime is the Calibration.Time of every generated model,
// 2025-01-01T00:00:00Z, so that a model depends on its parameters and seed
// only (same seed, same Epoch).
func CalibrationTime() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }

// newRand returns the generator of one seed. The second PCG word separates
// these streams from other users of the same seed.
func newRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x73796e7468686578)) // "synthhex"
}

// Noise draws a calibration for t from profile p and returns the finalized
// model. The same topology, profile and seed give the same model (same
// Epoch); the draw order is qubits by index, then couplers by index.
//
// t's native 2-qubit gates must be the profile's.
func Noise(t *hal.Topology, p Profile, seed int64) (*hal.Model, error) {
	if t == nil {
		return nil, errors.New("synth: nil topology")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if t.Native2Q != p.Native2Q {
		return nil, fmt.Errorf("device %q: native 2-qubit gate %q, but profile %q draws %q", t.Name, t.Native2Q, p.Name, p.Native2Q)
	}
	if p.Other2Q != "" && (len(t.Other2Q) != 1 || t.Other2Q[0] != p.Other2Q) {
		return nil, fmt.Errorf("device %q: other 2-qubit gates %v, but profile %q draws %q", t.Name, t.Other2Q, p.Name, p.Other2Q)
	}
	r := newRand(seed)
	c := hal.NewCalibration(t)
	c.Time = CalibrationTime()
	for i := range c.Qubits {
		drawQubit(r, &p, &c.Qubits[i])
	}
	for i := range c.Couplers {
		drawCoupler(r, &p, &c.Couplers[i])
	}
	return hal.Finalize(t, c)
}

func drawQubit(r *rand.Rand, p *Profile, q *hal.QubitCal) {
	q.T1 = p.T1.draw(r)
	if p.T2Ratio.Known() {
		q.T2 = q.T1 * math.Min(p.T2Ratio.draw(r), 2)
	} else {
		q.T2 = p.T2.draw(r)
		if hal.Known(q.T1) && hal.Known(q.T2) {
			q.T2 = math.Min(q.T2, 2*q.T1)
		}
	}
	q.Frequency = p.Frequency.draw(r)
	q.Anharmonicity = p.Anharmonicity.draw(r)
	q.Error1Q = p.Error1Q.draw(r)
	q.Duration1Q = p.Duration1Q.draw(r)
	q.ReadoutError = p.Readout.draw(r)
	if share := p.P01Share.draw(r); hal.Known(share) {
		q.P01 = 2 * q.ReadoutError * share
		q.P10 = 2 * q.ReadoutError * (1 - share)
	}
	q.ReadoutLength = p.ReadoutLength.draw(r)

	// Broken elements. Both draws are made for every qubit so that the rates
	// do not shift the stream of the other figures.
	bad, dead, u := r.Float64() < p.BadReadout, r.Float64() < p.DeadQubits, r.Float64()
	switch {
	case dead:
		// As Rigetti's dead nodes: listed, with no figures at all.
		*q = hal.QubitCal{T1: hal.NaN, T2: hal.NaN, Frequency: hal.NaN, Anharmonicity: hal.NaN, Error1Q: hal.NaN,
			Duration1Q: hal.NaN, ReadoutError: hal.NaN, P01: hal.NaN, P10: hal.NaN, ReadoutLength: hal.NaN,
			Broken: hal.ReasonDeadQubit}
	case bad:
		// A qubit that always reads 1 (Sherbrooke 84: P10 = 1, P01 = 0,
		// readout 0.5) up to one that also loses some 1s (Torino 86: 0.565).
		if p.P01Share.Known() {
			q.P10, q.P01 = 1, 0.13*u
			q.ReadoutError = (q.P01 + q.P10) / 2
		} else {
			q.ReadoutError = 0.5 + 0.065*u
		}
	}
}

func drawCoupler(r *rand.Rand, p *Profile, cc *hal.CouplerCal) {
	e, d := p.Error2Q.draw(r), p.Duration2Q.draw(r)
	eo := p.Other2QError.draw(r)
	broken := r.Float64() < p.BrokenCouplers
	flip := r.IntN(2) == 1
	u := r.Float64()
	if broken {
		// IBM's marking: error exactly 1 on every direction, length normal.
		e = 1
		if p.Other2Q != "" {
			eo = 1
		}
	}
	primary, other := true, p.Other2Q != ""
	switch {
	case u < p.MissingCouplers:
		primary, other = false, false
	case u < p.MissingCouplers+p.PrimaryOnly:
		other = false
	case u < p.MissingCouplers+p.PrimaryOnly+p.OtherOnly:
		primary = false
	}
	gates := make([]hal.GateCal, 0, 3)
	if primary {
		switch p.Directions {
		case OneWay:
			dir := uint8(hal.DirAB)
			if flip {
				dir = hal.DirBA
			}
			gates = append(gates, hal.GateCal{Gate: p.Native2Q, Dir: dir, Error: e, Duration: d})
		case BothWays:
			// The direction that is the "native" one (shorter) is drawn.
			dab, dba := d, d+p.ReverseExtra
			if flip {
				dab, dba = dba, dab
			}
			gates = append(gates,
				hal.GateCal{Gate: p.Native2Q, Dir: hal.DirAB, Error: e, Duration: dab},
				hal.GateCal{Gate: p.Native2Q, Dir: hal.DirBA, Error: e, Duration: dba})
		default:
			gates = append(gates, hal.GateCal{Gate: p.Native2Q, Dir: hal.DirSymmetric, Error: e, Duration: d})
		}
	}
	if other {
		gates = append(gates, hal.GateCal{Gate: p.Other2Q, Dir: hal.DirSymmetric, Error: eo, Duration: d})
	}
	cc.Gates = gates
}
