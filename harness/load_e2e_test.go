package harness_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness"
)

// TestEngine_OpenLoopCorrectsStall checks coordinated-omission correction on
// the real clock. An open loop at rate R against a no-op target runs for D
// with a pause of S in the middle: the R·S ops that start during the pause
// wait until it ends, so their true latency is spread evenly over (0, S],
// and every other op's is close to 0. Over n = R·D measured ops, the true
// latency at quantile q (in the tail, 1-q < R·S/n) is therefore
//
//	x(q) = δ + S · (1 - (1-q)·n / (R·S))
//
// where δ is how late the pause actually released its ops: zero on an idle
// machine, and whatever the OS added on a loaded one (the target observes
// it, so the test measures it rather than hopes it away). The corrected
// percentiles must match x(q) within 2%. The uncorrected ones (service
// time) must not: only the few ops that held a worker during the pause saw
// it, so service times hide the stall.
//
// The pause is long (1.5 s) because everything else the machine does adds
// error in proportion to hiccup/S: a 20 ms stall of the whole process just
// before the pause, for instance, lets 40 extra ops into it.
func TestEngine_OpenLoopCorrectsStall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 5 s of real time")
	}
	const (
		rate     = 2000.0
		warmup   = 200 * time.Millisecond
		duration = 4500 * time.Millisecond
		stall    = 1500 * time.Millisecond
	)
	pause := harness.Pause{At: 1500 * time.Millisecond, For: stall}
	calls := make([]time.Time, int(rate*(warmup+duration).Seconds())+16)
	var n atomic.Int64
	e := harness.NewEngine(harness.Single(harness.Op{Name: "noop", Do: func(context.Context) error {
		if i := n.Add(1) - 1; i < int64(len(calls)) {
			calls[i] = time.Now()
		}
		return nil
	}}))
	e.Mode, e.Rate, e.Workers = harness.OpenLoop, rate, 4
	e.Warmup, e.Duration = warmup, duration
	e.Pauses = []harness.Pause{pause}
	res, err := e.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	op := res.Op("noop")
	count := float64(op.Count())
	if want := rate * duration.Seconds(); count != want {
		t.Fatalf("measured %v ops, want rate × duration = %v", count, want)
	}

	// δ: the first call the target saw after the pause, measured from the
	// pause's scheduled end.
	end := res.Start.Add(pause.At + pause.For)
	var release time.Time
	for _, c := range calls[:min(n.Load(), int64(len(calls)))] {
		if !c.Before(end) && (release.IsZero() || c.Before(release)) {
			release = c
		}
	}
	if release.IsZero() {
		t.Fatal("no op ran after the pause")
	}
	delta := release.Sub(end)
	t.Logf("pause released its ops %v after its scheduled end", delta)

	stalled := rate * stall.Seconds()
	for _, p := range []float64{95, 99, 99.9} {
		truth := delta.Seconds() + stall.Seconds()*(1-(1-p/100)*count/stalled)
		corrected := time.Duration(op.Corrected.ValueAtQuantile(p)).Seconds()
		uncorrected := time.Duration(op.Uncorrected.ValueAtQuantile(p)).Seconds()
		errPct := 100 * (corrected - truth) / truth
		t.Logf("p%v: truth %.1f ms, corrected %.1f ms (%+.2f%%), uncorrected %.3f ms",
			p, truth*1e3, corrected*1e3, errPct, uncorrected*1e3)
		if errPct < -2 || errPct > 2 {
			t.Errorf("corrected p%v = %.1f ms, truth %.1f ms: off by %+.2f%%, want within 2%%", p, corrected*1e3, truth*1e3, errPct)
		}
		if uncorrected > truth/2 {
			t.Errorf("uncorrected p%v = %.1f ms is close to the truth %.1f ms: the stall should be hidden from service times", p, uncorrected*1e3, truth*1e3)
		}
	}
	t.Logf("late starts: %d of %v (the stalled ops: about %v)", op.LateStarts, count, stalled)
}
