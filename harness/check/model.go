package check

import (
	"fmt"
	"sort"

	"github.com/anishathalye/porcupine"
	"github.com/boxstorm/boxstorm/harness/history"
)

// The sequential specification the linearizable checker holds histories to,
// as a porcupine model. One model serves every partition: its state is the
// processing lock and, in a queue's partition, that queue. A queue's
// partition also sees every acquire and release, because those void claims
// and decide which token may claim; the lock's partition sees acquires,
// heartbeats and releases.
//
// The specification:
//
//   - enqueue appends an op, unclaimed, at the tail (a duplicate, returning
//     an existing op, changes nothing); the store numbers appends (enqueue
//     and retry) in the order it makes them, so one that returned its
//     sequence number must return a higher one than every op appended
//     before it and every op the last store state showed (see
//     mdlQueue.pushSeq);
//   - claim(T), when T is the current token and the lock is held, marks the
//     oldest unclaimed op claimed and returns it, or returns empty when
//     every op is claimed; with any other token it fails stale-token;
//   - ack(T, id) removes op id if T claimed it; fail(T, id) moves it to
//     failed_ops; otherwise they fail stale-token (T not current) or
//     not-claimed;
//   - retry(id) moves a failed op to the tail, or fails not-found;
//   - erase(subject) removes the subject's ops;
//   - acquire grants token previous+1 and voids every claim. Whether a held
//     lock is stale depends on clocks the history does not record, so an
//     acquire may succeed whoever holds the lock; it may fail lock-held only
//     while another owner holds it;
//   - heartbeat(T) succeeds only with the current token; release(T) also
//     frees the lock and voids every claim;
//   - a store-state event after a restart voids every claim and, when the
//     sync mode promises the restart loses nothing, must show exactly the
//     model's pending ops (in order) and failed ops.
//
// A call that returned an error other than the ones above, or never
// returned, may or may not have taken effect: the model allows both. A
// call that never returned takes effect, if at all, before the next
// restart. The model does not track idempotency keys or completed ops
// (the duplicates checker does).

// mdlLock is the processing lock as the model knows it.
type mdlLock struct {
	token uint64
	known bool // false until the history shows the token
	held  bool
	owner string
}

// current reports whether tok is the current token, and whether the model
// can tell.
func (l mdlLock) current(tok uint64) (cur, known bool) {
	if !l.known {
		return false, false
	}
	return l.held && l.token == tok, true
}

// mdlState is one state of the model. It is a value; q is immutable.
type mdlState struct {
	lock mdlLock
	q    *mdlQueue // nil until the partition's first queue op
}

func (s mdlState) queue() *mdlQueue {
	if s.q == nil {
		return &mdlQueue{}
	}
	return s.q
}

func (s mdlState) withQueue(q *mdlQueue) mdlState { s.q = q; return s }

func (s mdlState) voidClaims() mdlState {
	if s.q != nil {
		s.q = s.q.voidClaims()
	}
	return s
}

func (s mdlState) String() string {
	l := "lock: token unknown"
	if s.lock.known {
		l = fmt.Sprintf("lock: token %d", s.lock.token)
	}
	switch {
	case s.lock.held && s.lock.owner != "":
		l += ", held by " + s.lock.owner
	case s.lock.held:
		l += ", held"
	default:
		l += ", free"
	}
	if s.q == nil {
		return l
	}
	return l + "; " + s.q.String()
}

// mdlOp is one history event as the model reads it, in one partition.
type mdlOp struct {
	ev      history.HistoryEvent
	part    int
	id      string // the op: created (enqueue), returned (claim) or named (ack, fail, retry)
	subject string
	seq     uint64    // enqueue, retry: the sequence number the store gave, 0 if not known
	owner   string    // acquire: the requester
	check   bool      // store-state: the model must match it
	snap    *mdlQueue // store-state: the queue it shows
}

// mdlDefinite lists, per kind, the outcomes that say what a call did. Any
// other outcome may or may not have taken effect.
var mdlDefinite = map[history.OpKind][]history.Outcome{
	history.KindEnqueue:   {history.OutcomeOK},
	history.KindClaim:     {history.OutcomeOK, history.OutcomeEmpty, history.OutcomeStaleToken},
	history.KindAck:       {history.OutcomeOK, history.OutcomeStaleToken, history.OutcomeNotClaimed},
	history.KindFail:      {history.OutcomeOK, history.OutcomeStaleToken, history.OutcomeNotClaimed},
	history.KindRetry:     {history.OutcomeOK, history.OutcomeNotFound},
	history.KindErase:     {history.OutcomeOK},
	history.KindAcquire:   {history.OutcomeOK, history.OutcomeLockHeld},
	history.KindHeartbeat: {history.OutcomeOK, history.OutcomeStaleToken},
	history.KindRelease:   {history.OutcomeOK, history.OutcomeStaleToken},
}

func mdlOutcome(op *mdlOp) history.Outcome {
	for _, o := range mdlDefinite[op.ev.Kind] {
		if op.ev.Out.Outcome == o {
			return o
		}
	}
	return history.OutcomeUnknown
}

// mdlStep returns every state the model can be in after op, from s.
func mdlStep(s mdlState, op *mdlOp) []any {
	out := mdlOutcome(op)
	maybe := out == history.OutcomeUnknown
	var next []any
	add := func(st mdlState) { next = append(next, st) }
	if maybe {
		add(s) // it did not take effect
	}
	tok := op.ev.In.Token
	// tokenOK returns the lock after a call that showed tok is current, or
	// false if the model knows it is not.
	tokenOK := func() (mdlLock, bool) {
		cur, known := s.lock.current(tok)
		if !known {
			return mdlLock{token: tok, known: true, held: true}, true
		}
		return s.lock, cur
	}
	staleOK := func() bool {
		cur, known := s.lock.current(tok)
		return !known || !cur
	}
	switch op.ev.Kind {
	case history.KindEnqueue:
		switch {
		case out == history.OutcomeOK && op.ev.Out.Duplicate:
			add(s)
		case op.id != "":
			if q, ok := s.queue().pushSeq(op.id, op.subject, op.seq); ok {
				add(s.withQueue(q))
			}
		case !maybe:
			add(s) // an ok enqueue with no op id: nothing to track
		}
	case history.KindClaim:
		switch out {
		case history.OutcomeStaleToken:
			if staleOK() {
				add(s)
			}
		case history.OutcomeEmpty:
			if l, ok := tokenOK(); ok {
				if _, _, found := s.queue().head(); !found {
					s.lock = l
					add(s)
				}
			}
		default: // ok, or maybe
			l, ok := tokenOK()
			if !ok {
				break
			}
			q := s.queue()
			ci, ii, found := q.head()
			if !found || !maybe && q.at(ci, ii).id != op.id {
				break
			}
			st := s.withQueue(q.setClaimed(ci, ii, true))
			st.lock = l
			add(st)
		}
	case history.KindAck, history.KindFail:
		switch out {
		case history.OutcomeStaleToken:
			if staleOK() {
				add(s)
			}
		case history.OutcomeNotClaimed:
			if l, ok := tokenOK(); ok {
				if _, _, found := s.queue().findClaimed(op.id); !found {
					s.lock = l
					add(s)
				}
			}
		default:
			l, ok := tokenOK()
			if !ok {
				break
			}
			q := s.queue()
			ci, ii, found := q.findClaimed(op.id)
			if !found {
				break
			}
			it := q.at(ci, ii)
			q = q.remove(ci, ii)
			if op.ev.Kind == history.KindFail {
				q = q.addFailed(it)
			}
			st := s.withQueue(q)
			st.lock = l
			add(st)
		}
	case history.KindRetry:
		q := s.queue()
		switch out {
		case history.OutcomeNotFound:
			if _, found := q.failedIndex(op.id); !found {
				add(s)
			}
		default:
			if q2, it, found := q.removeFailed(op.id); found {
				if q3, ok := q2.pushSeq(it.id, it.subject, op.seq); ok {
					add(s.withQueue(q3))
				}
			}
		}
	case history.KindErase:
		add(s.withQueue(s.queue().erase(op.ev.In.Subject)))
	case history.KindAcquire:
		switch out {
		case history.OutcomeLockHeld:
			if !s.lock.known || s.lock.held && s.lock.owner != op.owner {
				add(s)
			}
		case history.OutcomeOK:
			t := op.ev.Out.Token
			if s.lock.known && t != s.lock.token+1 {
				break
			}
			st := s.voidClaims()
			st.lock = mdlLock{token: t, known: true, held: true, owner: op.owner}
			add(st)
		default:
			st := s.voidClaims()
			st.lock = mdlLock{known: s.lock.known, held: true, owner: op.owner}
			if s.lock.known {
				st.lock.token = s.lock.token + 1
			}
			add(st)
		}
	case history.KindHeartbeat:
		switch out {
		case history.OutcomeStaleToken:
			if staleOK() {
				add(s)
			}
		case history.OutcomeOK:
			if l, ok := tokenOK(); ok {
				s.lock = l
				add(s)
			}
		}
	case history.KindRelease:
		switch out {
		case history.OutcomeStaleToken:
			if staleOK() {
				add(s)
			}
		default:
			if l, ok := tokenOK(); ok {
				st := s.voidClaims()
				l.held = false
				st.lock = l
				add(st)
			}
		}
	case history.KindStoreState:
		st := op.ev.State
		if op.snap != nil {
			if op.check && s.q != nil && !s.q.matches(st.Pending, st.Failed) {
				return nil
			}
			if st.Restart != history.RestartNone || s.q == nil {
				s.q = op.snap
			}
		}
		if l := st.Lock; l != nil {
			if op.check && s.lock.known && (s.lock.token != l.Token || s.lock.held != l.Held) {
				return nil
			}
			s.lock = mdlLock{token: l.Token, known: true, held: l.Held, owner: l.Owner}
		}
		add(s)
	}
	return next
}

func mdlHash(st any) uint64 {
	s := st.(mdlState)
	h := uint64(0x243f6a8885a308d3)
	if s.q != nil {
		h ^= mdlMix(s.q.sum + 1 + s.q.hi*0x9e3779b97f4a7c15)
	}
	h ^= mdlMix(s.lock.token<<2 | mdlBool(s.lock.known)<<1 | mdlBool(s.lock.held))
	return mdlMix(h)
}

func mdlBool(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// mdlModel returns the porcupine model over partitions parts, whose
// operations carry *mdlOp inputs with part set.
func mdlModel(parts int) porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			out := make([][]porcupine.Operation, parts)
			for _, o := range history {
				p := o.Input.(*mdlOp).part
				out[p] = append(out[p], o)
			}
			return out
		},
		Init: func() []any { return []any{mdlState{}} },
		Step: func(state, input, _ any) []any {
			return mdlStep(state.(mdlState), input.(*mdlOp))
		},
		Equal: func(a, b any) bool {
			x, y := a.(mdlState), b.(mdlState)
			return x.lock == y.lock && x.q.equal(y.q)
		},
		Hash:              mdlHash,
		DescribeOperation: func(input, _ any) string { return input.(*mdlOp).ev.String() },
		DescribeState:     func(st any) string { return st.(mdlState).String() },
	}
	return nm.ToModel()
}

// mdlPartition is the ops of one partition, with its name.
type mdlPartition struct {
	name string
	ops  []*mdlOp
}

// mdlBuild turns a prepared history into porcupine operations: one
// partition for the lock, and one per queue, cut at every restart that no
// call straddles. porcupine's cost grows with the square of a partition's
// length, and a restart resets the queue to what the store state shows, so
// the segment after it can start from there: the store-state event ends one
// segment (where the model must match it) and starts the next.
func mdlBuild(h *chkHistory, o CheckOptions) ([]porcupine.Operation, []mdlPartition) {
	var parts []mdlPartition
	lockPart := 0
	parts = append(parts, mdlPartition{name: "lock"})
	qpart := map[string]int{}
	lastRet := map[int]int64{} // the latest return in each partition so far
	for _, q := range h.queues {
		qpart[q] = len(parts)
		parts = append(parts, mdlPartition{name: fmt.Sprintf("queue %q", q)})
	}

	// A call that never returned took effect, if at all, before the next
	// restart: cap its return there.
	var restarts []int64
	for _, e := range h.ev {
		if chkIsRestart(e) {
			restarts = append(restarts, e.Call)
		}
	}
	bound := func(e history.HistoryEvent) int64 {
		if !e.Crashed() {
			return e.Return
		}
		k := sort.Search(len(restarts), func(k int) bool { return restarts[k] > e.Call })
		if k == len(restarts) {
			return history.ReturnUnknown
		}
		return restarts[k] - 1
	}
	clients := map[string]int{}
	subjectOf := func(op history.StateOp) string {
		if op.Subject != "" {
			return op.Subject
		}
		return h.subject[op.ID]
	}
	var ops []porcupine.Operation
	emit := func(base mdlOp, part int) {
		op := base
		op.part = part
		c, ok := clients[op.ev.Client]
		if !ok {
			c = len(clients)
			clients[op.ev.Client] = c
		}
		p := &op
		parts[part].ops = append(parts[part].ops, p)
		ret := bound(p.ev)
		lastRet[part] = max(lastRet[part], ret)
		ops = append(ops, porcupine.Operation{ClientId: c, Input: p, Output: p, Call: p.ev.Call, Return: ret, Metadata: fmt.Sprintf("#%d", p.ev.Index)})
	}
	eachQueue := func(base mdlOp) {
		for _, q := range h.queues {
			emit(base, qpart[q])
		}
	}
	for i, e := range h.ev {
		base := mdlOp{ev: e}
		switch e.Kind {
		case history.KindEnqueue:
			base.id = e.Out.OpID
			if e.Out.Outcome != history.OutcomeOK {
				base.id = h.resolved[i]
			}
			if e.Out.Outcome == history.OutcomeOK && !e.Out.Duplicate {
				base.seq = e.Out.Seq
			}
			base.subject = e.In.Subject
			if base.subject == "" {
				base.subject = h.subject[base.id]
			}
			emit(base, qpart[e.Queue])
		case history.KindClaim:
			base.id = e.Out.OpID
			emit(base, qpart[e.Queue])
		case history.KindAck, history.KindFail, history.KindRetry:
			base.id = e.In.OpID
			if e.Kind == history.KindRetry && e.Out.Outcome == history.OutcomeOK {
				base.seq = e.Out.Seq
			}
			emit(base, qpart[e.Queue])
		case history.KindErase:
			eachQueue(base)
		case history.KindAcquire, history.KindRelease:
			base.owner = e.In.Owner
			if base.owner == "" {
				base.owner = e.Client
			}
			emit(base, lockPart)
			eachQueue(base)
		case history.KindHeartbeat:
			emit(base, lockPart)
		case history.KindStoreState:
			st := e.State
			base.check = o.mustSurviveAll(st)
			if st.Lock != nil {
				emit(base, lockPart)
			}
			base.snap = mdlQueueFrom(st.Pending, st.Failed, subjectOf)
			p := qpart[e.Queue]
			straddled := lastRet[p] >= e.Call
			emit(base, p)
			if chkIsRestart(e) && !straddled && len(parts[p].ops) > 1 {
				qpart[e.Queue] = len(parts)
				parts = append(parts, mdlPartition{name: fmt.Sprintf("queue %q after the restart at event #%d", e.Queue, e.Index)})
				emit(base, qpart[e.Queue])
			}
		}
	}
	return ops, parts
}
