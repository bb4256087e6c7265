package reports

import (
	"math"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/recorder"
)

// drawnBand is a band rectangle as drawn: its x extent and height.
type drawnBand struct{ x0, x1, y0, y1 vg.Length }

// drawChart draws c onto a recorder and returns the band rectangles that
// span the data area, the labels written in the band colour, and the x
// transform of the data area.
func drawChart(t *testing.T, c *LatencyTimeChart) (bands []drawnBand, labels []recorder.FillString, trX func(float64) vg.Length) {
	t.Helper()
	p, err := c.plot()
	if err != nil || p == nil {
		t.Fatalf("plot: %v, %v", p, err)
	}
	return drawPlot(p)
}

func drawPlot(p *plot.Plot) (bands []drawnBand, labels []recorder.FillString, trX func(float64) vg.Length) {
	rec := new(recorder.Canvas)
	dc := draw.Canvas{Canvas: rec, Rectangle: vg.Rectangle{Max: vg.Point{X: chartWidth, Y: chartHeight}}}
	p.Draw(dc)
	da := p.DataCanvas(dc)
	trX, _ = p.Transforms(&da)
	var clr any
	for _, a := range rec.Actions {
		switch a := a.(type) {
		case *recorder.SetColor:
			clr = a.Color
		case *recorder.Fill:
			if clr != any(bandColor) {
				continue
			}
			b := drawnBand{x0: vg.Length(math.Inf(1)), x1: vg.Length(math.Inf(-1)), y0: vg.Length(math.Inf(1)), y1: vg.Length(math.Inf(-1))}
			for _, pc := range a.Path {
				if pc.Type == vg.MoveComp || pc.Type == vg.LineComp {
					b.x0, b.x1 = min(b.x0, pc.Pos.X), max(b.x1, pc.Pos.X)
					b.y0, b.y1 = min(b.y0, pc.Pos.Y), max(b.y1, pc.Pos.Y)
				}
			}
			if b.y0 == da.Min.Y && b.y1 == da.Max.Y { // not the legend's thumbnail
				bands = append(bands, b)
			}
		case *recorder.FillString:
			if clr == any(bandLabelColor) {
				labels = append(labels, *a)
			}
		}
	}
	return bands, labels, trX
}

func near(a, b vg.Length) bool { return math.Abs(float64(a-b)) < 0.01 }

func TestLatencyTimeChart_Bands(t *testing.T) {
	c := &LatencyTimeChart{
		Title: "faults",
		Series: []LatencySeries{{Op: "enqueue", Steps: []LatencyStep{
			{Start: 0, End: time.Second, P99: time.Millisecond, Max: 2 * time.Millisecond},
			{Start: time.Second, End: 2 * time.Second, P99: 5 * time.Millisecond, Max: 9 * time.Millisecond},
			{Start: 3 * time.Second, End: 4 * time.Second, P99: time.Millisecond, Max: time.Millisecond}, // after a gap
		}}},
		Bands: []Band{
			{Window: Window{At: time.Second, For: time.Second}, Label: "stall"},
			{Window: Window{At: 3 * time.Second}, Label: "kill"},
			{Window: Window{At: 3*time.Second + time.Millisecond}, Label: "reopen"},
		},
		BandLegend: "fault",
	}
	bands, labels, trX := drawChart(t, c)
	if len(bands) != 3 {
		t.Fatalf("%d bands drawn, want 3: %+v", len(bands), bands)
	}
	if b := bands[0]; !near(b.x0, trX(1)) || !near(b.x1, trX(2)) {
		t.Errorf("stall band spans x %v–%v, want %v–%v", b.x0, b.x1, trX(1), trX(2))
	}
	if b := bands[1]; !near(b.x1-b.x0, minBandWidth) || !near((b.x0+b.x1)/2, trX(3)) {
		t.Errorf("instantaneous band spans x %v–%v, want %v wide around %v", b.x0, b.x1, minBandWidth, trX(3))
	}
	if len(labels) != 3 {
		t.Fatalf("labels %+v, want 3", labels)
	}
	for i, want := range []string{"stall", "kill", "reopen"} {
		l := labels[i]
		if l.String != want || l.Point.X < bands[i].x0 || l.Point.X > bands[i].x0+vg.Points(4) {
			t.Errorf("label %d = %q at x %v, want %q at the band's left edge %v", i, l.String, l.Point.X, want, bands[i].x0)
		}
	}
	// kill and reopen are a millisecond apart: the second label goes on a
	// lower row rather than over the first.
	if labels[2].Point.Y >= labels[1].Point.Y {
		t.Errorf("overlapping labels on one row: %+v", labels[1:])
	}
	if labels[0].Point.Y != labels[1].Point.Y {
		t.Errorf("labels far apart on different rows: %+v", labels[:2])
	}
}

func TestLatencyTimeChart_NoSteps(t *testing.T) {
	c := &LatencyTimeChart{Series: []LatencySeries{{Op: "enqueue"}}, Bands: []Band{{Label: "kill"}}}
	svg, err := c.SVG()
	if err != nil || svg != "" {
		t.Errorf("chart without steps = %q, %v; want nothing", svg, err)
	}
}

// The load report's pauses go through the same bands: unlabelled, at the
// pause's place.
func TestLatencyChart_Pauses(t *testing.T) {
	run := &Run{Meta: Meta{Elapsed: 5 * time.Second, Pauses: []Window{{At: 2 * time.Second, For: 500 * time.Millisecond}}}}
	h := hdrhistogram.NewPacked(1000, 60e9, 3)
	_ = h.RecordValue(int64(3 * time.Millisecond))
	run.Ops = []OpResult{{Name: "enqueue", Intervals: []Interval{
		{Start: 0, End: time.Second, Corrected: h, Uncorrected: h},
		{Start: time.Second, End: 2 * time.Second},
		{Start: 2 * time.Second, End: 3 * time.Second, Corrected: h, Uncorrected: h},
	}}}
	p, err := latencyChart(run)
	if err != nil || p == nil {
		t.Fatalf("latencyChart: %v, %v", p, err)
	}
	bands, labels, trX := drawPlot(p)
	if len(bands) != 1 || !near(bands[0].x0, trX(2)) || !near(bands[0].x1, trX(2.5)) {
		t.Errorf("pause bands %+v, want one at x %v–%v", bands, trX(2), trX(2.5))
	}
	if len(labels) != 0 {
		t.Errorf("pause bands are labelled: %+v", labels)
	}
	if p.X.Max != 5 {
		t.Errorf("time axis ends at %v s, want the run's 5 s", p.X.Max)
	}
}
