package harness

import "golang.org/x/sys/unix"

// MonotonicNanos reads CLOCK_MONOTONIC in nanoseconds. Unlike Go's own
// monotonic readings, which only compare within one process, it is the same
// clock in every process on the machine, so a crash worker and the harness
// that kills it can record one history (see ClockSince).
func MonotonicNanos() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		// CLOCK_MONOTONIC cannot fail on the systems the store supports
		// (it needs flock); there is nothing better to return.
		panic("harness: CLOCK_MONOTONIC: " + err.Error())
	}
	return ts.Nano()
}
