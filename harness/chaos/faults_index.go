package chaos

// Index faults. The store offers no way to write a valid index or op record
// behind its back, so the harness makes the states real processes leave:
// ops whose index entries were never flushed (a process SIGKILLed after
// enqueueing, before its lazily written index batch reached the file), and
// ops stamped by a clock no real clock reads (1999).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/boxstorm/boxstorm/opname"
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
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

// indexDamage is an index fault the run injected.
type indexDamage struct {
	Index int
	Kind  scenarios.FaultType
	Count int
	At    int64
}

// malformedClock is the clock the malformed-timestamps fault enqueues
// under: a time before any the store accepts as an enqueue time.
var malformedClock = store.ClockFunc(func() time.Time { return time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC) })

// missingIndexIDs makes count ops whose pending_index entries are missing:
// a worker child enqueues them and SIGKILLs itself before the index batch
// is written.
func (r *chaosRun) missingIndexIDs(ctx context.Context, p fault.PlannedFault, ev *FaultEvent) error {
	f := p.Fault
	if f.Mode != scenarios.IndexMissingIDs {
		return fmt.Errorf("corrupt-index mode %s: %w", f.Mode, fault.ErrUnsupportedFault)
	}
	if err := r.close(); err != nil {
		ev.Detail["close_err"] = err.Error()
	}
	exe, err := r.exe()
	if err != nil {
		return err
	}
	n := max(f.Count, 1)
	args := []string{WorkerCommand, "--enqueue-and-die", strconv.Itoa(n), "--dir", r.storeDir,
		"--key-gen", strconv.Itoa(r.keyGen), "--value-size", strconv.Itoa(r.sc.Workload.ValueSize)}
	cmd := exec.CommandContext(ctx, exe, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	off := r.rec.now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("corrupt-index: start worker: %w", err)
	}
	r.rec.readWorkerEvents(out, off)
	werr := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() {
		return fmt.Errorf("corrupt-index: the worker was not killed (%v): %w", werr, fault.ErrUnsupportedFault)
	}
	r.indexDamage = append(r.indexDamage, indexDamage{Index: p.Index, Kind: f.Type, Count: n, At: r.rec.now()})
	ev.Detail["method"] = fmt.Sprintf("a worker enqueued %d ops and was SIGKILLed before writing their index entries", n)
	return r.open(ctx, nil)
}

// malformedTimestamps enqueues count ops under a clock that reads 1999, so
// their enqueue times are ones no clock could have produced.
func (r *chaosRun) malformedTimestamps(ctx context.Context, p fault.PlannedFault, ev *FaultEvent) error {
	f := p.Fault
	n := max(f.Count, 1)
	if err := r.close(); err != nil {
		ev.Detail["close_err"] = err.Error()
	}
	if err := r.open(ctx, func(o *store.Options) { o.Clock = malformedClock }); err != nil {
		return err
	}
	var k int64
	for range n {
		r.enqueue(ctx, "malformed-clock", &k, nil)
	}
	if err := r.close(); err != nil {
		return err
	}
	r.indexDamage = append(r.indexDamage, indexDamage{Index: p.Index, Kind: f.Type, Count: n, At: r.rec.now()})
	ev.Detail["method"] = fmt.Sprintf("enqueued %d ops under a clock reading 1999-01-01 (the store cannot rewrite a stored op's time)", n)
	return r.open(ctx, nil)
}

// enqueueAndDie is the worker mode behind missingIndexIDs.
func enqueueAndDie(ctx context.Context, dir string, keyGen, n, valueSize int, stdout io.Writer) error {
	s, err := store.Open(ctx, dir, store.Options{Key: store.KeyBytes(chaosKey(keyGen)), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	rec := newRecorder()
	rec.proc = "worker"
	rec.stream = json.NewEncoder(stdout)
	for i := range n {
		marker := fmt.Sprintf("index-damage-%d", i)
		op := rec.begin(&ChaosOp{Client: "index-damage", N: int64(i), Op: opname.Enqueue, Marker: marker, Subject: subjectFor(marker, 1)})
		res, err := s.Enqueue(ctx, payloadFor(marker, valueSize), store.EnqueueOptions{Subject: op.Subject})
		if err == nil {
			op.ID, op.Seq = res.ID, res.Seq
		}
		rec.end(op, err)
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

// checkIndexReported: every index fault was detected by the store itself,
// at the next open (which reconciles the index and says so in its log).
// A rebuild-index step's report is noted, but an explicit rebuild finding
// the damage is not the store detecting it.
func (r *chaosRun) checkIndexReported(faults []FaultEvent) (vs []check.Violation, notes []string) {
	logs := r.logs.records()
	for _, d := range r.indexDamage {
		detected := false
		for _, l := range logs {
			if l.At < d.At || l.Msg != indexReconciledLog {
				continue
			}
			if v, ok := l.Attrs["missing"].(int64); d.Kind == scenarios.FaultCorruptIndex && (!ok || v == 0) {
				continue
			}
			detected = true
			notes = append(notes, fmt.Sprintf("%s: open reported %q %v", d.Kind, l.Msg, l.Attrs))
			break
		}
		for _, ev := range faults {
			if ev.Type != scenarios.FaultRebuildIndex || ev.Phase != "done" || ev.Time < d.At {
				continue
			}
			b, _ := json.Marshal(ev.Detail["report"])
			var rep store.IndexReport
			_ = json.Unmarshal(b, &rep)
			notes = append(notes, fmt.Sprintf("rebuild-index found %d missing, %d malformed timestamps", len(rep.Missing), len(rep.MalformedTimestamps)))
		}
		if !detected {
			vs = append(vs, check.Violation{Kind: "unreported-index-damage", Severity: check.SeverityViolation,
				Message: fmt.Sprintf("%s of %d ops: the next open did not detect it (no %q in the store's log)", d.Kind, d.Count, indexReconciledLog)})
		}
	}
	return vs, notes
}

// indexReconciledLog is the message the store logs when Open finds the
// pending index out of step with the ops.
const indexReconciledLog = "pending index reconciled on open"
