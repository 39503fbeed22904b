package sim_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/eigen-os/rm/hal"
	"github.com/eigen-os/rm/hal/sim"
	"github.com/eigen-os/rm/hal/synth"
)

func Example() {
	ctx := context.Background()
	dev := sim.New(synth.Default(), sim.Options{Seed: 1})
	defer dev.Close()
	events := dev.Subscribe(ctx)

	_ = dev.Isolate(ctx, "task-1", []int{0, 1, 2})
	err := dev.Isolate(ctx, "task-2", []int{2, 3})
	fmt.Println(errors.Is(err, hal.ErrConflict))

	before := dev.Model().Cal.Epoch
	_ = dev.BreakQubit(5, "TLS defect")
	fmt.Println(dev.Health(), dev.Model().QubitUsable(5), dev.Model().Cal.Epoch != before)

	for i := 0; i < 3; i++ {
		ev := <-events
		fmt.Println(ev.Kind, ev.Qubits)
	}
	// Output:
	// true
	// degraded false true
	// isolate [0 1 2]
	// fault [5]
	// health []
}
