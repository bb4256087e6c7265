package reports

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// hgrmTicksPerHalfDistance is the percentile resolution of .hgrm files: the
// value HdrHistogram's own tools use.
const hgrmTicksPerHalfDistance = 5

// WriteHgrm writes h, a histogram of nanoseconds, as an HdrHistogram
// percentile distribution in milliseconds: the .hgrm format HdrHistogram's
// plotter reads.
func WriteHgrm(w io.Writer, h *hdrhistogram.Histogram) error {
	if _, err := h.PercentilesPrint(w, hgrmTicksPerHalfDistance, 1e6); err != nil {
		return fmt.Errorf("write .hgrm: %w", err)
	}
	return nil
}

// Hgrm is a percentile distribution read back from an .hgrm file.
type Hgrm struct {
	Rows []HgrmRow

	// From the footer, in the file's unit; zero when the footer is absent.
	Mean, StdDev, Max float64
	TotalCount        int64
}

// HgrmRow is one line of the percentile table.
type HgrmRow struct {
	Value      float64 // in the file's unit: milliseconds for files WriteHgrm makes
	Quantile   float64 // fraction of values at or below Value, 0 to 1 (the file's "Percentile" column)
	TotalCount int64   // number of values at or below Value
}

// maxHgrmLine bounds one line; real lines are under 100 bytes.
const maxHgrmLine = 4096

// ReadHgrm parses an .hgrm percentile distribution as written by WriteHgrm
// or by HdrHistogram's Java and C tools. name labels errors, which are
// *ParseError values naming name and the line. It never panics: any input
// gives a distribution or an error.
func ReadHgrm(r io.Reader, name string) (*Hgrm, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxHgrmLine)
	h := &Hgrm{}
	line := 0
	sawHeader := false
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		switch {
		case text == "":
			continue
		case strings.HasPrefix(text, "#["):
			if err := h.parseFooter(text); err != nil {
				return nil, &ParseError{File: name, Line: line, Err: err}
			}
			continue
		case strings.HasPrefix(text, "#"):
			continue
		case !sawHeader && len(h.Rows) == 0 && strings.HasPrefix(text, "Value"):
			sawHeader = true
			continue
		}
		row, err := parseHgrmRow(text)
		if err != nil {
			return nil, &ParseError{File: name, Line: line, Err: err}
		}
		if n := len(h.Rows); n > 0 {
			prev := h.Rows[n-1]
			if row.Quantile < prev.Quantile || row.TotalCount < prev.TotalCount || row.Value < prev.Value {
				return nil, syntaxErr(name, line, "row goes backwards (value %g, percentile %g, count %d after %g, %g, %d): rows must be in increasing order",
					row.Value, row.Quantile, row.TotalCount, prev.Value, prev.Quantile, prev.TotalCount)
			}
		}
		h.Rows = append(h.Rows, row)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, syntaxErr(name, line+1, "line longer than %d bytes: not an .hgrm file", maxHgrmLine)
		}
		return nil, &ParseError{File: name, Line: line, Err: fmt.Errorf("read .hgrm: %w", err)}
	}
	if len(h.Rows) == 0 {
		return nil, syntaxErr(name, line, "no percentile rows: not an .hgrm file, or the histogram was empty")
	}
	return h, nil
}

func parseHgrmRow(text string) (HgrmRow, error) {
	f := strings.Fields(text)
	if len(f) < 3 || len(f) > 4 {
		return HgrmRow{}, fmt.Errorf("%w: want \"value percentile total-count [1/(1-percentile)]\", got %d fields in %.40q", ErrSyntax, len(f), text)
	}
	var row HgrmRow
	var err error
	if row.Value, err = parseFinite(f[0]); err != nil || row.Value < 0 {
		return row, fmt.Errorf("%w: value %.40q is not a non-negative number", ErrSyntax, f[0])
	}
	if row.Quantile, err = parseFinite(f[1]); err != nil || row.Quantile < 0 || row.Quantile > 1 {
		return row, fmt.Errorf("%w: percentile %.40q is not a fraction between 0 and 1", ErrSyntax, f[1])
	}
	if row.TotalCount, err = strconv.ParseInt(f[2], 10, 64); err != nil || row.TotalCount < 0 {
		return row, fmt.Errorf("%w: total count %.40q is not a non-negative integer", ErrSyntax, f[2])
	}
	return row, nil
}

func parseFinite(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not finite", s)
	}
	return v, nil
}

// parseFooter reads a "#[Key = value, Key = value]" line. Unknown keys are
// ignored so that footers from other tools still load.
func (h *Hgrm) parseFooter(text string) error {
	body, ok := strings.CutSuffix(strings.TrimPrefix(text, "#["), "]")
	if !ok {
		return nil // a comment that merely starts with "#["
	}
	for part := range strings.SplitSeq(body, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		var err error
		switch k {
		case "Mean":
			h.Mean, err = parseFinite(v)
		case "StdDeviation":
			h.StdDev, err = parseFinite(v)
		case "Max":
			h.Max, err = parseFinite(v)
		case "Total count":
			h.TotalCount, err = strconv.ParseInt(v, 10, 64)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: footer %s = %.40q is not a number", ErrSyntax, k, v)
		}
	}
	return nil
}

// ValueAtPercentile returns the value at percent (0–100, as in 99.9). As
// HdrHistogram's reference implementations do, it takes the value of rank
// PercentileRank(percent, total), ⌈percent/100·total⌉, reading the first
// row whose cumulative count reaches that rank; files without counts fall
// back to the first row at or above the percentile. Between rows the
// answer is the next row's value.
func (h *Hgrm) ValueAtPercentile(percent float64) float64 {
	if len(h.Rows) == 0 {
		return 0
	}
	last := h.Rows[len(h.Rows)-1]
	if total := last.TotalCount; total > 0 && !math.IsNaN(percent) {
		rank := PercentileRank(percent, total)
		for _, r := range h.Rows {
			if r.TotalCount >= rank {
				return r.Value
			}
		}
		return last.Value
	}
	q := percent / 100
	for _, r := range h.Rows {
		// Files print six to twelve decimals; allow for the rounding.
		if r.Quantile >= q-1e-9 {
			return r.Value
		}
	}
	return last.Value
}

// Latencies returns the reported percentiles of h, whose values are
// milliseconds as WriteHgrm writes them. max comes from the footer when
// present, otherwise from the last row.
func (h *Hgrm) Latencies() Latencies {
	var l Latencies
	for _, lv := range levels {
		v := h.ValueAtPercentile(lv.Percent)
		if lv.Percent == 100 && h.Max > 0 {
			v = h.Max
		}
		*l.ptr(lv.Label) = NewLatency(msToDuration(v))
	}
	return l
}

// Spectrum returns h's rows as a percentile spectrum, reading values as
// milliseconds.
func (h *Hgrm) Spectrum() Spectrum {
	s := make(Spectrum, 0, len(h.Rows))
	for _, r := range h.Rows {
		s = append(s, SpectrumPoint{Percentile: r.Quantile * 100, Value: msToDuration(r.Value)})
	}
	return s
}

// OpSummaryFromHgrm makes an OpSummary from an .hgrm file of op name, so
// that a baseline kept as .hgrm files can be compared. Only the corrected
// percentiles and the count are known.
func OpSummaryFromHgrm(name string, h *Hgrm) OpSummary {
	count := h.TotalCount
	if count == 0 && len(h.Rows) > 0 {
		count = h.Rows[len(h.Rows)-1].TotalCount
	}
	return OpSummary{Name: name, Count: count, Corrected: h.Latencies()}
}

func msToDuration(ms float64) time.Duration {
	ns := math.Round(ms * 1e6)
	switch {
	case math.IsNaN(ns) || ns <= 0:
		return 0
	case ns >= math.MaxInt64:
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(ns)
}
