package load

// The load engine: configuration, validation and the run's lifecycle. The
// pacing and measuring loops are in load_worker.go.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Errors of the load engine. Match them with errors.Is.
var (
	// ErrInvalidConfig is returned by Engine.Run, before anything runs, for
	// a configuration that cannot run; the message names the field.
	ErrInvalidConfig = errors.New("invalid load configuration")
	// ErrInvalidPause is returned by ParsePause for text it cannot read.
	ErrInvalidPause = errors.New("invalid pause")
	// ErrInvalidOp stops a run whose workload returned an op with an
	// unusable name.
	ErrInvalidOp = errors.New("invalid op from workload")
	// ErrOpPanicked marks an op error that was a recovered panic; the
	// error text holds the panic value and stack. It is counted like any
	// other op error.
	ErrOpPanicked = errors.New("op panicked")
)

// Mode selects how the engine issues ops.
type Mode int

const (
	// ClosedLoop runs Workers workers, each issuing its next op as soon as
	// the previous one returns. It measures capacity; latency is service
	// time, and corrected equals uncorrected.
	ClosedLoop Mode = iota
	// OpenLoop issues ops at a constant Rate whatever the latency, like
	// independent users would. Latency is measured from each op's intended
	// start, which corrects for coordinated omission.
	OpenLoop
)

// String returns "closed" or "open", the names reports use.
func (m Mode) String() string {
	switch m {
	case ClosedLoop:
		return "closed"
	case OpenLoop:
		return "open"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Defaults NewEngine fills in.
const (
	DefaultWorkers          = 8
	DefaultInterval         = time.Second
	DefaultLateTolerance    = time.Millisecond
	DefaultProgressInterval = 250 * time.Millisecond
)

// Engine runs a workload in an open or a closed loop and measures every
// op's latency into HDR histograms. Make one with NewEngine, adjust its
// fields, then call Run; zero Workers, Interval, ProgressInterval, Clock and
// Logger take their defaults. An Engine may be run again once Run has
// returned, but must not be changed while it runs.
//
// # Measurement
//
// Times are offsets from the run's start on Clock. The warm-up comes first
// and is excluded; the measured window follows. In an open loop, op i is
// intended to start at i/Rate: it is measured if its intended start falls in
// the measured window, and its corrected latency runs from the intended
// start to its return, while its uncorrected latency (service time) runs
// from when a worker actually started it. In a closed loop an op is
// measured if it started in the measured window, and both latencies are its
// service time. Ops that return an error are timed too and counted in
// OpResult.Errors.
//
// Each worker records into its own histograms (one pair per op name) and
// hands them over at every interval boundary; they are merged into interval
// histograms, and those into per-op totals. An op belongs to the interval in
// which it returned.
type Engine struct {
	Workload Workload // required
	Mode     Mode
	Rate     float64 // ops per second, open loop only; must be > 0 there

	// Workers is the number of concurrent workers: the most ops in flight at
	// once. In an open loop, an op whose time comes while every worker is
	// busy waits for one, and that wait counts in its corrected latency.
	Workers int

	// The run stops after Duration of measured time, or after Ops measured
	// ops, whichever comes first; set at least one. In an open loop with
	// Duration, exactly Rate×Duration ops are measured.
	Duration time.Duration
	Ops      int64

	Warmup   time.Duration // run before the measured window, excluded from results
	Interval time.Duration // length of an interval histogram
	Pauses   []Pause       // stalls to inject into the measured window
	Seed     uint64        // seeds each worker's random source; see Workload

	// LateTolerance sets what counts as a late start in an open loop: an op
	// that starts more than LateTolerance after its intended start. The
	// default, 1 ms, is about one tick of Go's timers on Linux (see
	// SystemClock), so late starts point at saturated workers rather than
	// timer jitter.
	LateTolerance time.Duration

	Clock Clock // time source; SystemClock{Spin: DefaultSpin} by default

	// Progress, when set, is called about every ProgressInterval of real
	// time, and once more when the run ends, from a single goroutine. It must
	// not block for long.
	Progress         func(Progress)
	ProgressInterval time.Duration

	Logger *slog.Logger // receives the first error of each op, and panics
}

// Progress reports how far a run has come.
type Progress struct {
	Done     int64         // measured ops completed
	Total    int64         // measured ops the run will make, when known (Ops, or Rate×Duration in an open loop); else 0
	Elapsed  time.Duration // time since the measured window started; negative during warm-up
	Duration time.Duration // the configured Duration; 0 when stopping by op count
	Final    bool          // the run has ended
}

// NewEngine returns an engine for w with every field at its default:
// closed loop, DefaultWorkers workers, DefaultInterval intervals,
// DefaultLateTolerance, SystemClock{Spin: DefaultSpin}, slog.Default().
// Set Duration or Ops before running it.
func NewEngine(w Workload) *Engine {
	return &Engine{
		Workload:         w,
		Workers:          DefaultWorkers,
		Interval:         DefaultInterval,
		LateTolerance:    DefaultLateTolerance,
		Clock:            SystemClock{Spin: DefaultSpin},
		ProgressInterval: DefaultProgressInterval,
		Logger:           slog.Default(),
	}
}

func (e *Engine) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case e.Workload == nil:
		return bad("no workload: set Engine.Workload")
	case e.Mode != OpenLoop && e.Mode != ClosedLoop:
		return bad("mode %v: use OpenLoop or ClosedLoop", e.Mode)
	case e.Mode == OpenLoop && (!(e.Rate > 0) || math.IsInf(e.Rate, 0)):
		return bad("open loop needs a rate above 0 ops/s, got %v: set Engine.Rate", e.Rate)
	case e.Mode == OpenLoop && e.Rate > 1e9:
		return bad("rate %v ops/s is above one op per nanosecond: lower Engine.Rate", e.Rate)
	case e.Mode == ClosedLoop && e.Rate != 0:
		return bad("rate %v given for a closed loop: set Mode to OpenLoop, or Rate to 0", e.Rate)
	case e.Workers < 0:
		return bad("%d workers: set Engine.Workers to 1 or more", e.Workers)
	case e.Duration <= 0 && e.Ops <= 0:
		return bad("no stop condition: set Engine.Duration or Engine.Ops")
	case e.Duration < 0 || e.Ops < 0 || e.Warmup < 0:
		return bad("negative Duration (%v), Ops (%d) or Warmup (%v)", e.Duration, e.Ops, e.Warmup)
	case e.Interval < 0:
		return bad("interval %v: set Engine.Interval above 0 (DefaultInterval is %v)", e.Interval, DefaultInterval)
	case e.LateTolerance < 0:
		return bad("late tolerance %v is negative", e.LateTolerance)
	case e.ProgressInterval < 0:
		return bad("progress interval %v: set Engine.ProgressInterval above 0", e.ProgressInterval)
	}
	for _, p := range e.Pauses {
		if p.At < 0 || p.For <= 0 {
			return bad("pause %v: want a positive length starting at 0 or later", p)
		}
	}
	return nil
}

// Run runs the workload until Duration or Ops is reached, or ctx is done,
// and returns what it measured.
//
// Configuration errors (ErrInvalidConfig) come back before anything runs,
// with a nil result. Once the run has started, Run always returns a result:
// if ctx is cancelled, the result holds what was measured so far and the
// error wraps ctx.Err(); if the workload yields an invalid op
// (ErrInvalidOp) or a merge loses values (reports.ErrMergeDropped: a
// histogram of the wrong geometry got in, a bug), the run stops
// and the error says why. Errors returned by ops are counted, not returned.
func (e *Engine) Run(ctx context.Context) (*LoadResult, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	r := newRun(e)
	return r.run(ctx)
}
