package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// SummaryVersion is the version of the JSON summary format this package
// writes and reads. See docs/reports.md.
const SummaryVersion = 1

// Summary is the machine-readable summary of a run, the JSON document
// WriteJSON writes. Make one with Summarize or ReadSummary.
type Summary struct {
	Version int `json:"version"` // always SummaryVersion
	Meta
	Ops []OpSummary `json:"ops"` // sorted by name
}

// OpSummary summarises one op.
type OpSummary struct {
	Name        string    `json:"name"`
	Count       int64     `json:"count"`       // completed ops, errors included
	Errors      int64     `json:"errors"`      // ops that returned an error
	LateStarts  int64     `json:"late_starts"` // ops started later than late_tolerance_ns after their intended start
	Clamped     int64     `json:"clamped"`     // values recorded as the histogram's highest value
	Throughput  float64   `json:"throughput"`  // completed ops per second of elapsed time
	Corrected   Latencies `json:"corrected"`   // from intended start
	Uncorrected Latencies `json:"uncorrected"` // from actual start (service time)
}

// Latencies holds the reported percentiles of one histogram.
type Latencies struct {
	P50   Latency `json:"p50"`
	P90   Latency `json:"p90"`
	P99   Latency `json:"p99"`
	P999  Latency `json:"p99.9"`
	P9999 Latency `json:"p99.99"`
	Max   Latency `json:"max"`
}

// Latency is one latency value, given both exactly in nanoseconds and in
// milliseconds for people and spreadsheets.
type Latency struct {
	Ns int64   `json:"ns"`
	Ms float64 `json:"ms"`
}

// NewLatency returns d as a Latency.
func NewLatency(d time.Duration) Latency {
	return Latency{Ns: int64(d), Ms: float64(d) / 1e6}
}

// Duration returns l as a time.Duration.
func (l Latency) Duration() time.Duration { return time.Duration(l.Ns) }

// PercentileLevel names one reported percentile.
type PercentileLevel struct {
	Label   string  // as in JSON and tables: "p50" … "p99.99", "max"
	Percent float64 // 50 … 99.99, and 100 for max
}

var levels = []PercentileLevel{
	{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99.9", 99.9}, {"p99.99", 99.99}, {"max", 100},
}

// ReportedPercentiles returns the percentiles every summary reports, in
// increasing order.
func ReportedPercentiles() []PercentileLevel {
	return append([]PercentileLevel(nil), levels...)
}

// At returns the latency for a label from ReportedPercentiles.
func (l *Latencies) At(label string) (Latency, bool) {
	p := l.ptr(label)
	if p == nil {
		return Latency{}, false
	}
	return *p, true
}

func (l *Latencies) ptr(label string) *Latency {
	switch label {
	case "p50":
		return &l.P50
	case "p90":
		return &l.P90
	case "p99":
		return &l.P99
	case "p99.9":
		return &l.P999
	case "p99.99":
		return &l.P9999
	case "max":
		return &l.Max
	}
	return nil
}

// HistogramLatencies reads the reported percentiles from a nanosecond
// histogram, by HdrHistogram's reference rule (ValuesAtPercentiles). An
// empty or nil histogram gives zeros.
func HistogramLatencies(h *hdrhistogram.Histogram) Latencies {
	var l Latencies
	if h == nil || h.TotalCount() == 0 {
		return l
	}
	percents := make([]float64, len(levels))
	for i, lv := range levels {
		percents[i] = lv.Percent
	}
	for i, v := range ValuesAtPercentiles(h, percents) {
		*l.ptr(levels[i].Label) = NewLatency(time.Duration(v))
	}
	return l
}

// Summarize computes run's summary.
func Summarize(run *Run) *Summary {
	s := &Summary{Version: SummaryVersion, Meta: run.Meta, Ops: make([]OpSummary, 0, len(run.Ops))}
	if s.Flags == nil {
		s.Flags = map[string]string{}
	}
	if s.Pauses == nil {
		s.Pauses = []Window{}
	}
	for i := range run.Ops {
		op := &run.Ops[i]
		sum := OpSummary{
			Name:        op.Name,
			Count:       op.Count(),
			Errors:      op.Errors,
			LateStarts:  op.LateStarts,
			Clamped:     op.Clamped,
			Corrected:   HistogramLatencies(op.Corrected),
			Uncorrected: HistogramLatencies(op.Uncorrected),
		}
		if run.Meta.Elapsed > 0 {
			sum.Throughput = float64(sum.Count) / run.Meta.Elapsed.Seconds()
		}
		s.Ops = append(s.Ops, sum)
	}
	return s
}

// Op returns the summary of the op named name, or nil.
func (s *Summary) Op(name string) *OpSummary {
	for i := range s.Ops {
		if s.Ops[i].Name == name {
			return &s.Ops[i]
		}
	}
	return nil
}

// WriteJSON writes s as indented JSON followed by a newline.
func WriteJSON(w io.Writer, s *Summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode JSON summary: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write JSON summary: %w", err)
	}
	return nil
}

// maxSummarySize bounds what ReadSummary will read, so a wrong file (a disk
// image, a log) fails fast instead of exhausting memory.
const maxSummarySize = 64 << 20

// ReadSummary reads a JSON summary written by WriteJSON. name labels errors,
// which are *ParseError values naming name and the line. Unknown fields are
// ignored; a missing or different "version" is ErrUnsupportedVersion.
func ReadSummary(r io.Reader, name string) (*Summary, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSummarySize+1))
	if err != nil {
		return nil, &ParseError{File: name, Err: fmt.Errorf("read summary: %w", err)}
	}
	if len(data) > maxSummarySize {
		return nil, &ParseError{File: name, Err: fmt.Errorf("%w: larger than %d MiB: not a summary", ErrSyntax, maxSummarySize>>20)}
	}
	var probe struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, jsonError(name, data, err)
	}
	switch {
	case probe.Version == nil:
		return nil, &ParseError{File: name, Err: fmt.Errorf("%w: no \"version\" field: not a boxstorm JSON summary", ErrUnsupportedVersion)}
	case *probe.Version != SummaryVersion:
		return nil, &ParseError{File: name, Err: fmt.Errorf("%w: version %d, this build reads version %d: use a boxstorm release that matches the file", ErrUnsupportedVersion, *probe.Version, SummaryVersion)}
	}
	var s Summary
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, jsonError(name, data, err)
	}
	for i := range s.Ops {
		if err := ValidateOpName(s.Ops[i].Name); err != nil {
			return nil, &ParseError{File: name, Err: fmt.Errorf("ops[%d]: %w", i, err)}
		}
		if s.Ops[i].Count < 0 || s.Ops[i].Errors < 0 || math.IsNaN(s.Ops[i].Throughput) {
			return nil, &ParseError{File: name, Err: fmt.Errorf("%w: ops[%d] (%s): negative count or invalid throughput", ErrSyntax, i, s.Ops[i].Name)}
		}
	}
	return &s, nil
}

// jsonError turns a decoding error into a *ParseError with a line number.
func jsonError(name string, data []byte, err error) error {
	var offset int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		offset = syn.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	}
	line := 0
	if offset >= 0 && offset <= int64(len(data)) {
		line = 1 + bytes.Count(data[:offset], []byte{'\n'})
	}
	return &ParseError{File: name, Line: line, Err: fmt.Errorf("%w: %w", ErrSyntax, err)}
}
