package load

import (
	"context"
	"runtime"
	"time"
)

// Clock is the load engine's source of time. Tests inject a simulated one;
// everything else uses SystemClock.
type Clock interface {
	// Now returns the current time. The engine only subtracts readings, so
	// a monotonic clock is enough.
	Now() time.Time
	// SleepUntil blocks until Now reaches t, or until ctx is done, in which
	// case it returns ctx.Err(). It returns at once if t has passed.
	SleepUntil(ctx context.Context, t time.Time) error
}

// DefaultSpin is SystemClock's default spin window; see SystemClock.Spin.
const DefaultSpin = time.Millisecond

// SystemClock is the real clock.
//
// Go's timers are coarse on Linux: the runtime sleeps in epoll with a
// millisecond timeout, so a timer fires up to about 1 ms late (on the
// development machine, p50 0.6 ms and p90 1.1 ms late). An open loop paced
// by timers alone would add that lateness to every corrected latency. With
// Spin set, SleepUntil sleeps until Spin before the deadline and then yields
// the processor in a loop (runtime.Gosched) until the deadline, which brings
// the lateness down to microseconds. The cost is CPU: in an open loop the
// pacer spins for up to Spin per op, so at rates above 1/Spin it keeps one
// core busy, though it yields to every runnable goroutine.
type SystemClock struct {
	Spin time.Duration // how long before a deadline to stop sleeping and spin; 0 never spins
}

var _ Clock = SystemClock{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// SleepUntil implements Clock.
func (c SystemClock) SleepUntil(ctx context.Context, t time.Time) error {
	if d := time.Until(t) - c.Spin; d > 0 {
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
	for c.Spin > 0 && time.Now().Before(t) {
		if err := ctx.Err(); err != nil {
			return err
		}
		runtime.Gosched()
	}
	return nil
}
