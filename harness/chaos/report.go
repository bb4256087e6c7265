package chaos

// Output of a scenario: result.json, history.jsonl, the latency .hgrm
// files and the evidence of violations. The run's own reports
// (summary.json, summary.md, junit.xml, report.html) are written by
// package reports from the entries Entry makes.

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/harness/load"
	"github.com/boxstorm/boxstorm/reports"
)

// returned reports whether e is a call that returned, so it has a latency.
func returned(e history.HistoryEvent) bool {
	return e.Kind != history.KindStoreState && e.Kind != history.KindFault && !e.Crashed() && e.Return != history.ReturnUnknown
}

// histograms builds one latency histogram per op name from the history:
// return minus call of every call that returned.
func histograms(events []history.HistoryEvent) map[string]*hdrhistogram.Histogram {
	out := map[string]*hdrhistogram.Histogram{}
	for _, e := range events {
		if !returned(e) {
			continue
		}
		h := out[string(e.Kind)]
		if h == nil {
			h = load.NewHistogram()
			out[string(e.Kind)] = h
		}
		load.RecordClamped(h, time.Duration(e.Return-e.Call))
	}
	return out
}

func latencySummary(hs map[string]*hdrhistogram.Histogram) []reports.OpLatency {
	var out []reports.OpLatency
	for name, h := range hs {
		out = append(out, reports.OpLatency{Op: name, Count: h.TotalCount(),
			P50: time.Duration(reports.ValueAtPercentile(h, 50)), P99: time.Duration(reports.ValueAtPercentile(h, 99)),
			P999: time.Duration(reports.ValueAtPercentile(h, 99.9)), Max: time.Duration(h.Max())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Op < out[j].Op })
	return out
}

// thresholds compares the scenario's latency limits with the history.
func (r *chaosRun) thresholds(hs map[string]*hdrhistogram.Histogram) []ThresholdResult {
	var out []ThresholdResult
	for _, t := range r.p.sc.Thresholds {
		tr := ThresholdResult{Op: string(t.Op), Percentile: string(t.Percentile), Limit: t.Limit, Verdict: check.VerdictUnknown}
		if h := hs[string(t.Op)]; h != nil && h.TotalCount() > 0 {
			tr.Count = h.TotalCount()
			if t.Percentile == "max" {
				tr.Measured = time.Duration(h.Max())
			} else {
				tr.Measured = time.Duration(reports.ValueAtPercentile(h, t.Percentile.Percent()))
			}
			tr.Verdict = check.VerdictPass
			switch {
			case tr.Measured <= t.Limit:
			case r.p.opts.Quick || r.p.opts.Target != "": // a quick run's tail is its CI machine's; a target's carries the protocol
				tr.Verdict, tr.Note = check.VerdictUnknown, "latency thresholds are advisory in a quick run and through a target"
			default:
				tr.Verdict = check.VerdictFail
			}
		}
		out = append(out, tr)
	}
	return out
}

// writeScenario writes the scenario directory's files: history.jsonl is
// the judged history (judged), the recorded one (raw) with the enqueues a
// torn tail may take back made never-returned (check.ForgiveTornTails).
// It first adds each op's latency series to res.Latency, from the
// recorded calls, so that result.json and the summary carry them.
func (r *chaosRun) writeScenario(res *ScenarioResult, raw, judged []history.HistoryEvent, hs map[string]*hdrhistogram.Histogram) error {
	addLatencySeries(res.Latency, raw)
	if err := reports.WriteJSONFile(filepath.Join(r.p.dir, "result.json"), res); err != nil {
		return err
	}
	if err := history.WriteHistoryFile(filepath.Join(r.p.dir, "history.jsonl"), judged); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	for name, h := range hs {
		if err := reports.WriteFile(filepath.Join(r.p.dir, name+".hgrm"), func(w io.Writer) error { return reports.WriteHgrm(w, h) }); err != nil {
			return fmt.Errorf("write %s.hgrm: %w", name, err)
		}
	}
	var slice []history.HistoryEvent
	for _, c := range res.Checks {
		if c.Verdict != check.VerdictFail {
			continue
		}
		for _, v := range c.Violations {
			if v.Severity == check.SeverityViolation {
				slice = append(slice, v.Events...)
			}
		}
	}
	if len(slice) > 0 {
		if err := history.WriteHistoryFile(filepath.Join(r.p.dir, "violation-history.jsonl"), history.MergeHistories(slice)); err != nil {
			return fmt.Errorf("write violation history: %w", err)
		}
	}
	return nil
}

// Entry summarises res for the run's reports.
func (res *ScenarioResult) Entry() reports.ChaosScenario {
	e := reports.ChaosScenario{Name: res.Scenario, Verdict: string(res.Verdict), Elapsed: res.Elapsed, Error: res.Error, Latency: res.Latency,
		CrashStates: res.CrashStates, Kills: res.Kills, FaultWindows: FaultWindows(res.Faults)}
	if res.Canary {
		c := res.Caught()
		e.Caught = &c
	}
	for _, c := range res.Checks {
		switch c.Verdict {
		case check.VerdictFail:
			e.Failed = append(e.Failed, c.Name)
		case check.VerdictUnknown:
			e.Unknown = append(e.Unknown, c.Name)
		}
	}
	for _, t := range res.Thresholds {
		switch t.Verdict {
		case check.VerdictFail:
			e.Failed = append(e.Failed, fmt.Sprintf("threshold %s %s: %v > %v", t.Op, t.Percentile, t.Measured, t.Limit))
		case check.VerdictUnknown:
			e.Unknown = append(e.Unknown, fmt.Sprintf("threshold %s %s (%v > %v, advisory)", t.Op, t.Percentile, t.Measured.Round(time.Microsecond), t.Limit))
		}
	}
	return e
}
