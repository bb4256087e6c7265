package load_test

import (
	"context"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/load"
)

// BenchmarkEngineOverhead measures the engine driving a no-op target in a
// closed loop with one worker: everything the engine does per op. Compare
// it with BenchmarkBareLoop, run beside it, for the engine's own cost.
func BenchmarkEngineOverhead(b *testing.B) {
	e := load.NewEngine(load.Single(load.Op{Name: "noop", Do: func(context.Context) error { return nil }}))
	e.Workers = 1
	e.Ops = int64(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	res, err := e.Run(context.Background())
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if got := res.Op("noop").Count(); got != int64(b.N) {
		b.Fatalf("measured %d ops, want %d", got, b.N)
	}
}

// BenchmarkBareLoop is the least a latency-measuring loop can do: read the
// clock around a no-op call and record the difference.
func BenchmarkBareLoop(b *testing.B) {
	h := load.NewHistogram()
	noop := func(context.Context) error { return nil }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		_ = noop(ctx)
		_ = h.RecordValue(int64(time.Since(start)))
	}
	if h.TotalCount() == 0 {
		b.Fatal("nothing recorded")
	}
}
