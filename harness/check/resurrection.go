package check

import (
	"bytes"
	"fmt"
	"github.com/boxstorm/boxstorm/harness/history"
	"sort"
)

// CheckNoResurrection checks that an erased subject's data never comes
// back. For every erase that returned ok, the subject's ops enqueued before
// it (enqueue returned before the erase was called) must not be:
//
//   - claimed by a claim called after the erase returned;
//   - listed, pending or failed, in a store state observed after it;
//   - nor may a later store state count any Export result for the subject
//     (StoreState.Subjects), unless the subject was enqueued again after
//     the erase;
//   - nor may a payload in a later store state (StateOp.Payload) hold one
//     of the subject's markers (o.Markers) outside the subject's new ops.
//
// A history without an erase that returned ok proves nothing: Unknown.
func CheckNoResurrection(events []history.HistoryEvent, o CheckOptions) CheckResult {
	h, err := chkPrepare(events)
	if err != nil {
		return chkBadHistory(CheckerNoResurrection, err)
	}
	f := newChkFindings(CheckerNoResurrection)
	var erases []int
	for i, e := range h.ev {
		if e.Kind == history.KindErase && e.Out.Outcome == history.OutcomeOK && e.In.Subject != "" {
			erases = append(erases, i)
		}
	}
	if len(erases) == 0 {
		f.undecided("the history has no erase that returned ok")
		return f.result("")
	}
	// Ops per subject with the call and return of their creating enqueue.
	bySubject := map[string][]string{}
	for id, subj := range h.subject {
		bySubject[subj] = append(bySubject[subj], id)
	}
	for _, ids := range bySubject {
		sort.Strings(ids)
	}
	checked := 0
	for _, ei := range erases {
		er := h.ev[ei]
		subj := er.In.Subject
		erased := map[string]bool{} // ops the erase must have removed
		fresh := map[string]bool{}  // ops of the subject enqueued after it
		for _, id := range bySubject[subj] {
			oi, ok := h.origin[id]
			if !ok {
				continue
			}
			switch en := h.ev[oi]; {
			case en.Kind == history.KindEnqueue && en.Out.Outcome == history.OutcomeOK && en.Return < er.Call:
				erased[id] = true
			case en.Call > er.Return:
				fresh[id] = true
			}
		}
		enqueuedAgain := false
		for _, e := range h.ev {
			if e.Kind == history.KindEnqueue && e.In.Subject == subj && e.Call > er.Return {
				enqueuedAgain = true
				break
			}
		}
		checked += len(erased)
		for i, e := range h.ev {
			if e.Call <= er.Return {
				continue
			}
			switch e.Kind {
			case history.KindClaim:
				if e.Out.Outcome == history.OutcomeOK && erased[e.Out.OpID] {
					f.add(Violation{Kind: "resurrected", Severity: SeverityViolation, OpID: e.Out.OpID,
						Message: fmt.Sprintf("op %s of erased subject %q claimed after the erase", e.Out.OpID, subj),
						Events:  h.slice(h.origin[e.Out.OpID], ei, i)})
				}
			case history.KindStoreState:
				st := e.State
				for _, list := range [][]history.StateOp{st.Pending, st.Failed} {
					for _, op := range list {
						if erased[op.ID] {
							f.add(Violation{Kind: "resurrected", Severity: SeverityViolation, OpID: op.ID,
								Message: fmt.Sprintf("op %s of erased subject %q is back in %s", op.ID, subj, chkDescribeState(e)),
								Events:  h.slice(h.origin[op.ID], ei, i)})
							continue
						}
						if fresh[op.ID] || op.Subject != "" && op.Subject != subj && h.subject[op.ID] != subj {
							continue
						}
						for mi, m := range o.Markers[subj] {
							if len(m) > 0 && bytes.Contains(op.Payload, m) {
								f.add(Violation{Kind: "resurrected", Severity: SeverityViolation, OpID: op.ID,
									Message: fmt.Sprintf("op %s in %s holds marker %d of erased subject %q", op.ID, chkDescribeState(e), mi, subj),
									Events:  h.slice(ei, i)})
								break
							}
						}
					}
				}
				if n := st.Subjects[subj]; n > 0 && !enqueuedAgain {
					f.add(Violation{Kind: "resurrected", Severity: SeverityViolation,
						Message: fmt.Sprintf("Export found %d ops of erased subject %q in %s", n, subj, chkDescribeState(e)),
						Events:  h.slice(ei, i)})
				}
			}
		}
	}
	return f.result(fmt.Sprintf("%d erases of %d ops checked", len(erases), checked))
}
