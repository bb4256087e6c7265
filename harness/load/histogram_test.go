package load_test

import (
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/load"
)

func TestRecordClamped(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      time.Duration
		stored  time.Duration
		clamped int64
	}{
		{"in range", 3 * time.Millisecond, 3 * time.Millisecond, 0},
		{"highest", 60 * time.Second, 60 * time.Second, 0},
		{"above range", 2 * time.Minute, 60 * time.Second, 1},
		{"negative", -time.Second, 0, 1},
		{"zero", 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := load.NewHistogram()
			if got := load.RecordClamped(h, tc.in); got != tc.clamped {
				t.Errorf("clamped = %d, want %d", got, tc.clamped)
			}
			if got := h.TotalCount(); got != 1 {
				t.Fatalf("count = %d, want 1: nothing may be dropped", got)
			}
			if got := h.Max(); !h.ValuesAreEquivalent(got, int64(tc.stored)) {
				t.Errorf("stored %v, want %v", time.Duration(got), tc.stored)
			}
		})
	}
}
