package reports

// report.html of a chaos run: the verdict, a table of the scenarios, and
// per scenario its latencies with the fault windows shaded.

import (
	"fmt"
	"html/template"
	"io"
	"time"
)

var runHTML = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":   func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) },
	"s":    func(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) },
	"bar":  func(d, maxd time.Duration) int { return barWidth(d, maxd) },
	"held": func(e ChaosScenario) bool { return e.Held() },
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
<p>crash states explored: <b>{{.CrashStates}}</b> · kills and power losses: <b>{{.Kills}}</b></p>
<table><tr><th>scenario</th><th>verdict</th>{{if .Canary}}<th>caught</th>{{end}}<th>failed</th><th>unknown</th><th>crash states</th><th>kills</th><th>error</th></tr>
{{range .Scenarios}}<tr class="{{if held .}}pass{{else if eq .Verdict "unknown"}}unknown{{else}}fail{{end}}"><td>{{.Name}}</td><td>{{.Verdict}}</td>{{if $.Canary}}<td>{{if held .}}yes{{else}}NO{{end}}</td>{{end}}<td>{{range .Failed}}{{.}}<br>{{end}}</td><td>{{range .Unknown}}{{.}}<br>{{end}}</td><td>{{.CrashStates}}</td><td>{{.Kills}}</td><td>{{.Error}}</td></tr>
{{end}}<tr><th>total</th><td></td>{{if .Canary}}<td></td>{{end}}<td></td><td></td><th>{{.CrashStates}}</th><th>{{.Kills}}</th><td></td></tr>
</table>
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
	*ChaosSummary
	Charts []template.HTML // the latency chart of each scenario, "" for none
}

// WriteChaosHTML writes a self-contained report: the verdict first, then a
// table of the scenarios, then each scenario's latencies: a table and, when
// the summary has the series, an inline SVG chart of latency over time with
// the fault windows shaded.
func WriteChaosHTML(w io.Writer, s *ChaosSummary) error {
	page := runPage{ChaosSummary: s, Charts: make([]template.HTML, len(s.Scenarios))}
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
