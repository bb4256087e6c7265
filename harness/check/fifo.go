package check

import (
	"container/heap"
	"fmt"
	"github.com/boxstorm/boxstorm/harness/history"
	"sort"
)

// CheckFIFO checks that claims follow enqueue order, per queue: a claim that
// returned op B is a violation if some op A was certainly waiting, unclaimed
// in the current token's epoch, for the whole of the claim, and A's enqueue
// returned before B's was called. Concurrent enqueues may come out in either
// order. A retried op counts from its retry, the way Store.Retry appends it.
//
// "Certainly waiting" is judged conservatively from the history, so the
// check never blames a store for an order the history cannot pin down:
// A waits from its enqueue's (or retry's) return, or from the return of an
// acquire, release or restart that voided its last claim, until the call of
// anything that may claim or remove it (a claim of it, an ack, fail or erase
// of it with any outcome but a definite refusal, a store state without it).
// A claim is not judged while a crashed claim under its token may have taken
// an op.
func CheckFIFO(events []history.HistoryEvent) CheckResult {
	h, err := chkPrepare(events)
	if err != nil {
		return chkBadHistory(CheckerFIFO, err)
	}
	f := newChkFindings(CheckerFIFO)
	voids := newFifoVoids(h)

	// Crashed claims, per token.
	maybeClaims := map[uint64][]int{}
	for i, e := range h.ev {
		if e.Kind == history.KindClaim && !chkDefinite(e.Out.Outcome) {
			maybeClaims[e.In.Token] = append(maybeClaims[e.In.Token], i)
		}
	}
	judged := 0
	for _, q := range h.queues {
		ivs, claims := fifoIntervals(h, q, voids)
		sort.Slice(claims, func(i, j int) bool { return h.ev[claims[i].pos].Call < h.ev[claims[j].pos].Call })
		sort.Slice(ivs, func(i, j int) bool { return ivs[i].start < ivs[j].start })
		var waiting fifoHeap
		next := 0
		for _, c := range claims {
			ce := h.ev[c.pos]
			for next < len(ivs) && ivs[next].start <= ce.Call {
				heap.Push(&waiting, ivs[next])
				next++
			}
			for waiting.Len() > 0 && waiting[0].end <= ce.Call {
				heap.Pop(&waiting)
			}
			if fifoMaybeClaimed(h, maybeClaims[ce.In.Token], ce, voids) {
				continue
			}
			judged++
			// The oldest op waiting for the whole claim. Ops whose wait ends
			// during this claim are set aside and put back.
			var aside []fifoInterval
			for waiting.Len() > 0 && waiting[0].end <= ce.Return {
				aside = append(aside, heap.Pop(&waiting).(fifoInterval))
			}
			if waiting.Len() > 0 {
				a := waiting[0]
				if a.id != c.id && a.entryReturn < c.entryCall {
					f.add(Violation{Kind: "fifo", Severity: SeverityViolation, OpID: c.id,
						Message: fmt.Sprintf("claim returned op %s while op %s, enqueued before %s was, waited unclaimed", c.id, a.id, c.id),
						Events:  h.slice(a.entry, a.opened, c.entry, c.pos)})
				}
			}
			for _, iv := range aside {
				heap.Push(&waiting, iv)
			}
		}
	}
	return f.result(fmt.Sprintf("%d claims judged", judged))
}

// fifoInterval is a stretch of time in which op id certainly waited in its
// queue, unclaimed.
type fifoInterval struct {
	id          string
	start, end  int64 // [start, end)
	entryReturn int64 // when its enqueue or retry returned
	entry       int   // that enqueue or retry
	opened      int   // the event the wait starts at
}

// fifoClaim is an ok claim with the entry of the op it returned.
type fifoClaim struct {
	pos       int
	id        string
	entry     int
	entryCall int64
}

type fifoHeap []fifoInterval

func (q fifoHeap) Len() int           { return len(q) }
func (q fifoHeap) Less(i, j int) bool { return q[i].entryReturn < q[j].entryReturn }
func (q fifoHeap) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *fifoHeap) Push(x any)        { *q = append(*q, x.(fifoInterval)) }
func (q *fifoHeap) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// fifoVoids are the events that certainly void every claim: acquires and
// releases that returned ok, and restarts.
type fifoVoids struct {
	pos    []int   // sorted by call
	minRet []int64 // minRet[k]: the earliest return among pos[k:]
	h      *chkHistory
}

func newFifoVoids(h *chkHistory) *fifoVoids {
	v := &fifoVoids{h: h}
	for i, e := range h.ev {
		if (e.Kind == history.KindAcquire || e.Kind == history.KindRelease) && e.Out.Outcome == history.OutcomeOK || chkIsRestart(e) {
			v.pos = append(v.pos, i) // h.ev is sorted by call
		}
	}
	v.minRet = make([]int64, len(v.pos)+1)
	v.minRet[len(v.pos)] = history.ReturnUnknown
	for k := len(v.pos) - 1; k >= 0; k-- {
		v.minRet[k] = min(h.ev[v.pos[k]].Return, v.minRet[k+1])
	}
	return v
}

// after returns the earliest return of a void called after t, and that
// void's position.
func (v *fifoVoids) after(t int64) (int64, int) {
	k := sort.Search(len(v.pos), func(k int) bool { return v.h.ev[v.pos[k]].Call > t })
	ret := v.minRet[k]
	if ret == history.ReturnUnknown {
		return ret, -1
	}
	for j := k; j < len(v.pos); j++ {
		if v.h.ev[v.pos[j]].Return == ret {
			return ret, v.pos[j]
		}
	}
	return ret, -1
}

// fifoMaybeClaimed reports whether a crashed claim under c's token may have
// taken an op: one called before c returned, with no void certainly between.
func fifoMaybeClaimed(h *chkHistory, crashed []int, c history.HistoryEvent, voids *fifoVoids) bool {
	for _, u := range crashed {
		if h.ev[u].Call >= c.Return {
			continue
		}
		if ret, _ := voids.after(h.ev[u].Call); ret < c.Call {
			continue
		}
		return true
	}
	return false
}

// fifoIntervals walks every op of queue q through its life and returns the
// stretches in which it certainly waited unclaimed, and the ok claims.
func fifoIntervals(h *chkHistory, q string, voids *fifoVoids) ([]fifoInterval, []fifoClaim) {
	perOp := map[string][]int{}
	var states, erases []int
	var order []string
	touch := func(id string, i int) {
		if id == "" {
			return
		}
		if _, ok := perOp[id]; !ok {
			order = append(order, id)
		}
		perOp[id] = append(perOp[id], i)
	}
	for i, e := range h.ev {
		switch e.Kind {
		case history.KindEnqueue:
			if e.Queue == q && e.Out.Outcome == history.OutcomeOK && !e.Out.Duplicate {
				touch(e.Out.OpID, i)
			}
		case history.KindRetry:
			if e.Queue == q && e.Out.Outcome == history.OutcomeOK {
				touch(e.In.OpID, i)
			}
		case history.KindClaim:
			if e.Queue == q && e.Out.Outcome == history.OutcomeOK {
				touch(e.Out.OpID, i)
			}
		case history.KindAck, history.KindFail:
			if e.Queue == q && (e.Out.Outcome == history.OutcomeOK || !chkDefinite(e.Out.Outcome)) {
				touch(e.In.OpID, i)
			}
		case history.KindErase:
			if e.Out.Outcome == history.OutcomeOK || !chkDefinite(e.Out.Outcome) {
				erases = append(erases, i)
			}
		case history.KindStoreState:
			if e.Queue == q {
				states = append(states, i)
			}
		}
	}
	stateSets := make(map[int]chkStateSet, len(states))
	for _, si := range states {
		stateSets[si] = newChkStateSet(h.ev[si].State)
	}

	var ivs []fifoInterval
	var claims []fifoClaim
	for _, id := range order {
		evs := perOp[id]
		if subj := h.subject[id]; subj != "" {
			for _, e := range erases {
				if h.ev[e].In.Subject == subj {
					evs = append(evs, e)
				}
			}
		}
		evs = append(evs, states...)
		sort.Ints(evs) // positions follow call order

		const (
			absent = iota
			waiting
			claimed
		)
		st := absent
		var cur fifoInterval // the open wait, or the last entry
		var claimRet int64
		haveEntry := false
		closeWait := func(at int64) {
			if st == waiting && at > cur.start {
				iv := cur
				iv.end = at
				ivs = append(ivs, iv)
			}
		}
		// voidBefore reopens a claimed op's wait if a void certainly
		// came after its claim and before t.
		voidBefore := func(t int64) {
			if st != claimed {
				return
			}
			if ret, vp := voids.after(claimRet); ret < t {
				st = waiting
				cur.start, cur.opened = ret, vp
			}
		}
		for _, p := range evs {
			e := h.ev[p]
			voidBefore(e.Call)
			switch e.Kind {
			case history.KindEnqueue, history.KindRetry:
				closeWait(e.Call)
				st, haveEntry = waiting, true
				cur = fifoInterval{id: id, start: e.Return, entryReturn: e.Return, entry: p, opened: p}
			case history.KindClaim:
				if haveEntry {
					claims = append(claims, fifoClaim{pos: p, id: id, entry: cur.entry, entryCall: h.ev[cur.entry].Call})
				}
				closeWait(e.Call)
				if st != absent {
					st = claimed
					claimRet = max(claimRet, e.Return)
				}
			case history.KindAck, history.KindFail:
				closeWait(e.Call)
				st = absent
			case history.KindErase:
				if haveEntry && h.ev[cur.entry].Call < e.Return {
					closeWait(e.Call)
					st = absent
				}
			case history.KindStoreState:
				set := stateSets[p]
				if !set.pending[id] {
					closeWait(e.Call)
					st = absent
					continue
				}
				// A restart voids claims; it also shows that a crashed
				// ack or fail of the op did not take effect.
				if chkIsRestart(e) && st != waiting && haveEntry {
					st = waiting
					cur.start, cur.opened = e.Return, p
				}
			}
		}
		voidBefore(history.ReturnUnknown)
		closeWait(history.ReturnUnknown)
	}
	return ivs, claims
}
