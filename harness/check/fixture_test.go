package check_test

// A tiny in-memory queue with the store's contract, and switches that break
// it one protection at a time: the known-bad targets of the checker tests.
// A memDriver runs it single-threaded and records every call into a History
// whose clock ticks on every reading, so the histories are deterministic.

import (
	"fmt"
	"slices"
	"testing"

	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
)

type memBug string

const (
	bugDropOnCrash   memBug = "drop-on-crash"   // a crash loses the newest pending op
	bugLIFO          memBug = "lifo"            // claims hand out the newest op first
	bugDoubleAck     memBug = "double-ack"      // an ack of a completed op succeeds again
	bugAcceptStale   memBug = "accept-stale"    // no fencing: any token goes, and acquire voids no claim
	bugReuseToken    memBug = "reuse-token"     // the second acquire hands out the first token again
	bugFabricate     memBug = "fabricate"       // the first claim returns an op nobody enqueued
	bugWrongPayload  memBug = "wrong-payload"   // claims return another payload
	bugIgnoreIdem    memBug = "ignore-idem"     // a repeated idempotency key adds a new op
	bugNoErase       memBug = "no-erase"        // erase removes nothing
	bugClaimTwice    memBug = "claim-twice"     // the first claim does not mark its op claimed
	bugTokenBackward memBug = "token-backwards" // the third acquire hands out a smaller token
)

type memOp struct {
	id, key, subject, payload string
}

func (o *memOp) hash() string { return history.HashPayload([]byte(o.payload)) }

type memStore struct {
	bugs     map[memBug]bool
	sync     check.Durability
	next     int
	pending  []*memOp
	failed   []*memOp
	claimed  map[string]bool
	done     map[string]bool
	idem     map[string]*memOp
	token    uint64
	held     bool
	owner    string
	acquires int
	claims   int
	unsynced map[string]bool
}

func newMemStore(bugs ...memBug) *memStore {
	s := &memStore{bugs: map[memBug]bool{}, sync: check.DurabilityAlways, claimed: map[string]bool{}, done: map[string]bool{}, idem: map[string]*memOp{}, unsynced: map[string]bool{}}
	for _, b := range bugs {
		s.bugs[b] = true
	}
	return s
}

func (s *memStore) tokenOK(tok uint64) bool {
	return s.bugs[bugAcceptStale] || s.held && tok == s.token
}

func (s *memStore) enqueue(payload, key, subject string) (*memOp, bool) {
	if key != "" && !s.bugs[bugIgnoreIdem] {
		if op, ok := s.idem[key]; ok {
			return op, true
		}
	}
	s.next++
	op := &memOp{id: fmt.Sprintf("op-%d", s.next), key: key, subject: subject, payload: payload}
	s.pending = append(s.pending, op)
	if key != "" {
		s.idem[key] = op
	}
	if s.sync == check.DurabilityNever {
		s.unsynced[op.id] = true
	}
	return op, false
}

func (s *memStore) claim(tok uint64) (*memOp, history.Outcome) {
	if !s.tokenOK(tok) {
		return nil, history.OutcomeStaleToken
	}
	s.claims++
	if s.bugs[bugFabricate] && s.claims == 1 {
		return &memOp{id: "op-ghost", payload: "ghost"}, history.OutcomeOK
	}
	order := slices.Clone(s.pending)
	if s.bugs[bugLIFO] {
		slices.Reverse(order)
	}
	for _, op := range order {
		if s.claimed[op.id] {
			continue
		}
		if !(s.bugs[bugClaimTwice] && s.claims == 1) {
			s.claimed[op.id] = true
		}
		if s.bugs[bugWrongPayload] {
			return &memOp{id: op.id, subject: op.subject, payload: op.payload + "!"}, history.OutcomeOK
		}
		return op, history.OutcomeOK
	}
	return nil, history.OutcomeEmpty
}

func (s *memStore) remove(id string) *memOp {
	for i, op := range s.pending {
		if op.id == id {
			s.pending = slices.Delete(s.pending, i, i+1)
			delete(s.claimed, id)
			return op
		}
	}
	return nil
}

func (s *memStore) ack(tok uint64, id string) history.Outcome {
	if !s.tokenOK(tok) {
		return history.OutcomeStaleToken
	}
	if !s.claimed[id] {
		if s.bugs[bugDoubleAck] && s.done[id] {
			return history.OutcomeOK
		}
		return history.OutcomeNotClaimed
	}
	s.remove(id)
	s.done[id] = true
	return history.OutcomeOK
}

func (s *memStore) fail(tok uint64, id string) history.Outcome {
	if !s.tokenOK(tok) {
		return history.OutcomeStaleToken
	}
	if !s.claimed[id] {
		return history.OutcomeNotClaimed
	}
	s.failed = append(s.failed, s.remove(id))
	return history.OutcomeOK
}

func (s *memStore) retry(id string) history.Outcome {
	for i, op := range s.failed {
		if op.id == id {
			s.failed = slices.Delete(s.failed, i, i+1)
			s.pending = append(s.pending, op)
			return history.OutcomeOK
		}
	}
	return history.OutcomeNotFound
}

func (s *memStore) acquire(owner string) uint64 {
	s.acquires++
	switch {
	case s.bugs[bugReuseToken] && s.acquires == 2:
	case s.bugs[bugTokenBackward] && s.acquires == 3:
		s.token--
	default:
		s.token++
	}
	s.held, s.owner = true, owner
	if !s.bugs[bugAcceptStale] {
		clear(s.claimed)
	}
	return s.token
}

func (s *memStore) release(tok uint64) history.Outcome {
	if !s.held || tok != s.token {
		return history.OutcomeStaleToken
	}
	s.held = false
	clear(s.claimed)
	return history.OutcomeOK
}

func (s *memStore) erase(subject string) {
	if s.bugs[bugNoErase] {
		return
	}
	s.pending = slices.DeleteFunc(s.pending, func(op *memOp) bool { return op.subject == subject })
	s.failed = slices.DeleteFunc(s.failed, func(op *memOp) bool { return op.subject == subject })
}

func (s *memStore) crash(kind history.RestartKind) {
	clear(s.claimed)
	if s.bugs[bugDropOnCrash] && len(s.pending) > 0 {
		s.pending = s.pending[:len(s.pending)-1]
	}
	if kind == history.RestartMachine {
		s.pending = slices.DeleteFunc(s.pending, func(op *memOp) bool { return s.unsynced[op.id] })
	}
	clear(s.unsynced)
}

func (s *memStore) state(kind history.RestartKind) history.StoreState {
	st := history.StoreState{Restart: kind, Pending: []history.StateOp{}, Lock: &history.ObservedLock{Token: s.token, Held: s.held, Owner: s.owner}}
	for i, op := range s.pending {
		st.Pending = append(st.Pending, history.StateOp{ID: op.id, Seq: uint64(i + 1), PayloadHash: op.hash(), Subject: op.subject, Payload: []byte(op.payload)})
	}
	for _, op := range s.failed {
		st.Failed = append(st.Failed, history.StateOp{ID: op.id, PayloadHash: op.hash(), Subject: op.subject})
	}
	for id := range s.done {
		st.Done = append(st.Done, id)
	}
	slices.Sort(st.Done)
	return st
}

// memDriver records every call it makes to a memStore.
type memDriver struct {
	now int64
	h   *history.History
	s   *memStore
}

func newMemDriver(bugs ...memBug) *memDriver {
	d := &memDriver{s: newMemStore(bugs...)}
	d.h = history.NewHistory(history.HistoryOptions{Clock: func() int64 { d.now += 10; return d.now }})
	return d
}

func (d *memDriver) events() []history.HistoryEvent { return d.h.Events() }

func (d *memDriver) enqueue(client, payload, key, subject string) string {
	i := d.h.Call(client, history.KindEnqueue, "", history.OpInput{PayloadHash: history.HashPayload([]byte(payload)), IdempotencyKey: key, Subject: subject})
	op, dup := d.s.enqueue(payload, key, subject)
	d.h.Return(i, history.OpOutput{Outcome: history.OutcomeOK, OpID: op.id, Duplicate: dup})
	return op.id
}

func (d *memDriver) claim(client string, tok uint64) string {
	i := d.h.Call(client, history.KindClaim, "", history.OpInput{Token: tok})
	op, out := d.s.claim(tok)
	if op == nil {
		d.h.Return(i, history.OpOutput{Outcome: out})
		return ""
	}
	d.h.Return(i, history.OpOutput{Outcome: out, OpID: op.id, PayloadHash: op.hash(), Subject: op.subject})
	return op.id
}

func (d *memDriver) ack(client string, tok uint64, id string) history.Outcome {
	i := d.h.Call(client, history.KindAck, "", history.OpInput{Token: tok, OpID: id})
	out := d.s.ack(tok, id)
	d.h.Return(i, history.OpOutput{Outcome: out})
	return out
}

func (d *memDriver) fail(client string, tok uint64, id string) {
	i := d.h.Call(client, history.KindFail, "", history.OpInput{Token: tok, OpID: id})
	d.h.Return(i, history.OpOutput{Outcome: d.s.fail(tok, id)})
}

func (d *memDriver) retry(client, id string) {
	i := d.h.Call(client, history.KindRetry, "", history.OpInput{OpID: id})
	out := d.s.retry(id)
	d.h.Return(i, history.OpOutput{Outcome: out, OpID: id})
}

func (d *memDriver) acquire(client string) uint64 {
	i := d.h.Call(client, history.KindAcquire, "", history.OpInput{Owner: client})
	tok := d.s.acquire(client)
	d.h.Return(i, history.OpOutput{Outcome: history.OutcomeOK, Token: tok})
	return tok
}

func (d *memDriver) heartbeat(client string, tok uint64) {
	i := d.h.Call(client, history.KindHeartbeat, "", history.OpInput{Token: tok})
	out := history.OutcomeOK
	if !d.s.held || tok != d.s.token {
		out = history.OutcomeStaleToken
	}
	d.h.Return(i, history.OpOutput{Outcome: out})
}

func (d *memDriver) release(client string, tok uint64) {
	i := d.h.Call(client, history.KindRelease, "", history.OpInput{Token: tok})
	d.h.Return(i, history.OpOutput{Outcome: d.s.release(tok)})
}

func (d *memDriver) erase(client, subject string) {
	i := d.h.Call(client, history.KindErase, "", history.OpInput{Subject: subject})
	d.s.erase(subject)
	d.h.Return(i, history.OpOutput{Outcome: history.OutcomeOK})
}

func (d *memDriver) crash(kind history.RestartKind) {
	d.s.crash(kind)
	d.h.RecordState("harness", "", d.s.state(kind))
}

func (d *memDriver) observe() { d.h.RecordState("harness", "", d.s.state(history.RestartNone)) }

// drain claims and acks until the queue is empty.
func (d *memDriver) drain(client string, tok uint64) {
	for range 100 {
		id := d.claim(client, tok)
		if id == "" {
			return
		}
		d.ack(client, tok, id)
	}
}

// memWorkload runs the standard script against a memStore with bugs: two
// producers, three processors taking the lock from each other (one of them
// stale), a failed and retried op, a repeated idempotency key, an erasure,
// a process crash, and a final observation with two ops left pending.
func memWorkload(bugs ...memBug) []history.HistoryEvent {
	d := newMemDriver(bugs...)
	t1 := d.acquire("processor-1")
	for i := range 6 {
		d.enqueue("producer-1", fmt.Sprintf("payload-%d", i), fmt.Sprintf("key-%d", i), []string{"alice", "bob"}[i%2])
	}
	d.enqueue("producer-1", "carol-secret", "key-carol", "carol")
	d.enqueue("producer-2", "payload-2", "key-2", "bob") // a retrying client
	a := d.claim("processor-1", t1)
	d.ack("processor-1", t1, a)
	b := d.claim("processor-1", t1)
	d.fail("processor-1", t1, b)
	d.retry("processor-1", b)
	c := d.claim("processor-1", t1)
	d.heartbeat("processor-1", t1)
	t2 := d.acquire("processor-2") // processor-1's lease went stale
	d.ack("processor-1", t1, c)    // too late: must be refused
	c2 := d.claim("processor-2", t2)
	d.ack("processor-2", t2, c2)
	d.ack("processor-2", t2, c2) // a handler retrying its ack: must be refused
	d.erase("harness", "carol")
	d.crash(history.RestartProcess)
	t3 := d.acquire("processor-3")
	d.drain("processor-3", t3)
	d.release("processor-3", t3)
	d.enqueue("producer-1", "payload-late-1", "", "alice")
	d.enqueue("producer-2", "payload-late-2", "", "bob")
	d.observe()
	return d.events()
}

// memMachineCrash enqueues three ops under the given sync mode and crashes
// the machine: under optsNever, the memStore loses all three.
func memMachineCrash(sync check.Durability) []history.HistoryEvent {
	d := newMemDriver()
	d.s.sync = sync
	for i := range 3 {
		d.enqueue("producer-1", fmt.Sprintf("payload-%d", i), "", "")
	}
	d.crash(history.RestartMachine)
	return d.events()
}

// histBuilder makes hand-written histories.
type histBuilder struct{ evs []history.HistoryEvent }

func (b *histBuilder) add(client string, kind history.OpKind, call, ret int64, in history.OpInput, out history.OpOutput) *histBuilder {
	b.evs = append(b.evs, history.HistoryEvent{Index: len(b.evs), Client: client, Kind: kind, Call: call, Return: ret, In: in, Out: out})
	return b
}

func (b *histBuilder) enq(client string, call, ret int64, id string) *histBuilder {
	return b.add(client, history.KindEnqueue, call, ret, history.OpInput{PayloadHash: history.HashPayload([]byte(id))}, okOut(history.OpOutput{OpID: id}))
}

func (b *histBuilder) claim(client string, call, ret int64, tok uint64, id string) *histBuilder {
	out := history.OpOutput{Outcome: history.OutcomeEmpty}
	if id != "" {
		out = history.OpOutput{Outcome: history.OutcomeOK, OpID: id, PayloadHash: history.HashPayload([]byte(id))}
	}
	return b.add(client, history.KindClaim, call, ret, history.OpInput{Token: tok}, out)
}

func (b *histBuilder) ack(client string, call, ret int64, tok uint64, id string, o history.Outcome) *histBuilder {
	return b.add(client, history.KindAck, call, ret, history.OpInput{Token: tok, OpID: id}, history.OpOutput{Outcome: o})
}

func (b *histBuilder) acquire(client string, call, ret int64, tok uint64) *histBuilder {
	return b.add(client, history.KindAcquire, call, ret, history.OpInput{Owner: client}, okOut(history.OpOutput{Token: tok}))
}

func (b *histBuilder) state(call int64, kind history.RestartKind, pending ...string) *histBuilder {
	st := &history.StoreState{Restart: kind, Pending: []history.StateOp{}}
	for _, id := range pending {
		st.Pending = append(st.Pending, history.StateOp{ID: id})
	}
	b.evs = append(b.evs, history.HistoryEvent{Index: len(b.evs), Client: "harness", Kind: history.KindStoreState, Call: call, Return: call, State: st})
	return b
}

func (b *histBuilder) events() []history.HistoryEvent { return b.evs }

func okOut(out history.OpOutput) history.OpOutput {
	out.Outcome = history.OutcomeOK
	return out
}

// findingKinds lists the kinds of a result's findings of severity sev.
func findingKinds(r check.CheckResult, sev check.Severity) []string {
	var ks []string
	for _, v := range r.Violations {
		if v.Severity == sev && !slices.Contains(ks, v.Kind) {
			ks = append(ks, v.Kind)
		}
	}
	slices.Sort(ks)
	return ks
}

// wantCheck checks a result's verdict and that it has a finding of kind
// (when kind is not empty) with severity sev, with evidence.
func wantCheck(t *testing.T, r check.CheckResult, verdict check.Verdict, sev check.Severity, kind string) {
	t.Helper()
	if r.Verdict != verdict {
		t.Fatalf("verdict %s, want %s: %s\n%s", r.Verdict, verdict, r.Message, dumpFindings(r))
	}
	if kind == "" {
		if got := findingKinds(r, check.SeverityViolation); len(got) > 0 {
			t.Fatalf("unexpected violations %v: %s\n%s", got, r.Message, dumpFindings(r))
		}
		return
	}
	for _, v := range r.Violations {
		if v.Severity == sev && v.Kind == kind {
			if len(v.Events) == 0 && v.Where == nil {
				t.Fatalf("%s finding %q has no evidence", sev, kind)
			}
			return
		}
	}
	t.Fatalf("no %s finding of kind %q; got %v: %s\n%s", sev, kind, findingKinds(r, sev), r.Message, dumpFindings(r))
}

func dumpFindings(r check.CheckResult) string {
	s := ""
	for _, v := range r.Violations {
		s += fmt.Sprintf("  %s %s: %s\n", v.Severity, v.Kind, v.Message)
		for _, e := range v.Events {
			s += "      " + e.String() + "\n"
		}
	}
	return s
}
