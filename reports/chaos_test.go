package reports_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/reports"
	"github.com/boxstorm/boxstorm/scenarios"
)

// chartSummary is a run of one scenario with a latency series, a 100 ms
// bitflip at 0.5 s and an instantaneous kill at 0.8 s, and one scenario
// without ops.
func chartSummary() *reports.ChaosSummary {
	var series []reports.LatencyPoint
	for i := range 100 {
		series = append(series, reports.LatencyPoint{At: time.Duration(i) * 10 * time.Millisecond, Count: 5,
			P99: time.Duration(1+i%7) * time.Millisecond, Max: time.Duration(2+i%7) * time.Millisecond})
	}
	return &reports.ChaosSummary{Tool: "boxstorm chaos", Seed: 7, Verdict: "pass", Scenarios: []reports.ChaosScenario{
		{Name: "with-faults", Verdict: reports.VerdictPass, Elapsed: time.Second,
			Checks:  []reports.CheckVerdict{{Name: "no-loss", Verdict: reports.VerdictPass, Message: "500 ops looked for"}, {Name: "fifo", Verdict: reports.VerdictPass}},
			Latency: []reports.OpLatency{{Op: "enqueue", Count: 500, P50: time.Millisecond, P99: 7 * time.Millisecond, Max: 8 * time.Millisecond, Step: 10 * time.Millisecond, Series: series}},
			FaultWindows: []reports.FaultWindow{
				{Index: 0, Type: string(scenarios.FaultBitflip), Start: 500 * time.Millisecond, End: 600 * time.Millisecond},
				{Index: 1, Type: string(scenarios.FaultKill), Start: 800 * time.Millisecond, End: 800 * time.Millisecond},
			}},
		{Name: "no-ops", Verdict: reports.VerdictPass, Elapsed: time.Second,
			FaultWindows: []reports.FaultWindow{{Index: 0, Type: string(scenarios.FaultTruncate), Start: time.Millisecond, End: 2 * time.Millisecond}}},
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

func TestWriteChaosHTML_LatencyChart(t *testing.T) {
	var buf bytes.Buffer
	if err := reports.WriteChaosHTML(&buf, chartSummary()); err != nil {
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
	for _, want := range []string{"with-faults: latency over time", ">enqueue</text>", ">fault</text>", "p99 (solid) and max (dashed)", "each 10 ms bucket", "Shaded grey: fault windows"} {
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
	if !strings.Contains(page, ">p99 (solid)</text>") || !strings.Contains(page, ">max (dashed)</text>") {
		t.Errorf("the legend does not say which line is p99 and which max")
	}
	if !strings.Contains(page, "truncate 0.001–0.002") {
		t.Errorf("the scenario without ops does not list its fault window")
	}
}

func TestWriteChaosHTML_NoSeriesNoChart(t *testing.T) {
	s := chartSummary()
	s.Scenarios[0].Latency[0].Series = nil // a summary written before the series existed
	var buf bytes.Buffer
	if err := reports.WriteChaosHTML(&buf, s); err != nil {
		t.Fatal(err)
	}
	if page := buf.String(); strings.Contains(page, "<figure>") || !strings.Contains(page, "<td>enqueue</td>") {
		t.Errorf("want the latency table and no chart:\n%s", page)
	}
}

// A report drawn again from summary.json is the report the run wrote.
func TestWriteChaosReports_RereadSameHTML(t *testing.T) {
	dir := t.TempDir()
	s := chartSummary()
	if err := reports.WriteChaosReports(dir, "", s); err != nil {
		t.Fatal(err)
	}
	back, err := reports.ReadChaosSummary(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := reports.WriteChaosHTML(&buf, back); err != nil {
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

func TestWriteChaosHTML_TitleAndChecks(t *testing.T) {
	s := chartSummary()
	s.Quick, s.Canary, s.Elapsed = true, false, 22931179666*time.Nanosecond
	s.Scenarios[1].Verdict = reports.VerdictFail
	s.Scenarios[1].Failed = []string{"no-loss"}
	s.Scenarios[1].Checks = []reports.CheckVerdict{{Name: "integrity-reported", Verdict: reports.VerdictPass}, {Name: "no-loss", Verdict: reports.VerdictFail, Message: "1 violation (lost)"}}
	var buf bytes.Buffer
	if err := reports.WriteChaosHTML(&buf, s); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{
		"<h1>boxstorm chaos run — seed 7, quick</h1>",
		"took 22.9 s",
		// Every check with its verdict, the passed ones too.
		`<td>no-loss</td><td class="pass">pass</td><td>500 ops looked for</td>`,
		`<td>fifo</td><td class="pass">pass</td>`,
		`<td>integrity-reported</td><td class="pass">pass</td>`,
		`<td>no-loss</td><td class="fail">fail</td><td>1 violation (lost)</td>`,
		"<td>2 of 2</td>", "<td>1 of 2</td>",
		"kill at 0.800",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "22.931179666") {
		t.Error("the run time is printed to the nanosecond")
	}
}

// A chart's caption mentions shaded fault windows only when it has some.
func TestWriteChaosHTML_CaptionWithoutFaults(t *testing.T) {
	s := chartSummary()
	s.Scenarios = s.Scenarios[:1]
	s.Scenarios[0].FaultWindows = nil
	var buf bytes.Buffer
	if err := reports.WriteChaosHTML(&buf, s); err != nil {
		t.Fatal(err)
	}
	caption := buf.String()[strings.Index(buf.String(), "<figcaption>"):]
	if strings.Contains(caption, "Shaded") || !strings.Contains(caption, "each 10 ms bucket") {
		t.Errorf("caption of a chart without faults: %s", caption)
	}
}

func TestWriteChaosMarkdown_ListsPassedChecks(t *testing.T) {
	var buf bytes.Buffer
	if err := reports.WriteChaosMarkdown(&buf, chartSummary()); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "| with-faults | pass | no-loss, fifo |  |  | 0 | 0 | 1 s |"; !strings.Contains(got, want) {
		t.Errorf("markdown lacks %q:\n%s", want, got)
	}
}

func TestHumanDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0 s"},
		{500, "500 ns"},
		{250 * time.Microsecond, "250 µs"},
		{999999, "1 ms"}, // 999.999 µs rounds up into the next unit
		{time.Millisecond, "1 ms"},
		{10 * time.Millisecond, "10 ms"},
		{2500 * time.Microsecond, "2.5 ms"},
		{206 * time.Millisecond, "206 ms"},
		{22931179666, "22.9 s"},
		{6928774784, "6.93 s"},
		{185 * time.Second, "3 min 5 s"},
		{62 * time.Minute, "1 h 2 min"},
		{-5 * time.Millisecond, "-5 ms"},
	} {
		if got := reports.HumanDuration(tc.d); got != tc.want {
			t.Errorf("HumanDuration(%d) = %q, want %q", int64(tc.d), got, tc.want)
		}
	}
}

// TestChaosSummary_CrashTotals: Finish sums the scenarios' crash states and
// kills, and summary.json, summary.md and report.html give both, per
// scenario and in total.
func TestChaosSummary_CrashTotals(t *testing.T) {
	s := &reports.ChaosSummary{Tool: "boxstorm chaos", Seed: 7, Scenarios: []reports.ChaosScenario{
		{Name: "explore-restore", Verdict: reports.VerdictPass, CrashStates: 132},
		{Name: "power-loss-enqueue", Verdict: reports.VerdictPass, Kills: 1},
		{Name: "explore-enqueue", Verdict: reports.VerdictPass, CrashStates: 95, Kills: 2},
	}}
	s.Finish()
	if got, want := s.CrashStates, 227; got != want {
		t.Errorf("crash states %d, want %d", got, want)
	}
	if got, want := s.Kills, 3; got != want {
		t.Errorf("kills %d, want %d", got, want)
	}
	dir := t.TempDir()
	if err := reports.WriteChaosReports(dir, "", s); err != nil {
		t.Fatal(err)
	}
	back, err := reports.ReadChaosSummary(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if back.CrashStates != 227 || back.Kills != 3 || back.Scenarios[0].CrashStates != 132 || back.Scenarios[2].Kills != 2 {
		t.Errorf("summary.json lost the figures: %+v", back)
	}
	md, err := os.ReadFile(filepath.Join(dir, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Crash states explored: **227**; kills and power losses: **3**.", "| explore-restore | pass |  |  |  | 132 | 0 |", "| **total** | | | | | 227 | 3 | |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"crash states explored: <b>227</b>", "<th>227</th><th>3</th>", `<td class="num">132</td><td class="num">0</td>`} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}
