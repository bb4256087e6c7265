package reports_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/boxstorm/boxstorm/reports"
)

// percentileVectors is testdata/percentiles/vectors.json: value sets and the
// percentiles hdr-histogram-js reports for them (see generate.js there).
type percentileVectors struct {
	Sets []struct {
		Name    string  `json:"name"`
		Lowest  int64   `json:"lowest"`
		Highest int64   `json:"highest"`
		SigFigs int     `json:"significant_figures"`
		Values  []int64 `json:"values"`
		Expect  []struct {
			Percent float64 `json:"percent"`
			Value   int64   `json:"value"`
		} `json:"expect"`
	} `json:"sets"`
}

func TestValuesAtPercentilesMatchReference(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "percentiles", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vec percentileVectors
	if err := json.Unmarshal(data, &vec); err != nil {
		t.Fatal(err)
	}
	if len(vec.Sets) < 5 {
		t.Fatalf("only %d vector sets", len(vec.Sets))
	}
	for _, set := range vec.Sets {
		t.Run(set.Name, func(t *testing.T) {
			dense := hdrhistogram.New(set.Lowest, set.Highest, set.SigFigs)
			packed := hdrhistogram.NewPacked(set.Lowest, set.Highest, set.SigFigs)
			for _, v := range set.Values {
				if err := dense.RecordValue(v); err != nil {
					t.Fatal(err)
				}
				if err := packed.RecordValue(v); err != nil {
					t.Fatal(err)
				}
			}
			percents := make([]float64, len(set.Expect))
			for i, e := range set.Expect {
				percents[i] = e.Percent
			}
			gotDense := reports.ValuesAtPercentiles(dense, percents)
			gotPacked := reports.ValuesAtPercentiles(packed, percents)
			for i, e := range set.Expect {
				if gotDense[i] != e.Value || gotPacked[i] != e.Value {
					t.Errorf("N=%d p%v: dense %d, packed %d, want %d (hdr-histogram-js)", len(set.Values), e.Percent, gotDense[i], gotPacked[i], e.Value)
				}
				if one := reports.ValueAtPercentile(dense, e.Percent); one != gotDense[i] {
					t.Errorf("p%v: ValueAtPercentile %d, ValuesAtPercentiles %d", e.Percent, one, gotDense[i])
				}
			}
			if got, want := reports.ValueAtPercentile(dense, 100), dense.Max(); got != want {
				t.Errorf("p100 = %d, want Max() %d", got, want)
			}
		})
	}
}

// TestValueAtPercentileTail pins the difference that motivated the rule:
// hdrhistogram-go's own ValueAtPercentile ranks half up and reads one value
// too low where p/100·N has a fraction below one half.
func TestValueAtPercentileTail(t *testing.T) {
	h := newHist()
	for i := int64(1); i <= 1670; i++ {
		if err := h.RecordValue(i * 1_000_000); err != nil { // 1 ms … 1670 ms
			t.Fatal(err)
		}
	}
	// 99.9% of 1670 is 1668.33: the reference reads rank 1669, half up 1668.
	if got, want := reports.ValueAtPercentile(h, 99.9), h.ValueAtPercentile(1669.0/1670*100); got != want {
		t.Errorf("p99.9 = %d, want the value at rank 1669, %d", got, want)
	}
	if got, low := reports.ValueAtPercentile(h, 99.9), h.ValueAtPercentile(99.9); got <= low {
		t.Errorf("p99.9 = %d, not above hdrhistogram-go's half-up %d", got, low)
	}
}

func TestPercentileRank(t *testing.T) {
	for _, tc := range []struct {
		name    string
		percent float64
		total   int64
		want    int64
	}{
		{"empty", 50, 0, 0},
		{"p0 is the first", 0, 10, 1},
		{"negative is the first", -5, 10, 1},
		{"NaN is the first", math.NaN(), 10, 1},
		{"tiny percent still one", 0.0001, 3, 1},
		{"p50 of 3 rounds up", 50, 3, 2},
		{"p50 of 2", 50, 2, 1},
		{"p99 of 10 rounds up", 99, 10, 10},
		{"p99.9 of 1000 is exact despite floating point", 99.9, 1000, 999},
		{"p99.9 of 1670 rounds up", 99.9, 1670, 1669},
		{"p100", 100, 7, 7},
		{"above 100", 250, 7, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := reports.PercentileRank(tc.percent, tc.total); got != tc.want {
				t.Errorf("PercentileRank(%v, %d) = %d, want %d", tc.percent, tc.total, got, tc.want)
			}
		})
	}
}

// TestBucketGeometry checks the bucket arithmetic ValuesAtPercentiles does
// itself against the library's own, bucket by bucket, for several
// geometries: every bucket's highest value must be the To of
// Histogram.Distribution.
func TestBucketGeometry(t *testing.T) {
	for _, g := range []struct {
		lowest, highest int64
		sig             int
	}{{1000, 60e9, 3}, {1, 3_600_000_000, 2}, {1, 1e6, 5}, {100, 1e9, 1}} {
		h := hdrhistogram.New(g.lowest, g.highest, g.sig)
		one := hdrhistogram.NewPacked(g.lowest, g.highest, g.sig)
		for _, b := range bars(h, g.highest) {
			one.Reset()
			if err := one.RecordValue(b.From); err != nil {
				t.Fatal(err)
			}
			if got := reports.ValueAtPercentile(one, 50); got != b.To {
				t.Fatalf("geometry %v: bucket from %d: highest equivalent %d, library says %d", g, b.From, got, b.To)
			}
			if got := reports.ValueAtPercentile(one, 0); got != b.From {
				t.Fatalf("geometry %v: bucket from %d: lowest equivalent %d", g, b.From, got)
			}
		}
	}
}

// bars returns a sample of h's buckets up to highest: the first 4096 (the
// finest and the first doublings), then every 97th, and the last.
func bars(h *hdrhistogram.Histogram, highest int64) []hdrhistogram.Bar {
	if err := h.RecordValue(highest); err != nil {
		panic(err)
	}
	all := h.Distribution()
	var out []hdrhistogram.Bar
	for i, b := range all {
		if i < 4096 || i%97 == 0 || i == len(all)-1 {
			out = append(out, b)
		}
	}
	return out
}
