package check

import (
	"fmt"
	"github.com/boxstorm/boxstorm/harness/history"
	"sort"
)

// CheckDuplicates classifies every op delivered or completed more than
// once, and checks idempotent enqueue.
//
//   - redelivery (info): an op claimed again after its claimer may have lost
//     its claim: a different token, or between the two claims an acquire, a
//     release, a restart, or a fail and retry of the op. At-least-once
//     delivery allows it.
//   - double-claim (violation): claimed twice under one token with none of
//     those in between; the store handed one op out twice in one epoch.
//   - double-completion (violation): acked ok twice, or acked ok after a
//     store state listed it done.
//   - delivered-after-ack (violation): claimed after an ack of it returned
//     ok. After a machine crash under interval or never durability it is
//     expected instead: the ack itself was not durable.
//   - idempotency (violation): enqueues with one idempotency key returned
//     different op ids, or more than one said it added the op.
func CheckDuplicates(events []history.HistoryEvent, o CheckOptions) CheckResult {
	h, err := chkPrepare(events)
	if err != nil {
		return chkBadHistory(CheckerDuplicates, err)
	}
	f := newChkFindings(CheckerDuplicates)

	claims := map[string][]int{}
	acks := map[string][]int{}
	opEvents := map[string][]int{} // fails and retries, per op
	var voids, ids []int
	var states []int
	for i, e := range h.ev {
		switch e.Kind {
		case history.KindClaim:
			if e.Out.Outcome == history.OutcomeOK && e.Out.OpID != "" {
				if len(claims[e.Out.OpID]) == 0 && len(acks[e.Out.OpID]) == 0 {
					ids = append(ids, i)
				}
				claims[e.Out.OpID] = append(claims[e.Out.OpID], i)
			}
		case history.KindAck:
			if e.Out.Outcome == history.OutcomeOK && e.In.OpID != "" {
				acks[e.In.OpID] = append(acks[e.In.OpID], i)
			}
		case history.KindFail, history.KindRetry:
			if e.In.OpID != "" && (e.Out.Outcome == history.OutcomeOK || !chkDefinite(e.Out.Outcome)) {
				opEvents[e.In.OpID] = append(opEvents[e.In.OpID], i)
			}
		case history.KindAcquire, history.KindRelease:
			if e.Out.Outcome == history.OutcomeOK || !chkDefinite(e.Out.Outcome) {
				voids = append(voids, i)
			}
		case history.KindStoreState:
			states = append(states, i)
			if chkIsRestart(e) {
				voids = append(voids, i)
			}
		}
	}
	// between returns an event among cands that may fall between a and b:
	// it may take effect after a took effect and before b did.
	// cands are in call order; the latest calls are the likeliest.
	between := func(cands []int, a, b history.HistoryEvent) (int, bool) {
		k := sort.Search(len(cands), func(k int) bool { return h.ev[cands[k]].Call > b.Return })
		for k--; k >= 0; k-- {
			c := h.ev[cands[k]]
			if c.Return >= a.Call && c.Index != a.Index && c.Index != b.Index {
				return cands[k], true
			}
		}
		return -1, false
	}

	// Op ids in the order of their first claim, then ops only acked.
	order := []string{}
	seenID := map[string]bool{}
	for _, i := range ids {
		id := h.ev[i].Out.OpID
		if !seenID[id] {
			seenID[id] = true
			order = append(order, id)
		}
	}
	var ackOnly []string
	for id := range acks {
		if !seenID[id] {
			ackOnly = append(ackOnly, id)
		}
	}
	sort.Strings(ackOnly)
	order = append(order, ackOnly...)

	doneIn := map[string]int{} // op id -> first store state listing it done
	for _, si := range states {
		for _, id := range h.ev[si].State.Done {
			if _, ok := doneIn[id]; !ok {
				doneIn[id] = si
			}
		}
	}
	redelivered := 0
	for _, id := range order {
		cs := claims[id]
		for k := 1; k < len(cs); k++ {
			c1, c2 := h.ev[cs[k-1]], h.ev[cs[k]]
			if v, ok := between(opEvents[id], c1, c2); ok {
				redelivered++
				f.add(Violation{Kind: "redelivery", Severity: SeverityInfo, OpID: id,
					Message: fmt.Sprintf("op %s claimed again after a %s of it", id, h.ev[v].Kind),
					Events:  h.slice(cs[k-1], v, cs[k])})
				continue
			}
			if v, ok := between(voids, c1, c2); ok {
				redelivered++
				f.add(Violation{Kind: "redelivery", Severity: SeverityInfo, OpID: id,
					Message: fmt.Sprintf("op %s claimed again after %s voided the first claim", id, chkVoidName(h.ev[v])),
					Events:  h.slice(cs[k-1], v, cs[k])})
				continue
			}
			if c1.In.Token != c2.In.Token {
				// The acquire in between is not in the history (another
				// process's, say), but a new token means there was one.
				redelivered++
				f.add(Violation{Kind: "redelivery", Severity: SeverityInfo, OpID: id,
					Message: fmt.Sprintf("op %s claimed under token %d, then again under token %d", id, c1.In.Token, c2.In.Token),
					Events:  h.slice(cs[k-1], cs[k])})
				continue
			}
			f.add(Violation{Kind: "double-claim", Severity: SeverityViolation, OpID: id,
				Message: fmt.Sprintf("op %s claimed twice under token %d, with no acquire, release, restart or retry between", id, c1.In.Token),
				Events:  h.slice(cs[k-1], cs[k])})
		}
		as := acks[id]
		for k := 1; k < len(as); k++ {
			f.add(Violation{Kind: "double-completion", Severity: SeverityViolation, OpID: id,
				Message: fmt.Sprintf("op %s acked ok twice", id),
				Events:  h.slice(append(chkClaimsBefore(h, cs, h.ev[as[k]].Return), as[0], as[k])...)})
		}
		// A completion the history only shows through a store state: a
		// crashed ack that took effect.
		if si, ok := doneIn[id]; ok && len(as) > 0 && h.ev[as[0]].Call > h.ev[si].Return {
			f.add(Violation{Kind: "double-completion", Severity: SeverityViolation, OpID: id,
				Message: fmt.Sprintf("op %s acked ok after %s listed it done", id, chkDescribeState(h.ev[si])),
				Events:  h.slice(si, as[0])})
		}
		// Claimed after it was completed.
		if len(as) > 0 {
			first := h.ev[as[0]]
			for _, c := range cs {
				if h.ev[c].Call <= first.Return {
					continue
				}
				v := Violation{Kind: "delivered-after-ack", Severity: SeverityViolation, OpID: id,
					Message: fmt.Sprintf("op %s claimed after its ack returned ok", id),
					Events:  h.slice(as[0], c)}
				for _, si := range states {
					st := h.ev[si]
					if st.State.Restart == history.RestartMachine && st.Call > first.Return && st.Return < h.ev[c].Call && !o.mustSurvive(st.State, first.Return) {
						v.Severity = SeverityExpected
						v.Message += fmt.Sprintf(", across a machine crash that sync mode %q does not promise to survive", chkDurabilityName(o.Durability))
						v.Events = h.slice(as[0], si, c)
						break
					}
				}
				f.add(v)
				break
			}
		}
	}

	// Idempotency: one key, one op.
	type keyInfo struct {
		first map[string]int // op id -> first enqueue returning it
		ids   []string
		added []int // enqueues that returned ok without Duplicate
	}
	keys := map[string]*keyInfo{}
	var keyOrder []string
	for i, e := range h.ev {
		if e.Kind != history.KindEnqueue || e.In.IdempotencyKey == "" || e.Out.Outcome != history.OutcomeOK || e.Out.OpID == "" {
			continue
		}
		ki := keys[e.In.IdempotencyKey]
		if ki == nil {
			ki = &keyInfo{first: map[string]int{}}
			keys[e.In.IdempotencyKey] = ki
			keyOrder = append(keyOrder, e.In.IdempotencyKey)
		}
		if _, ok := ki.first[e.Out.OpID]; !ok {
			ki.first[e.Out.OpID] = i
			ki.ids = append(ki.ids, e.Out.OpID)
		}
		if !e.Out.Duplicate {
			ki.added = append(ki.added, i)
		}
	}
	for _, key := range keyOrder {
		ki := keys[key]
		if len(ki.ids) > 1 {
			var pos []int
			for _, id := range ki.ids {
				pos = append(pos, ki.first[id])
			}
			f.add(Violation{Kind: "idempotency", Severity: SeverityViolation, OpID: ki.ids[1],
				Message: fmt.Sprintf("idempotency key %q returned %d different ops: %v", key, len(ki.ids), ki.ids),
				Events:  h.slice(pos...)})
			continue
		}
		if len(ki.added) > 1 {
			f.add(Violation{Kind: "idempotency", Severity: SeverityViolation, OpID: ki.ids[0],
				Message: fmt.Sprintf("idempotency key %q: %d enqueues said they added op %s", key, len(ki.added), ki.ids[0]),
				Events:  h.slice(ki.added[:2]...)})
		}
	}
	return f.result(fmt.Sprintf("%d claimed or acked ops (%d redelivered) and %d idempotency keys checked", len(order), redelivered, len(keyOrder)))
}

// chkClaimsBefore returns the claims among cs called before t.
func chkClaimsBefore(h *chkHistory, cs []int, t int64) []int {
	var out []int
	for _, c := range cs {
		if h.ev[c].Call < t {
			out = append(out, c)
		}
	}
	return out
}

// chkVoidName says what voided a claim.
func chkVoidName(e history.HistoryEvent) string {
	if e.Kind == history.KindStoreState {
		return fmt.Sprintf("a restart (%s)", e.State.Restart)
	}
	return fmt.Sprintf("the %s by %s", e.Kind, e.Client)
}
