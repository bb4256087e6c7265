package chaos_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/chaos"
	"github.com/boxstorm/boxstorm/reports"
	"github.com/boxstorm/boxstorm/scenarios"
)

func TestFaultWindows(t *testing.T) {
	ms := int64(time.Millisecond)
	events := []chaos.FaultEvent{
		{Index: 0, Type: scenarios.FaultBitflip, Phase: "start", Time: 10 * ms},
		{Index: 0, Type: scenarios.FaultBitflip, Phase: "done", Time: 12 * ms},
		{Index: 1, Type: scenarios.FaultKill, Phase: "start", Time: 30 * ms},
		{Index: 1, Type: scenarios.FaultKill, Phase: "kill", Time: 31 * ms},
		{Index: 2, Type: scenarios.FaultRestore, Phase: "start", Time: 20 * ms}, // never ends
		{Index: 3, Type: scenarios.FaultBackup, Phase: "start", Time: 40 * ms},
		{Index: 3, Type: scenarios.FaultBackup, Phase: "done", Time: 41 * ms, Skipped: "store does not open"},
		{Index: -1, Type: scenarios.FaultKill, Phase: "done", Time: 50 * ms, Skipped: "the worker finished without reaching the kill"},
		{Index: 4, Type: scenarios.FaultStall, Phase: "done", Time: 60 * ms, Err: "boom"},
	}
	want := []reports.FaultWindow{
		{Index: 0, Type: string(scenarios.FaultBitflip), Start: 10 * time.Millisecond, End: 12 * time.Millisecond},
		{Index: 2, Type: string(scenarios.FaultRestore), Start: 20 * time.Millisecond, End: 20 * time.Millisecond, Unfinished: true},
		{Index: 1, Type: string(scenarios.FaultKill), Start: 30 * time.Millisecond, End: 31 * time.Millisecond},
		{Index: 4, Type: string(scenarios.FaultStall), Start: 60 * time.Millisecond, End: 60 * time.Millisecond, Err: "boom"},
	}
	if got := chaos.FaultWindows(events); !slices.Equal(got, want) {
		t.Errorf("FaultWindows:\ngot  %+v\nwant %+v", got, want)
	}
	if got := chaos.FaultWindows(nil); got != nil {
		t.Errorf("FaultWindows(nil) = %+v", got)
	}

	// A kill armed at a failpoint lasts until it fires, and cuts short the
	// backup its process was running; the parent's restore goes on.
	events = []chaos.FaultEvent{
		{Index: 0, Type: scenarios.FaultKill, Phase: "start", Proc: "worker", Time: 10 * ms},
		{Index: 0, Type: scenarios.FaultKill, Phase: "done", Proc: "worker", Time: 11 * ms, Detail: map[string]any{"armed": "backup/mid-stream@1"}},
		{Index: 1, Type: scenarios.FaultBackup, Phase: "start", Proc: "worker", Time: 12 * ms},
		{Index: 3, Type: scenarios.FaultReopen, Phase: "start", Time: 13 * ms},
		{Index: 0, Type: scenarios.FaultKill, Phase: "kill", Proc: "worker", Time: 25 * ms},
		{Index: 3, Type: scenarios.FaultReopen, Phase: "done", Time: 30 * ms},
	}
	want = []reports.FaultWindow{
		{Index: 0, Type: string(scenarios.FaultKill), Start: 10 * time.Millisecond, End: 25 * time.Millisecond},
		{Index: 1, Type: string(scenarios.FaultBackup), Start: 12 * time.Millisecond, End: 25 * time.Millisecond, Unfinished: true},
		{Index: 3, Type: string(scenarios.FaultReopen), Start: 13 * time.Millisecond, End: 30 * time.Millisecond},
	}
	if got := chaos.FaultWindows(events); !slices.Equal(got, want) {
		t.Errorf("FaultWindows, armed kill:\ngot  %+v\nwant %+v", got, want)
	}
}

// A real run carries its series and fault windows into result.json and
// its summary entry; faults.jsonl keeps the logical schedule only.
func TestRunScenario_LatencySeries(t *testing.T) {
	t.Parallel()
	res := runChaos(t, "truncated-tail", false, 3)
	e := res.Entry()
	if len(e.FaultWindows) == 0 {
		t.Fatalf("no fault windows from %+v", res.Faults)
	}
	for _, l := range e.Latency {
		if l.Step <= 0 || len(l.Series) == 0 || len(l.Series) > 200 {
			t.Errorf("%s: step %v, %d points", l.Op, l.Step, len(l.Series))
			continue
		}
		var n int64
		for _, p := range l.Series {
			n += p.Count
			if p.P99 > p.Max || p.Max > l.Max+l.Max/100 {
				t.Errorf("%s: point %+v against max %v", l.Op, p, l.Max)
			}
		}
		if n != l.Count {
			t.Errorf("%s: series counts %d calls, histogram %d", l.Op, n, l.Count)
		}
	}
	b, err := os.ReadFile(filepath.Join(res.Dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back chaos.ScenarioResult
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Latency) == 0 || !slices.Equal(back.Latency[0].Series, res.Latency[0].Series) {
		t.Error("result.json lacks the latency series")
	}
	sched, err := os.ReadFile(filepath.Join(res.Dir, "faults.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sched, []byte(`"t"`)) || bytes.Contains(sched, []byte("_ns")) {
		t.Errorf("faults.jsonl holds times:\n%s", sched)
	}
	var buf bytes.Buffer
	if err := reports.WriteChaosHTML(&buf, &reports.ChaosSummary{Verdict: "pass", Scenarios: []reports.ChaosScenario{e}}); err != nil {
		t.Fatal(err)
	}
	for _, w := range e.FaultWindows {
		if !strings.Contains(buf.String(), ">"+string(w.Type)) {
			t.Errorf("chart lacks the %s band's label", w.Type)
		}
	}
}
