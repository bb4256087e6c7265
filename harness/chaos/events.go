package chaos

// The chaos runner's op log: every store call a scenario makes, with its
// client, monotonic call and return times, input and output. A worker child
// streams the same events as JSON lines on stdout, so the parent keeps the
// history of a process it killed up to the last whole line.

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

// ChaosOp is one store call of a chaos run: one line of ops.jsonl, the
// runner's raw call log, from which history.jsonl is derived.
// A call that never returned (its process was killed) has Return
// history.ReturnUnknown, and no "return" in JSON, as in history.jsonl.
type ChaosOp struct {
	Client  string          `json:"client"`
	N       int64           `json:"n"` // the client's op number, from 0
	Op      string          `json:"op"`
	Call    int64           `json:"call"`   // ns on the run's monotonic clock
	Return  int64           `json:"return"` // ns, or history.ReturnUnknown
	Token   uint64          `json:"token,omitempty"`
	ID      string          `json:"id,omitempty"`
	Seq     uint64          `json:"seq,omitempty"`
	Key     string          `json:"key,omitempty"`     // idempotency key
	Subject string          `json:"subject,omitempty"` // privacy subject
	Marker  string          `json:"marker,omitempty"`  // payload marker, see payloadFor
	Dup     bool            `json:"dup,omitempty"`
	Err     string          `json:"err,omitempty"`
	Class   string          `json:"class,omitempty"` // error class, see ErrorClass
	Proc    string          `json:"proc,omitempty"`  // "worker" for ops made in a worker child
	Outcome history.Outcome `json:"outcome,omitempty"`
	// Hash is HashPayload of the payload a claim returned.
	Hash string `json:"hash,omitempty"`
	// Clock is the caller's clock reading (Unix ns) an acquire or heartbeat
	// carried: history's OpInput.Clock.
	Clock int64 `json:"clock,omitempty"`
}

// Returned reports whether the call returned.
func (o *ChaosOp) Returned() bool { return o.Return != history.ReturnUnknown }

// OK reports whether the call returned without error.
func (o *ChaosOp) OK() bool { return o.Returned() && o.Err == "" }

// MarshalJSON leaves "return" out for a call that never returned.
func (o ChaosOp) MarshalJSON() ([]byte, error) {
	type plain ChaosOp
	w := struct {
		plain
		Return *int64 `json:"return,omitempty"`
	}{plain: plain(o)}
	if o.Returned() {
		w.Return = &o.Return
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads a missing "return" as history.ReturnUnknown.
func (o *ChaosOp) UnmarshalJSON(b []byte) error {
	type plain ChaosOp
	w := struct {
		*plain
		Return *int64 `json:"return"`
	}{plain: (*plain)(o)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	o.Return = history.ReturnUnknown
	if w.Return != nil {
		o.Return = *w.Return
	}
	return nil
}

// FaultEvent is what happened when a fault ran.
type FaultEvent struct {
	Index  int                 `json:"index"`
	Type   scenarios.FaultType `json:"type"`
	Phase  string              `json:"phase"` // "start" or "done"
	Err    string              `json:"err,omitempty"`
	Class  string              `json:"class,omitempty"`
	Detail map[string]any      `json:"detail,omitempty"`
	// Skipped says why the fault could not be injected; the checks that
	// depend on it are then unknown.
	Skipped string `json:"skipped,omitempty"`
	Proc    string `json:"proc,omitempty"`
	// Time is when the event happened, on the run's monotonic clock.
	Time int64 `json:"t"`
}

// workerEvent is one line of a worker child's stdout.
type workerEvent struct {
	Kind  string      `json:"k"` // "call", "ret", "fault", "end"
	Op    *ChaosOp    `json:"op,omitempty"`
	Fault *FaultEvent `json:"fault,omitempty"`
}

// recorder collects the ops and fault events of a run, in this process or
// streamed to a parent.
type recorder struct {
	start time.Time

	mu     sync.Mutex
	ops    []*ChaosOp
	faults []FaultEvent
	stream *json.Encoder // worker mode: events go to the parent as well
	proc   string
}

func newRecorder() *recorder { return &recorder{start: time.Now()} }

func (r *recorder) now() int64 { return int64(time.Since(r.start)) }

// begin records the call of an op and returns it for end.
func (r *recorder) begin(op *ChaosOp) *ChaosOp {
	op.Call, op.Return, op.Proc = r.now(), history.ReturnUnknown, r.proc
	r.mu.Lock()
	r.ops = append(r.ops, op)
	if r.stream != nil {
		_ = r.stream.Encode(workerEvent{Kind: "call", Op: op})
	}
	r.mu.Unlock()
	return op
}

// end records the return of op with err.
func (r *recorder) end(op *ChaosOp, err error) {
	t := r.now()
	r.mu.Lock()
	op.Return = t
	op.Outcome = outcomeOf(err)
	if err != nil {
		op.Err, op.Class = err.Error(), ErrorClass(err)
	}
	if r.stream != nil {
		_ = r.stream.Encode(workerEvent{Kind: "ret", Op: op})
	}
	r.mu.Unlock()
}

func (r *recorder) fault(ev FaultEvent) {
	r.mu.Lock()
	ev.Proc, ev.Time = r.proc, r.now()
	r.faults = append(r.faults, ev)
	if r.stream != nil {
		_ = r.stream.Encode(workerEvent{Kind: "fault", Fault: &ev})
	}
	r.mu.Unlock()
}

func (r *recorder) snapshot() ([]*ChaosOp, []FaultEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ops), slices.Clone(r.faults)
}

// readWorkerEvents reads a worker child's stream into r until EOF. A torn
// last line, as a SIGKILL leaves, ends the stream. The child's times count
// from its own start, which is after the parent's time off: they are moved
// onto the parent's clock by adding off.
func (r *recorder) readWorkerEvents(rd io.Reader, off int64) (ended bool) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	byKey := map[[2]any]*ChaosOp{}
	for sc.Scan() {
		var ev workerEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			break
		}
		if op := ev.Op; op != nil {
			op.Call += off
			if op.Returned() {
				op.Return += off
			}
		}
		r.mu.Lock()
		switch ev.Kind {
		case "call":
			op := ev.Op
			byKey[[2]any{op.Client, op.N}] = op
			r.ops = append(r.ops, op)
		case "ret":
			if op, ok := byKey[[2]any{ev.Op.Client, ev.Op.N}]; ok {
				*op = *ev.Op
			}
		case "fault":
			ev.Fault.Time += off
			r.faults = append(r.faults, *ev.Fault)
		case "end":
			ended = true
		}
		r.mu.Unlock()
	}
	return ended
}

// Error classes, the names error-is checks take, plus "other".
const classOther = "other"

// ErrorClass names the class of a store error as error-is checks name it:
// one of the scenarios.ErrorName values, or "other".
func ErrorClass(err error) string {
	var ce classError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ce):
		return ce.class
	case errors.Is(err, store.ErrWrongKey), errors.Is(err, store.ErrBackupWrongKey):
		return string(scenarios.ErrorWrongKey)
	case errors.Is(err, store.ErrSchemaMismatch):
		return string(scenarios.ErrorSchemaMismatch)
	case errors.Is(err, store.ErrBackupTruncated), errors.Is(err, store.ErrBackupTampered),
		errors.Is(err, store.ErrBackupCount), errors.Is(err, store.ErrBackupHash),
		errors.Is(err, store.ErrBackupUnsafeEntry), errors.Is(err, store.ErrBackupFormat):
		return string(scenarios.ErrorBackupInvalid)
	case errors.Is(err, store.ErrSync), errors.Is(err, syscall.EFBIG), errors.Is(err, syscall.ENOSPC):
		return string(scenarios.ErrorDiskFull)
	case errors.Is(err, store.ErrLocked):
		return string(scenarios.ErrorLocked)
	case errors.Is(err, store.ErrStaleToken):
		return string(scenarios.ErrorStaleToken)
	case errors.Is(err, store.ErrCorrupt):
		return string(scenarios.ErrorCorrupt)
	}
	return classOther
}

// outcomeOf maps a store error onto a history outcome.
func outcomeOf(err error) history.Outcome {
	switch {
	case err == nil:
		return history.OutcomeOK
	case errors.Is(err, store.ErrEmpty):
		return history.OutcomeEmpty
	case errors.Is(err, store.ErrStaleToken):
		return history.OutcomeStaleToken
	case errors.Is(err, store.ErrNotClaimed):
		return history.OutcomeNotClaimed
	case errors.Is(err, store.ErrLockHeld):
		return history.OutcomeLockHeld
	case errors.Is(err, store.ErrNotFound):
		return history.OutcomeNotFound
	}
	return history.OutcomeError
}
