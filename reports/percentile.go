package reports

// The one place a percentile is read from a histogram. hdrhistogram-go
// v1.4.0 ranks half up (⌊p/100·N + 0.5⌋, its percentileRank), which puts
// the tail one sample below what HdrHistogram's reference implementations
// (Java getValueAtPercentile, hdr-histogram-js) report, so every figure of
// every report goes through ValuesAtPercentiles instead.

import (
	"math"
	"math/bits"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram is a histogram the percentile functions read: hdrhistogram-go's
// dense Histogram or its sparse PackedHistogram.
type Histogram interface {
	*hdrhistogram.Histogram | *hdrhistogram.PackedHistogram
}

// PercentileRank returns the count rank HdrHistogram's reference rule reads
// percent (0–100, as in 99.9) at among total values: ⌈percent/100·total⌉,
// at least 1 and at most total. As hdr-histogram-js does, it takes one ulp
// off the product before rounding up, so that 99.9% of 1000, which floating
// point computes as 999.0000000000001, is rank 999. It returns 0 when total
// is 0.
func PercentileRank(percent float64, total int64) int64 {
	if total <= 0 {
		return 0
	}
	if math.IsNaN(percent) || percent < 0 {
		percent = 0
	}
	fp := min(percent, 100) / 100 * float64(total)
	rank := int64(1)
	if fp > 0 {
		// ulp as hdr-histogram-js computes it: 2^(⌊log2 x⌋ − 52).
		ulp := math.Pow(2, math.Floor(math.Log2(fp))-52)
		rank = max(rank, int64(math.Ceil(fp-ulp)))
	}
	return min(rank, total)
}

// ValueAtPercentile returns the value at percent (0–100, as in 99.9) of h
// by HdrHistogram's reference rule: walking the buckets in value order, the
// first bucket whose cumulative count reaches PercentileRank(percent, N),
// reported as the highest value equivalent to that bucket (its lowest for
// percent 0), exactly as Java's getValueAtPercentile and hdr-histogram-js
// report it. percent 100 is h.Max(). An empty or nil histogram gives 0.
func ValueAtPercentile[H Histogram](h H, percent float64) int64 {
	return ValuesAtPercentiles(h, []float64{percent})[0]
}

// ValuesAtPercentiles returns ValueAtPercentile for each of percents, in
// their order, walking h's buckets once.
func ValuesAtPercentiles[H Histogram](h H, percents []float64) []int64 {
	out := make([]int64, len(percents))
	if h == nil {
		return out
	}
	var (
		total int64
		geo   geometry
		walk  func(fn func(value, count int64) bool)
	)
	switch h := any(h).(type) {
	case *hdrhistogram.Histogram:
		total, geo = h.TotalCount(), newGeometry(h.LowestTrackableValue(), h.SignificantFigures())
		walk = func(fn func(value, count int64) bool) {
			for _, b := range h.Distribution() {
				if b.Count != 0 && !fn(b.From, b.Count) {
					return
				}
			}
		}
	case *hdrhistogram.PackedHistogram:
		total, geo = h.TotalCount(), newGeometry(h.LowestTrackableValue(), h.SignificantFigures())
		walk = h.ForEachBucket
	}
	if total == 0 {
		return out
	}
	ranks := make([]int64, len(percents))
	left := 0
	for i, p := range percents {
		ranks[i] = PercentileRank(p, total)
		left++
	}
	var cum int64
	walk(func(value, count int64) bool {
		if count <= 0 {
			return true
		}
		if count > math.MaxInt64-cum {
			cum = math.MaxInt64
		} else {
			cum += count
		}
		for i, r := range ranks {
			if r == 0 || cum < r {
				continue
			}
			if percents[i] == 0 {
				out[i] = geo.lowestEquivalent(value)
			} else {
				out[i] = geo.highestEquivalent(value)
			}
			ranks[i] = 0
			left--
		}
		return left > 0
	})
	return out
}

// geometry is the bucket layout of an HdrHistogram, from its public
// parameters: the same arithmetic as hdrhistogram-go's (and Java's)
// getBucketIndex, getSubBucketIdx and sizeOfEquivalentValueRange, which
// the library does not export.
type geometry struct {
	unitMagnitude               uint
	subBucketHalfCountMagnitude uint
	subBucketCount              int64
	subBucketMask               int64
}

func newGeometry(lowest, sigFigs int64) geometry {
	// As hdrhistogram-go's geometryMagnitudes: unit resolution up to
	// 2·10^sigFigs, in a power-of-two sub-bucket count.
	largest := 2 * math.Pow10(int(sigFigs))
	subBucketCountMagnitude := int(math.Ceil(math.Log2(largest)))
	half := max(subBucketCountMagnitude, 1) - 1
	unit := 0
	if lowest > 1 {
		unit = 63 - bits.LeadingZeros64(uint64(lowest)) // ⌊log2 lowest⌋
	}
	g := geometry{unitMagnitude: uint(unit), subBucketHalfCountMagnitude: uint(half)}
	g.subBucketCount = int64(1) << (g.subBucketHalfCountMagnitude + 1)
	g.subBucketMask = (g.subBucketCount - 1) << g.unitMagnitude
	return g
}

// bucket returns the bucket and sub-bucket index of v.
func (g geometry) bucket(v int64) (bucketIdx, subBucketIdx int64) {
	pow2Ceiling := int64(64 - bits.LeadingZeros64(uint64(v|g.subBucketMask)))
	bucketIdx = pow2Ceiling - int64(g.unitMagnitude) - int64(g.subBucketHalfCountMagnitude+1)
	subBucketIdx = v >> uint(bucketIdx+int64(g.unitMagnitude))
	return bucketIdx, subBucketIdx
}

func (g geometry) lowestEquivalent(v int64) int64 {
	b, s := g.bucket(v)
	return s << uint(b+int64(g.unitMagnitude))
}

// highestEquivalent is the last value of v's bucket, saturating at
// math.MaxInt64 for the top bucket.
func (g geometry) highestEquivalent(v int64) int64 {
	b, s := g.bucket(v)
	if s >= g.subBucketCount {
		b++
	}
	size := int64(1) << uint(b+int64(g.unitMagnitude))
	low := g.lowestEquivalent(v)
	if low > math.MaxInt64-size {
		return math.MaxInt64
	}
	return low + size - 1
}
