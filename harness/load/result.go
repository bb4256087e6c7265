package load

import (
	"slices"
	"strings"
	"time"

	"github.com/boxstorm/boxstorm/reports"
)

// LoadResult is what Engine.Run measured, with the configuration that
// produced it.
type LoadResult struct {
	Mode          Mode
	Rate          float64 // ops/s; 0 in a closed loop
	Workers       int
	Duration      time.Duration // configured; 0 when stopped by op count
	Warmup        time.Duration
	Interval      time.Duration
	LateTolerance time.Duration
	Pauses        []Pause
	Seed          uint64

	Start   time.Time     // when the measured window started, on the engine's clock
	Elapsed time.Duration // measured window: at least Duration, and until the last measured op returned

	// Ops holds one result per op name, sorted by name. Each has the same
	// number of intervals, from the start of the measured window; an
	// interval in which an op completed nothing has empty histograms.
	Ops []reports.OpResult
}

// Op returns the result of the op named name, or nil.
func (r *LoadResult) Op(name string) *reports.OpResult {
	for i := range r.Ops {
		if r.Ops[i].Name == name {
			return &r.Ops[i]
		}
	}
	return nil
}

// ReportRun converts r into the reports model in one call. meta carries
// what the engine does not know (tool version, flags, sync mode, workload
// name); every field the engine knows is filled from r. The run shares r's
// histograms.
func (r *LoadResult) ReportRun(meta reports.Meta) *reports.Run {
	meta.Mode = r.Mode.String()
	meta.Rate = r.Rate
	meta.Workers = r.Workers
	meta.Duration = r.Duration
	meta.Warmup = r.Warmup
	meta.Interval = r.Interval
	meta.Elapsed = r.Elapsed
	meta.LateTolerance = r.LateTolerance
	meta.Start = r.Start
	meta.Seed = r.Seed
	meta.Pauses = make([]reports.Window, len(r.Pauses))
	for i, p := range r.Pauses {
		meta.Pauses[i] = reports.Window{At: p.At, For: p.For}
	}
	return &reports.Run{Meta: meta, Ops: slices.Clone(r.Ops)}
}

// result assembles the LoadResult once every worker and the collector are
// done.
func (r *run) result(c *collector) *LoadResult {
	res := &LoadResult{
		Mode:          r.e.Mode,
		Rate:          r.e.Rate,
		Workers:       r.workers,
		Duration:      r.e.Duration,
		Warmup:        r.e.Warmup,
		Interval:      r.interval,
		LateTolerance: r.e.LateTolerance,
		Pauses:        slices.Clone(r.e.Pauses),
		Seed:          r.e.Seed,
		Start:         r.t0.Add(r.warm),
	}
	var last time.Duration
	measured := false
	for _, w := range r.ws {
		if w.n > 0 {
			last, measured = max(last, w.last), true
		}
	}
	if measured {
		res.Elapsed = last - r.warm
	}
	if r.e.Duration > 0 && r.failure() == nil && !r.stop.Load() {
		res.Elapsed = max(res.Elapsed, r.e.Duration)
	}
	for name, acc := range c.ops {
		op := reports.OpResult{
			Name:        name,
			Corrected:   acc.corr,
			Uncorrected: acc.unc,
			Errors:      acc.errors,
			LateStarts:  acc.late,
			Clamped:     acc.clamped,
		}
		for k := int64(0); k <= c.maxK; k++ {
			iv := reports.Interval{
				Start: time.Duration(k) * r.interval,
				End:   min(time.Duration(k+1)*r.interval, res.Elapsed),
			}
			if k == c.maxK {
				iv.End = res.Elapsed // the last interval holds every late return
			}
			iv.End = max(iv.End, iv.Start)
			if k < int64(len(acc.ivs)) && acc.ivs[k] != nil {
				iv.Corrected, iv.Uncorrected = acc.ivs[k].corr, acc.ivs[k].unc
			} else {
				iv.Corrected, iv.Uncorrected = newPacked(), newPacked()
			}
			op.Intervals = append(op.Intervals, iv)
		}
		res.Ops = append(res.Ops, op)
	}
	slices.SortFunc(res.Ops, func(a, b reports.OpResult) int { return strings.Compare(a.Name, b.Name) })
	return res
}
