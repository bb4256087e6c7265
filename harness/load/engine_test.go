package load_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/boxstorm/boxstorm/harness/load"
	"github.com/boxstorm/boxstorm/reports"
)

// These tests run the engine inside a synctest bubble: time is simulated,
// advancing only when every goroutine is blocked, so the target's latencies
// are exact and the true latency of every op can be computed independently
// by a small queue simulation. The engine runs on harness.SystemClock with
// no spin (spinning never blocks, so simulated time would stand still).

var simClock = load.SystemClock{Spin: 0}

// truth is the expected outcome of a run, computed without the engine.
type truth struct {
	corrected, uncorrected []time.Duration
	errors, late           int64
}

// checkOp compares one op's measurements with the truth: the histograms
// must hold exactly the true values (so every percentile is in the true
// value's HDR bucket), and the counts must match.
func checkOp(t *testing.T, op *reports.OpResult, want truth) {
	t.Helper()
	if op == nil {
		t.Fatal("op missing from result")
	}
	if got, want := op.Count(), int64(len(want.corrected)); got != want {
		t.Fatalf("count = %d, want %d", got, want)
	}
	for _, series := range []struct {
		name string
		got  *hdrhistogram.Histogram
		want []time.Duration
	}{
		{"corrected", op.Corrected, want.corrected},
		{"uncorrected", op.Uncorrected, want.uncorrected},
	} {
		sorted := slices.Sorted(slices.Values(series.want))
		for _, p := range []float64{0, 10, 50, 90, 95, 99, 99.5, 99.9, 99.99, 100} {
			truthV := int64(nearestRank(sorted, p))
			got := series.got.ValueAtQuantile(p)
			if !series.got.ValuesAreEquivalent(got, truthV) {
				t.Errorf("%s p%v = %v, truth %v: not in the same HDR bucket", series.name, p, time.Duration(got), time.Duration(truthV))
			}
		}
		exact := load.NewHistogram()
		for _, v := range series.want {
			load.RecordClamped(exact, v)
		}
		if !exact.Equals(series.got) {
			t.Errorf("%s histogram differs from the truth (count %d vs %d)", series.name, series.got.TotalCount(), exact.TotalCount())
		}
	}
	if op.Errors != want.errors {
		t.Errorf("errors = %d, want %d", op.Errors, want.errors)
	}
	if op.LateStarts != want.late {
		t.Errorf("late starts = %d, want %d", op.LateStarts, want.late)
	}
	checkIntervals(t, op)
}

// nearestRank is HdrHistogram's percentile rule: rank ⌊p/100·n + 0.5⌋,
// at least 1.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	rank := int(p/100*float64(n) + 0.5)
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

// checkIntervals checks that intervals tile the measured window and add up
// to the totals.
func checkIntervals(t *testing.T, op *reports.OpResult) {
	t.Helper()
	sum := load.NewHistogram()
	var prevEnd time.Duration
	for i, iv := range op.Intervals {
		if iv.Start != prevEnd || iv.End < iv.Start {
			t.Fatalf("interval %d spans [%v, %v], previous ended at %v", i, iv.Start, iv.End, prevEnd)
		}
		prevEnd = iv.End
		if dropped := iv.Corrected.MergeInto(sum); dropped != 0 {
			t.Fatalf("interval %d: %d values dropped", i, dropped)
		}
	}
	if !sum.Equals(op.Corrected) {
		t.Errorf("intervals hold %d values, total holds %d", sum.TotalCount(), op.Corrected.TotalCount())
	}
}

// serviceTimes returns n service times: mostly 0.2–0.9 ms with a 6 ms op
// every so often, so that ops queue behind slow ones.
func serviceTimes(seed uint64, n int) []time.Duration {
	rng := rand.New(rand.NewPCG(seed, 0))
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = time.Duration(200+rng.IntN(700)) * time.Microsecond
		if rng.IntN(40) == 0 {
			s[i] = 6 * time.Millisecond
		}
	}
	return s
}

func TestEngine_OpenLoopSimulatedSingleWorker(t *testing.T) {
	const seed = 7
	t.Logf("seed %d", seed)
	const (
		rate     = 1000.0 // one op per ms
		warmup   = 100 * time.Millisecond
		duration = 2 * time.Second
		tol      = time.Millisecond
	)
	pause := load.Pause{At: 700 * time.Millisecond, For: 300 * time.Millisecond}
	total := int((warmup + duration) / time.Millisecond)
	service := serviceTimes(seed, total)

	// The truth: a single FIFO server. Op i is intended at i ms; it starts
	// when it is due and the previous op has returned, waits out the pause
	// if it starts inside it, then takes its service time.
	var want truth
	var free time.Duration
	for i := range total {
		intended := time.Duration(i) * time.Millisecond
		start := max(intended, free)
		run := start
		if ps := warmup + pause.At; run >= ps && run < ps+pause.For {
			run = ps + pause.For
		}
		free = run + service[i]
		if intended < warmup {
			continue
		}
		want.corrected = append(want.corrected, free-intended)
		want.uncorrected = append(want.uncorrected, free-start)
		if i%7 == 0 {
			want.errors++
		}
		if start-intended > tol {
			want.late++
		}
	}

	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		op := load.Op{Name: "get", Do: func(context.Context) error {
			i := calls.Add(1) - 1
			time.Sleep(service[i])
			if i%7 == 0 {
				return fmt.Errorf("op %d fails on purpose", i)
			}
			return nil
		}}
		e := load.NewEngine(load.Single(op))
		e.Mode, e.Rate, e.Workers = load.OpenLoop, rate, 1
		e.Warmup, e.Duration, e.Interval = warmup, duration, 500*time.Millisecond
		e.Pauses = []load.Pause{pause}
		e.LateTolerance = tol
		e.Clock = simClock
		e.Logger = discardLogger()
		var final load.Progress
		e.Progress = func(p load.Progress) { final = p }
		res, err := e.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n := int64(len(want.corrected)); !final.Final || final.Total != n || final.Done != n {
			t.Errorf("final progress %+v, want Done = Total = %d", final, n)
		}
		if got, want := calls.Load(), int64(total); got != want {
			t.Fatalf("target called %d times, want %d", got, want)
		}
		checkOp(t, res.Op("get"), want)
		if got, want := len(res.Op("get").Intervals), 4; got != want {
			t.Errorf("%d intervals, want %d", got, want)
		}
	})
}

func TestEngine_OpenLoopSimulatedWorkerPool(t *testing.T) {
	const (
		rate     = 2000.0
		workers  = 4
		service  = 1500 * time.Microsecond
		warmup   = 50 * time.Millisecond
		duration = 1500 * time.Millisecond
		tol      = time.Millisecond
	)
	pause := load.Pause{At: 400 * time.Millisecond, For: 250 * time.Millisecond}
	period := time.Duration(1e9 / rate)
	total := int((warmup + duration) / period)

	// The truth: FIFO slots served by the earliest free of four identical
	// servers; a server holds its op through the pause.
	var want truth
	free := make([]time.Duration, workers)
	for i := range total {
		intended := time.Duration(i) * period
		slices.Sort(free)
		start := max(intended, free[0])
		run := start
		if ps := warmup + pause.At; run >= ps && run < ps+pause.For {
			run = ps + pause.For
		}
		free[0] = run + service
		if intended < warmup {
			continue
		}
		want.corrected = append(want.corrected, free[0]-intended)
		want.uncorrected = append(want.uncorrected, free[0]-start)
		if start-intended > tol {
			want.late++
		}
	}

	synctest.Test(t, func(t *testing.T) {
		e := load.NewEngine(load.Single(load.Op{Name: "put", Do: func(context.Context) error {
			time.Sleep(service)
			return nil
		}}))
		e.Mode, e.Rate, e.Workers = load.OpenLoop, rate, workers
		e.Warmup, e.Duration = warmup, duration
		e.Pauses = []load.Pause{pause}
		e.LateTolerance = tol
		e.Clock = simClock
		res, err := e.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		checkOp(t, res.Op("put"), want)
	})
}

func TestEngine_ClosedLoopSimulated(t *testing.T) {
	const (
		seed     = 11
		workers  = 3
		warmup   = 30 * time.Millisecond
		duration = 700 * time.Millisecond
	)
	t.Logf("seed %d", seed)
	latency := func(rng *rand.Rand) time.Duration {
		return time.Duration(100+rng.IntN(4900)) * time.Microsecond
	}
	// The truth: each worker runs back to back with latencies from its own
	// random source; an op counts if it started in the measured window.
	var want truth
	for w := range workers {
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		for now := time.Duration(0); now < warmup+duration; {
			d := latency(rng)
			if now >= warmup {
				want.corrected = append(want.corrected, d)
				want.uncorrected = append(want.uncorrected, d)
			}
			now += d
		}
	}
	synctest.Test(t, func(t *testing.T) {
		e := load.NewEngine(load.WorkloadFunc(func(_ int, rng *rand.Rand) load.Op {
			d := latency(rng)
			return load.Op{Name: "scan", Do: func(context.Context) error {
				time.Sleep(d)
				return nil
			}}
		}))
		e.Workers, e.Seed = workers, seed
		e.Warmup, e.Duration, e.Interval = warmup, duration, 100*time.Millisecond
		e.Clock = simClock
		res, err := e.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		checkOp(t, res.Op("scan"), want)
		if got := res.Elapsed; got < duration {
			t.Errorf("elapsed %v, shorter than the duration %v", got, duration)
		}
	})
}

func TestEngine_StopByOpCount(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode load.Mode
		rate float64
	}{
		{"open", load.OpenLoop, 500},
		{"closed", load.ClosedLoop, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var progress []load.Progress
				e := load.NewEngine(load.Single(load.Op{Name: "op", Do: func(context.Context) error {
					time.Sleep(3 * time.Millisecond)
					return nil
				}}))
				e.Mode, e.Rate, e.Workers = tc.mode, tc.rate, 4
				e.Ops, e.Warmup = 1234, 20*time.Millisecond
				e.Clock = simClock
				e.ProgressInterval = 100 * time.Millisecond
				e.Progress = func(p load.Progress) { progress = append(progress, p) }
				res, err := e.Run(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if got, want := res.Op("op").Count(), int64(1234); got != want {
					t.Errorf("count = %d, want %d", got, want)
				}
				if len(progress) < 2 {
					t.Fatalf("%d progress reports, want several", len(progress))
				}
				last := progress[len(progress)-1]
				if !last.Final || last.Done != 1234 || last.Total != 1234 {
					t.Errorf("final progress = %+v, want Final with Done = Total = 1234", last)
				}
				for i := 1; i < len(progress); i++ {
					if progress[i].Done < progress[i-1].Done {
						t.Errorf("progress went backwards: %d after %d", progress[i].Done, progress[i-1].Done)
					}
				}
			})
		})
	}
}

func TestEngine_ErrorsAndPanicsAreCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int64
		e := load.NewEngine(load.Single(load.Op{Name: "flaky", Do: func(context.Context) error {
			time.Sleep(time.Millisecond)
			switch n.Add(1) % 4 {
			case 1:
				return errors.New("refused")
			case 2:
				panic("boom")
			}
			return nil
		}}))
		e.Workers, e.Ops = 2, 400
		e.Clock = simClock
		e.Logger = discardLogger()
		res, err := e.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		op := res.Op("flaky")
		if got, want := op.Errors, int64(200); got != want {
			t.Errorf("errors = %d, want %d (errors and panics)", got, want)
		}
		if got, want := op.Count(), int64(400); got != want {
			t.Errorf("count = %d, want %d: failed ops are timed too", got, want)
		}
	})
}

func TestEngine_CancelReturnsPartialResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		e := load.NewEngine(load.Single(load.Op{Name: "op", Do: func(ctx context.Context) error {
			select {
			case <-time.After(2 * time.Millisecond):
			case <-ctx.Done():
			}
			return nil
		}}))
		e.Mode, e.Rate, e.Duration = load.OpenLoop, 1000, time.Hour
		e.Pauses = []load.Pause{{At: 500 * time.Millisecond, For: time.Hour}}
		e.Clock = simClock
		time.AfterFunc(time.Second, cancel)
		res, err := e.Run(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if res == nil || res.Op("op") == nil || res.Op("op").Count() < 400 {
			t.Fatalf("partial result missing: %+v", res)
		}
	})
}

func TestEngine_InvalidOpStopsRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := load.NewEngine(load.Single(load.Op{Name: "two words", Do: func(context.Context) error { return nil }}))
		e.Duration = time.Second
		e.Clock = simClock
		_, err := e.Run(context.Background())
		if !errors.Is(err, load.ErrInvalidOp) {
			t.Fatalf("err = %v, want ErrInvalidOp", err)
		}
	})
}

func TestEngine_Validate(t *testing.T) {
	noop := load.Single(load.Op{Name: "op", Do: func(context.Context) error { return nil }})
	for _, tc := range []struct {
		name  string
		tweak func(e *load.Engine)
	}{
		{"no workload", func(e *load.Engine) { e.Workload = nil }},
		{"no stop condition", func(e *load.Engine) { e.Duration = 0 }},
		{"open loop without rate", func(e *load.Engine) { e.Mode = load.OpenLoop }},
		{"closed loop with rate", func(e *load.Engine) { e.Rate = 10 }},
		{"negative workers", func(e *load.Engine) { e.Workers = -1 }},
		{"negative warmup", func(e *load.Engine) { e.Warmup = -time.Second }},
		{"empty pause", func(e *load.Engine) { e.Pauses = []load.Pause{{At: time.Second}} }},
		{"unknown mode", func(e *load.Engine) { e.Mode = load.Mode(9) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := load.NewEngine(noop)
			e.Duration = time.Second
			tc.tweak(e)
			res, err := e.Run(context.Background())
			if !errors.Is(err, load.ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			if res != nil {
				t.Error("got a result for a run that never started")
			}
		})
	}
}

func TestLoadResult_ReportRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mix, err := load.Mix(
			load.Choice{Op: load.Op{Name: "get", Do: sleeper(time.Millisecond)}, Weight: 3},
			load.Choice{Op: load.Op{Name: "put", Do: sleeper(2 * time.Millisecond)}, Weight: 1},
		)
		if err != nil {
			t.Fatal(err)
		}
		e := load.NewEngine(mix)
		e.Mode, e.Rate, e.Workers = load.OpenLoop, 400, 4
		e.Duration, e.Warmup, e.Seed = 2500*time.Millisecond, 100*time.Millisecond, 3
		e.Pauses = []load.Pause{{At: time.Second, For: 200 * time.Millisecond}}
		e.Clock = simClock
		res, err := e.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		run := res.ReportRun(reports.Meta{ToolVersion: "test", Workload: "mix", SyncMode: "never"})
		if err := run.Validate(); err != nil {
			t.Fatal(err)
		}
		m := run.Meta
		if m.Mode != "open" || m.Rate != 400 || m.Workers != 4 || m.Seed != 3 || m.ToolVersion != "test" ||
			m.Duration != e.Duration || m.Warmup != e.Warmup || len(m.Pauses) != 1 || m.Pauses[0].At != time.Second {
			t.Errorf("meta = %+v", m)
		}
		if got, want := len(run.Ops), 2; got != want {
			t.Fatalf("%d ops, want %d", got, want)
		}
		var count int64
		for _, op := range run.Ops {
			count += op.Count()
			if got, want := len(op.Intervals), 3; got != want {
				t.Errorf("%s: %d intervals, want %d", op.Name, got, want)
			}
		}
		if got, want := count, int64(1000); got != want {
			t.Errorf("ops measured = %d, want rate × duration = %d", got, want)
		}
		get, put := run.Op("get").Count(), run.Op("put").Count()
		if get < 2*put {
			t.Errorf("get %d vs put %d: the 3:1 mix is off", get, put)
		}
		// The run renders.
		if _, err := reports.NewHlog(run); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMix_Invalid(t *testing.T) {
	for _, tc := range []struct {
		name    string
		choices []load.Choice
	}{
		{"none", nil},
		{"zero weight", []load.Choice{{Op: load.Op{Name: "a"}, Weight: 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := load.Mix(tc.choices...); !errors.Is(err, load.ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func sleeper(d time.Duration) func(context.Context) error {
	return func(context.Context) error {
		time.Sleep(d)
		return nil
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// epochClock is an injected clock: the system clock moved to a fixed epoch,
// as a test or a replay might want.
type epochClock struct {
	base  time.Time
	epoch time.Time
	waits *atomic.Int64
}

func (c epochClock) Now() time.Time { return c.epoch.Add(time.Since(c.base)) }

func (c epochClock) SleepUntil(ctx context.Context, t time.Time) error {
	c.waits.Add(1)
	return simClock.SleepUntil(ctx, c.base.Add(t.Sub(c.epoch)))
}

func TestEngine_UsesInjectedClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		epoch := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		var waits atomic.Int64
		e := load.NewEngine(load.Single(load.Op{Name: "op", Do: sleeper(time.Millisecond)}))
		e.Mode, e.Rate, e.Workers = load.OpenLoop, 100, 2
		e.Warmup, e.Duration = 250*time.Millisecond, time.Second
		e.Clock = epochClock{base: time.Now(), epoch: epoch, waits: &waits}
		res, err := e.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := epoch.Add(250 * time.Millisecond); !res.Start.Equal(want) {
			t.Errorf("measured window starts at %v, want %v on the injected clock", res.Start, want)
		}
		if got := waits.Load(); got < 125 {
			t.Errorf("engine waited on the injected clock %d times, want one per op at least", got)
		}
		if got, want := res.Op("op").Count(), int64(100); got != want {
			t.Errorf("count = %d, want %d", got, want)
		}
	})
}
