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
	"ms":  func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) },
	"s":   func(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) },
	"dur": HumanDuration,
	"bar": func(d, maxd time.Duration) int { return barWidth(d, maxd) },
	"passed": func(e ChaosScenario) string {
		if len(e.Checks) == 0 {
			return ""
		}
		n := 0
		for _, c := range e.Checks {
			if c.Verdict == VerdictPass {
				n++
			}
		}
		return fmt.Sprintf("%d of %d", n, len(e.Checks))
	},
	"held": func(e ChaosScenario) bool { return e.Held() },
	"maxl": func(ls []OpLatency) time.Duration {
		var m time.Duration
		for _, l := range ls {
			m = max(m, l.Max)
		}
		return m
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}: {{.Verdict}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.5em;margin:0 0 .5em}
.pass{background:#d8f5d8}.fail{background:#f8d0d0}.unknown{background:#f6eec0}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}
td.num{text-align:right}
.verdict{font-size:2em;padding:.3em .6em;display:inline-block}
.checks td:nth-child(3){color:#444;font-size:.9em}
figure{margin:1em 0 2em}figure svg{max-width:100%;height:auto}figcaption{color:#555;font-size:.9em}
</style></head><body>
<h1>{{.Title}}</h1>
<div class="verdict {{.Verdict}}">{{if .Canary}}canary run: {{end}}{{.Verdict}}</div>
<p>seed {{.Seed}} · {{if .Quick}}quick{{else}}full{{end}} · {{if .Canary}}known-bad targets{{else if .Target}}{{.Against}}{{else}}reference store{{end}}{{with .Shard}} · shard {{.}}{{end}} · started {{.Started.UTC.Format "2006-01-02T15:04:05Z"}} · took {{dur .Elapsed}}</p>
<p>crash states explored: <b>{{.CrashStates}}</b> · kills and power losses: <b>{{.Kills}}</b></p>
<table><tr><th>scenario</th><th>verdict</th>{{if .Canary}}<th>caught</th>{{end}}<th>checks passed</th><th>failed</th><th>unknown</th><th>crash states</th><th>kills</th><th>time</th><th>error</th></tr>
{{range .Scenarios}}<tr class="{{if held .}}pass{{else if eq .Verdict "unknown"}}unknown{{else}}fail{{end}}"><td><a href="#{{.Name}}">{{.Name}}</a></td><td>{{.Verdict}}</td>{{if $.Canary}}<td>{{if held .}}yes{{else}}NO{{end}}</td>{{end}}<td>{{passed .}}</td><td>{{range .Failed}}{{.}}<br>{{end}}</td><td>{{range .Unknown}}{{.}}<br>{{end}}</td><td class="num">{{.CrashStates}}</td><td class="num">{{.Kills}}</td><td class="num">{{dur .Elapsed}}</td><td>{{.Error}}</td></tr>
{{end}}<tr><th>total</th><td></td>{{if .Canary}}<td></td>{{end}}<td></td><td></td><td></td><th>{{.CrashStates}}</th><th>{{.Kills}}</th><td></td><td></td></tr>
</table>
<h2>Checks, latency and faults per scenario</h2>
{{range $i, $e := .Scenarios}}<h3 id="{{.Name}}">{{.Name}}: {{.Verdict}}{{if .Caught}} ({{if held .}}caught{{else}}NOT caught{{end}}){{end}}</h3>
{{with .Checks}}<table class="checks"><tr><th>check</th><th>verdict</th><th>what it found</th></tr>
{{range .}}<tr><td>{{.Name}}</td><td class="{{.Verdict}}">{{.Verdict}}</td><td>{{.Message}}</td></tr>
{{end}}</table>
{{end}}{{with .Latency}}{{$m := maxl .}}<table><tr><th>op</th><th>count</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>p50 (light) and p99 (dark), to the scale of the largest max here</th></tr>
{{range .}}<tr><td>{{.Op}}</td><td class="num">{{.Count}}</td><td class="num">{{ms .P50}}</td><td class="num">{{ms .P99}}</td><td class="num">{{ms .P999}}</td><td class="num">{{ms .Max}}</td>
<td><svg width="310" height="14"><rect x="0" y="2" width="{{bar .P99 $m}}" height="10" fill="#4a7bd0"/><rect x="0" y="2" width="{{bar .P50 $m}}" height="10" fill="#9bc"/></svg></td></tr>
{{end}}</table>
{{end}}{{with .FaultWindows}}<p>Faults, in seconds on the run's clock:{{range $j, $w := .}}{{if $j}};{{end}} {{.Type}} {{if eq (s .Start) (s .End)}}at {{s .Start}}{{else}}{{s .Start}}–{{s .End}}{{end}}{{if .Unfinished}} (unfinished){{end}}{{if .Err}} (error: {{.Err}}){{end}}{{end}}.</p>
{{end}}{{with index $.Charts $i}}<figure>
{{.SVG}}
<figcaption>{{.Caption}}</figcaption>
</figure>
{{end}}{{end}}
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
	Charts []*chaosChart // the latency chart of each scenario, nil for none
}

// chaosChart is a scenario's latency chart and the caption that says what
// it draws.
type chaosChart struct {
	SVG     template.HTML
	Caption string
}

// Title names the run: "boxstorm chaos run — seed 7, quick, canary", or
// with a target "… quick, target python-example 0.1".
func (s *ChaosSummary) Title() string {
	t := fmt.Sprintf("boxstorm chaos run — seed %d, ", s.Seed)
	if s.Quick {
		t += "quick"
	} else {
		t += "full"
	}
	if s.Canary {
		t += ", canary"
	}
	if s.Target != "" {
		t += ", target " + s.Target
	}
	if s.Shard != "" {
		t += ", shard " + s.Shard
	}
	return t
}

// WriteChaosHTML writes a self-contained report: a title naming the seed
// and mode, the verdict, then a table of the scenarios, then per scenario
// every check with its verdict and each op's latencies: a table and, when
// the summary has the series, an inline SVG chart of latency over time with
// the fault windows shaded.
func WriteChaosHTML(w io.Writer, s *ChaosSummary) error {
	page := runPage{ChaosSummary: s, Charts: make([]*chaosChart, len(s.Scenarios))}
	for i := range s.Scenarios {
		svg, err := s.Scenarios[i].latencyChart()
		if err != nil {
			return fmt.Errorf("write run report: %w", err)
		}
		if svg != "" {
			page.Charts[i] = &chaosChart{SVG: svg, Caption: s.Scenarios[i].chartCaption()}
		}
	}
	if err := runHTML.Execute(w, page); err != nil {
		return fmt.Errorf("write run report: %w", err)
	}
	return nil
}
