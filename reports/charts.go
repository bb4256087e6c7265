package reports

// Charts for the HTML report, drawn with gonum/plot into inline SVG.

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

const (
	chartWidth  = 9 * vg.Inch
	chartHeight = 4 * vg.Inch

	// legendGap separates the legend column from the plot; legendTop
	// lowers it to the plot's top, below the title.
	legendGap = 12 * vg.Millimeter / 4
	legendTop = 24
)

// spectrumX maps a percentile (0–100) to the 1/(1-p) axis; ok is false at
// 100%, which has no finite place.
func spectrumX(percentile float64) (x float64, ok bool) {
	if percentile >= 100 || math.IsNaN(percentile) {
		return 0, false
	}
	return 1 / (1 - percentile/100), true
}

// minSpectrumMs is where the spectrum's log latency axis starts: a value
// below it (a sub-microsecond op recorded as 0) is drawn on it.
const minSpectrumMs = 0.001

// spectrumXYs converts a spectrum to plot points (x on the 1/(1-p) axis, y
// in ms).
func spectrumXYs(s Spectrum) plotter.XYs {
	xys := make(plotter.XYs, 0, len(s))
	for _, p := range s {
		x, ok := spectrumX(p.Percentile)
		if !ok || x < 1 {
			continue
		}
		xys = append(xys, plotter.XY{X: x, Y: max(float64(p.Value)/1e6, minSpectrumMs)})
	}
	return xys
}

// headroom is how far above its highest value a chart's y axis reaches, so
// that no line runs along the top border.
const headroom = 1.15

// ninesTicker labels a 1/(1-p) log axis in percentiles: 10 is 90%, 100 is
// 99%, 1000 is 99.9% and so on.
type ninesTicker struct{}

// Ticks implements plot.Ticker.
func (ninesTicker) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for e := 0; e <= 12; e++ {
		decade := math.Pow(10, float64(e))
		if decade > max*1.000001 {
			break
		}
		if decade >= min*0.999999 {
			ticks = append(ticks, plot.Tick{Value: decade, Label: ninesLabel(e)})
		}
		for m := 2.0; m < 10; m++ {
			if v := m * decade; v >= min && v <= max {
				ticks = append(ticks, plot.Tick{Value: v})
			}
		}
	}
	return ticks
}

func ninesLabel(e int) string {
	switch e {
	case 0:
		return "0%"
	case 1:
		return "90%"
	case 2:
		return "99%"
	}
	return "99." + strings.Repeat("9", e-2) + "%"
}

// spectrumChart draws every op's corrected and uncorrected distribution as
// HdrHistogram's plotter does, on a 1/(1-p) axis labelled in percentiles,
// with the baseline's corrected distribution overlaid. Latency is on a log
// axis: tails are often a thousand times the median, and a linear axis
// flattens everything below p90 onto zero.
func spectrumChart(run *Run, baseline map[string]Spectrum) (*plot.Plot, error) {
	p := newPlot("Latency by percentile", "percentile", "latency (ms, log scale)")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = ninesTicker{}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	maxX := 10.0
	minY, maxY := math.Inf(1), 0.0
	n := 0
	colors := opColors(opNames(run))
	for i := range run.Ops {
		op := &run.Ops[i]
		clr := colors[i]
		series := []struct {
			label  string
			xys    plotter.XYs
			dashes []vg.Length
			width  vg.Length
		}{
			{op.Name + " corrected", spectrumXYs(HistogramSpectrum(op.Corrected)), nil, 1.5},
			{op.Name + " uncorrected", spectrumXYs(HistogramSpectrum(op.Uncorrected)), []vg.Length{vg.Points(5), vg.Points(3)}, 1},
			{op.Name + " baseline", spectrumXYs(baseline[op.Name]), []vg.Length{vg.Points(1), vg.Points(2)}, 1.5},
		}
		for _, s := range series {
			if len(s.xys) == 0 {
				continue
			}
			l, err := plotter.NewLine(s.xys)
			if err != nil {
				return nil, fmt.Errorf("spectrum of %s: %w", s.label, err)
			}
			l.Color, l.Dashes, l.Width = clr, s.dashes, s.width
			p.Add(l)
			p.Legend.Add(s.label, l)
			maxX = max(maxX, s.xys[len(s.xys)-1].X)
			for _, xy := range s.xys {
				minY, maxY = min(minY, xy.Y), max(maxY, xy.Y)
			}
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	p.X.Min, p.X.Max = 1, math.Pow(10, math.Ceil(math.Log10(maxX)))
	// A margin on the log axis keeps the curves off both borders.
	p.Y.Min, p.Y.Max = minY/1.5, maxY*1.5
	return p, nil
}

// latencyChart draws each op's corrected p99 and max per interval, as steps,
// with the run's pauses shaded.
func latencyChart(run *Run) (*plot.Plot, error) {
	c := LatencyTimeChart{
		Title:      "Latency over time (corrected)",
		Bands:      pauseBands(run.Meta.Pauses),
		BandLegend: "pause",
		End:        runEnd(run),
	}
	for i := range run.Ops {
		op := &run.Ops[i]
		s := LatencySeries{Op: op.Name}
		for j := range op.Intervals {
			iv := &op.Intervals[j]
			if iv.Count() == 0 {
				continue // left out: drawn as a gap
			}
			s.Steps = append(s.Steps, LatencyStep{Start: iv.Start, End: iv.End,
				P99: time.Duration(ValueAtPercentile(iv.Corrected, 99)), Max: time.Duration(iv.Corrected.Max())})
		}
		c.Series = append(c.Series, s)
	}
	return c.plot()
}

// throughputChart draws each op's completions per second per interval, as
// steps.
func throughputChart(run *Run) (*plot.Plot, error) {
	p := newPlot("Throughput over time", "time (s)", "completed ops/s")
	addBands(p, pauseBands(run.Meta.Pauses), "pause")
	n := 0
	maxY := 0.0
	colors := opColors(opNames(run))
	for i := range run.Ops {
		op := &run.Ops[i]
		if len(op.Intervals) == 0 {
			continue
		}
		xys := make(plotter.XYs, 0, 2*len(op.Intervals))
		for j := range op.Intervals {
			iv := &op.Intervals[j]
			xys = append(xys, plotter.XY{X: iv.Start.Seconds(), Y: iv.Throughput()}, plotter.XY{X: iv.End.Seconds(), Y: iv.Throughput()})
			maxY = max(maxY, iv.Throughput())
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("throughput of %s: %w", op.Name, err)
		}
		l.Color = colors[i]
		p.Add(l)
		p.Legend.Add(op.Name, l)
		n++
	}
	if n == 0 {
		return nil, nil
	}
	p.X.Min, p.X.Max = 0, max(runEnd(run).Seconds(), p.X.Max)
	p.Y.Min, p.Y.Max = 0, max(maxY*headroom, 1)
	return p, nil
}

// opNames lists the run's op names, in order.
func opNames(run *Run) []string {
	out := make([]string, len(run.Ops))
	for i := range run.Ops {
		out[i] = run.Ops[i].Name
	}
	return out
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	return p
}

// runEnd is the end of a load run's time axis: the measured window, every
// interval and every pause.
func runEnd(run *Run) time.Duration {
	end := run.Meta.Elapsed
	for _, op := range run.Ops {
		if n := len(op.Intervals); n > 0 {
			end = max(end, op.Intervals[n-1].End)
		}
	}
	for _, w := range run.Meta.Pauses {
		end = max(end, w.End())
	}
	return end
}

// pauseBands turns a load run's pauses into unlabelled bands.
func pauseBands(pauses []Window) []Band {
	out := make([]Band, 0, len(pauses))
	for _, w := range pauses {
		out = append(out, Band{Window: w})
	}
	return out
}

// renderSVG draws p as an SVG element for inlining into HTML: no XML
// declaration, no external references, fonts left to the browser.
func renderSVG(p *plot.Plot) (svg string, err error) {
	defer func() {
		// gonum/plot panics on some degenerate input (a log axis at zero);
		// a report must still be written, so turn that into an error.
		if r := recover(); r != nil {
			err = fmt.Errorf("draw chart %q: %v", p.Title.Text, r)
		}
	}()
	c := vgsvg.New(chartWidth, chartHeight)
	dc := draw.New(c)
	// The legend goes in a column right of the plot, never over the data.
	leg := p.Legend
	if r := leg.Rectangle(dc); r.Max.X > r.Min.X {
		w := r.Max.X - r.Min.X + legendGap
		p.Legend = plot.NewLegend()
		p.Draw(draw.Crop(dc, 0, -w, 0, 0))
		p.Legend = leg
		leg.Top, leg.Left = true, true
		leg.Draw(draw.Crop(dc, chartWidth-w+legendGap/2, 0, 0, -legendTop))
	} else {
		p.Draw(dc)
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("draw chart %q: %w", p.Title.Text, err)
	}
	out := buf.String()
	if i := strings.Index(out, "<svg"); i >= 0 {
		out = out[i:]
	}
	return out, nil
}
