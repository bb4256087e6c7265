package main

import (
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/load"
)

func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		pr   load.Progress
		want string
	}{
		{"warm-up of a timed run", load.Progress{Elapsed: -1500 * time.Millisecond, Total: 5000, Duration: 10 * time.Second},
			"warm-up      1.5s left, then measuring for 10s"},
		{"warm-up of a run by count", load.Progress{Elapsed: -time.Second, Total: 4000},
			"warm-up      1.0s left, then measuring 4000 ops"},
		// 500 ops/s steady, 4 s into 10 s: the rate counts the measured
		// window only, and 6 s are left.
		{"open loop at 500/s", load.Progress{Done: 2000, Total: 5000, Elapsed: 4 * time.Second, Duration: 10 * time.Second},
			"measuring [#########---------------]  40%  2000/5000 ops  500 ops/s  elapsed 4.0s  ETA 6.0s"},
		{"by count, ends before the duration", load.Progress{Done: 900, Total: 1000, Elapsed: 3 * time.Second, Duration: 10 * time.Second},
			"measuring [#####################---]  90%  900/1000 ops  300 ops/s  elapsed 3.0s  ETA 0.3s"},
		{"closed loop by time", load.Progress{Done: 12000, Elapsed: 5 * time.Second, Duration: 20 * time.Second},
			"measuring [######------------------]  25%  12000 ops  2400 ops/s  elapsed 5.0s  ETA 15.0s"},
		{"by count only", load.Progress{Done: 250, Total: 1000, Elapsed: time.Second},
			"measuring [######------------------]  25%  250/1000 ops  250 ops/s  elapsed 1.0s  ETA 3.0s"},
		{"just started", load.Progress{Total: 1000},
			"measuring [------------------------]   0%  0/1000 ops  0 ops/s  elapsed 0.0s"},
		{"past the end while the last ops drain", load.Progress{Done: 5001, Total: 5000, Elapsed: 10200 * time.Millisecond, Duration: 10 * time.Second},
			"measuring [########################] 100%  5001/5000 ops  490 ops/s  elapsed 10.2s  ETA 0.0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := progressLine(tc.pr); got != tc.want {
				t.Errorf("progressLine =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}
