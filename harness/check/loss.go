package check

import (
	"fmt"
	"github.com/boxstorm/boxstorm/harness/history"
	"sort"
)

// CheckNoLoss checks that nothing acknowledged is lost: every op an
// enqueue, retry or fail returned ok for is later acked ok, or is still
// pending, failed or done in its queue's final state (the last store-state
// event of the queue). Ops of a subject that was erased are exempt.
//
// A lost op is classified by the first store-state event that lacks it.
// After a machine crash (RestartMachine) under o.Durability interval or
// never, the loss is SeverityExpected: those modes do not promise to survive
// one. Every other loss is a violation: under always, and after a process
// crash or a clean reopen in any mode, since the store hands each write to
// the kernel before it returns. An op that a crashed ack may have completed
// is reported as info. With no final state for a queue whose ops are not
// all acked, the verdict is Unknown.
func CheckNoLoss(events []history.HistoryEvent, o CheckOptions) CheckResult {
	h, err := chkPrepare(events)
	if err != nil {
		return chkBadHistory(CheckerNoLoss, err)
	}
	f := newChkFindings(CheckerNoLoss)
	last := h.lastStates()

	type opInfo struct {
		queue string
		acks  []int // events that acknowledged the op's existence
		acked bool  // an ack returned ok
		maybe []int // acks that may have completed it
	}
	ops := map[string]*opInfo{}
	var ids []string
	get := func(id, queue string) *opInfo {
		oi := ops[id]
		if oi == nil {
			oi = &opInfo{queue: queue}
			ops[id] = oi
			ids = append(ids, id)
		}
		return oi
	}
	var erases []int
	for i, e := range h.ev {
		switch e.Kind {
		case history.KindEnqueue:
			if e.Out.Outcome == history.OutcomeOK && e.Out.OpID != "" {
				oi := get(e.Out.OpID, e.Queue)
				oi.acks = append(oi.acks, i)
			}
		case history.KindRetry, history.KindFail:
			if e.Out.Outcome == history.OutcomeOK && e.In.OpID != "" {
				oi := get(e.In.OpID, e.Queue)
				oi.acks = append(oi.acks, i)
			}
		case history.KindErase:
			if e.Out.Outcome != history.OutcomeOK && chkDefinite(e.Out.Outcome) {
				continue
			}
			erases = append(erases, i)
		}
	}
	for i, e := range h.ev {
		if e.Kind != history.KindAck || e.In.OpID == "" {
			continue
		}
		oi := ops[e.In.OpID]
		if oi == nil {
			continue
		}
		switch {
		case e.Out.Outcome == history.OutcomeOK:
			oi.acked = true
		case !chkDefinite(e.Out.Outcome):
			oi.maybe = append(oi.maybe, i)
		}
	}

	// Store-state events per queue, in order, with their op sets.
	states := map[string][]int{}
	sets := map[int]chkStateSet{}
	for i, e := range h.ev {
		if e.Kind == history.KindStoreState {
			states[e.Queue] = append(states[e.Queue], i)
			sets[i] = newChkStateSet(e.State)
		}
	}

	checked, undecided := 0, 0
	for _, id := range ids {
		oi := ops[id]
		if oi.acked {
			continue
		}
		checked++
		first := h.ev[oi.acks[0]]
		if _, erased := h.erasedBy(id, first.Call, erases); erased {
			continue
		}
		fin, ok := last[oi.queue]
		if !ok {
			undecided++
			continue
		}
		if sets[fin].has(id) {
			continue
		}
		// Lost. Find the first state after the acknowledgement that lacks it.
		at := fin
		for _, si := range states[oi.queue] {
			if h.ev[si].Call > first.Return && !sets[si].has(id) {
				at = si
				break
			}
		}
		f.add(chkJudgeLoss(h, o, id, oi.acks, oi.maybe, at))
	}
	if undecided > 0 {
		var qs []string
		for _, id := range ids {
			oi := ops[id]
			if _, ok := last[oi.queue]; !ok && !oi.acked {
				qs = chkAppendUnique(qs, fmt.Sprintf("%q", oi.queue))
			}
		}
		sort.Strings(qs)
		f.undecided("%d acknowledged op%s not acked, and no final store-state for queue %v", undecided, chkPlural(undecided), qs)
	}
	return f.result(fmt.Sprintf("%d op%s returned ok to enqueue, retry or fail: %d completed by an ack, the other %d looked for in the final store state", len(ids), chkPlural(len(ids)), len(ids)-checked, checked))
}

// chkJudgeLoss classifies op id, acknowledged by the events at acks, found
// missing from the store state at position at.
func chkJudgeLoss(h *chkHistory, o CheckOptions, id string, acks, maybe []int, at int) Violation {
	st := h.ev[at]
	evidence := append(append([]int{}, acks...), at)
	for _, m := range maybe {
		if h.ev[m].Call < st.Call {
			return Violation{Kind: "maybe-acked", Severity: SeverityInfo, OpID: id,
				Message: fmt.Sprintf("op %s is gone from %s, but ack %s may have completed it before the crash", id, chkDescribeState(st), h.ev[m]),
				Events:  h.slice(append(evidence, m)...)}
		}
	}
	// The acknowledgement that counts is the last one before the state.
	ackAt := int64(0)
	for _, a := range acks {
		if h.ev[a].Return < st.Call {
			ackAt = max(ackAt, h.ev[a].Return)
		}
	}
	v := Violation{Kind: "lost", Severity: SeverityViolation, OpID: id, Events: h.slice(evidence...),
		Message: fmt.Sprintf("op %s, acknowledged at %d, is gone from %s", id, ackAt, chkDescribeState(st))}
	if !o.mustSurvive(st.State, ackAt) {
		v.Severity = SeverityExpected
		v.Message += fmt.Sprintf("; sync mode %q does not promise to survive a machine crash", chkDurabilityName(o.Durability))
	}
	return v
}

// erasedBy reports whether an erase of op id's subject, called after the op
// was, may have removed it.
func (h *chkHistory) erasedBy(id string, since int64, erases []int) (int, bool) {
	subj := h.subject[id]
	if subj == "" {
		return 0, false
	}
	for _, i := range erases {
		if h.ev[i].In.Subject == subj && h.ev[i].Return >= since {
			return i, true
		}
	}
	return 0, false
}

func chkDescribeState(e history.HistoryEvent) string {
	switch e.State.Restart {
	case history.RestartNone:
		return fmt.Sprintf("the store state observed at %d (event #%d)", e.Call, e.Index)
	case history.RestartClean:
		return fmt.Sprintf("the store state after a clean reopen at %d (event #%d)", e.Call, e.Index)
	}
	return fmt.Sprintf("the store state after a %s at %d (event #%d)", e.State.Restart, e.Call, e.Index)
}

func chkDurabilityName(d Durability) Durability {
	if d == "" {
		return DurabilityAlways
	}
	return d
}

func chkAppendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// CheckNoUnexpected checks that nothing appears that was never enqueued:
// every op a claim returned, an ack, fail or retry was accepted for, or a
// store state lists must come from an enqueue in the history (one that
// returned it, or a crashed one matched to it by idempotency key or payload
// hash), must not be seen before that enqueue was called, and must carry
// the payload that enqueue was given (when both hashes are recorded).
func CheckNoUnexpected(events []history.HistoryEvent) CheckResult {
	h, err := chkPrepare(events)
	if err != nil {
		return chkBadHistory(CheckerNoUnexpected, err)
	}
	f := newChkFindings(CheckerNoUnexpected)
	reported := map[string]bool{}
	observed := 0
	look := func(pos int, id, hash, what string) {
		observed++
		if id == "" {
			return
		}
		e := h.ev[pos]
		if !h.created(id) {
			if !reported[id] {
				reported[id] = true
				f.add(Violation{Kind: "unexpected", Severity: SeverityViolation, OpID: id,
					Message: fmt.Sprintf("%s op %s, which no enqueue in the history created", what, id),
					Events:  h.slice(pos)})
			}
			return
		}
		oi := h.origin[id]
		origin := h.ev[oi]
		if e.Return < origin.Call {
			f.add(Violation{Kind: "before-enqueue", Severity: SeverityViolation, OpID: id,
				Message: fmt.Sprintf("%s op %s before the enqueue that created it was called", what, id),
				Events:  h.slice(oi, pos)})
		}
		if hash != "" && origin.In.PayloadHash != "" && hash != origin.In.PayloadHash {
			f.add(Violation{Kind: "wrong-payload", Severity: SeverityViolation, OpID: id,
				Message: fmt.Sprintf("%s op %s with payload %s, but it was enqueued with payload %s", what, id, hash, origin.In.PayloadHash),
				Events:  h.slice(oi, pos)})
		}
	}
	for i, e := range h.ev {
		switch e.Kind {
		case history.KindEnqueue:
			if e.Out.Outcome == history.OutcomeOK && e.Out.Duplicate {
				look(i, e.Out.OpID, "", "a duplicate enqueue returned")
			}
		case history.KindClaim:
			if e.Out.Outcome == history.OutcomeOK {
				look(i, e.Out.OpID, e.Out.PayloadHash, "a claim returned")
			}
		case history.KindAck, history.KindFail, history.KindRetry:
			if e.Out.Outcome == history.OutcomeOK {
				look(i, e.In.OpID, "", fmt.Sprintf("the store accepted a %s of", e.Kind))
			}
		case history.KindStoreState:
			for _, op := range e.State.Pending {
				look(i, op.ID, op.PayloadHash, "the store state lists pending")
			}
			for _, op := range e.State.Failed {
				look(i, op.ID, op.PayloadHash, "the store state lists failed")
			}
		}
	}
	return f.result(fmt.Sprintf("%d observations of %d created ops checked", observed, len(h.origin)))
}
