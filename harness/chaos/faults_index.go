package chaos

// Index faults. The store offers no way to write a valid index or op record
// behind its back, so the harness makes the states real processes leave:
// ops whose index entries were never flushed (a process SIGKILLed after
// enqueueing, before its lazily written index batch reached the file), and
// ops stamped by a clock no real clock reads (1999).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

// malformedClock reads a time before any the store accepts as an enqueue's.
var malformedClock = store.ClockFunc(func() time.Time { return time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC) })

// missingIndexIDs makes count ops whose pending_index entries are missing:
// a worker enqueues them and SIGKILLs itself before the index is written.
func (r *chaosRun) missingIndexIDs(ctx context.Context, p fault.PlannedFault, ev *history.Fault) error {
	if err := r.p.inProcessOnly("corrupt-index"); err != nil {
		return err
	}
	f := p.Fault
	if f.Mode != scenarios.IndexMissingIDs {
		return fmt.Errorf("corrupt-index mode %s: %w", f.Mode, fault.ErrUnsupportedFault)
	}
	if err := r.sess.close(); err != nil {
		ev.Detail["close_err"] = err.Error()
	}
	exe, err := r.p.exe()
	if err != nil {
		return err
	}
	n := max(f.Count, 1)
	args := []string{WorkerCommand, "--enqueue-and-die", strconv.Itoa(n), "--dir", r.p.storeDir,
		"--key-gen", strconv.Itoa(r.sess.keyGen), "--value-size", strconv.Itoa(r.p.sc.Workload.ValueSize),
		"--mono-start", strconv.FormatInt(r.mono, 10)}
	cmd := exec.CommandContext(ctx, exe, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("corrupt-index: start worker: %w", err)
	}
	_ = r.hist.Follow(out, "index-damage worker", nil) // a torn last line at worst
	_, _ = io.Copy(io.Discard, out)
	werr := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() {
		return fmt.Errorf("corrupt-index: the worker was not killed (%v): %w", werr, fault.ErrUnsupportedFault)
	}
	r.eff.IndexDamage = append(r.eff.IndexDamage, check.IndexDamage{Index: p.Index, Type: string(f.Type), Count: n, MissingIDs: true, At: r.hist.Now()})
	ev.Detail["method"] = fmt.Sprintf("a worker enqueued %d ops and was SIGKILLed before writing their index entries", n)
	return r.sess.open(ctx, nil)
}

// malformedTimestamps enqueues count ops under a clock that reads 1999.
func (r *chaosRun) malformedTimestamps(ctx context.Context, p fault.PlannedFault, ev *history.Fault) error {
	f := p.Fault
	n := max(f.Count, 1)
	if err := r.sess.close(); err != nil {
		ev.Detail["close_err"] = err.Error()
	}
	if err := r.sess.open(ctx, func(o *store.Options) { o.Clock = malformedClock }); err != nil {
		return err
	}
	var k int64
	for range n {
		r.enqueue(ctx, "malformed-clock", &k, nil)
	}
	if err := r.sess.close(); err != nil {
		return err
	}
	r.eff.IndexDamage = append(r.eff.IndexDamage, check.IndexDamage{Index: p.Index, Type: string(f.Type), Count: n, At: r.hist.Now()})
	ev.Detail["method"] = fmt.Sprintf("enqueued %d ops under a clock reading 1999-01-01 (the store cannot rewrite a stored op's time)", n)
	return r.sess.open(ctx, nil)
}

// enqueueAndDie is the worker mode behind missingIndexIDs.
func enqueueAndDie(ctx context.Context, dir string, keyGen, n, valueSize int, monoStart int64, stdout io.Writer) error {
	s, err := store.Open(ctx, dir, store.Options{Key: store.KeyBytes(chaosKey(keyGen)), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	h := history.NewHistory(history.HistoryOptions{Clock: history.ClockSince(monoStart), Sink: stdout})
	for i := range n {
		marker := fmt.Sprintf("index-damage-%d", i)
		payload := payloadFor(marker, valueSize)
		in := history.OpInput{PayloadHash: history.HashPayload(payload), Subject: subjectFor(marker, 1)}
		_ = record(h, workerClient+"/index-damage", history.KindEnqueue, in, func() (history.OpOutput, error) {
			op, err := s.Enqueue(ctx, payload, store.EnqueueOptions{Subject: in.Subject})
			return history.OpOutput{OpID: op.ID, Seq: op.Seq}, err
		})
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// logCapture keeps the store's log records that say it repaired
// something, so integrity-reported can see reports that go only to the log.
type logCapture struct {
	mu   sync.Mutex
	now  func() int64
	recs []capturedLog
}

type capturedLog struct {
	At    int64
	Msg   string
	Attrs map[string]any
}

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }

func (c *logCapture) Handle(_ context.Context, rec slog.Record) error {
	l := capturedLog{At: c.now(), Msg: rec.Message, Attrs: map[string]any{}}
	rec.Attrs(func(a slog.Attr) bool {
		l.Attrs[a.Key] = a.Value.Any()
		return true
	})
	c.mu.Lock()
	c.recs = append(c.recs, l)
	c.mu.Unlock()
	return nil
}

func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *logCapture) WithGroup(string) slog.Handler      { return c }

func (c *logCapture) records() []capturedLog {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]capturedLog(nil), c.recs...)
}

// indexReconciledLog is logged when Open finds the index out of step.
const indexReconciledLog = "pending index reconciled on open"
