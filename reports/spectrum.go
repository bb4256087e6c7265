package reports

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// SpectrumPoint is one point of a percentile spectrum.
type SpectrumPoint struct {
	Percentile float64       // 0–100
	Value      time.Duration // latency at that percentile
}

// Spectrum is a latency distribution as (percentile, value) points in
// increasing order, the curve of the HTML report's first chart. It can come
// from a histogram, an .hgrm file or a summary, so a baseline kept in any of
// those forms can be overlaid.
type Spectrum []SpectrumPoint

// HistogramSpectrum returns the spectrum of a nanosecond histogram at the
// resolution of .hgrm files.
func HistogramSpectrum(h *hdrhistogram.Histogram) Spectrum {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	dist := h.CumulativeDistributionWithTicks(hgrmTicksPerHalfDistance)
	s := make(Spectrum, 0, len(dist))
	for _, b := range dist {
		s = append(s, SpectrumPoint{Percentile: b.Quantile, Value: time.Duration(b.ValueAt)})
	}
	return s
}

// Spectrum returns the reported percentiles as a spectrum (max excluded: it
// has no finite place on a 1/(1-p) axis).
func (l *Latencies) Spectrum() Spectrum {
	s := make(Spectrum, 0, len(levels))
	for _, lv := range levels {
		if lv.Percent >= 100 {
			continue
		}
		v, _ := l.At(lv.Label)
		s = append(s, SpectrumPoint{Percentile: lv.Percent, Value: v.Duration()})
	}
	return s
}

// BaselineSpectra returns the corrected spectrum of every op in a summary,
// for HTMLOptions.Baseline.
func BaselineSpectra(s *Summary) map[string]Spectrum {
	m := make(map[string]Spectrum, len(s.Ops))
	for i := range s.Ops {
		m[s.Ops[i].Name] = s.Ops[i].Corrected.Spectrum()
	}
	return m
}
