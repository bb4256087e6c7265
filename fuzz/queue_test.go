package fuzz_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/fuzz/internal/inputs"
	"github.com/boxstorm/boxstorm/internal/fileio"
	"github.com/boxstorm/boxstorm/store"
)

// FuzzQueueModel runs a program of queue operations (inputs.DecodeProgram:
// enqueue, acquire, claim, ack, fail, retry, release, heartbeat, clock
// advance, reopen, kill) on a real store and on queueModel, a few lines of
// in-memory rules written from the store's documentation. After every step
// the results agree (the op returned, or the class of error: ErrEmpty,
// ErrStaleToken, ErrNotClaimed, ErrLockHeld, ErrNotFound) and so does
// everything observable: the pending ops in FIFO order, the failed ops, the
// counts and the processing lock.
//
// Arguments: enqueue takes its idempotency key ("k0".."k3") from Arg bit 7
// and bits 0-1, and a privacy subject from bit 6; acquire, claim, release and
// heartbeat act for owner A or B (Arg bit 0) with that owner's last token;
// ack and fail act for that owner on op Arg>>1 (by creation order), retry on
// op Arg>>1; advance moves the clock (see advance; the lock goes stale 2 min
// after the last heartbeat). Reopen closes and opens the store; kill copies its files while it
// is open, as a SIGKILL leaves them (with SyncNever every write is in the
// file, but nothing is flushed or closed), and opens the copy. A program has
// at most inputs.MaxRestarts of those two.
func FuzzQueueModel(f *testing.F) {
	tuneStoreWorker(f)
	empty := emptyStore(f)
	sc := newScratch(f)
	f.Add(inputs.EncodeProgram([]inputs.Step{{Op: inputs.OpEnqueue}, {Op: inputs.OpAcquire}, {Op: inputs.OpClaim}, {Op: inputs.OpAck}}))
	f.Fuzz(func(t *testing.T, data []byte) { runProgram(t, sc, empty, data) })
}

// runProgram is one FuzzQueueModel input: the program data on a store
// that starts as the files of empty, in sc.
func runProgram(t testing.TB, sc *scratch, empty map[string][]byte, data []byte) {
	q := newQueueRun(t, sc, empty)
	defer q.close()
	for i, st := range inputs.DecodeProgram(data) {
		q.step(i, st)
		q.compare(i, st)
	}
}

// emptyStore returns the files of a new store under the fixture's key.
func emptyStore(tb testing.TB) map[string][]byte {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "empty")
	s, err := store.Open(context.Background(), dir, options(store.TolerateTornTail))
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	return readStoreFiles(tb, dir)
}

// readStoreFiles reads every regular file of a store directory but LOCK.
func readStoreFiles(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range ents {
		if e.Name() == "LOCK" || !e.Type().IsRegular() {
			continue
		}
		b, err := fileio.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

func writeStoreFiles(tb testing.TB, dir string, files map[string][]byte) {
	tb.Helper()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}

const staleAfter = 2 * time.Minute

// queueRun is one program's run: the real store and the model side by side.
type queueRun struct {
	t    testing.TB
	ctx  context.Context
	sc   *scratch
	slot int // of sc; a kill moves to the other
	dir  string
	s    *store.Store
	now  time.Time
	m    queueModel
	ids  map[string]*mop // store op id -> model op
}

func newQueueRun(t testing.TB, sc *scratch, files map[string][]byte) *queueRun {
	q := &queueRun{t: t, ctx: context.Background(), sc: sc, dir: sc.fill(t, 0, files), now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ids: map[string]*mop{}}
	q.m = queueModel{idem: map[string]*mop{}, claimed: map[*mop]bool{}, leases: map[string]uint64{}}
	q.open()
	return q
}

func (q *queueRun) open() {
	q.t.Helper()
	opts := options(store.TolerateTornTail)
	opts.Clock = store.ClockFunc(func() time.Time { return q.now })
	opts.StaleAfter = staleAfter
	s, err := store.Open(q.ctx, q.dir, opts)
	if err != nil {
		q.t.Fatalf("open: %v", err)
	}
	q.s = s
}

func (q *queueRun) close() {
	if q.s != nil {
		if err := q.s.Close(); err != nil {
			q.t.Errorf("close: %v", err)
		}
		q.s = nil
	}
}

// advance is how far OpAdvance moves the clock: Arg*5 s for Arg < 128, and
// otherwise StaleAfter plus (Arg-192) ms, so that a lease ends within a few
// milliseconds of the exact moment it goes stale.
func advance(arg byte) time.Duration {
	if arg < 128 {
		return time.Duration(arg) * 5 * time.Second
	}
	return staleAfter + time.Duration(int(arg)-192)*time.Millisecond
}

func owner(arg byte) string { return string(rune('A' + arg&1)) }

// target returns the op Arg>>1 names, by creation order, and its store id;
// with no ops yet, an id that names nothing.
func (q *queueRun) target(arg byte) (*mop, string) {
	if len(q.m.ops) == 0 {
		return nil, "000000000000000000000000"
	}
	op := q.m.ops[int(arg>>1)%len(q.m.ops)]
	return op, op.id
}

// step runs one operation on both sides and compares the results.
func (q *queueRun) step(i int, st inputs.Step) {
	t, ctx, m := q.t, q.ctx, &q.m
	where := fmt.Sprintf("step %d (%s %#x)", i, st.Op, st.Arg)
	switch st.Op {
	case inputs.OpEnqueue:
		o := store.EnqueueOptions{}
		if st.Arg&0x80 != 0 {
			o.IdempotencyKey = fmt.Sprintf("k%d", st.Arg&3)
		}
		if st.Arg&0x40 != 0 {
			o.Subject = fmt.Sprintf("subject-%d", st.Arg&1)
		}
		payload := fmt.Appendf(nil, "payload %d/%#x", i, st.Arg)
		op, err := q.s.Enqueue(ctx, payload, o)
		if err != nil {
			t.Fatalf("%s: Enqueue: %v", where, err)
		}
		if first, dup := m.idem[o.IdempotencyKey]; o.IdempotencyKey != "" && dup {
			switch {
			case !op.Duplicate || op.ID != first.id:
				t.Fatalf("%s: repeated key %q gave op %s (duplicate %t), want the first op %s", where, o.IdempotencyKey, op.ID, op.Duplicate, first.id)
			case op.State != first.state:
				t.Fatalf("%s: duplicate of op %s in state %q, the model says %q", where, op.ID, op.State, first.state)
			case first.state != store.OpDone && !bytes.Equal(op.Payload, first.payload):
				t.Fatalf("%s: duplicate has payload %q, want the first op's %q", where, op.Payload, first.payload)
			}
			return
		}
		if op.Duplicate || op.State != store.OpPending || !bytes.Equal(op.Payload, payload) || q.ids[op.ID] != nil {
			t.Fatalf("%s: new op %+v; want a pending, new op with payload %q", where, op, payload)
		}
		mo := m.enqueue(op.ID, payload)
		q.ids[op.ID] = mo
		if o.IdempotencyKey != "" {
			m.idem[o.IdempotencyKey] = mo
		}
	case inputs.OpAcquire:
		who := owner(st.Arg)
		lease, err := q.s.AcquireLock(ctx, store.LockRequest{Owner: who})
		token, want := m.acquire(who, q.now)
		q.expect(where, err, want)
		if err == nil && lease.Token != token {
			t.Fatalf("%s: token %d, the model says %d", where, lease.Token, token)
		}
	case inputs.OpClaim:
		who := owner(st.Arg)
		op, err := q.s.Claim(ctx, m.leases[who])
		mo, want := m.claim(m.leases[who])
		q.expect(where, err, want)
		if err == nil && (q.ids[op.ID] != mo || !bytes.Equal(op.Payload, mo.payload) || op.Attempts != mo.attempts) {
			t.Fatalf("%s: claimed %s (%q, %d attempts), the model says %s (%q, %d attempts)", where, op.ID, op.Payload, op.Attempts, mo.id, mo.payload, mo.attempts)
		}
	case inputs.OpAck:
		who := owner(st.Arg)
		mo, id := q.target(st.Arg)
		err := q.s.Ack(ctx, m.leases[who], id)
		q.expect(where, err, m.ack(m.leases[who], mo))
	case inputs.OpFail:
		who := owner(st.Arg)
		mo, id := q.target(st.Arg)
		reason := fmt.Sprintf("reason %d", i)
		op, err := q.s.Fail(ctx, m.leases[who], id, reason)
		q.expect(where, err, m.fail(m.leases[who], mo, reason))
		if err == nil && (op.ID != mo.id || op.State != store.OpFailed || op.Attempts != mo.attempts || op.LastError != reason || !bytes.Equal(op.Payload, mo.payload)) {
			t.Fatalf("%s: Fail returned %+v; the model says %d attempts", where, op, mo.attempts)
		}
	case inputs.OpRetry:
		mo, id := q.target(st.Arg)
		op, err := q.s.Retry(ctx, id)
		q.expect(where, err, m.retry(mo))
		if err == nil && (op.ID != mo.id || op.State != store.OpPending || op.Attempts != mo.attempts || !bytes.Equal(op.Payload, mo.payload)) {
			t.Fatalf("%s: Retry returned %+v; the model says %d attempts", where, op, mo.attempts)
		}
	case inputs.OpRelease:
		who := owner(st.Arg)
		err := q.s.ReleaseLock(ctx, m.leases[who])
		q.expect(where, err, m.release(m.leases[who]))
	case inputs.OpHeartbeat:
		who := owner(st.Arg)
		err := q.s.Heartbeat(ctx, m.leases[who], nil)
		q.expect(where, err, m.heartbeat(m.leases[who], q.now))
	case inputs.OpAdvance:
		q.now = q.now.Add(advance(st.Arg))
	case inputs.OpReopen:
		q.close()
		q.open()
		clear(m.claimed)
	case inputs.OpKill:
		files := readStoreFiles(t, q.dir)
		q.close()
		q.slot ^= 1
		q.dir = q.sc.fill(t, q.slot, files)
		q.open()
		clear(m.claimed)
	}
}

// expect compares an error with the model's: both nil, or the same class.
func (q *queueRun) expect(where string, got, want error) {
	q.t.Helper()
	if (got == nil) != (want == nil) || want != nil && !errors.Is(got, want) {
		q.t.Fatalf("%s: error %v, the model says %v", where, got, want)
	}
}

// compare checks everything observable against the model.
func (q *queueRun) compare(i int, st inputs.Step) {
	t, ctx, m := q.t, q.ctx, &q.m
	where := fmt.Sprintf("after step %d (%s %#x)", i, st.Op, st.Arg)
	check := func(what string, ops []store.Op, err error, want []*mop) {
		if err != nil {
			t.Fatalf("%s: %s: %v", where, what, err)
		}
		if !slices.EqualFunc(ops, want, func(op store.Op, mo *mop) bool {
			return q.ids[op.ID] == mo && bytes.Equal(op.Payload, mo.payload) && op.Attempts == mo.attempts && op.LastError == mo.lastError
		}) {
			t.Fatalf("%s: %s are %s, the model says %s", where, what, describeStoreOps(ops), describeModelOps(want))
		}
	}
	ops, err := q.s.PendingOps(ctx)
	check("pending ops", ops, err, m.pending)
	ops, err = q.s.FailedOps(ctx)
	check("failed ops", ops, err, m.failedInOrder())
	stats, err := q.s.Stats(ctx)
	if err != nil {
		t.Fatalf("%s: Stats: %v", where, err)
	}
	if stats.PendingOps != len(m.pending) || stats.FailedOps != len(m.failed) || stats.Claimed != len(m.claimed) {
		t.Fatalf("%s: Stats counts %d pending, %d failed, %d claimed; the model %d, %d, %d", where, stats.PendingOps, stats.FailedOps, stats.Claimed, len(m.pending), len(m.failed), len(m.claimed))
	}
	li, err := q.s.LockStatus(nil)
	if err != nil {
		t.Fatalf("%s: LockStatus: %v", where, err)
	}
	l := m.lock
	if li.Held != l.held || li.Token != l.token || l.held && (li.Owner != l.owner || li.Stale != m.stale(q.now)) {
		t.Fatalf("%s: lock %+v; the model says held %t by %q, token %d, stale %t", where, li, l.held, l.owner, l.token, m.stale(q.now))
	}
}

func describeStoreOps(ops []store.Op) string {
	var b bytes.Buffer
	for _, op := range ops {
		fmt.Fprintf(&b, "[%s %q %d %q] ", op.ID, op.Payload, op.Attempts, op.LastError)
	}
	return b.String()
}

func describeModelOps(ops []*mop) string {
	var b bytes.Buffer
	for _, op := range ops {
		fmt.Fprintf(&b, "[%s %q %d %q] ", op.id, op.payload, op.attempts, op.lastError)
	}
	return b.String()
}

// queueModel is the queue as the store's documentation describes it.
type queueModel struct {
	ops     []*mop          // every op, in creation order
	pending []*mop          // FIFO order
	failed  []*mop          // any order; listed by sequence
	claimed map[*mop]bool   // claims under the current token
	idem    map[string]*mop // idempotency key -> first op
	seq     uint64
	lock    struct {
		held      bool
		owner     string
		token     uint64
		heartbeat time.Time
	}
	leases map[string]uint64 // owner -> the last token it was granted
}

// mop is an op of the model.
type mop struct {
	id        string
	payload   []byte
	seq       uint64
	state     store.OpState
	attempts  int
	lastError string
}

func (m *queueModel) enqueue(id string, payload []byte) *mop {
	m.seq++
	op := &mop{id: id, payload: payload, seq: m.seq, state: store.OpPending}
	m.ops = append(m.ops, op)
	m.pending = append(m.pending, op)
	return op
}

func (m *queueModel) stale(now time.Time) bool {
	return m.lock.held && !now.Before(m.lock.heartbeat.Add(staleAfter))
}

// acquire: a lock held by another owner is refused until stale; otherwise
// a new, larger token, and every claim is void.
func (m *queueModel) acquire(owner string, now time.Time) (uint64, error) {
	if m.lock.held && m.lock.owner != owner && !m.stale(now) {
		return 0, store.ErrLockHeld
	}
	m.lock.held, m.lock.owner, m.lock.heartbeat = true, owner, now
	m.lock.token++
	m.leases[owner] = m.lock.token
	clear(m.claimed)
	return m.lock.token, nil
}

func (m *queueModel) checkToken(token uint64) error {
	if !m.lock.held || token != m.lock.token {
		return store.ErrStaleToken
	}
	return nil
}

// claim hands out the oldest unclaimed pending op.
func (m *queueModel) claim(token uint64) (*mop, error) {
	if err := m.checkToken(token); err != nil {
		return nil, err
	}
	for _, op := range m.pending {
		if !m.claimed[op] {
			m.claimed[op] = true
			return op, nil
		}
	}
	return nil, store.ErrEmpty
}

func (m *queueModel) claimedBy(token uint64, op *mop) error {
	if err := m.checkToken(token); err != nil {
		return err
	}
	if op == nil || !m.claimed[op] {
		return store.ErrNotClaimed
	}
	return nil
}

func (m *queueModel) removePending(op *mop) {
	m.pending = slices.DeleteFunc(m.pending, func(o *mop) bool { return o == op })
	delete(m.claimed, op)
}

func (m *queueModel) ack(token uint64, op *mop) error {
	if err := m.claimedBy(token, op); err != nil {
		return err
	}
	m.removePending(op)
	op.state = store.OpDone
	return nil
}

// fail moves a claimed op to the failed ops with one more attempt.
func (m *queueModel) fail(token uint64, op *mop, reason string) error {
	if err := m.claimedBy(token, op); err != nil {
		return err
	}
	m.removePending(op)
	op.state, op.lastError = store.OpFailed, reason
	op.attempts++
	m.failed = append(m.failed, op)
	return nil
}

// retry puts a failed op back at the tail, keeping its attempts.
func (m *queueModel) retry(op *mop) error {
	if op == nil || op.state != store.OpFailed {
		return store.ErrNotFound
	}
	m.failed = slices.DeleteFunc(m.failed, func(o *mop) bool { return o == op })
	m.seq++
	op.seq, op.state = m.seq, store.OpPending
	m.pending = append(m.pending, op)
	return nil
}

func (m *queueModel) release(token uint64) error {
	if err := m.checkToken(token); err != nil {
		return err
	}
	m.lock.held = false
	clear(m.claimed)
	return nil
}

func (m *queueModel) heartbeat(token uint64, now time.Time) error {
	if err := m.checkToken(token); err != nil {
		return err
	}
	m.lock.heartbeat = now
	return nil
}

// failedInOrder lists the failed ops by sequence, as FailedOps does.
func (m *queueModel) failedInOrder() []*mop {
	out := slices.Clone(m.failed)
	slices.SortFunc(out, func(a, b *mop) int { return int(a.seq) - int(b.seq) })
	return out
}
