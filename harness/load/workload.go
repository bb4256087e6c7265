package load

import (
	"context"
	"fmt"
	"math/rand/v2"
)

// Op is one operation a worker performs and times.
type Op struct {
	// Name groups the op's measurements: each name gets its own histograms
	// and report rows. It must satisfy reports.ValidateOpName (no spaces or
	// commas). Use a constant string: names are compared on every op.
	Name string
	// Do performs the op. A returned error is counted against the op and the
	// run goes on; a panic is recovered and counted the same way. Do should
	// return promptly once ctx is done.
	Do func(ctx context.Context) error
}

// Workload chooses the ops a load run performs.
//
// Next is called once per op, concurrently from all workers, but never
// concurrently for the same worker: worker is a stable index in
// [0, Engine.Workers), so per-worker state can live in a slice indexed by
// it. rng belongs to that worker alone and is seeded from Engine.Seed and
// the worker index, so a run with the same seed and worker count asks for
// the same op sequence per worker. Next is on the measured path: keep it
// cheap and allocation-free.
type Workload interface {
	Next(worker int, rng *rand.Rand) Op
}

// WorkloadFunc adapts a function to Workload.
type WorkloadFunc func(worker int, rng *rand.Rand) Op

var _ Workload = WorkloadFunc(nil)

// Next implements Workload.
func (f WorkloadFunc) Next(worker int, rng *rand.Rand) Op { return f(worker, rng) }

// Single returns a workload that performs op every time.
func Single(op Op) Workload {
	return WorkloadFunc(func(int, *rand.Rand) Op { return op })
}

// Choice is an op and its relative weight in a Mix.
type Choice struct {
	Op     Op
	Weight int // relative frequency; must be positive
}

// Mix returns a workload that picks among choices at random in proportion
// to their weights, using each worker's own random source.
func Mix(choices ...Choice) (Workload, error) {
	if len(choices) == 0 {
		return nil, fmt.Errorf("%w: Mix needs at least one choice", ErrInvalidConfig)
	}
	cum := make([]int, len(choices))
	total := 0
	for i, c := range choices {
		if c.Weight <= 0 {
			return nil, fmt.Errorf("%w: Mix choice %d (%q) has weight %d: weights must be positive", ErrInvalidConfig, i, c.Op.Name, c.Weight)
		}
		total += c.Weight
		cum[i] = total
	}
	return WorkloadFunc(func(_ int, rng *rand.Rand) Op {
		n := rng.IntN(total)
		for i, c := range cum {
			if n < c {
				return choices[i].Op
			}
		}
		return choices[len(choices)-1].Op
	}), nil
}
