package reports

import (
	"fmt"
	"slices"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Modes a load run can be in; Meta.Mode holds one of them.
const (
	// ModeOpen is an open loop: ops are issued at a constant rate whatever
	// the target's latency, and latency is measured from each op's intended
	// start.
	ModeOpen = "open"
	// ModeClosed is a closed loop: each worker issues its next op when the
	// previous one returns, so corrected and uncorrected latency coincide.
	ModeClosed = "closed"
)

// Run is the result of one load run: everything the writers render. The
// harness fills it (load.LoadResult.ReportRun in harness/load); ReadHlog and Hlog.Run
// rebuild one from an interval log.
//
// The writers only read a Run; they never modify it, so one Run can be
// rendered by several writers at once.
type Run struct {
	Meta Meta
	Ops  []OpResult // one per op name, sorted by name
}

// Meta describes how a run was made. It is written verbatim into the JSON
// summary (see docs/reports.md for the field names).
type Meta struct {
	ToolVersion   string            `json:"tool_version"`      // version of the tool that made the run
	Seed          uint64            `json:"seed"`              // seed of the workers' random sources
	Flags         map[string]string `json:"flags"`             // command-line flags as given, by long name
	SyncMode      string            `json:"sync_mode"`         // store durability mode, such as "always"
	Workload      string            `json:"workload"`          // workload name
	Mode          string            `json:"mode"`              // ModeOpen or ModeClosed
	Rate          float64           `json:"rate"`              // target rate in ops/s (open loop); 0 for a closed loop
	Workers       int               `json:"workers"`           // number of concurrent workers
	ValueSize     int               `json:"value_size"`        // payload and value size in bytes; 0 when not recorded
	StoreDir      string            `json:"store_dir"`         // directory of the store the run measured; "" when not recorded
	StoreFS       string            `json:"store_fs"`          // file system type of StoreDir, such as "ext4" or "tmpfs"; "" when not recorded
	Duration      time.Duration     `json:"duration_ns"`       // configured measured duration; 0 when stopped by op count
	Warmup        time.Duration     `json:"warmup_ns"`         // warm-up run before the measured window, excluded from results
	Interval      time.Duration     `json:"interval_ns"`       // length of one interval histogram
	Elapsed       time.Duration     `json:"elapsed_ns"`        // measured window as it ran: until the last measured op returned
	LateTolerance time.Duration     `json:"late_tolerance_ns"` // an op that starts later than this after its intended start is a late start
	Start         time.Time         `json:"start"`             // wall-clock start of the measured window
	Pauses        []Window          `json:"pauses"`            // injected stalls

	// Target is the process the run drove through the target protocol
	// (docs/target-protocol.md); nil for a store in process.
	Target *Target `json:"target,omitempty"`
	// TargetRoundTrip is the protocol's own cost, measured before the run;
	// nil for a store in process.
	TargetRoundTrip *RoundTrip `json:"target_round_trip,omitempty"`
}

// Target names the target process a run drove.
type Target struct {
	Command string `json:"command"` // the command line that started it
	Name    string `json:"name"`    // as its open reply names it
	Version string `json:"version"` // as its open reply gives it
	// Errors counts the run's failed requests by the reply's error class
	// (docs/target-protocol.md), "transport" for a request that got no
	// reply; classes with none are left out.
	Errors map[string]int64 `json:"errors,omitempty"`
}

// String returns the target's name and version, or its command when it
// gave no name.
func (t *Target) String() string {
	switch {
	case t.Name == "":
		return t.Command
	case t.Version == "":
		return t.Name
	}
	return t.Name + " " + t.Version
}

// RoundTrip is the latency of a cheap request through the target
// protocol, sent one at a time: what the protocol adds to every op.
type RoundTrip struct {
	Request string  `json:"request"` // what was timed, such as "get of a missing key"
	Count   int     `json:"count"`   // round trips timed
	P50     Latency `json:"p50"`
	P99     Latency `json:"p99"`
}

// line is the round trip as the reports show it beside the latency table.
func (r *RoundTrip) line() string {
	return fmt.Sprintf("protocol round trip p50 %s ms, p99 %s ms (%s, %s)", ms(r.P50.Duration()), ms(r.P99.Duration()), plural(int64(r.Count), "request"), r.Request)
}

// Window is a stretch of the measured window, such as an injected pause.
type Window struct {
	At  time.Duration `json:"at_ns"`  // start, as an offset from the start of the measured window
	For time.Duration `json:"for_ns"` // length
}

// End returns the window's end offset.
func (w Window) End() time.Duration { return w.At + w.For }

// String formats the window as FOR@AT, the syntax load.ParsePause (harness/load) reads.
func (w Window) String() string { return fmt.Sprintf("%v@%v", w.For, w.At) }

// OpResult holds one op's measurements.
//
// Corrected latency runs from each op's intended start (open loop) and so
// includes any time the op waited to be issued; Uncorrected is the service
// time from the op's actual start. In a closed loop the two are equal. Both
// histograms count every completed op, including those that returned an
// error; values are nanoseconds.
type OpResult struct {
	Name        string                  // op name, valid per ValidateOpName
	Corrected   *hdrhistogram.Histogram // latency from intended start, ns
	Uncorrected *hdrhistogram.Histogram // service time from actual start, ns
	Intervals   []Interval              // consecutive interval histograms, by start
	Errors      int64                   // ops that returned an error
	LateStarts  int64                   // ops that started later than Meta.LateTolerance after their intended start
	Clamped     int64                   // values above the histogram's range, recorded as its highest value
}

// Count returns the number of completed ops.
func (o *OpResult) Count() int64 {
	if o.Corrected == nil {
		return 0
	}
	return o.Corrected.TotalCount()
}

// Interval holds the ops that completed in one interval of the measured
// window. Intervals are stored sparse (PackedHistogram) because a long run
// keeps thousands of them.
type Interval struct {
	Start       time.Duration                 // offset from the start of the measured window
	End         time.Duration                 // offset of the end; the last interval may be short
	Corrected   *hdrhistogram.PackedHistogram // latency from intended start, ns
	Uncorrected *hdrhistogram.PackedHistogram // service time from actual start, ns
}

// Count returns the number of ops that completed in the interval.
func (iv *Interval) Count() int64 {
	if iv.Corrected == nil {
		return 0
	}
	return iv.Corrected.TotalCount()
}

// Throughput returns the interval's completions per second, or 0 for an
// empty or zero-length interval.
func (iv *Interval) Throughput() float64 {
	d := iv.End - iv.Start
	if d <= 0 {
		return 0
	}
	return float64(iv.Count()) / d.Seconds()
}

// Op returns the op named name, or nil.
func (r *Run) Op(name string) *OpResult {
	for i := range r.Ops {
		if r.Ops[i].Name == name {
			return &r.Ops[i]
		}
	}
	return nil
}

// SortOps sorts r.Ops by name, the order every writer expects.
func (r *Run) SortOps() {
	slices.SortFunc(r.Ops, func(a, b OpResult) int { return strings.Compare(a.Name, b.Name) })
}

// Validate checks that r can be rendered: op names are valid and unique and
// every op has both histograms.
func (r *Run) Validate() error {
	seen := make(map[string]bool, len(r.Ops))
	for i := range r.Ops {
		op := &r.Ops[i]
		if err := ValidateOpName(op.Name); err != nil {
			return err
		}
		if seen[op.Name] {
			return fmt.Errorf("%w: op %q appears twice in the run: merge its histograms first", ErrInvalidOpName, op.Name)
		}
		seen[op.Name] = true
		if op.Corrected == nil || op.Uncorrected == nil {
			return fmt.Errorf("op %q: missing corrected or uncorrected histogram: fill both (a closed loop records the same values in each)", op.Name)
		}
	}
	return nil
}
