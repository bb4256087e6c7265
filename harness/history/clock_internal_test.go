package history

import "testing"

// MonotonicAt returns the other clock's reading and a CLOCK_MONOTONIC
// reading within the calls around it.
func TestMonotonicAt(t *testing.T) {
	before := MonotonicNanos()
	mono, v := MonotonicAt(func() int { return 7 })
	after := MonotonicNanos()
	if v != 7 || mono < before || mono > after {
		t.Errorf("MonotonicAt = %d, %d; want 7 read between %d and %d", mono, v, before, after)
	}
}
