package check

import (
	"fmt"
	"sort"
	"time"

	"github.com/boxstorm/boxstorm/harness/history"
)

// CheckerLockTakeover is lock-takeover's name, as scenario files spell it.
const CheckerLockTakeover = "lock-takeover"

// CheckLockTakeover checks that no lease is granted while another holder's
// lease is live: the store may hand the lock to a new owner only when the
// holder's last heartbeat (or its acquire, which stamps one) is at least
// staleAfter old by the asker's clock.
//
// Each processor has its own clock, which the harness may skew; the
// history records the caller's reading with each acquire and heartbeat
// (OpInput.Clock). The checker models every clock as a reading that ticks
// at the rate of real time plus a fixed offset, so the reading the store
// used lies between the recorded one and the recorded one plus the call's
// duration. A takeover is a violation only when it is one for every
// reading the store can have used:
//
//	asker's reading + asker's call duration - holder's last confirmed beat < staleAfter
//
// where the holder's last confirmed beat is the largest reading of its
// acquire and of its heartbeats that returned ok before the asker's call
// (a heartbeat that may have taken effect can only make the beat younger,
// and the takeover more wrong). The previous holder is the grant of token
// T-1 for a grant of T. A grant is not judged (it is counted as unjudged)
// when that grant is not in the history, when its release may have taken
// effect before the takeover, when both have the same owner, or when a
// reading is missing.
//
// Violation kinds:
//
//   - early-takeover: a new owner was granted the lock while the holder's
//     lease was live by the asker's clock.
//
// With no takeover and no refused acquire to judge, the verdict is
// Unknown: the lock was never contested.
func CheckLockTakeover(events []history.HistoryEvent, staleAfter time.Duration) CheckResult {
	h, err := chkPrepare(events)
	if err != nil {
		return chkBadHistory(CheckerLockTakeover, err)
	}
	f := newChkFindings(CheckerLockTakeover)
	if staleAfter <= 0 {
		f.undecided("no stale_after given")
		return f.result("")
	}
	grants := map[uint64]int{} // token -> position of the ok acquire that got it
	for i, e := range h.ev {
		if e.Kind == history.KindAcquire && e.Out.Outcome == history.OutcomeOK && e.Out.Token != 0 {
			if _, dup := grants[e.Out.Token]; !dup {
				grants[e.Out.Token] = i
			}
		}
	}
	tokens := make([]uint64, 0, len(grants))
	for t := range grants {
		tokens = append(tokens, t)
	}
	sort.Slice(tokens, func(a, b int) bool { return tokens[a] < tokens[b] })
	var takeovers, unjudged, refused int
	for _, e := range h.ev {
		if e.Kind == history.KindAcquire && e.Out.Outcome == history.OutcomeLockHeld {
			refused++
		}
	}
	for _, tok := range tokens {
		a := grants[tok]
		ask := h.ev[a]
		p, ok := grants[tok-1]
		if !ok {
			if tok > 1 {
				unjudged++
			}
			continue
		}
		prev := h.ev[p]
		if lockOwner(prev) == lockOwner(ask) {
			continue
		}
		if lockReleasedBefore(h, tok-1, ask.Return) {
			continue
		}
		if ask.In.Clock == 0 || prev.In.Clock == 0 {
			unjudged++
			continue
		}
		takeovers++
		beat, beatAt := prev.In.Clock, p
		for i, e := range h.ev {
			if e.Kind == history.KindHeartbeat && e.In.Token == tok-1 && e.Out.Outcome == history.OutcomeOK &&
				e.Return < ask.Call && e.In.Clock > beat {
				beat, beatAt = e.In.Clock, i
			}
		}
		latest := ask.In.Clock + (ask.Return - ask.Call)
		if age := time.Duration(latest - beat); age < staleAfter {
			f.add(Violation{Kind: "early-takeover", Severity: SeverityViolation,
				Message: fmt.Sprintf("%s was granted token %d while %s held token %d with a heartbeat at most %v old by %s's clock (stale_after %v)",
					lockOwner(ask), tok, lockOwner(prev), tok-1, age, lockOwner(ask), staleAfter),
				Events: h.slice(p, beatAt, a)})
		}
	}
	if takeovers == 0 && refused == 0 {
		f.undecided("the lock was never contested: no takeover of a held lock and no refused acquire")
	}
	summary := fmt.Sprintf("%d takeovers of a held lock judged, %d acquires refused as lock-held", takeovers, refused)
	if unjudged > 0 {
		summary += fmt.Sprintf(", %d grants not judged (previous grant or clock reading not in the history)", unjudged)
	}
	return f.result(summary)
}

func lockOwner(e history.HistoryEvent) string {
	if e.In.Owner != "" {
		return e.In.Owner
	}
	return e.Client
}

// lockReleasedBefore reports whether a release of token may have taken
// effect before time t: a release that was called before t and did not
// fail for sure.
func lockReleasedBefore(h *chkHistory, token uint64, t int64) bool {
	for _, e := range h.ev {
		if e.Kind != history.KindRelease || e.In.Token != token || e.Call >= t {
			continue
		}
		if e.Out.Outcome == history.OutcomeOK || !chkDefinite(e.Out.Outcome) {
			return true
		}
	}
	return false
}
