package history

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

// MonotonicAt reads CLOCK_MONOTONIC together with read(), another clock:
// it brackets read() between two MonotonicNanos and keeps the tightest of a
// few tries, returning the midpoint. Two plain reads in a row can be split
// by a preemption or a descheduled thread, which on a loaded machine put a
// worker process's whole history a few milliseconds off the harness's
// (TestProcessorProcesses_InHistory once failed fencing, FIFO and
// linearizability in CI that way).
func MonotonicAt[T any](read func() T) (int64, T) {
	const tries, good = 8, 2000 // ns
	var mono, gap int64 = 0, -1
	var val T
	for range tries {
		a := MonotonicNanos()
		v := read()
		b := MonotonicNanos()
		if gap < 0 || b-a < gap {
			mono, gap, val = a+(b-a)/2, b-a, v
		}
		if gap <= good {
			break
		}
	}
	return mono, val
}
