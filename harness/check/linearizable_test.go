package check_test

import (
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
)

// seqStore builds histories the way the chaos runner records them from the
// real store: every call has an interval, takes effect at one point inside
// it, and enqueue returns the sequence number the store gave, so where two
// enqueues overlap the one called later may hold the lower number. Claims
// return the oldest unclaimed op as of their point.
type seqStore struct {
	rng   *rand.Rand
	calls []seqCall
}

type seqCall struct {
	client    string
	kind      history.OpKind
	call, ret int64
	at        int64  // when it takes effect, in [call, ret]
	id        string // enqueue: the op it creates; ack: the op it names
}

func (s *seqStore) add(client string, kind history.OpKind, call, ret int64, id string) {
	at := call + s.rng.Int63n(ret-call+1)
	s.calls = append(s.calls, seqCall{client: client, kind: kind, call: call, ret: ret, at: at, id: id})
}

// events runs the calls in the order they take effect and returns the
// history, ending in a store state observed while open.
func (s *seqStore) events() (evs []history.HistoryEvent, end int64) {
	order := make([]int, len(s.calls))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return s.calls[order[a]].at < s.calls[order[b]].at })
	type item struct {
		id      string
		seq     uint64
		claimed bool
	}
	var q []item
	var seq uint64
	outs := make([]history.OpOutput, len(s.calls))
	claimedID := map[int]string{} // claim call -> op
	for _, i := range order {
		c := s.calls[i]
		switch c.kind {
		case history.KindEnqueue:
			seq++
			q = append(q, item{id: c.id, seq: seq})
			outs[i] = history.OpOutput{Outcome: history.OutcomeOK, OpID: c.id, Seq: seq}
		case history.KindClaim:
			outs[i] = history.OpOutput{Outcome: history.OutcomeEmpty}
			for k := range q {
				if !q[k].claimed {
					q[k].claimed = true
					claimedID[i] = q[k].id
					outs[i] = history.OpOutput{Outcome: history.OutcomeOK, OpID: q[k].id, Seq: q[k].seq,
						PayloadHash: history.HashPayload([]byte(q[k].id))}
					break
				}
			}
		case history.KindAck:
			outs[i] = history.OpOutput{Outcome: history.OutcomeNotClaimed}
			for k := range q {
				if q[k].id == c.id && q[k].claimed {
					q = append(q[:k], q[k+1:]...)
					outs[i] = history.OpOutput{Outcome: history.OutcomeOK}
					break
				}
			}
		}
	}
	for i, c := range s.calls {
		e := history.HistoryEvent{Index: i, Client: c.client, Kind: c.kind, Call: c.call, Return: c.ret, Out: outs[i]}
		switch c.kind {
		case history.KindEnqueue:
			e.In = history.OpInput{PayloadHash: history.HashPayload([]byte(c.id))}
		case history.KindClaim:
			e.In = history.OpInput{Token: 1}
		case history.KindAck:
			e.In = history.OpInput{Token: 1, OpID: c.id}
		}
		evs = append(evs, e)
		end = max(end, c.ret)
	}
	st := &history.StoreState{Pending: []history.StateOp{}}
	for _, it := range q {
		st.Pending = append(st.Pending, history.StateOp{ID: it.id, Seq: it.seq, PayloadHash: history.HashPayload([]byte(it.id))})
	}
	end += 10
	evs = append(evs, history.HistoryEvent{Index: len(evs), Client: "harness", Kind: history.KindStoreState, Call: end, Return: end, State: st})
	return evs, end
}

// enqueues adds n enqueues from two producers whose calls overlap pairwise.
func (s *seqStore) enqueues(n int, from int64) int64 {
	at := from
	for i := range n {
		p := i % 2
		s.add(fmt.Sprintf("producer-%d", p), history.KindEnqueue, at+int64(5*p), at+int64(5*p)+15, fmt.Sprintf("op-%04d", i))
		if p == 1 {
			at += 20
		}
	}
	return at + 20
}

// linTwoProducers is 2,000 enqueues from two producers and the final
// store state: the shape the chaos runner's crash-during-enqueue produced,
// which porcupine gave up on after 20 s.
func linTwoProducers() []history.HistoryEvent {
	s := &seqStore{rng: rand.New(rand.NewSource(1))}
	s.add("p", history.KindAcquire, 0, 1, "")
	s.enqueues(2000, 10)
	evs, _ := s.events()
	evs[0].In = history.OpInput{Owner: "p"}
	evs[0].Out = history.OpOutput{Outcome: history.OutcomeOK, Token: 1}
	return evs
}

// linWithClaims is the same, with a processor claiming and acking while
// the producers enqueue.
func linWithClaims() []history.HistoryEvent {
	s := &seqStore{rng: rand.New(rand.NewSource(2))}
	s.add("p", history.KindAcquire, 0, 1, "")
	end := s.enqueues(2000, 10)
	// The processor claims and acks a little slower than the producers
	// enqueue, so its claims overlap their enqueues and nearly half the ops
	// stay pending.
	for at := int64(40); at < end; at += 18 {
		s.add("p", history.KindClaim, at, at+6, "")
		s.add("p", history.KindAck, at+9, at+15, "")
	}
	// Acks name what the claim before them returned: run once to learn it.
	evs, _ := s.events()
	var last string
	for i, e := range evs {
		if e.Kind == history.KindClaim {
			last = e.Out.OpID
		}
		if e.Kind == history.KindAck {
			s.calls[i].id = last
		}
	}
	evs, _ = s.events()
	evs[0].In = history.OpInput{Owner: "p"}
	evs[0].Out = history.OpOutput{Outcome: history.OutcomeOK, Token: 1}
	return evs
}

func countKind(evs []history.HistoryEvent, k history.OpKind, o history.Outcome) int {
	n := 0
	for _, e := range evs {
		if e.Kind == k && e.Out.Outcome == o {
			n++
		}
	}
	return n
}

// TestCheckLinearizable_TwoProducersWithFinalState: the histories that
// timed out must pass well within the default timeout, and each must fail
// once it is made wrong.
func TestCheckLinearizable_TwoProducersWithFinalState(t *testing.T) {
	enq := linTwoProducers()
	claims := linWithClaims()
	if n := countKind(claims, history.KindAck, history.OutcomeOK); n < 1000 {
		t.Fatalf("fixture: only %d acks", n)
	}
	if n := len(claims[len(claims)-1].State.Pending); n < 100 {
		t.Fatalf("fixture: only %d ops left pending", n)
	}
	swapped := 0 // enqueues that took effect out of call order
	for i := 1; i+1 < len(enq); i += 2 {
		if enq[i].Out.Seq > enq[i+1].Out.Seq {
			swapped++
		}
	}
	if swapped < 100 {
		t.Fatalf("fixture: only %d overlapping enqueues took effect out of call order", swapped)
	}

	tests := []struct {
		name    string
		history func() []history.HistoryEvent
		verdict check.Verdict
	}{
		{"enqueues/good", linTwoProducers, check.VerdictPass},
		{"enqueues/state-lacks-an-op", func() []history.HistoryEvent {
			h := linTwoProducers()
			st := h[len(h)-1].State
			st.Pending = append(st.Pending[:700], st.Pending[701:]...)
			return h
		}, check.VerdictFail},
		{"enqueues/state-out-of-order", func() []history.HistoryEvent {
			// Two ops whose enqueues did not overlap, listed the wrong way
			// round.
			h := linTwoProducers()
			p := h[len(h)-1].State.Pending
			p[400], p[900] = p[900], p[400]
			return h
		}, check.VerdictFail},
		{"enqueues/seq-against-real-time", func() []history.HistoryEvent {
			// The store numbered an op before one enqueued entirely
			// before it, and lists them in that order.
			h := linTwoProducers()
			a, b := h[101], h[1101]
			h[101].Out.Seq, h[1101].Out.Seq = b.Out.Seq, a.Out.Seq
			p := h[len(h)-1].State.Pending
			for k := range p {
				switch p[k].ID {
				case a.Out.OpID:
					p[k].ID = b.Out.OpID
				case b.Out.OpID:
					p[k].ID = a.Out.OpID
				}
			}
			return h
		}, check.VerdictFail},
		{"claims/good", linWithClaims, check.VerdictPass},
		{"claims/skips-the-head", func() []history.HistoryEvent {
			// Two claims, long after the ops were enqueued, return them
			// the wrong way round (their acks follow).
			h := linWithClaims()
			var cl []int
			for i, e := range h {
				if e.Kind == history.KindClaim && e.Out.Outcome == history.OutcomeOK {
					cl = append(cl, i)
				}
			}
			// Near the end the queue is hundreds of ops long.
			i, j := cl[len(cl)-10], cl[len(cl)-9]
			h[i].Out, h[j].Out = h[j].Out, h[i].Out
			for k := range h {
				if h[k].Kind == history.KindAck && h[k].In.OpID == h[i].Out.OpID {
					h[k].In.OpID = h[j].Out.OpID
				} else if h[k].Kind == history.KindAck && h[k].In.OpID == h[j].Out.OpID {
					h[k].In.OpID = h[i].Out.OpID
				}
			}
			return h
		}, check.VerdictFail},
		{"claims/state-keeps-an-acked-op", func() []history.HistoryEvent {
			h := linWithClaims()
			var acked string
			for _, e := range h {
				if e.Kind == history.KindAck && e.Out.Outcome == history.OutcomeOK {
					acked = e.In.OpID
				}
			}
			st := h[len(h)-1].State
			st.Pending = append([]history.StateOp{{ID: acked, Seq: 1}}, st.Pending...)
			return h
		}, check.VerdictFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.history()
			start := time.Now()
			r := check.CheckLinearizable(h, check.CheckOptions{Durability: check.DurabilityAlways})
			d := time.Since(start)
			t.Logf("%d events: %s in %s", len(h), r.Verdict, d.Round(time.Millisecond))
			if tt.verdict == check.VerdictPass {
				wantCheck(t, r, check.VerdictPass, "", "")
				if d > check.DefaultCheckTimeout/4 {
					t.Errorf("took %s, want well within the default timeout of %s", d, check.DefaultCheckTimeout)
				}
				return
			}
			// A failure costs more: porcupine must rule out every
			// linearization, then runs again to gather evidence, which
			// under the race detector may run out of time (the finding
			// then lists no events). The verdict must be Fail either way.
			if r.Verdict != check.VerdictFail || !slices.Contains(findingKinds(r, check.SeverityViolation), "not-linearizable") {
				t.Fatalf("verdict %s, want fail with not-linearizable: %s\n%s", r.Verdict, r.Message, dumpFindings(r))
			}
		})
	}
}

// TestCheckLinearizable_WithoutSeqStillSearches: a history without
// sequence numbers (hand-built, or from a recorder that lost them) is
// checked as before, by search, and still gives Unknown on a real timeout.
func TestCheckLinearizable_WithoutSeqStillSearches(t *testing.T) {
	h := linTwoProducers()
	for i := range h {
		h[i].Out.Seq = 0
	}
	// Linearizing the enqueues in call order fails at the store state,
	// and without numbers the search backtracks through the orders of
	// every overlapping pair.
	r := check.CheckLinearizable(h, check.CheckOptions{Timeout: 200 * time.Millisecond})
	if r.Verdict != check.VerdictUnknown {
		t.Fatalf("verdict %s, want unknown: %s", r.Verdict, r.Message)
	}
}
