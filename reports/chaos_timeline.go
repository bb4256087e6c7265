package reports

// The chaos report's latency-over-time chart: each op's latency per time
// bucket, and the windows the faults ran in, both on the run's monotonic
// clock.

import (
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"
)

// LatencyPoint is the latency of the calls of one op that returned in one
// bucket of a scenario's run.
type LatencyPoint struct {
	At    time.Duration `json:"at_ns"` // bucket start, on the run's monotonic clock
	Count int64         `json:"count"`
	P99   time.Duration `json:"p99_ns"` // nearest rank
	Max   time.Duration `json:"max_ns"`
}

// FaultWindow is when one fault of a scenario ran, on the run's monotonic
// clock: from its "start" event to its "done" or "kill" event. A fault
// with only one of the two has a window of zero length at it.
type FaultWindow struct {
	Index int           `json:"index"`
	Type  string        `json:"type"` // the scenario's fault type
	Start time.Duration `json:"start_ns"`
	End   time.Duration `json:"end_ns"`
	// Unfinished is set when the fault started and never ended: the run
	// stopped, or the process that ran it was killed, and End is then the
	// kill when one was recorded, else Start.
	Unfinished bool   `json:"unfinished,omitempty"`
	Err        string `json:"err,omitempty"`
}

// label is how the chart names the window's band.
func (w FaultWindow) label() string {
	s := string(w.Type)
	switch {
	case w.Unfinished:
		s += " (unfinished)"
	case w.Err != "":
		s += " (error)"
	}
	return s
}

// latencyChart draws the entry's latency series with its fault windows
// shaded, as inline SVG; "" when the entry has no series.
func (e *ChaosScenario) latencyChart() (template.HTML, error) {
	c := LatencyTimeChart{Title: e.Name + ": latency over time", BandLegend: "fault"}
	for _, l := range e.Latency {
		s := LatencySeries{Op: l.Op}
		for _, p := range l.Series {
			s.Steps = append(s.Steps, LatencyStep{Start: p.At, End: p.At + l.Step, P99: p.P99, Max: p.Max})
		}
		c.Series = append(c.Series, s)
	}
	for _, w := range e.FaultWindows {
		c.Bands = append(c.Bands, Band{Window: Window{At: w.Start, For: w.End - w.Start}, Label: w.label()})
	}
	svg, err := c.SVG()
	if err != nil {
		return "", fmt.Errorf("latency chart of %s: %w", e.Name, err)
	}
	// The SVG comes from gonum/plot, which escapes every text it draws.
	return template.HTML(svg), nil
}

// chartCaption says what latencyChart draws for the entry: the bucket
// width as a reader writes it, and the bands only when there are some.
func (e *ChaosScenario) chartCaption() string {
	var steps []string
	for _, l := range e.Latency {
		if len(l.Series) > 0 && !slices.Contains(steps, HumanDuration(l.Step)) {
			steps = append(steps, HumanDuration(l.Step))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "p99 (solid) and max (dashed) of the calls that returned in each %s bucket, by return time on the run's clock; buckets in which none returned are gaps, and a bucket with none next to it is also marked with a dot.",
		strings.Join(steps, " or "))
	if len(e.FaultWindows) > 0 {
		b.WriteString(" Shaded grey: fault windows, from the fault's start to its end, labelled with the fault type; an instantaneous fault is a thin band.")
	}
	return b.String()
}
