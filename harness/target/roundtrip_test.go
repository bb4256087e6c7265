package target_test

import (
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/target"
)

func TestMeasureRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	rem, _, err := dial(t, "store", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := target.MeasureRoundTrip(ctx, rem, "bench", 50)
	if err != nil {
		t.Fatal(err)
	}
	if rt.Count != 50 || rt.P50.Ns <= 0 || rt.P99.Ns < rt.P50.Ns || rt.Request != "get of a missing key" {
		t.Errorf("round trip %+v: want 50 gets of a missing key, 0 < p50 <= p99", rt)
	}
	if _, err := target.MeasureRoundTrip(ctx, rem, "bench", 0); err == nil {
		t.Error("0 round trips: no error")
	}
	// The key it reads, once present, is an answer it refuses to time.
	if err := rem.Put(ctx, "bench", "round-trip-missing", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := target.MeasureRoundTrip(ctx, rem, "bench", 5); err == nil || !strings.Contains(err.Error(), "found a value") {
		t.Errorf("round trip over a present key: %v, want found a value", err)
	}
}

// A target that exits is a transport error, not a measurement.
func TestMeasureRoundTrip_TargetExits(t *testing.T) {
	t.Parallel()
	rem, _, err := dial(t, "dies", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := target.MeasureRoundTrip(testCtx(t), rem, "bench", 5); !target.IsTransport(err) {
		t.Errorf("round trip to a target that exits: %v, want a transport error", err)
	}
}
