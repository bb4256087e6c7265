package check

import (
	"fmt"

	"github.com/boxstorm/boxstorm/harness/history"
)

// CheckerIdempotency is idempotency's name, as scenario files spell it.
const CheckerIdempotency = "idempotency"

// CheckIdempotency checks that an idempotency key names one op for the
// whole history, restarts included: every enqueue with a key that returned
// ok returns the op the key's first ok enqueue returned, and every repeat
// says so (duplicate). The store keeps the key's record durably, so a
// process kill, a power loss under a sync mode that promises the first
// enqueue survives, or a clean reopen must not make it forget the key.
//
// A key whose first enqueue never returned (its process died) may have
// created an op or not: its first ok enqueue after that fixes the op. An
// erase of the subject of a key's op ends what the checker can say about
// that key, and so does a restart under a sync mode that may lose the
// first enqueue (see CheckOptions.mustSurvive).
//
// Violation kinds:
//
//   - new-op-after-restart: a repeat of a key after a restart returned a
//     different op than the key's first enqueue before it;
//   - new-op: the same, with no restart between the two;
//   - not-duplicate: a repeat returned the key's op but did not say it was a
//     duplicate.
//
// With no repeated key in the history the verdict is Unknown; with repeats
// but none across a restart the message says so.
func CheckIdempotency(events []history.HistoryEvent, o CheckOptions) CheckResult {
	h, err := chkPrepare(events)
	if err != nil {
		return chkBadHistory(CheckerIdempotency, err)
	}
	f := newChkFindings(CheckerIdempotency)
	type keyFirst struct {
		pos      int
		restarts int // restarts seen before the first enqueue returned
	}
	firsts := map[string]*keyFirst{}
	erasedAt := map[string]int64{} // subject -> call time of its first erase that may have taken effect
	var restartsAt []int64         // times of the restart observations
	var restartStates []*history.StoreState
	for _, e := range h.ev {
		switch {
		case e.Kind == history.KindErase && e.Out.Outcome != history.OutcomeNotFound:
			if _, ok := erasedAt[e.In.Subject]; !ok {
				erasedAt[e.In.Subject] = e.Call
			}
		case chkIsRestart(e):
			restartsAt = append(restartsAt, e.Call)
			restartStates = append(restartStates, e.State)
		}
	}
	restartsBefore := func(t int64) int {
		n := 0
		for _, r := range restartsAt {
			if r < t {
				n++
			}
		}
		return n
	}
	var repeats, acrossRestart int
	for i, e := range h.ev {
		key := e.In.IdempotencyKey
		if e.Kind != history.KindEnqueue || key == "" || e.Out.Outcome != history.OutcomeOK || e.Out.OpID == "" {
			continue
		}
		if at, ok := erasedAt[e.In.Subject]; ok && at < e.Return {
			continue
		}
		fst := firsts[key]
		if fst == nil {
			firsts[key] = &keyFirst{pos: i, restarts: restartsBefore(e.Return)}
			continue
		}
		head := h.ev[fst.pos]
		// A restart between the two that may lose the first enqueue frees
		// the key.
		lost := false
		for k, at := range restartsAt {
			if at > head.Return && at < e.Call && !o.mustSurvive(restartStates[k], head.Return) {
				lost = true
			}
		}
		if lost {
			firsts[key] = &keyFirst{pos: i, restarts: restartsBefore(e.Return)}
			continue
		}
		repeats++
		restarted := restartsBefore(e.Call) > fst.restarts
		if restarted {
			acrossRestart++
		}
		switch {
		case e.Out.OpID != head.Out.OpID:
			kind := "new-op"
			if restarted {
				kind = "new-op-after-restart"
			}
			f.add(Violation{Kind: kind, Severity: SeverityViolation, OpID: e.Out.OpID,
				Message: fmt.Sprintf("key %q: %s got op %s, but the key's first enqueue returned op %s", key, e.Client, e.Out.OpID, head.Out.OpID),
				Events:  h.slice(fst.pos, i)})
		case !e.Out.Duplicate:
			f.add(Violation{Kind: "not-duplicate", Severity: SeverityViolation, OpID: e.Out.OpID,
				Message: fmt.Sprintf("key %q: %s got the key's op %s back without the duplicate flag", key, e.Client, e.Out.OpID),
				Events:  h.slice(fst.pos, i)})
		}
	}
	if repeats == 0 {
		f.undecided("no idempotency key was repeated after an ok enqueue")
	}
	summary := fmt.Sprintf("%d keys, %d repeats, %d of them after a restart", len(firsts), repeats, acrossRestart)
	return f.result(summary)
}
