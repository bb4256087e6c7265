package reports

// Latency over time with shaded windows: the chart the load report draws
// with its pauses and the chaos report with its faults.

import (
	"fmt"
	"image/color"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Band is a window of a time chart shaded across the chart's full height:
// an injected pause of a load run, a fault of a chaos run.
type Band struct {
	// Window is where the band lies on the chart's time axis. A window of
	// zero length (an instantaneous fault) is drawn as a thin band.
	Window
	// Label is drawn at the top of the band; empty for none.
	Label string
}

// LatencySeries is one op's latency over time.
type LatencySeries struct {
	Op    string        // op name, as the legend shows it
	Steps []LatencyStep // by Start; a step that does not start where the previous one ended leaves a gap
}

// LatencyStep summarises the ops that completed in [Start, End): offsets on
// the chart's time axis.
type LatencyStep struct {
	Start time.Duration
	End   time.Duration
	P99   time.Duration
	Max   time.Duration
}

// LatencyTimeChart is a latency-over-time chart: each op's p99 (solid) and
// max (dashed) per step, drawn flat across the step, with bands shaded
// behind them. A step with no step next to it, too short to see as a line,
// also gets a dot on its p99. The legend names each op once, by its p99
// line, then says which line style is which and names the bands.
type LatencyTimeChart struct {
	Title      string
	Series     []LatencySeries // one colour per series, in this order
	Bands      []Band
	BandLegend string        // the legend's name for the bands, such as "pause"; none when empty
	End        time.Duration // the time axis spans at least [0, End]
}

// maxDashes draws the max lines.
var maxDashes = []vg.Length{vg.Points(4), vg.Points(2)}

// keyColor draws the legend's line-style keys, which belong to no op: a
// mid grey, lighter than any op's colour.
var keyColor = color.NRGBA{R: 140, G: 140, B: 140, A: 255}

// lineKey is a legend entry for a line style alone: "p99 (solid)".
type lineKey draw.LineStyle

// Thumbnail implements plot.Thumbnailer.
func (k lineKey) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	c.StrokeLine2(draw.LineStyle(k), c.Min.X, y, c.Max.X, y)
}

// minBandWidth is the narrowest a band is drawn, so that an instantaneous
// window still shows.
const minBandWidth = vg.Length(2)

// bandColor fills every band: grey, so no op's line colour is mistaken for
// it, and translucent, so the lines show through.
var bandColor = color.NRGBA{R: 110, G: 110, B: 110, A: 60}

// bandLabelColor writes the band labels.
var bandLabelColor = color.NRGBA{R: 60, G: 60, B: 60, A: 255}

// SVG draws the chart as an SVG element for inlining into HTML (no XML
// declaration, no external references). It returns "" when no series has a
// step: there is nothing to draw.
func (c *LatencyTimeChart) SVG() (string, error) {
	p, err := c.plot()
	if err != nil || p == nil {
		return "", err
	}
	return renderSVG(p)
}

// plot builds the chart, or returns nil when no series has a step.
func (c *LatencyTimeChart) plot() (*plot.Plot, error) {
	p := newPlot(c.Title, "time (s)", "latency (ms)")
	addBands(p, c.Bands, "") // named in the legend last, after the ops
	end := c.End
	n := 0
	names := make([]string, len(c.Series))
	for i, s := range c.Series {
		names[i] = s.Op
	}
	colors := opColors(names)
	for i, s := range c.Series {
		clr := colors[i]
		for _, line := range []struct {
			label  string // in the legend; "" for none
			value  func(st LatencyStep) time.Duration
			dashes []vg.Length
		}{
			{s.Op, func(st LatencyStep) time.Duration { return st.P99 }, nil},
			{"", func(st LatencyStep) time.Duration { return st.Max }, maxDashes},
		} {
			var segment plotter.XYs
			first := true
			flush := func() error {
				if len(segment) == 0 {
					return nil
				}
				l, err := plotter.NewLine(segment)
				if err != nil {
					return fmt.Errorf("latency of %s: %w", s.Op, err)
				}
				l.Color, l.Dashes = clr, line.dashes
				p.Add(l)
				if len(segment) == 2 && line.dashes == nil {
					dot, err := plotter.NewScatter(segment[:1])
					if err != nil {
						return fmt.Errorf("latency of %s: %w", s.Op, err)
					}
					dot.XYs[0].X = (segment[0].X + segment[1].X) / 2
					dot.GlyphStyle = draw.GlyphStyle{Color: clr, Radius: vg.Points(1.8), Shape: draw.CircleGlyph{}}
					p.Add(dot)
				}
				if first && line.label != "" {
					p.Legend.Add(line.label, l)
					first = false
				}
				segment = nil
				n++
				return nil
			}
			for j, st := range s.Steps {
				if j > 0 && st.Start != s.Steps[j-1].End {
					if err := flush(); err != nil {
						return nil, err
					}
				}
				// A point at each end of the step draws it flat across the
				// time it describes.
				v := float64(line.value(st)) / 1e6
				segment = append(segment, plotter.XY{X: st.Start.Seconds(), Y: v}, plotter.XY{X: st.End.Seconds(), Y: v})
				end = max(end, st.End)
			}
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if n == 0 {
		return nil, nil
	}
	p.Legend.Add("p99 (solid)", lineKey{Color: keyColor, Width: vg.Points(1)})
	p.Legend.Add("max (dashed)", lineKey{Color: keyColor, Width: vg.Points(1), Dashes: maxDashes})
	if len(c.Bands) > 0 && c.BandLegend != "" {
		p.Legend.Add(c.BandLegend, bandShade{color: bandColor})
	}
	for _, b := range c.Bands {
		end = max(end, b.End())
	}
	p.X.Min, p.X.Max = 0, max(end.Seconds(), p.X.Max)
	p.Y.Min = 0
	p.Y.Max *= headroom // no line along the top border
	return p, nil
}

// addBands shades bands across the full height of p, under the name legend
// in the legend when it is not empty.
func addBands(p *plot.Plot, bands []Band, legend string) {
	if len(bands) == 0 {
		return
	}
	s := bandShade{bands: bands, color: bandColor}
	p.Add(s)
	if legend != "" {
		p.Legend.Add(legend, s)
	}
}

// bandShade is a gonum/plot Plotter that fills one rectangle per band, at
// least minBandWidth wide, and writes its label at the top. Labels that
// would overlap the one before go on a lower row. It reports no data
// range, so it never stretches the axes.
type bandShade struct {
	bands []Band
	color color.Color
}

// bandRect is where a band is drawn on the canvas: x0 to x1, the full
// height of the data area. ok is false when the band lies outside it.
func bandRect(c draw.Canvas, trX func(float64) vg.Length, b Band) (x0, x1 vg.Length, ok bool) {
	x0, x1 = trX(b.At.Seconds()), trX(b.End().Seconds())
	if w := x1 - x0; w < minBandWidth {
		mid := (x0 + x1) / 2
		x0, x1 = mid-minBandWidth/2, mid+minBandWidth/2
	}
	x0, x1 = max(x0, c.Min.X), min(x1, c.Max.X)
	return x0, x1, x1 > x0
}

// Plot implements plot.Plotter.
func (s bandShade) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, _ := plt.Transforms(&c)
	sty := plt.Legend.TextStyle
	sty.Font.Size = vg.Points(8)
	sty.Color = bandLabelColor
	sty.XAlign, sty.YAlign = draw.XLeft, draw.YTop
	pad := vg.Points(2)
	lineHeight := sty.Height("M") + pad
	var rows []vg.Length // right edge of the last label in each row
	for _, b := range s.bands {
		x0, x1, ok := bandRect(c, trX, b)
		if !ok {
			continue
		}
		c.FillPolygon(s.color, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
		if b.Label == "" {
			continue
		}
		row := 0
		for row < len(rows) && rows[row] > x0 {
			row++
		}
		if row == len(rows) {
			rows = append(rows, 0)
		}
		x := x0 + pad
		rows[row] = x + sty.Width(b.Label) + pad
		c.FillText(sty, vg.Point{X: x, Y: c.Max.Y - pad - vg.Length(row)*lineHeight}, b.Label)
	}
}

// Thumbnail implements plot.Thumbnailer for the legend.
func (s bandShade) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(s.color, []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}})
}
