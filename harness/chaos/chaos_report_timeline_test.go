package chaos_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/chaos"
	"github.com/boxstorm/boxstorm/harness/check"
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
	want := []chaos.FaultWindow{
		{Index: 0, Type: scenarios.FaultBitflip, Start: 10 * time.Millisecond, End: 12 * time.Millisecond},
		{Index: 2, Type: scenarios.FaultRestore, Start: 20 * time.Millisecond, End: 20 * time.Millisecond, Unfinished: true},
		{Index: 1, Type: scenarios.FaultKill, Start: 30 * time.Millisecond, End: 31 * time.Millisecond},
		{Index: 4, Type: scenarios.FaultStall, Start: 60 * time.Millisecond, End: 60 * time.Millisecond, Err: "boom"},
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
	want = []chaos.FaultWindow{
		{Index: 0, Type: scenarios.FaultKill, Start: 10 * time.Millisecond, End: 25 * time.Millisecond},
		{Index: 1, Type: scenarios.FaultBackup, Start: 12 * time.Millisecond, End: 25 * time.Millisecond, Unfinished: true},
		{Index: 3, Type: scenarios.FaultReopen, Start: 13 * time.Millisecond, End: 30 * time.Millisecond},
	}
	if got := chaos.FaultWindows(events); !slices.Equal(got, want) {
		t.Errorf("FaultWindows, armed kill:\ngot  %+v\nwant %+v", got, want)
	}
}

// chartSummary is a run of one scenario with a latency series, a 100 ms
// bitflip at 0.5 s and an instantaneous kill at 0.8 s, and one scenario
// without ops.
func chartSummary() *chaos.RunSummary {
	var series []chaos.LatencyPoint
	for i := range 100 {
		series = append(series, chaos.LatencyPoint{At: time.Duration(i) * 10 * time.Millisecond, Count: 5,
			P99: time.Duration(1+i%7) * time.Millisecond, Max: time.Duration(2+i%7) * time.Millisecond})
	}
	return &chaos.RunSummary{Tool: "boxstorm chaos", Seed: 7, Verdict: "pass", Scenarios: []chaos.ScenarioEntry{
		{Name: "with-faults", Verdict: check.VerdictPass, Elapsed: time.Second,
			Latency: []chaos.OpLatency{{Op: "enqueue", Count: 500, P50: time.Millisecond, P99: 7 * time.Millisecond, Max: 8 * time.Millisecond, Step: 10 * time.Millisecond, Series: series}},
			FaultWindows: []chaos.FaultWindow{
				{Index: 0, Type: scenarios.FaultBitflip, Start: 500 * time.Millisecond, End: 600 * time.Millisecond},
				{Index: 1, Type: scenarios.FaultKill, Start: 800 * time.Millisecond, End: 800 * time.Millisecond},
			}},
		{Name: "no-ops", Verdict: check.VerdictPass, Elapsed: time.Second,
			FaultWindows: []chaos.FaultWindow{{Index: 0, Type: scenarios.FaultTruncate, Start: time.Millisecond, End: 2 * time.Millisecond}}},
	}}
}

var svgText = regexp.MustCompile(`<text x="([-0-9.e]+)"[^>]*>([^<]*)</text>`)

// textX returns the x of the SVG text element that reads s, or -1.
func textX(t *testing.T, svg, s string) float64 {
	t.Helper()
	for _, m := range svgText.FindAllStringSubmatch(svg, -1) {
		if m[2] == s {
			x, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
	}
	return -1
}

func TestWriteRunHTML_LatencyChart(t *testing.T) {
	var buf bytes.Buffer
	if err := chaos.WriteRunHTML(&buf, chartSummary()); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if strings.Count(page, "<figure>") != 1 {
		t.Fatalf("want one chart (the scenario without ops has none), page:\n%s", page)
	}
	verdict, chart := strings.Index(page, `class="verdict`), strings.Index(page, "<figure>")
	if verdict < 0 || verdict > chart {
		t.Errorf("verdict at %d, chart at %d: want the verdict first", verdict, chart)
	}
	svg := page[chart:strings.Index(page, "</figure>")]
	for _, want := range []string{"with-faults: latency over time", ">enqueue</text>", ">fault</text>", "p99 (solid) and max (dashed)", "10.000 ms bucket"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The band labels sit at their windows: the x axis runs from 0 to 1 s,
	// so the kill's label is right of the bitflip's, by about 0.3 of the
	// data area.
	bitflip, kill, axis0, axis1 := textX(t, svg, "bitflip"), textX(t, svg, "kill"), textX(t, svg, "0.0"), textX(t, svg, "1.0")
	if bitflip < 0 || kill < 0 || axis0 < 0 || axis1 < 0 {
		t.Fatalf("labels at x bitflip %v, kill %v, axis 0 %v, axis 1 %v; svg:\n%s", bitflip, kill, axis0, axis1, svg)
	}
	// Tick labels are centred on their tick; band labels start just right
	// of the band's left edge.
	at := func(x float64) float64 { return (x - axis0) / (axis1 - axis0) }
	if f := at(bitflip); f < 0.5 || f > 0.52 {
		t.Errorf("bitflip label at %.3f of the axis, want just after 0.5", f)
	}
	if f := at(kill); f < 0.8 || f > 0.82 {
		t.Errorf("kill label at %.3f of the axis, want just after 0.8", f)
	}
	// The bands are the chart's only translucent fills.
	if n := strings.Count(svg, "fill-opacity"); n != 3 { // two bands and the legend's swatch
		t.Errorf("%d shaded elements, want the two bands and the legend's", n)
	}
	if !strings.Contains(page, "truncate 0.001–0.002") {
		t.Errorf("the scenario without ops does not list its fault window")
	}
}

func TestWriteRunHTML_NoSeriesNoChart(t *testing.T) {
	s := chartSummary()
	s.Scenarios[0].Latency[0].Series = nil // a summary written before the series existed
	var buf bytes.Buffer
	if err := chaos.WriteRunHTML(&buf, s); err != nil {
		t.Fatal(err)
	}
	if page := buf.String(); strings.Contains(page, "<figure>") || !strings.Contains(page, "<td>enqueue</td>") {
		t.Errorf("want the latency table and no chart:\n%s", page)
	}
}

// A report drawn again from summary.json is the report the run wrote.
func TestWriteRunReports_RereadSameHTML(t *testing.T) {
	dir := t.TempDir()
	s := chartSummary()
	if err := chaos.WriteRunReports(dir, "", s); err != nil {
		t.Fatal(err)
	}
	back, err := chaos.ReadRunSummary(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := chaos.WriteRunHTML(&buf, back); err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(written, buf.Bytes()) {
		t.Error("report.html drawn from the re-read summary.json differs from the one written")
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
	if err := chaos.WriteRunHTML(&buf, &chaos.RunSummary{Verdict: "pass", Scenarios: []chaos.ScenarioEntry{e}}); err != nil {
		t.Fatal(err)
	}
	for _, w := range e.FaultWindows {
		if !strings.Contains(buf.String(), ">"+string(w.Type)) {
			t.Errorf("chart lacks the %s band's label", w.Type)
		}
	}
}
