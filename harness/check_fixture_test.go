package harness_test

// A tiny in-memory queue with the store's contract, and switches that break
// it one protection at a time: the known-bad targets of the checker tests.
// A memDriver runs it single-threaded and records every call into a History
// whose clock ticks on every reading, so the histories are deterministic.

import (
	"fmt"
	"slices"
	"testing"

	"github.com/boxstorm/boxstorm/harness"
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

func (o *memOp) hash() string { return harness.HashPayload([]byte(o.payload)) }

type memStore struct {
	bugs     map[memBug]bool
	sync     harness.Durability
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
	s := &memStore{bugs: map[memBug]bool{}, sync: harness.DurabilityAlways, claimed: map[string]bool{}, done: map[string]bool{}, idem: map[string]*memOp{}, unsynced: map[string]bool{}}
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
	if s.sync == harness.DurabilityNever {
		s.unsynced[op.id] = true
	}
	return op, false
}

func (s *memStore) claim(tok uint64) (*memOp, harness.Outcome) {
	if !s.tokenOK(tok) {
		return nil, harness.OutcomeStaleToken
	}
	s.claims++
	if s.bugs[bugFabricate] && s.claims == 1 {
		return &memOp{id: "op-ghost", payload: "ghost"}, harness.OutcomeOK
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
			return &memOp{id: op.id, subject: op.subject, payload: op.payload + "!"}, harness.OutcomeOK
		}
		return op, harness.OutcomeOK
	}
	return nil, harness.OutcomeEmpty
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

func (s *memStore) ack(tok uint64, id string) harness.Outcome {
	if !s.tokenOK(tok) {
		return harness.OutcomeStaleToken
	}
	if !s.claimed[id] {
		if s.bugs[bugDoubleAck] && s.done[id] {
			return harness.OutcomeOK
		}
		return harness.OutcomeNotClaimed
	}
	s.remove(id)
	s.done[id] = true
	return harness.OutcomeOK
}

func (s *memStore) fail(tok uint64, id string) harness.Outcome {
	if !s.tokenOK(tok) {
		return harness.OutcomeStaleToken
	}
	if !s.claimed[id] {
		return harness.OutcomeNotClaimed
	}
	s.failed = append(s.failed, s.remove(id))
	return harness.OutcomeOK
}

func (s *memStore) retry(id string) harness.Outcome {
	for i, op := range s.failed {
		if op.id == id {
			s.failed = slices.Delete(s.failed, i, i+1)
			s.pending = append(s.pending, op)
			return harness.OutcomeOK
		}
	}
	return harness.OutcomeNotFound
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

func (s *memStore) release(tok uint64) harness.Outcome {
	if !s.held || tok != s.token {
		return harness.OutcomeStaleToken
	}
	s.held = false
	clear(s.claimed)
	return harness.OutcomeOK
}

func (s *memStore) erase(subject string) {
	if s.bugs[bugNoErase] {
		return
	}
	s.pending = slices.DeleteFunc(s.pending, func(op *memOp) bool { return op.subject == subject })
	s.failed = slices.DeleteFunc(s.failed, func(op *memOp) bool { return op.subject == subject })
}

func (s *memStore) crash(kind harness.RestartKind) {
	clear(s.claimed)
	if s.bugs[bugDropOnCrash] && len(s.pending) > 0 {
		s.pending = s.pending[:len(s.pending)-1]
	}
	if kind == harness.RestartMachine {
		s.pending = slices.DeleteFunc(s.pending, func(op *memOp) bool { return s.unsynced[op.id] })
	}
	clear(s.unsynced)
}

func (s *memStore) state(kind harness.RestartKind) harness.StoreState {
	st := harness.StoreState{Restart: kind, Pending: []harness.StateOp{}, Lock: &harness.ObservedLock{Token: s.token, Held: s.held, Owner: s.owner}}
	for i, op := range s.pending {
		st.Pending = append(st.Pending, harness.StateOp{ID: op.id, Seq: uint64(i + 1), PayloadHash: op.hash(), Subject: op.subject, Payload: []byte(op.payload)})
	}
	for _, op := range s.failed {
		st.Failed = append(st.Failed, harness.StateOp{ID: op.id, PayloadHash: op.hash(), Subject: op.subject})
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
	h   *harness.History
	s   *memStore
}

func newMemDriver(bugs ...memBug) *memDriver {
	d := &memDriver{s: newMemStore(bugs...)}
	d.h = harness.NewHistory(harness.HistoryOptions{Clock: func() int64 { d.now += 10; return d.now }})
	return d
}

func (d *memDriver) events() []harness.HistoryEvent { return d.h.Events() }

func (d *memDriver) enqueue(client, payload, key, subject string) string {
	i := d.h.Call(client, harness.KindEnqueue, "", harness.OpInput{PayloadHash: harness.HashPayload([]byte(payload)), IdempotencyKey: key, Subject: subject})
	op, dup := d.s.enqueue(payload, key, subject)
	d.h.Return(i, harness.OpOutput{Outcome: harness.OutcomeOK, OpID: op.id, Duplicate: dup})
	return op.id
}

func (d *memDriver) claim(client string, tok uint64) string {
	i := d.h.Call(client, harness.KindClaim, "", harness.OpInput{Token: tok})
	op, out := d.s.claim(tok)
	if op == nil {
		d.h.Return(i, harness.OpOutput{Outcome: out})
		return ""
	}
	d.h.Return(i, harness.OpOutput{Outcome: out, OpID: op.id, PayloadHash: op.hash(), Subject: op.subject})
	return op.id
}

func (d *memDriver) ack(client string, tok uint64, id string) harness.Outcome {
	i := d.h.Call(client, harness.KindAck, "", harness.OpInput{Token: tok, OpID: id})
	out := d.s.ack(tok, id)
	d.h.Return(i, harness.OpOutput{Outcome: out})
	return out
}

func (d *memDriver) fail(client string, tok uint64, id string) {
	i := d.h.Call(client, harness.KindFail, "", harness.OpInput{Token: tok, OpID: id})
	d.h.Return(i, harness.OpOutput{Outcome: d.s.fail(tok, id)})
}

func (d *memDriver) retry(client, id string) {
	i := d.h.Call(client, harness.KindRetry, "", harness.OpInput{OpID: id})
	out := d.s.retry(id)
	d.h.Return(i, harness.OpOutput{Outcome: out, OpID: id})
}

func (d *memDriver) acquire(client string) uint64 {
	i := d.h.Call(client, harness.KindAcquire, "", harness.OpInput{Owner: client})
	tok := d.s.acquire(client)
	d.h.Return(i, harness.OpOutput{Outcome: harness.OutcomeOK, Token: tok})
	return tok
}

func (d *memDriver) heartbeat(client string, tok uint64) {
	i := d.h.Call(client, harness.KindHeartbeat, "", harness.OpInput{Token: tok})
	out := harness.OutcomeOK
	if !d.s.held || tok != d.s.token {
		out = harness.OutcomeStaleToken
	}
	d.h.Return(i, harness.OpOutput{Outcome: out})
}

func (d *memDriver) release(client string, tok uint64) {
	i := d.h.Call(client, harness.KindRelease, "", harness.OpInput{Token: tok})
	d.h.Return(i, harness.OpOutput{Outcome: d.s.release(tok)})
}

func (d *memDriver) erase(client, subject string) {
	i := d.h.Call(client, harness.KindErase, "", harness.OpInput{Subject: subject})
	d.s.erase(subject)
	d.h.Return(i, harness.OpOutput{Outcome: harness.OutcomeOK})
}

func (d *memDriver) crash(kind harness.RestartKind) {
	d.s.crash(kind)
	d.h.RecordState("harness", "", d.s.state(kind))
}

func (d *memDriver) observe() { d.h.RecordState("harness", "", d.s.state(harness.RestartNone)) }

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
func memWorkload(bugs ...memBug) []harness.HistoryEvent {
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
	d.crash(harness.RestartProcess)
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
func memMachineCrash(sync harness.Durability) []harness.HistoryEvent {
	d := newMemDriver()
	d.s.sync = sync
	for i := range 3 {
		d.enqueue("producer-1", fmt.Sprintf("payload-%d", i), "", "")
	}
	d.crash(harness.RestartMachine)
	return d.events()
}

// histBuilder makes hand-written histories.
type histBuilder struct{ evs []harness.HistoryEvent }

func (b *histBuilder) add(client string, kind harness.OpKind, call, ret int64, in harness.OpInput, out harness.OpOutput) *histBuilder {
	b.evs = append(b.evs, harness.HistoryEvent{Index: len(b.evs), Client: client, Kind: kind, Call: call, Return: ret, In: in, Out: out})
	return b
}

func (b *histBuilder) enq(client string, call, ret int64, id string) *histBuilder {
	return b.add(client, harness.KindEnqueue, call, ret, harness.OpInput{PayloadHash: harness.HashPayload([]byte(id))}, okOut(harness.OpOutput{OpID: id}))
}

func (b *histBuilder) claim(client string, call, ret int64, tok uint64, id string) *histBuilder {
	out := harness.OpOutput{Outcome: harness.OutcomeEmpty}
	if id != "" {
		out = harness.OpOutput{Outcome: harness.OutcomeOK, OpID: id, PayloadHash: harness.HashPayload([]byte(id))}
	}
	return b.add(client, harness.KindClaim, call, ret, harness.OpInput{Token: tok}, out)
}

func (b *histBuilder) ack(client string, call, ret int64, tok uint64, id string, o harness.Outcome) *histBuilder {
	return b.add(client, harness.KindAck, call, ret, harness.OpInput{Token: tok, OpID: id}, harness.OpOutput{Outcome: o})
}

func (b *histBuilder) acquire(client string, call, ret int64, tok uint64) *histBuilder {
	return b.add(client, harness.KindAcquire, call, ret, harness.OpInput{Owner: client}, okOut(harness.OpOutput{Token: tok}))
}

func (b *histBuilder) state(call int64, kind harness.RestartKind, pending ...string) *histBuilder {
	st := &harness.StoreState{Restart: kind, Pending: []harness.StateOp{}}
	for _, id := range pending {
		st.Pending = append(st.Pending, harness.StateOp{ID: id})
	}
	b.evs = append(b.evs, harness.HistoryEvent{Index: len(b.evs), Client: "harness", Kind: harness.KindStoreState, Call: call, Return: call, State: st})
	return b
}

func (b *histBuilder) events() []harness.HistoryEvent { return b.evs }

func okOut(out harness.OpOutput) harness.OpOutput {
	out.Outcome = harness.OutcomeOK
	return out
}

// findingKinds lists the kinds of a result's findings of severity sev.
func findingKinds(r harness.CheckResult, sev harness.Severity) []string {
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
func wantCheck(t *testing.T, r harness.CheckResult, verdict harness.Verdict, sev harness.Severity, kind string) {
	t.Helper()
	if r.Verdict != verdict {
		t.Fatalf("verdict %s, want %s: %s\n%s", r.Verdict, verdict, r.Message, dumpFindings(r))
	}
	if kind == "" {
		if got := findingKinds(r, harness.SeverityViolation); len(got) > 0 {
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

func dumpFindings(r harness.CheckResult) string {
	s := ""
	for _, v := range r.Violations {
		s += fmt.Sprintf("  %s %s: %s\n", v.Severity, v.Kind, v.Message)
		for _, e := range v.Events {
			s += "      " + e.String() + "\n"
		}
	}
	return s
}
