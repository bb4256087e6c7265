package check

import (
	"fmt"
	"github.com/boxstorm/boxstorm/harness/history"
	"sort"
)

// CheckFencing checks that only the current fencing token's writes are
// accepted:
//
//   - token-reused: two acquires returned the same token;
//   - token-order: an acquire returned a token no larger than one an
//     acquire that returned before it was called (tokens must strictly
//     increase in real time);
//   - stale-write: a claim, ack, fail, heartbeat or release returned ok with
//     token T although an acquire that returned before the call had
//     already granted a larger token;
//   - released-token-write: such a call returned ok with T after a release
//     of T had returned ok;
//   - unknown-token: such a call returned ok with a token no acquire in the
//     history granted and no store state showed, when no acquire crashed
//     (a crashed one might have granted it).
func CheckFencing(events []history.HistoryEvent) CheckResult {
	h, err := chkPrepare(events)
	if err != nil {
		return chkBadHistory(CheckerFencing, err)
	}
	f := newChkFindings(CheckerFencing)

	var acquires []int // ok acquires, by return time
	granted := map[uint64]int{}
	crashedAcquire := false
	for i, e := range h.ev {
		switch e.Kind {
		case history.KindAcquire:
			switch {
			case e.Out.Outcome == history.OutcomeOK:
				acquires = append(acquires, i)
				if j, dup := granted[e.Out.Token]; dup {
					f.add(Violation{Kind: "token-reused", Severity: SeverityViolation,
						Message: fmt.Sprintf("token %d granted twice", e.Out.Token),
						Events:  h.slice(j, i)})
				} else {
					granted[e.Out.Token] = i
				}
			case !chkDefinite(e.Out.Outcome):
				crashedAcquire = true
			}
		case history.KindStoreState:
			if l := e.State.Lock; l != nil {
				if _, ok := granted[l.Token]; !ok {
					granted[l.Token] = -1
				}
			}
		}
	}
	sort.SliceStable(acquires, func(a, b int) bool { return h.ev[acquires[a]].Return < h.ev[acquires[b]].Return })
	// best[k]: the acquire with the largest token among acquires[:k+1].
	best := make([]int, len(acquires))
	for k, p := range acquires {
		best[k] = p
		if k > 0 && h.ev[best[k-1]].Out.Token >= h.ev[p].Out.Token {
			best[k] = best[k-1]
		}
	}
	// maxBefore returns the acquire with the largest token among those
	// that returned before t, or -1.
	maxBefore := func(t int64) int {
		k := sort.Search(len(acquires), func(k int) bool { return h.ev[acquires[k]].Return >= t })
		if k == 0 {
			return -1
		}
		return best[k-1]
	}
	for _, p := range acquires {
		a := h.ev[p]
		if m := maxBefore(a.Call); m >= 0 && h.ev[m].Out.Token > a.Out.Token {
			f.add(Violation{Kind: "token-order", Severity: SeverityViolation,
				Message: fmt.Sprintf("acquire returned token %d after an earlier acquire had returned token %d", a.Out.Token, h.ev[m].Out.Token),
				Events:  h.slice(m, p)})
		}
	}

	released := map[uint64]int{}
	for i, e := range h.ev {
		if e.Kind == history.KindRelease && e.Out.Outcome == history.OutcomeOK {
			if _, ok := released[e.In.Token]; !ok {
				released[e.In.Token] = i
			}
		}
	}
	writes := 0
	for i, e := range h.ev {
		switch e.Kind {
		case history.KindClaim, history.KindAck, history.KindFail, history.KindHeartbeat, history.KindRelease:
		default:
			continue
		}
		if e.Out.Outcome != history.OutcomeOK {
			continue
		}
		writes++
		t := e.In.Token
		if m := maxBefore(e.Call); m >= 0 && h.ev[m].Out.Token > t {
			f.add(Violation{Kind: "stale-write", Severity: SeverityViolation, OpID: chkOpOf(e),
				Message: fmt.Sprintf("%s with token %d accepted after token %d was granted", e.Kind, t, h.ev[m].Out.Token),
				Events:  h.slice(m, i)})
			continue
		}
		if r, ok := released[t]; ok && r != i && h.ev[r].Return < e.Call {
			f.add(Violation{Kind: "released-token-write", Severity: SeverityViolation, OpID: chkOpOf(e),
				Message: fmt.Sprintf("%s with token %d accepted after the lock of token %d was released", e.Kind, t, t),
				Events:  h.slice(r, i)})
			continue
		}
		if _, ok := granted[t]; !ok && !crashedAcquire && len(acquires) > 0 {
			f.add(Violation{Kind: "unknown-token", Severity: SeverityViolation, OpID: chkOpOf(e),
				Message: fmt.Sprintf("%s with token %d accepted, but no acquire granted that token", e.Kind, t),
				Events:  h.slice(i)})
		}
	}
	return f.result(fmt.Sprintf("%d acquires and %d accepted token writes checked", len(acquires), writes))
}

// chkOpOf returns the op an event is about, if any.
func chkOpOf(e history.HistoryEvent) string {
	if e.In.OpID != "" {
		return e.In.OpID
	}
	return e.Out.OpID
}
