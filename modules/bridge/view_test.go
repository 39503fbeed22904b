package bridge

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/runtime/alloc"
)

// TestOccupancyViewFollowsChanges: through random commits and releases (slots
// renumbered as the host does), the viewed occupancy always equals the
// host's: same held qubits, owners grouped alike, same buffers and hash.
func TestOccupancyViewFollowsChanges(t *testing.T) {
	m := model(t, "heavyhex-127@2")
	rng := rand.New(rand.NewPCG(7, 9))
	host := alloc.NewOccupancy(m.Topology)
	tr := NewOccupancyView(m.Topology)
	var b OccupancyBuilder
	var o abi.Occupancy
	next, most := 0, 0
	for step := 0; step < 300; step++ {
		// Change 0-3 tasks.
		for c := rng.IntN(4); c > 0; c-- {
			hs := host.Holdings()
			if len(hs) > 0 && (rng.IntN(2) == 0 || host.Used() > 80) {
				host.Release(hs[rng.IntN(len(hs))].Task)
				continue
			}
			q := rng.IntN(m.N())
			region := []int{q}
			for _, w := range m.Neighbors(q) {
				if len(region) < 1+rng.IntN(4) {
					region = append(region, int(w))
				}
			}
			host.Commit(alloc.Holding{Task: fmt.Sprintf("%c-%d", 'a'+rng.IntN(26), next), Qubits: region, Buffer: rng.IntN(2)})
			next++
		}
		most = max(most, host.Tasks())
		res := []int{rng.IntN(m.N())}
		b.Fill(&o, m, host, res, 0)
		got, gres, err := tr.Update(&o)
		if err != nil {
			t.Fatal(err)
		}
		if got.Hash() != host.Hash() || got.Used() != host.Used() || got.Tasks() != host.Tasks() || !slices.Equal(gres, res) {
			t.Fatalf("step %d: tracked %d qubits in %d tasks (hash %v), host %d in %d (hash %v)", step,
				got.Used(), got.Tasks(), got.Hash(), host.Used(), host.Tasks(), host.Hash())
		}
		for q := 0; q < m.N(); q++ {
			gt, gh := got.Owner(q)
			ht, hh := host.Owner(q)
			if gh != hh {
				t.Fatalf("step %d: qubit %d held %v, host %v", step, q, gh, hh)
			}
			if gh {
				a, _ := got.Holding(gt)
				h, _ := host.Holding(ht)
				slices.Sort(a.Qubits)
				slices.Sort(h.Qubits)
				if !slices.Equal(a.Qubits, h.Qubits) || a.Buffer != h.Buffer {
					t.Fatalf("step %d: qubit %d in %v/%d, host %v/%d", step, q, a.Qubits, a.Buffer, h.Qubits, h.Buffer)
				}
			}
		}
	}
	if most < 5 {
		t.Errorf("at most %d tasks at once: the test did not exercise the view", most)
	}
}

// TestOccupancyViewTakesInconsistent: an occupancy that breaks a buffer (as a
// restored one may) is taken whole rather than refused.
func TestOccupancyViewTakesInconsistent(t *testing.T) {
	m := model(t, "heavyhex-27")
	o := &abi.Occupancy{Owner: make([]int32, m.N()), TaskBuffers: []int{2, 2}}
	for q := range o.Owner {
		o.Owner[q] = -1
	}
	a, c := m.Couplers[0].A, m.Couplers[0].B
	o.Owner[a], o.Owner[c] = 0, 1 // adjacent tasks with buffer 2
	tr := NewOccupancyView(m.Topology)
	occ, _, err := tr.Update(o)
	if err != nil {
		t.Fatal(err)
	}
	if occ.Used() != 2 || occ.Tasks() != 2 {
		t.Fatalf("rebuilt %d qubits in %d tasks", occ.Used(), occ.Tasks())
	}
	o.Owner[a] = -1
	o.TaskBuffers = o.TaskBuffers[:2]
	if occ, _, err = tr.Update(o); err != nil || occ.Used() != 1 {
		t.Fatalf("after release: %v, %d used", err, occ.Used())
	}
	o.Owner[3] = 5
	if _, _, err := tr.Update(o); err == nil {
		t.Error("owner slot out of range accepted")
	}
}
