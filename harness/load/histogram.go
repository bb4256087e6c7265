package load

// Histogram geometry shared by every latency histogram the harness records.

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Geometry of the harness's latency histograms: nanosecond values from 1 µs
// to 60 s at 3 significant digits. Values between 0 and 1 µs are kept at
// 512 ns resolution; values above 60 s are clamped (see RecordClamped).
const (
	HistogramLowest  = int64(time.Microsecond)
	HistogramHighest = int64(60 * time.Second)
	HistogramSigFigs = 3
)

// NewHistogram returns an empty latency histogram with the harness
// geometry. Histograms of the same geometry merge without loss.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(HistogramLowest, HistogramHighest, HistogramSigFigs)
}

// RecordClamped records d in h, a histogram of NewHistogram's geometry. A
// value above HistogramHighest is recorded as HistogramHighest and a
// negative one as 0, so nothing is dropped silently; the return value
// counts the clamped value (0 or 1) for the caller to report.
func RecordClamped(h *hdrhistogram.Histogram, d time.Duration) (clamped int64) {
	v := int64(d)
	switch {
	case v > HistogramHighest:
		v, clamped = HistogramHighest, 1
	case v < 0:
		v, clamped = 0, 1
	}
	// In range by construction; the only other failure, a total count
	// overflowing int64, is out of reach.
	_ = h.RecordValue(v)
	return clamped
}
