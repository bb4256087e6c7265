package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/load"
)

func TestRunConfig_RecordCount(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    runConfig
		want int
	}{
		{"given", runConfig{runFlags: runFlags{workload: "claim", records: 77}}, 77},
		{"kv default", runConfig{runFlags: runFlags{workload: "kv-b"}}, DefaultKVRecords},
		{"cycle needs none", runConfig{runFlags: runFlags{workload: "cycle", rate: 500, duration: time.Second}}, 0},
		{"claim open by time", runConfig{runFlags: runFlags{workload: "claim", rate: 500, duration: 20 * time.Second, warmup: 2 * time.Second}, mode: load.OpenLoop}, 11000 + 1100 + DefaultClaimMargin},
		{"claim open by count", runConfig{runFlags: runFlags{workload: "claim", rate: 500, ops: 1000, warmup: 2 * time.Second}, mode: load.OpenLoop}, 2000 + 200 + DefaultClaimMargin},
		{"claim open, count first", runConfig{runFlags: runFlags{workload: "claim", rate: 100, ops: 50, duration: 10 * time.Second}, mode: load.OpenLoop}, 50 + 5 + DefaultClaimMargin},
		{"claim closed by count", runConfig{runFlags: runFlags{workload: "claim", ops: 200}, mode: load.ClosedLoop}, 200 + 20 + DefaultClaimMargin},
		{"claim closed by time", runConfig{runFlags: runFlags{workload: "claim", duration: 2 * time.Second}, mode: load.ClosedLoop}, 2*DefaultClosedClaimRate + DefaultClosedClaimRate/5 + DefaultClaimMargin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := tc.c.recordCount(), tc.want; got != want {
				t.Errorf("recordCount() = %d, want %d", got, want)
			}
		})
	}
}

func TestProgressLog(t *testing.T) {
	var buf bytes.Buffer
	p := &progressLog{log: slog.New(slog.NewTextHandler(&buf, nil)), last: time.Now().Add(-time.Minute)}
	p.update(load.Progress{Done: 2500, Total: 10000, Elapsed: 5 * time.Second, Duration: 20 * time.Second})
	p.update(load.Progress{Done: 2600, Total: 10000, Elapsed: 5200 * time.Millisecond, Duration: 20 * time.Second})
	p.update(load.Progress{Done: 10000, Total: 10000, Elapsed: 20 * time.Second, Final: true})
	out := buf.String()
	if got, want := strings.Count(out, "\n"), 1; got != want {
		t.Fatalf("%d log lines, want %d (one per %v):\n%s", got, want, progressLogEvery, out)
	}
	if !strings.Contains(out, `msg=progress done=2500 elapsed=5s total=10000 duration=20s ops_per_s=500`) {
		t.Errorf("log line:\n%s", out)
	}
}
