package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/load"
)

func TestWarmupDescription(t *testing.T) {
	for _, tc := range []struct {
		name string
		pr   load.Progress
		want string
	}{
		{"timed run", load.Progress{Elapsed: -1500 * time.Millisecond, Total: 5000, Duration: 10 * time.Second},
			"warm-up, 1.5s left, then measuring for 10s"},
		{"run by count", load.Progress{Elapsed: -time.Second, Total: 4000},
			"warm-up, 1.0s left, then measuring 4000 ops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := warmupDescription(tc.pr); got != tc.want {
				t.Errorf("warmupDescription = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMeasuringDescription(t *testing.T) {
	for _, tc := range []struct {
		name string
		pr   load.Progress
		open bool
		want string
	}{
		// The bar's ETA counts toward the end: the description adds nothing.
		{"open loop at 500/s", load.Progress{Done: 2000, Total: 5000, Elapsed: 4 * time.Second, Duration: 10 * time.Second}, true,
			"measuring"},
		{"closed loop by count only", load.Progress{Done: 250, Total: 1000, Elapsed: time.Second}, false,
			"measuring"},
		// A spinner: the description is the only ETA.
		{"closed loop by time", load.Progress{Done: 12000, Elapsed: 5 * time.Second, Duration: 20 * time.Second}, false,
			"measuring, 15s left"},
		{"closed loop by time, rounded up", load.Progress{Done: 12000, Elapsed: 4600 * time.Millisecond, Duration: 10 * time.Second}, false,
			"measuring, 6s left"},
		{"closed loop by time, past the end while the last ops drain", load.Progress{Done: 40000, Elapsed: 20200 * time.Millisecond, Duration: 20 * time.Second}, false,
			"measuring, 0s left"},
		// The bar's ETA is by count; the duration may end the run first.
		{"closed loop by count or time", load.Progress{Done: 900, Total: 1000, Elapsed: 3 * time.Second, Duration: 10 * time.Second}, false,
			"measuring, at most 7s left"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := measuringDescription(tc.pr, tc.open); got != tc.want {
				t.Errorf("measuringDescription = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMeasuringSpan(t *testing.T) {
	for _, tc := range []struct {
		name               string
		pr                 load.Progress
		wantOffset, wantSp int64
	}{
		{"total known", load.Progress{Done: 120, Total: 5000, Elapsed: 240 * time.Millisecond}, 120, 4880},
		{"total unknown: a spinner", load.Progress{Done: 50, Elapsed: 100 * time.Millisecond, Duration: 20 * time.Second}, 50, -1},
		{"total already reached", load.Progress{Done: 1000, Total: 1000, Elapsed: time.Second}, 1000, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			offset, span := measuringSpan(tc.pr)
			if offset != tc.wantOffset || span != tc.wantSp {
				t.Errorf("measuringSpan = %d, %d; want %d, %d", offset, span, tc.wantOffset, tc.wantSp)
			}
		})
	}
}

// cleared matches the end of the output once a bar has cleared its line.
var cleared = regexp.MustCompile(`\r +\r$`)

func TestProgressBar(t *testing.T) {
	t.Run("open loop: a warm-up spinner, then a new bar over the measured ops", func(t *testing.T) {
		var buf bytes.Buffer
		p := &progressBar{w: &buf, open: true}
		p.update(load.Progress{Total: 1000, Elapsed: -time.Second, Duration: 2 * time.Second})
		if p.warmup == nil || p.bar != nil {
			t.Fatalf("warm-up: spinner %v, measuring bar %v; want a spinner only", p.warmup, p.bar)
		}
		if out := buf.String(); !strings.Contains(out, "warm-up, 1.0s left, then measuring for 2s") {
			t.Errorf("warm-up output lacks its description:\n%q", out)
		}
		warmup := p.warmup

		p.update(load.Progress{Done: 100, Total: 1000, Elapsed: 200 * time.Millisecond, Duration: 2 * time.Second})
		if !warmup.IsFinished() || p.warmup != nil {
			t.Error("the warm-up spinner is still up while measuring")
		}
		if p.bar == nil {
			t.Fatal("no measuring bar")
		}
		if got, want := p.bar.State().Max, int64(900); got != want {
			t.Errorf("measuring bar over %d ops, want %d (the ops after its start)", got, want)
		}

		buf.Reset()
		p.update(load.Progress{Done: 550, Total: 1000, Elapsed: time.Second, Duration: 2 * time.Second})
		if got, want := p.bar.State().CurrentNum, int64(450); got != want {
			t.Errorf("measuring bar at %d ops, want %d", got, want)
		}
		if out := buf.String(); !strings.Contains(out, "measuring") || !strings.Contains(out, "(450/900, ") {
			t.Errorf("measuring output lacks the phase or the count:\n%q", out)
		}

		p.update(load.Progress{Done: 1000, Total: 1000, Elapsed: 2 * time.Second, Duration: 2 * time.Second, Final: true})
		if !p.bar.IsFinished() {
			t.Error("the measuring bar is not finished after the final report")
		}
		if out := buf.String(); !cleared.MatchString(out) {
			t.Errorf("the final report does not clear the line:\n%q", out)
		}
	})

	t.Run("closed loop by time: a spinner with the ops and the time left", func(t *testing.T) {
		var buf bytes.Buffer
		p := &progressBar{w: &buf}
		p.update(load.Progress{Elapsed: -500 * time.Millisecond, Duration: 4 * time.Second})
		p.update(load.Progress{Done: 10, Elapsed: 100 * time.Millisecond, Duration: 4 * time.Second})
		buf.Reset()
		p.update(load.Progress{Done: 1010, Elapsed: 2 * time.Second, Duration: 4 * time.Second})
		if s := p.bar.State(); s.Max != -1 || s.CurrentBytes != 1000 {
			t.Errorf("measuring bar max %d at %.0f ops, want a spinner (-1) at 1000", s.Max, s.CurrentBytes)
		}
		if out := buf.String(); !strings.Contains(out, "measuring, 2s left (1000, ") {
			t.Errorf("spinner output lacks the time left or the count:\n%q", out)
		}
		p.update(load.Progress{Done: 2000, Elapsed: 4 * time.Second, Duration: 4 * time.Second, Final: true})
		if !p.bar.IsFinished() || !cleared.MatchString(buf.String()) {
			t.Errorf("the final report does not finish and clear the spinner:\n%q", buf.String())
		}
	})

	t.Run("a run that ends during the warm-up clears its spinner", func(t *testing.T) {
		var buf bytes.Buffer
		p := &progressBar{w: &buf}
		p.update(load.Progress{Elapsed: -2 * time.Second, Duration: 4 * time.Second})
		p.update(load.Progress{Elapsed: -time.Second, Duration: 4 * time.Second, Final: true})
		if p.bar != nil || !p.warmup.IsFinished() || !cleared.MatchString(buf.String()) {
			t.Errorf("measuring bar %v, spinner finished %v, output:\n%q", p.bar, p.warmup.IsFinished(), buf.String())
		}
	})
}
