package reports

import (
	"bufio"
	"fmt"
	"html/template"
	"io"
	"strings"

	"gonum.org/v1/plot"
)

// HTMLOptions adds optional content to the HTML report.
type HTMLOptions struct {
	// Title heads the page; "boxstorm load report" when empty.
	Title string
	// Baseline holds a distribution per op name, drawn over the run's on the
	// percentile chart. BaselineSpectra makes it from a JSON summary,
	// Hgrm.Spectrum from .hgrm files, HistogramSpectrum from histograms.
	Baseline map[string]Spectrum
	// Comparison, when set, becomes the page's verdict and its table is
	// shown before the latency tables.
	Comparison *Comparison
}

// WriteHTML writes run as a single self-contained HTML page: nothing is
// loaded from the network, and the charts are inline SVG drawn with
// gonum/plot. The page opens with the verdict (or a headline when there is
// no comparison), then the tables, then the charts: the percentile
// spectrum on a 1/(1-p) axis with the baseline overlaid, latency over time
// and throughput over time, with pause windows shaded.
func WriteHTML(w io.Writer, run *Run, opts HTMLOptions) error {
	if err := run.Validate(); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	sum := Summarize(run)
	page := htmlPage{
		Title:      opts.Title,
		Describe:   describe(&run.Meta),
		TargetErrs: targetErrors(&run.Meta),
		Summary:    sum,
		Levels:     levels,
	}
	if rt := run.Meta.TargetRoundTrip; rt != nil {
		page.RoundTrip = rt.line()
	}
	if page.Title == "" {
		page.Title = "boxstorm load report"
	}
	if c := opts.Comparison; c != nil {
		page.Verdict, page.Failed, page.Comparison = c.Verdict(), c.Failed(), c
	} else {
		page.Verdict = headline(sum)
	}
	charts := []struct {
		caption string
		build   func() (*plot.Plot, error)
	}{
		{spectrumCaption(run, opts.Baseline),
			func() (*plot.Plot, error) { return spectrumChart(run, opts.Baseline) }},
		{"Corrected p99 (solid) and max (dashed) of the ops that completed in each interval, by completion time; the legend names each op by its p99 line; an interval with none next to it is also marked with a dot." + pauseCaption(run),
			func() (*plot.Plot, error) { return latencyChart(run) }},
		{"Completed ops per second in each interval." + pauseCaption(run),
			func() (*plot.Plot, error) { return throughputChart(run) }},
	}
	for _, ch := range charts {
		p, err := ch.build()
		if err != nil {
			return fmt.Errorf("write HTML report: %w", err)
		}
		if p == nil {
			continue // no data for this chart
		}
		svg, err := renderSVG(p)
		if err != nil {
			return fmt.Errorf("write HTML report: %w", err)
		}
		// The SVG comes from gonum/plot, which escapes every text it draws.
		page.Charts = append(page.Charts, htmlChart{Caption: ch.caption, SVG: template.HTML(svg)})
	}
	bw := bufio.NewWriter(w)
	if err := htmlTemplate.Execute(bw, page); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	return nil
}

// spectrumCaption describes the percentile chart: which lines it has.
func spectrumCaption(run *Run, baseline map[string]Spectrum) string {
	lines := "corrected (solid) and uncorrected (dashed) latency"
	for i := range run.Ops {
		if len(baseline[run.Ops[i].Name]) > 0 {
			lines = "corrected (solid), uncorrected (dashed) and the baseline's corrected (dotted) latency"
			break
		}
	}
	return "Latency by percentile, as HdrHistogram's plotter draws it: " + lines +
		" of each op. The x axis is 1/(1-p), each step right one more nine; latency is on a log scale."
}

// pauseCaption mentions the shaded pauses when the run had any.
func pauseCaption(run *Run) string {
	if len(run.Meta.Pauses) == 0 {
		return ""
	}
	return " Shaded: injected pauses."
}

// headline sums up a run without a baseline: each op's corrected and
// uncorrected p99.
func headline(s *Summary) string {
	if len(s.Ops) == 0 {
		return "No ops completed in the measured window"
	}
	parts := make([]string, 0, len(s.Ops))
	for _, op := range s.Ops {
		parts = append(parts, fmt.Sprintf("%s p99 %s ms (uncorrected %s ms), %s ops/s, %s",
			op.Name, ms(op.Corrected.P99.Duration()), ms(op.Uncorrected.P99.Duration()), rate(op.Throughput), plural(op.Errors, "error")))
	}
	return strings.Join(parts, "; ")
}

type htmlPage struct {
	Title      string
	Verdict    string
	Failed     bool
	Describe   string
	RoundTrip  string // the protocol's round trip, for a run through a target
	TargetErrs string // a target's errors by class
	Summary    *Summary
	Levels     []PercentileLevel
	Comparison *Comparison
	Charts     []htmlChart
}

type htmlChart struct {
	Caption string
	SVG     template.HTML
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"at": func(l Latencies, label string) string {
		v, _ := l.At(label)
		return ms(v.Duration())
	},
	"ms":      ms,
	"pct":     pct,
	"limit":   limitLabel,
	"verdict": rowVerdict,
	"opline":  func(o OpSummary) string { return opLine(&o) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #222; }
.verdict { font-size: 1.3rem; font-weight: 600; padding: .8rem 1rem; border-radius: .4rem; background: #e8f4ea; border-left: .4rem solid #2e7d32; }
.verdict.fail { background: #fdecea; border-left-color: #c62828; }
.meta { color: #555; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
th, td { padding: .25rem .8rem; border-bottom: 1px solid #ddd; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.regressed td { background: #fdecea; font-weight: 600; }
figure { margin: 1rem 0 2rem; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: .9rem; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="verdict{{if .Failed}} fail{{end}}">{{.Verdict}}</p>
<p class="meta">{{.Describe}}</p>
{{with .Comparison}}
<h2>Baseline comparison</h2>
{{with .MismatchNote}}<p class="verdict fail">{{.}}</p>
{{end}}<p>Corrected latency (from each op's intended start, coordinated omission corrected) is compared; uncorrected service time is not.</p>
<table>
<tr><th>op</th><th>percentile</th><th class="num">baseline corrected ms</th><th class="num">current corrected ms</th><th class="num">delta</th><th class="num">limit</th><th>verdict</th></tr>
{{range $op := .Ops}}{{range .Rows}}<tr{{if .Regressed}} class="regressed"{{end}}><td>{{$op.Name}}</td><td>{{.Label}}</td><td class="num">{{ms .Base}}</td><td class="num">{{ms .New}}</td><td class="num">{{pct .DeltaPct}}</td><td class="num">{{limit .Limit}}</td><td>{{verdict .}}</td></tr>
{{end}}{{end}}</table>
{{range .OnlyInBaseline}}<p>Op {{.}} is in the baseline but not in this run: it was not compared.</p>
{{end}}{{range .OnlyInCurrent}}<p>Op {{.}} is new in this run: no baseline to compare with.</p>
{{end}}{{end}}
<h2>Latency</h2>
<p>Corrected latency is measured from each op's intended start, so it includes time spent waiting to be issued (coordinated omission corrected); uncorrected is the service time from the actual start.</p>
{{with .RoundTrip}}<p class="meta">{{.}}: what the target protocol adds to each op.</p>
{{end}}{{with .TargetErrs}}<p class="meta">{{.}}</p>
{{end}}{{$levels := .Levels}}{{range .Summary.Ops}}
<h3>{{.Name}}</h3>
<p>{{opline .}}</p>
<table>
<tr><th>percentile</th><th class="num">corrected ms</th><th class="num">uncorrected ms</th></tr>
{{$op := .}}{{range $levels}}<tr><td>{{.Label}}</td><td class="num">{{at $op.Corrected .Label}}</td><td class="num">{{at $op.Uncorrected .Label}}</td></tr>
{{end}}</table>
{{else}}<p>No ops completed in the measured window.</p>
{{end}}
{{if .Charts}}<h2>Charts</h2>{{end}}
{{range .Charts}}<figure>
{{.SVG}}
<figcaption>{{.Caption}}</figcaption>
</figure>
{{end}}
</body>
</html>
`))
