package chaos

// Recording: every store call and every fault of a run goes into one
// history.History, the format the checkers read. A child process (crash
// worker, processor process) records into its own History whose Sink is
// its stdout, on the harness's clock; the harness follows that stream into
// its History (History.Follow). This file maps store errors onto the
// history's outcomes and error classes, and derives result.json's fault
// list from the history.

import (
	"errors"

	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

// harnessClient is who the history says made the runner's own calls (opens,
// backups, restores...) and injected its faults.
const harnessClient = "harness"

// FaultEvent is one fault event as result.json lists it: the payload of a
// history fault event with its process and time. The history is the
// record; this is a view of it (see faultEvents).
type FaultEvent struct {
	Index  int                 `json:"index"`
	Type   scenarios.FaultType `json:"type"`
	Phase  string              `json:"phase"` // "start", "done" or "kill"
	Err    string              `json:"err,omitempty"`
	Class  string              `json:"class,omitempty"`
	Detail map[string]any      `json:"detail,omitempty"`
	// Skipped says why the fault could not be injected; the checks that
	// depend on it are then unknown.
	Skipped string `json:"skipped,omitempty"`
	// Proc is the child process that ran it ("worker"), or "" for the
	// harness.
	Proc string `json:"proc,omitempty"`
	// Time is when the event happened, on the run's monotonic clock.
	Time int64 `json:"t"`
}

// faultEvents lists the fault events of a history, in its order.
func faultEvents(events []history.HistoryEvent) []FaultEvent {
	var out []FaultEvent
	for _, e := range events {
		if e.Kind != history.KindFault || e.Fault == nil {
			continue
		}
		f := e.Fault
		ev := FaultEvent{Index: f.Index, Type: scenarios.FaultType(f.Type), Phase: f.Phase, Err: f.Err, Class: f.Class, Detail: f.Detail, Skipped: f.Skipped, Proc: e.Client, Time: e.Call}
		if ev.Proc == harnessClient {
			ev.Proc = ""
		}
		out = append(out, ev)
	}
	return out
}

// record records one call of client through h: its call with in, then
// how do returned (see result).
func record(h *history.History, client string, kind history.OpKind, in history.OpInput, do func() (history.OpOutput, error)) error {
	i := h.Call(client, kind, "", in)
	out, err := do()
	h.Return(i, result(out, err))
	return err
}

// result is the output a call that returned err records: out when err is
// nil, else the error's outcome, text and class.
func result(out history.OpOutput, err error) history.OpOutput {
	if err != nil {
		return history.OpOutput{Outcome: outcomeOf(err), Err: err.Error(), ErrClass: ErrorClass(err)}
	}
	out.Outcome = history.OutcomeOK
	return out
}

// classOther is the error class of an error no error-is check names.
const classOther = target.ClassOther

// ErrorClass names the class of a store error as error-is checks name it:
// one of the scenarios.ErrorName values, or "other". An error a child
// process reported keeps the class it crossed with; any other is classed by
// target.ErrorClass, the one mapping of the store's errors, which the target
// protocol's replies use too.
func ErrorClass(err error) string {
	var ce classError
	if errors.As(err, &ce) {
		return ce.class
	}
	return target.ErrorClass(err)
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

// classError carries an error and its class across a process boundary.
type classError struct{ msg, class string }

func (e classError) Error() string { return e.msg }
