package load_test

import (
	"context"
	"math"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/load"
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
// machine, and whatever the OS added on a loaded one. On a loaded machine
// the host also delays ops outside the pause, so the truth the test holds
// the engine to is what the target saw: the k-th call's time less the k-th
// slot of the schedule; x(q) is logged beside it. The corrected
// percentiles must match that truth within 2%. The uncorrected ones (service
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
	pause := load.Pause{At: 1500 * time.Millisecond, For: stall}
	calls := make([]time.Time, int(rate*(warmup+duration).Seconds())+16)
	var n atomic.Int64
	e := load.NewEngine(load.Single(load.Op{Name: "noop", Do: func(context.Context) error {
		if i := n.Add(1) - 1; i < int64(len(calls)) {
			calls[i] = time.Now()
		}
		return nil
	}}))
	e.Mode, e.Rate, e.Workers = load.OpenLoop, rate, 4
	e.Warmup, e.Duration = warmup, duration
	e.Pauses = []load.Pause{pause}
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
	seen := slices.Clone(calls[:min(n.Load(), int64(len(calls)))])
	slices.SortFunc(seen, func(a, b time.Time) int { return a.Compare(b) })
	i := sort.Search(len(seen), func(i int) bool { return !seen[i].Before(end) })
	if i == len(seen) {
		t.Fatal("no op ran after the pause")
	}
	delta := seen[i].Sub(end)
	t.Logf("pause released its ops %v after its scheduled end", delta)

	// The truth as the target saw it: the k-th measured call against the
	// k-th slot of the schedule. It holds every delay the host added, on a
	// loaded machine too; the pause model above is the idle-machine case.
	measured := seen[len(seen)-int(count):]
	truths := make([]float64, len(measured))
	for k, c := range measured {
		slot := res.Start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
		truths[k] = max(0, c.Sub(slot).Seconds())
	}
	slices.Sort(truths)

	stalled := rate * stall.Seconds()
	for _, p := range []float64{95, 99, 99.9} {
		model := delta.Seconds() + stall.Seconds()*(1-(1-p/100)*count/stalled)
		truth := truths[min(len(truths)-1, int(math.Ceil(p/100*float64(len(truths))))-1)]
		corrected := time.Duration(op.Corrected.ValueAtQuantile(p)).Seconds()
		uncorrected := time.Duration(op.Uncorrected.ValueAtQuantile(p)).Seconds()
		errPct := 100 * (corrected - truth) / truth
		t.Logf("p%v: truth %.1f ms (pause model %.1f ms), corrected %.1f ms (%+.2f%%), uncorrected %.3f ms",
			p, truth*1e3, model*1e3, corrected*1e3, errPct, uncorrected*1e3)
		if errPct < -2 || errPct > 2 {
			t.Errorf("corrected p%v = %.1f ms, truth %.1f ms: off by %+.2f%%, want within 2%%", p, corrected*1e3, truth*1e3, errPct)
		}
		if uncorrected > truth/2 {
			t.Errorf("uncorrected p%v = %.1f ms is close to the truth %.1f ms: the stall should be hidden from service times", p, uncorrected*1e3, truth*1e3)
		}
	}
	t.Logf("late starts: %d of %v (the stalled ops: about %v)", op.LateStarts, count, stalled)
}
