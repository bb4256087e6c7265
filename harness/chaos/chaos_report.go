package chaos

// Output of chaos runs: per scenario result.json, history.jsonl, the
// latency .hgrm files and the evidence of violations; per run summary.json,
// summary.md, junit.xml and report.html.

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/harness/load"
	"github.com/boxstorm/boxstorm/reports"
)

// OpLatency summarises one op's latencies in a scenario.
type OpLatency struct {
	Op    string        `json:"op"`
	Count int64         `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p99_9_ns"`
	Max   time.Duration `json:"max_ns"`
	// Step is the bucket width of Series.
	Step time.Duration `json:"series_step_ns,omitempty"`
	// Series is the op's latency over the run: the calls that returned in
	// each bucket of Step, by return time on the run's monotonic clock.
	// Buckets in which none returned are left out.
	Series []LatencyPoint `json:"series,omitempty"`
}

// histograms builds one latency histogram per op name from the history:
// return minus call of every call that returned.
func histograms(ops []*ChaosOp) map[string]*hdrhistogram.Histogram {
	out := map[string]*hdrhistogram.Histogram{}
	for _, o := range ops {
		if !o.Returned() {
			continue
		}
		h := out[o.Op]
		if h == nil {
			h = load.NewHistogram()
			out[o.Op] = h
		}
		load.RecordClamped(h, time.Duration(o.Return-o.Call))
	}
	return out
}

func latencySummary(hs map[string]*hdrhistogram.Histogram) []OpLatency {
	var out []OpLatency
	for name, h := range hs {
		out = append(out, OpLatency{Op: name, Count: h.TotalCount(),
			P50: time.Duration(h.ValueAtQuantile(50)), P99: time.Duration(h.ValueAtQuantile(99)),
			P999: time.Duration(h.ValueAtQuantile(99.9)), Max: time.Duration(h.Max())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Op < out[j].Op })
	return out
}

// thresholds compares the scenario's latency limits with the history.
func (r *chaosRun) thresholds(hs map[string]*hdrhistogram.Histogram) []ThresholdResult {
	var out []ThresholdResult
	for _, t := range r.sc.Thresholds {
		tr := ThresholdResult{Op: string(t.Op), Percentile: string(t.Percentile), Limit: t.Limit, Verdict: check.VerdictUnknown}
		if h := hs[string(t.Op)]; h != nil && h.TotalCount() > 0 {
			tr.Count = h.TotalCount()
			if t.Percentile == "max" {
				tr.Measured = time.Duration(h.Max())
			} else {
				tr.Measured = time.Duration(h.ValueAtQuantile(t.Percentile.Percent()))
			}
			tr.Verdict = check.VerdictPass
			switch {
			case tr.Measured <= t.Limit:
			case r.opts.Quick:
				// A quick run is a few thousand ops on a shared CI machine:
				// its tail says more about the neighbours than the store.
				tr.Verdict = check.VerdictUnknown
				tr.Note = "quick run: latency thresholds are advisory"
			default:
				tr.Verdict = check.VerdictFail
			}
		}
		out = append(out, tr)
	}
	return out
}

// maxOpsFile is the most calls ops.jsonl, the runner's raw call log, is
// written for; history.jsonl always is.
const maxOpsFile = 200_000

// writeScenario writes the scenario directory's files.
// It first adds each op's latency series to res.Latency, from the calls
// at hand here, so that result.json and the summary carry them.
func (r *chaosRun) writeScenario(res *ScenarioResult, ops []*ChaosOp, events []history.HistoryEvent, hs map[string]*hdrhistogram.Histogram) error {
	addLatencySeries(res.Latency, ops)
	if err := writeJSONFile(filepath.Join(r.dir, "result.json"), res); err != nil {
		return err
	}
	if err := history.WriteHistoryFile(filepath.Join(r.dir, "history.jsonl"), events); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	if len(ops) <= maxOpsFile { // above it, RunScenario notes the omission
		if err := reports.WriteFile(filepath.Join(r.dir, "ops.jsonl"), func(w io.Writer) error {
			enc := json.NewEncoder(w)
			for _, o := range ops {
				if err := enc.Encode(o); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("write ops: %w", err)
		}
	}
	for name, h := range hs {
		if err := reports.WriteFile(filepath.Join(r.dir, name+".hgrm"), func(w io.Writer) error { return reports.WriteHgrm(w, h) }); err != nil {
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
		if err := history.WriteHistoryFile(filepath.Join(r.dir, "violation-history.jsonl"), history.MergeHistories(slice)); err != nil {
			return fmt.Errorf("write violation history: %w", err)
		}
	}
	return nil
}

func writeJSONFile(path string, v any) error {
	return reports.WriteFile(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}

// RunSummary is a whole chaos run: summary.json. Replay reads it back.
type RunSummary struct {
	Tool      string          `json:"tool"`
	Seed      uint64          `json:"seed"`
	Quick     bool            `json:"quick"`
	Canary    bool            `json:"canary"`
	Shard     string          `json:"shard,omitempty"`
	Started   time.Time       `json:"started"`
	Elapsed   time.Duration   `json:"elapsed_ns"`
	Verdict   string          `json:"verdict"` // "pass", "fail" or "unknown"
	Scenarios []ScenarioEntry `json:"scenarios"`
}

// ScenarioEntry is one scenario in a RunSummary.
type ScenarioEntry struct {
	Name    string        `json:"name"`
	File    string        `json:"file,omitempty"` // the file it was loaded from, when not built in
	Verdict check.Verdict `json:"verdict"`
	Caught  *bool         `json:"caught,omitempty"` // canary runs: the violation was seen
	Elapsed time.Duration `json:"elapsed_ns"`
	Failed  []string      `json:"failed,omitempty"`
	Unknown []string      `json:"unknown,omitempty"`
	Error   string        `json:"error,omitempty"`
	Latency []OpLatency   `json:"latency,omitempty"`
	// FaultWindows are when the scenario's faults ran (FaultWindows of its
	// result's fault events), for the report's latency chart.
	FaultWindows []FaultWindow `json:"fault_windows,omitempty"`
}

// Entry summarises res for a RunSummary.
func (res *ScenarioResult) Entry() ScenarioEntry {
	e := ScenarioEntry{Name: res.Scenario, Verdict: res.Verdict, Elapsed: res.Elapsed, Error: res.Error, Latency: res.Latency,
		FaultWindows: FaultWindows(res.Faults)}
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
			e.Unknown = append(e.Unknown, fmt.Sprintf("threshold %s %s (%v > %v, advisory in a quick run)", t.Op, t.Percentile, t.Measured.Round(time.Microsecond), t.Limit))
		}
	}
	return e
}

// Held reports whether the entry counts as a success for its run: in a
// normal run every check passed; in a canary run the violation was caught.
func (e ScenarioEntry) Held() bool {
	if e.Caught != nil {
		return *e.Caught
	}
	return e.Verdict == check.VerdictPass
}

// Finish sets the run's verdict from its scenarios: fail if any scenario
// failed (in a canary run: if any canary was not caught), else unknown if
// any was unknown, else pass.
func (s *RunSummary) Finish() {
	s.Verdict = string(check.VerdictPass)
	for _, e := range s.Scenarios {
		switch {
		case s.Canary && !e.Held():
			s.Verdict = string(check.VerdictFail)
		case !s.Canary && e.Verdict == check.VerdictFail:
			s.Verdict = string(check.VerdictFail)
		case !s.Canary && e.Verdict == check.VerdictUnknown && s.Verdict == string(check.VerdictPass):
			s.Verdict = string(check.VerdictUnknown)
		}
	}
}

// ReadRunSummary reads a run's summary.json.
func ReadRunSummary(path string) (*RunSummary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read run summary: %w", err)
	}
	var s RunSummary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read run summary %s: %w", path, err)
	}
	return &s, nil
}

// WriteRunReports writes summary.json, summary.md, junit.xml and
// report.html into dir, and the JUnit report to junitPath too when set.
func WriteRunReports(dir, junitPath string, s *RunSummary) error {
	if err := writeJSONFile(filepath.Join(dir, "summary.json"), s); err != nil {
		return err
	}
	if err := reports.WriteFile(filepath.Join(dir, "summary.md"), func(w io.Writer) error { return WriteRunMarkdown(w, s) }); err != nil {
		return err
	}
	for _, p := range []string{filepath.Join(dir, "junit.xml"), junitPath} {
		if p == "" {
			continue
		}
		if err := reports.WriteFile(p, func(w io.Writer) error { return reports.WriteJUnit(w, s.JUnit()) }); err != nil {
			return err
		}
	}
	return reports.WriteFile(filepath.Join(dir, "report.html"), func(w io.Writer) error { return WriteRunHTML(w, s) })
}

// JUnit renders the run as one suite with one test case per scenario.
// Unknown scenarios are skipped, never passed.
func (s *RunSummary) JUnit() []reports.TestSuite {
	name := "chaos"
	if s.Canary {
		name = "chaos-canary"
	}
	suite := reports.TestSuite{Name: name, Timestamp: s.Started, Properties: []reports.Property{
		{Name: "seed", Value: fmt.Sprint(s.Seed)}, {Name: "quick", Value: fmt.Sprint(s.Quick)}, {Name: "canary", Value: fmt.Sprint(s.Canary)},
	}}
	for _, e := range s.Scenarios {
		tc := reports.TestCase{Name: e.Name, Classname: name, Time: e.Elapsed}
		detail := strings.Join(append(append([]string{}, e.Failed...), e.Unknown...), "\n")
		switch {
		case s.Canary && !e.Held():
			tc.Failure = fmt.Sprintf("canary not caught: verdict %s against the known-bad target\n%s", e.Verdict, detail)
		case s.Canary:
		case e.Verdict == check.VerdictFail:
			tc.Failure = "violation: " + strings.Join(e.Failed, ", ") + "\n" + detail
		case e.Verdict == check.VerdictUnknown:
			tc.Skipped = "unknown: " + strings.Join(e.Unknown, ", ") + errSuffix(e.Error)
		}
		suite.Cases = append(suite.Cases, tc)
	}
	return []reports.TestSuite{suite}
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	return "; error: " + s
}

// WriteRunMarkdown writes the run summary as Markdown, for CI step
// summaries.
func WriteRunMarkdown(w io.Writer, s *RunSummary) error {
	mode := "normal"
	if s.Canary {
		mode = "canary (known-bad targets)"
	}
	fmt.Fprintf(w, "# chaos run: %s\n\nseed %d, %s, quick %t, %s\n\n", strings.ToUpper(s.Verdict), s.Seed, mode, s.Quick, s.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "| scenario | verdict | failed | unknown | time |\n|---|---|---|---|---|\n")
	for _, e := range s.Scenarios {
		v := string(e.Verdict)
		if e.Caught != nil {
			v = map[bool]string{true: "caught", false: "NOT CAUGHT"}[*e.Caught] + " (" + v + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", e.Name, v, strings.Join(e.Failed, ", "), strings.Join(e.Unknown, ", "), e.Elapsed.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "\nReplay: `chaos replay <this directory>` (seed %d)\n", s.Seed)
	return nil
}

var runHTML = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":   func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) },
	"s":    func(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) },
	"bar":  func(d, maxd time.Duration) int { return barWidth(d, maxd) },
	"held": func(e ScenarioEntry) bool { return e.Held() },
	"maxl": func(ls []OpLatency) time.Duration {
		var m time.Duration
		for _, l := range ls {
			m = max(m, l.Max)
		}
		return m
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>chaos run {{.Verdict}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
.pass{background:#d8f5d8}.fail{background:#f8d0d0}.unknown{background:#f6eec0}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}
.verdict{font-size:2em;padding:.3em .6em;display:inline-block}
figure{margin:1em 0 2em}figure svg{max-width:100%;height:auto}figcaption{color:#555;font-size:.9em}
</style></head><body>
<div class="verdict {{.Verdict}}">{{if .Canary}}canary run: {{end}}{{.Verdict}}</div>
<p>seed {{.Seed}} · quick {{.Quick}} · started {{.Started.UTC.Format "2006-01-02T15:04:05Z"}} · {{.Elapsed}}</p>
<table><tr><th>scenario</th><th>verdict</th>{{if .Canary}}<th>caught</th>{{end}}<th>failed</th><th>unknown</th><th>error</th></tr>
{{range .Scenarios}}<tr class="{{if held .}}pass{{else if eq .Verdict "unknown"}}unknown{{else}}fail{{end}}"><td>{{.Name}}</td><td>{{.Verdict}}</td>{{if $.Canary}}<td>{{if held .}}yes{{else}}NO{{end}}</td>{{end}}<td>{{range .Failed}}{{.}}<br>{{end}}</td><td>{{range .Unknown}}{{.}}<br>{{end}}</td><td>{{.Error}}</td></tr>
{{end}}</table>
<h2>Latency and faults per scenario</h2>
{{range $i, $e := .Scenarios}}{{if or .Latency .FaultWindows}}<h3>{{.Name}}</h3>
{{with .Latency}}{{$m := maxl .}}<table><tr><th>op</th><th>count</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>p99 (bar, scaled to the scenario's max)</th></tr>
{{range .}}<tr><td>{{.Op}}</td><td>{{.Count}}</td><td>{{ms .P50}}</td><td>{{ms .P99}}</td><td>{{ms .P999}}</td><td>{{ms .Max}}</td>
<td><svg width="310" height="14"><rect x="0" y="2" width="{{bar .P99 $m}}" height="10" fill="#4a7bd0"/><rect x="0" y="2" width="{{bar .P50 $m}}" height="10" fill="#9bc"/></svg></td></tr>
{{end}}</table>
{{end}}{{with .FaultWindows}}<p>Faults, in seconds on the run's clock:{{range $j, $w := .}}{{if $j}};{{end}} {{.Type}} {{s .Start}}–{{s .End}}{{if .Unfinished}} (unfinished){{end}}{{if .Err}} (error: {{.Err}}){{end}}{{end}}.</p>
{{end}}{{with index $.Charts $i}}<figure>
{{.}}
<figcaption>p99 (solid) and max (dashed) of the calls that returned in each {{ms (index $e.Latency 0).Step}} ms bucket, by return time on the run's clock; buckets in which none returned are gaps. Shaded: fault windows, from the fault's start to its end, labelled with the fault type; an instantaneous fault is a thin band.</figcaption>
</figure>
{{end}}{{end}}{{end}}
</body></html>
`))

func barWidth(d, m time.Duration) int {
	if m <= 0 {
		return 0
	}
	return int(300 * float64(d) / float64(m))
}

// runPage is what the runHTML template renders.
type runPage struct {
	*RunSummary
	Charts []template.HTML // the latency chart of each scenario, "" for none
}

// WriteRunHTML writes a self-contained report: the verdict first, then a
// table of the scenarios, then each scenario's latencies: a table and, when
// the summary has the series, an inline SVG chart of latency over time with
// the fault windows shaded.
func WriteRunHTML(w io.Writer, s *RunSummary) error {
	page := runPage{RunSummary: s, Charts: make([]template.HTML, len(s.Scenarios))}
	for i := range s.Scenarios {
		svg, err := s.Scenarios[i].latencyChart()
		if err != nil {
			return fmt.Errorf("write run report: %w", err)
		}
		page.Charts[i] = svg
	}
	if err := runHTML.Execute(w, page); err != nil {
		return fmt.Errorf("write run report: %w", err)
	}
	return nil
}
