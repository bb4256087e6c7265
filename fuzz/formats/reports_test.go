package formats_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"testing"

	"github.com/boxstorm/boxstorm/reports"
)

// FuzzReportReaders reads arbitrary bytes as each input format of the load
// reports, .hlog, .hgrm and the JSON summary, and takes what parses down the
// paths loadgen's report, compare and merge take: totals, the run rebuilt
// from a log and its summary and text report, a merge, percentiles, the
// baseline spectra, and a comparison. Nothing panics; every read error is a *reports.ParseError for
// the file; and a summary compared with itself shows no regression.
func FuzzReportReaders(f *testing.F) {
	f.Add([]byte("#[StartTime: 1700000000.000 (seconds since epoch)]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.input"
		check := func(reader string, err error) bool {
			if err == nil {
				return true
			}
			var pe *reports.ParseError
			if !errors.As(err, &pe) || pe.File != name || pe.Line < 0 {
				t.Fatalf("%s: error %v (%T) is not a *ParseError for %s", reader, err, err, name)
			}
			return false
		}

		if l, err := reports.ReadHlog(bytes.NewReader(data), name); check("ReadHlog", err) {
			_ = l.Tags()
			if n := denseBytes(l); n > 256<<20 {
				t.Fatalf("a %d-byte .hlog would make Totals and Run allocate %d MiB", len(data), n>>20)
			}
			if _, err := l.Totals(); err == nil {
				if run, err := l.Run(); err == nil && run.Validate() == nil {
					s := reports.Summarize(run)
					_ = reports.WriteText(io.Discard, s)
				}
			}
			_, _ = reports.MergeHlogs(l, l)
		}

		if h, err := reports.ReadHgrm(bytes.NewReader(data), name); check("ReadHgrm", err) {
			_ = h.Latencies()
			_ = h.Spectrum()
			for _, p := range []float64{0, 50, 99.9, 100} {
				_ = h.ValueAtPercentile(p)
			}
			_ = reports.OpSummaryFromHgrm("op", h)
		}

		if s, err := reports.ReadSummary(bytes.NewReader(data), name); check("ReadSummary", err) {
			c := reports.Compare(s, s, reports.DefaultThresholds())
			if c.Failed() || c.Regressions() != 0 {
				t.Fatalf("a summary compared with itself fails: %s", c.Verdict())
			}
			_ = reports.WriteComparisonText(io.Discard, c)
			_ = reports.BaselineSpectra(s)
			_ = reports.WriteText(io.Discard, s)
		}
	})
}

// denseBytes estimates what Hlog.Totals and Hlog.Run allocate: one dense
// histogram per tag, and per op two more when a tag's corrected or
// uncorrected half is missing, each of the tag's first interval's geometry
// (8 bytes a bucket, laid out as HdrHistogram does).
func denseBytes(l *reports.Hlog) int64 {
	seen := map[string]bool{}
	var total int64
	for _, iv := range l.Intervals {
		if seen[iv.Tag] {
			continue
		}
		seen[iv.Tag] = true
		h := iv.Hist
		total += 3 * 8 * denseCounts(h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures())
	}
	return total
}

func denseCounts(lowest, highest, sig int64) int64 {
	sig = min(max(sig, 0), 5)
	lowest = max(lowest, 1)
	sub := int64(1) << int(math.Ceil(math.Log2(2*math.Pow10(int(sig)))))
	unit := int64(math.Floor(math.Log2(float64(lowest))))
	if unit+int64(math.Log2(float64(sub))) >= 62 {
		return 0 // ReadHlog refuses it
	}
	buckets := int64(1)
	for smallest := sub << unit; smallest <= highest; smallest <<= 1 {
		buckets++
		if smallest > math.MaxInt64/2 {
			break
		}
	}
	return (buckets + 1) * sub / 2
}
