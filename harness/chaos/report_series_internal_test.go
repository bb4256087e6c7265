package chaos

import (
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/reports"
	"github.com/boxstorm/boxstorm/scenarios"
)

func TestSeriesStep(t *testing.T) {
	for _, tc := range []struct{ span, want time.Duration }{
		{0, time.Millisecond},
		{150 * time.Millisecond, time.Millisecond},
		{399 * time.Millisecond, 2 * time.Millisecond},
		{400 * time.Millisecond, 5 * time.Millisecond}, // 2 ms would be 201 buckets
		{time.Second, 10 * time.Millisecond},
		{60 * time.Second, 500 * time.Millisecond},
		{time.Hour, 20 * time.Second},
	} {
		got := seriesStep(tc.span)
		if got != tc.want {
			t.Errorf("seriesStep(%v) = %v, want %v", tc.span, got, tc.want)
		}
		if n := tc.span/got + 1; n > maxSeriesPoints {
			t.Errorf("seriesStep(%v) = %v: %d buckets, over %d", tc.span, got, n, maxSeriesPoints)
		}
	}
}

func TestAddLatencySeries(t *testing.T) {
	ms := int64(time.Millisecond)
	var ops []history.HistoryEvent
	ok := history.OpOutput{Outcome: history.OutcomeOK}
	// 100 enqueues return in the first bucket, 1..100 µs each; one in the
	// third bucket takes 40 ms; one never returns. Observations have no
	// latency.
	for i := range int64(100) {
		ops = append(ops, history.HistoryEvent{Kind: history.KindEnqueue, Call: 0, Return: (i + 1) * 1000, Out: ok})
	}
	ops = append(ops,
		history.HistoryEvent{Kind: history.KindEnqueue, Call: 2*ms + 100, Return: 42*ms + 100, Out: ok},
		history.HistoryEvent{Kind: history.KindClaim, Call: ms, Return: history.ReturnUnknown, Out: history.OpOutput{Outcome: history.OutcomeUnknown}},
		history.HistoryEvent{Kind: history.KindOpen, Call: 0, Return: ms / 2, Out: ok},
		history.HistoryEvent{Kind: history.KindFault, Call: 90 * ms, Return: 90 * ms, Fault: &history.Fault{Type: "kill", Phase: "kill"}},
	)
	ls := []reports.OpLatency{{Op: "claim"}, {Op: "enqueue"}, {Op: "open"}}
	addLatencySeries(ls, ops)
	for _, l := range ls {
		if l.Step != time.Millisecond {
			t.Errorf("%s: step %v, want 1ms (span 42ms)", l.Op, l.Step)
		}
	}
	if ls[0].Series != nil {
		t.Errorf("claim never returned, series %+v", ls[0].Series)
	}
	want := []reports.LatencyPoint{
		{At: 0, Count: 100, P99: 99 * time.Microsecond, Max: 100 * time.Microsecond},
		{At: 42 * time.Millisecond, Count: 1, P99: 40 * time.Millisecond, Max: 40 * time.Millisecond},
	}
	if got := ls[1].Series; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("enqueue series %+v, want %+v", got, want)
	}
	if got := ls[2].Series; len(got) != 1 || got[0].Count != 1 || got[0].Max != 500*time.Microsecond {
		t.Errorf("open series %+v", got)
	}
}

func TestRecordObservedKill(t *testing.T) {
	kill := fault.PlannedFault{Index: 1, Type: scenarios.FaultKill, Fault: scenarios.Fault{Type: scenarios.FaultKill, Failpoint: "enqueue/after-write-before-sync"}}
	before := []history.HistoryEvent{
		{Client: "harness", Kind: history.KindFault, Call: 10, Return: 10, Fault: &history.Fault{Index: 0, Type: string(scenarios.FaultBitflip), Phase: "done"}},
		{Client: "harness", Kind: history.KindFault, Call: 90, Return: 90, Fault: &history.Fault{Index: 2, Type: string(scenarios.FaultReopen), Phase: "done"}},
	}
	run := func(faults []fault.PlannedFault) *chaosRun {
		r := &chaosRun{p: &plan{faults: faults}, killed: true, hist: history.NewHistory(history.HistoryOptions{})}
		for _, e := range before {
			r.hist.Record(e)
		}
		return r
	}
	r := run([]fault.PlannedFault{kill})
	r.recordObservedKill(50, 0)
	got := faultEvents(history.MergeHistories(r.hist.Events()))
	if len(got) != 3 || got[1].Index != 1 || got[1].Type != scenarios.FaultKill || got[1].Phase != "kill" || got[1].Time != 50 || got[1].Proc != "worker" {
		t.Fatalf("observed kill not in time order: %+v", got)
	}
	if r.recordObservedKill(60, 0); r.hist.Len() != 3 {
		t.Errorf("a recorded kill was added again: %+v", r.hist.Events())
	}
	r = run(nil)
	if r.recordObservedKill(50, 0); r.hist.Len() != 2 {
		t.Errorf("a plan without a kill got a kill: %+v", r.hist.Events())
	}
}
