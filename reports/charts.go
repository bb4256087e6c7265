package reports

// Charts for the HTML report, drawn with gonum/plot into inline SVG.

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strings"

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

var pauseColor = color.NRGBA{R: 230, G: 60, B: 60, A: 56}

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

// latencyChart draws each op's corrected p99 and max per interval, as steps.
// Intervals in which nothing completed are left as gaps, not drawn as zero.
func latencyChart(run *Run) (*plot.Plot, error) {
	p := newPlot("Latency over time (corrected)", "time (s)", "latency (ms)")
	addPauses(p, run.Meta.Pauses)
	n := 0
	for i := range run.Ops {
		op := &run.Ops[i]
		clr := plotutil.Color(i)
		for _, s := range []struct {
			label  string
			value  func(iv *Interval) float64
			dashes []vg.Length
		}{
			{op.Name + " p99", func(iv *Interval) float64 { return float64(iv.Corrected.ValueAtPercentile(99)) / 1e6 }, nil},
			{op.Name + " max", func(iv *Interval) float64 { return float64(iv.Corrected.Max()) / 1e6 }, []vg.Length{vg.Points(4), vg.Points(2)}},
		} {
			var segment plotter.XYs
			first := true
			flush := func() error {
				if len(segment) == 0 {
					return nil
				}
				l, err := plotter.NewLine(segment)
				if err != nil {
					return fmt.Errorf("latency of %s: %w", s.label, err)
				}
				l.Color, l.Dashes = clr, s.dashes
				p.Add(l)
				if first {
					p.Legend.Add(s.label, l)
					first = false
				}
				segment = nil
				n++
				return nil
			}
			for j := range op.Intervals {
				iv := &op.Intervals[j]
				if iv.Count() == 0 {
					if err := flush(); err != nil {
						return nil, err
					}
					continue
				}
				// A point at each end of the interval draws it as a step,
				// flat across the time it describes.
				v := s.value(iv)
				segment = append(segment, plotter.XY{X: iv.Start.Seconds(), Y: v}, plotter.XY{X: iv.End.Seconds(), Y: v})
			}
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if n == 0 {
		return nil, nil
	}
	timeAxis(p, run)
	p.Y.Min = 0
	return p, nil
}

// throughputChart draws each op's completions per second per interval, as
// steps.
func throughputChart(run *Run) (*plot.Plot, error) {
	p := newPlot("Throughput over time", "time (s)", "completed ops/s")
	addPauses(p, run.Meta.Pauses)
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
	timeAxis(p, run)
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

// timeAxis spans the measured window and every pause.
func timeAxis(p *plot.Plot, run *Run) {
	end := run.Meta.Elapsed
	for _, op := range run.Ops {
		if n := len(op.Intervals); n > 0 {
			end = max(end, op.Intervals[n-1].End)
		}
	}
	for _, w := range run.Meta.Pauses {
		end = max(end, w.End())
	}
	p.X.Min, p.X.Max = 0, max(end.Seconds(), p.X.Max)
}

// addPauses shades each pause window across the full height of the chart.
func addPauses(p *plot.Plot, windows []Window) {
	if len(windows) == 0 {
		return
	}
	s := pauseShade{windows: windows, color: pauseColor}
	p.Add(s)
	p.Legend.Add("pause", s)
}

// pauseShade is a gonum/plot Plotter that fills one rectangle per window.
// It reports no data range, so it never stretches the axes.
type pauseShade struct {
	windows []Window
	color   color.Color
}

// Plot implements plot.Plotter.
func (s pauseShade) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, _ := plt.Transforms(&c)
	for _, w := range s.windows {
		x0 := max(trX(w.At.Seconds()), c.Min.X)
		x1 := min(trX(w.End().Seconds()), c.Max.X)
		if x1 <= x0 {
			continue
		}
		c.FillPolygon(s.color, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	}
}

// Thumbnail implements plot.Thumbnailer for the legend.
func (s pauseShade) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(s.color, []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}})
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
