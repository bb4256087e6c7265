package target

// The protocol's round trip, timed the one way loadgen and chaos both
// report it.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/boxstorm/boxstorm/reports"
	"github.com/boxstorm/boxstorm/store"
)

// DefaultRoundTrips is how many round trips the tools time with
// MeasureRoundTrip.
const DefaultRoundTrips = 200

// roundTripKey is the key MeasureRoundTrip reads: no store holds it.
const roundTripKey = "round-trip-missing"

// MeasureRoundTrip times n round trips of the cheapest request, a get of a
// missing key in box, one at a time, after one untimed to warm the path
// (the first get may create box). Every answer must be not-found: any
// other is an error, and one of the transport's wraps its sentinel
// (IsTransport). The percentiles are read from the exact samples by
// HdrHistogram's reference rule (reports.PercentileRank).
func MeasureRoundTrip(ctx context.Context, r *Remote, box string, n int) (*reports.RoundTrip, error) {
	if n <= 0 {
		return nil, fmt.Errorf("round trip: %d round trips, want at least 1", n)
	}
	samples := make([]time.Duration, 0, n)
	for i := -1; i < n; i++ {
		start := time.Now()
		_, err := r.Get(ctx, box, roundTripKey)
		d := time.Since(start)
		switch {
		case err == nil:
			return nil, fmt.Errorf("round trip: a get of a missing key found a value, want outcome %s", OutcomeNotFound)
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("round trip: a get of a missing key, want outcome %s: %w", OutcomeNotFound, err)
		}
		if i >= 0 {
			samples = append(samples, d)
		}
	}
	slices.Sort(samples)
	at := func(percent float64) reports.Latency {
		return reports.NewLatency(samples[reports.PercentileRank(percent, int64(n))-1])
	}
	return &reports.RoundTrip{Request: "get of a missing key", Count: n, P50: at(50), P99: at(99)}, nil
}
