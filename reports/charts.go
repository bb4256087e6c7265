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
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

const (
	chartWidth  = 9 * vg.Inch
	chartHeight = 4 * vg.Inch
)

// spectrumX maps a percentile (0–100) to the 1/(1-p) axis; ok is false at
// 100%, which has no finite place.
func spectrumX(percentile float64) (x float64, ok bool) {
	if percentile >= 100 || math.IsNaN(percentile) {
		return 0, false
	}
	return 1 / (1 - percentile/100), true
}

// spectrumXYs converts a spectrum to plot points (x on the 1/(1-p) axis, y
// in ms).
func spectrumXYs(s Spectrum) plotter.XYs {
	xys := make(plotter.XYs, 0, len(s))
	for _, p := range s {
		x, ok := spectrumX(p.Percentile)
		if !ok || x < 1 {
			continue
		}
		xys = append(xys, plotter.XY{X: x, Y: float64(p.Value) / 1e6})
	}
	return xys
}

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

// spectrumChart draws every op's corrected and uncorrected distribution on a
// 1/(1-p) axis, with the baseline's corrected distribution overlaid.
func spectrumChart(run *Run, baseline map[string]Spectrum) (*plot.Plot, error) {
	p := newPlot("Latency by percentile", "percentile", "latency (ms)")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = ninesTicker{}
	maxX := 10.0
	n := 0
	for i := range run.Ops {
		op := &run.Ops[i]
		clr := plotutil.Color(i)
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
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	p.X.Min, p.X.Max = 1, math.Pow(10, math.Ceil(math.Log10(maxX)))
	p.Y.Min = 0
	p.Legend.Top, p.Legend.Left = true, true
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
	for i := range run.Ops {
		op := &run.Ops[i]
		if len(op.Intervals) == 0 {
			continue
		}
		xys := make(plotter.XYs, 0, 2*len(op.Intervals))
		for j := range op.Intervals {
			iv := &op.Intervals[j]
			xys = append(xys, plotter.XY{X: iv.Start.Seconds(), Y: iv.Throughput()}, plotter.XY{X: iv.End.Seconds(), Y: iv.Throughput()})
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("throughput of %s: %w", op.Name, err)
		}
		l.Color = plotutil.Color(i)
		p.Add(l)
		p.Legend.Add(op.Name, l)
		n++
	}
	if n == 0 {
		return nil, nil
	}
	p.X.Min, p.X.Max = 0, max(runEnd(run).Seconds(), p.X.Max)
	p.Y.Min = 0
	return p, nil
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
	p.Draw(draw.New(c))
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
