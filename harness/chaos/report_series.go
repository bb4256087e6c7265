package chaos

// The chaos report's latency-over-time chart: each op's latency per time
// bucket, and the windows the faults ran in, both on the run's monotonic
// clock. The series live in result.json and summary.json (reports.OpLatency.Series)
// so a report can be drawn again from them; faults.jsonl stays the logical
// schedule only.

import (
	"cmp"
	"slices"
	"time"

	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/reports"
	"github.com/boxstorm/boxstorm/scenarios"
)

// maxSeriesPoints bounds an op's latency series, to keep summary.json
// small: the bucket width grows with the run (1, 2, 5, 10 ms and so on).
const maxSeriesPoints = 200

// minSeriesStep is the narrowest bucket of a latency series.
const minSeriesStep = time.Millisecond

// seriesStep is the bucket width for a run whose last call returned at
// span: the smallest of 1, 2, 5 × 10^k ns, at least minSeriesStep, that
// keeps the series within maxSeriesPoints buckets.
func seriesStep(span time.Duration) time.Duration {
	for step := minSeriesStep; ; step *= 10 {
		for _, m := range []time.Duration{1, 2, 5} {
			if s := step * m; span/s < maxSeriesPoints {
				return s
			}
		}
	}
}

// addLatencySeries fills the Series and Step of each op in ls from the
// calls that returned, bucketed by return time.
func addLatencySeries(ls []reports.OpLatency, events []history.HistoryEvent) {
	var span int64
	for _, e := range events {
		if returned(e) {
			span = max(span, e.Return)
		}
	}
	step := seriesStep(time.Duration(span))
	type key struct {
		op     string
		bucket int64
	}
	buckets := map[key][]time.Duration{}
	for _, e := range events {
		if returned(e) {
			k := key{string(e.Kind), e.Return / int64(step)}
			buckets[k] = append(buckets[k], time.Duration(e.Return-e.Call))
		}
	}
	for i := range ls {
		l := &ls[i]
		l.Step, l.Series = step, nil
		for b := int64(0); b <= span/int64(step); b++ {
			ds := buckets[key{l.Op, b}]
			if len(ds) == 0 {
				continue
			}
			slices.Sort(ds)
			rank := (99*len(ds) + 99) / 100 // ceil(0.99 n), from 1
			l.Series = append(l.Series, reports.LatencyPoint{At: time.Duration(b) * step, Count: int64(len(ds)), P99: ds[rank-1], Max: ds[len(ds)-1]})
		}
	}
}

// FaultWindows pairs a scenario's fault events into windows, by fault
// index: each "start" with the "done" or "kill" that follows it. A kill
// armed at a failpoint ("done" with an "armed" detail) lasts until its
// "kill" event, when there is one. A "kill" also ends the windows its
// process had open, which stay Unfinished. Faults that were skipped (never
// injected) have no window. The windows are sorted by start, then index.
func FaultWindows(events []FaultEvent) []reports.FaultWindow {
	var out []reports.FaultWindow
	type started struct {
		window int // in out
		proc   string
	}
	open := map[int]started{} // fault index -> its window, until it ends
	armed := map[int]int{}    // kill fault index -> its window, armed at a failpoint
	skipped := map[int]bool{}
	for _, ev := range events {
		t := time.Duration(ev.Time)
		if ev.Skipped != "" {
			skipped[ev.Index] = true
			continue
		}
		switch ev.Phase {
		case "start":
			open[ev.Index] = started{len(out), ev.Proc}
			out = append(out, reports.FaultWindow{Index: ev.Index, Type: string(ev.Type), Start: t, End: t, Unfinished: true})
		case "done":
			i, ok := open[ev.Index]
			if !ok {
				out = append(out, reports.FaultWindow{Index: ev.Index, Type: string(ev.Type), Start: t, End: t, Err: ev.Err})
				continue
			}
			w := &out[i.window]
			w.End, w.Unfinished, w.Err = max(t, w.Start), false, ev.Err
			delete(open, ev.Index)
			if _, ok := ev.Detail["armed"]; ok && ev.Type == scenarios.FaultKill {
				armed[ev.Index] = i.window
			}
		case "kill":
			if i, ok := open[ev.Index]; ok {
				out[i.window].End, out[i.window].Unfinished = max(t, out[i.window].Start), false
				delete(open, ev.Index)
			} else if w, ok := armed[ev.Index]; ok {
				out[w].End = max(t, out[w].Start)
				delete(armed, ev.Index)
			} else {
				out = append(out, reports.FaultWindow{Index: ev.Index, Type: string(ev.Type), Start: t, End: t})
			}
			for idx, o := range open { // the killed process's faults end with it
				if o.proc == ev.Proc {
					out[o.window].End = max(t, out[o.window].Start)
					delete(open, idx)
				}
			}
		}
	}
	out = slices.DeleteFunc(out, func(w reports.FaultWindow) bool { return skipped[w.Index] })
	slices.SortStableFunc(out, func(a, b reports.FaultWindow) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.Index, b.Index))
	})
	return out
}
