package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

// fakeClock is a settable clock for lock and backoff tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func acquire(t *testing.T, s *store.Store, owner string, c store.Clock) store.Lease {
	t.Helper()
	l, err := s.AcquireLock(context.Background(), store.LockRequest{Owner: owner, Clock: c})
	if err != nil {
		t.Fatalf("acquire lock as %s: %v", owner, err)
	}
	return l
}

func TestQueue_FIFOWithConcurrentProducers(t *testing.T) {
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir, func(o *store.Options) { o.Sync = store.SyncNever })
	ctx := context.Background()
	const producers, each = 8, 200
	var wg sync.WaitGroup
	seqOf := make([][]uint64, producers) // per producer, the seqs it got, in call order
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				op, err := s.Enqueue(ctx, fmt.Appendf(nil, "%d/%d", p, i), store.EnqueueOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				seqOf[p] = append(seqOf[p], op.Seq)
			}
		}()
	}
	wg.Wait()
	lease := acquire(t, s, "consumer", nil)
	var last uint64
	next := make([]int, producers)
	for n := 0; n < producers*each; n++ {
		op, err := s.Claim(ctx, lease.Token)
		if err != nil {
			t.Fatalf("claim %d: %v", n, err)
		}
		if op.Seq <= last {
			t.Fatalf("claim %d: seq %d after %d", n, op.Seq, last)
		}
		last = op.Seq
		var p, i int
		if _, err := fmt.Sscanf(string(op.Payload), "%d/%d", &p, &i); err != nil {
			t.Fatal(err)
		}
		if i != next[p] {
			t.Fatalf("producer %d: got its op %d, want %d (per-producer order broken)", p, i, next[p])
		}
		next[p]++
		if err := s.Ack(ctx, lease.Token, op.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Claim(ctx, lease.Token); !errors.Is(err, store.ErrEmpty) {
		t.Errorf("claim on an empty queue: err = %v, want ErrEmpty", err)
	}
}

func TestQueue_EnqueueBatchAndPutBatch(t *testing.T) {
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	ctx := context.Background()
	if _, err := s.Enqueue(ctx, []byte("first"), store.EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	ops, err := s.EnqueueBatch(ctx, [][]byte{[]byte("a"), []byte("b"), []byte("c")})
	if err != nil || len(ops) != 3 || ops[0].Seq != 2 || ops[2].Seq != 4 {
		t.Fatalf("EnqueueBatch = %+v, %v", ops, err)
	}
	if err := s.PutBatch(ctx, "kv", map[string][]byte{"x": []byte("1"), "y": []byte("2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBatch(ctx, "kv", map[string][]byte{"ok": nil, "bad\x01": nil}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("PutBatch with a bad key: err = %v", err)
	}
	s.Close()
	s = testutil.MustOpen(t, dir)
	if got := pendingPayloads(t, s); strings.Join(got, ",") != "first,a,b,c" {
		t.Errorf("after reopen: %v", got)
	}
	if v, err := s.Get(ctx, "kv", "y"); err != nil || string(v) != "2" {
		t.Errorf("kv/y = %q, %v", v, err)
	}
	if _, err := s.Get(ctx, "kv", "ok"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed PutBatch wrote a record: %v", err)
	}
}

func TestQueue_IdempotencyKeyReturnsFirstOp(t *testing.T) {
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	ctx := context.Background()
	first, err := s.Enqueue(ctx, []byte("one"), store.EnqueueOptions{IdempotencyKey: "order-42"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Enqueue(ctx, []byte("two"), store.EnqueueOptions{IdempotencyKey: "order-42"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || string(again.Payload) != "one" || !again.Duplicate {
		t.Fatalf("repeat = %+v, want the first op %s marked Duplicate", again, first.ID)
	}
	st, _ := s.Stats(ctx)
	if st.PendingOps != 1 {
		t.Errorf("pending ops = %d, want 1", st.PendingOps)
	}
	// Completion is recorded per key: after Ack a repeat reports done, and
	// survives a reopen.
	lease := acquire(t, s, "p", nil)
	op, err := s.Claim(ctx, lease.Token)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, lease.Token, op.ID); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = testutil.MustOpen(t, dir)
	done, err := s.Enqueue(ctx, []byte("three"), store.EnqueueOptions{IdempotencyKey: "order-42"})
	if err != nil {
		t.Fatal(err)
	}
	if done.ID != first.ID || done.State != store.OpDone {
		t.Errorf("repeat after ack = %+v, want op %s in state done", done, first.ID)
	}
}

func TestQueue_FailRetryKeepsIdempotencyKey(t *testing.T) {
	clock := newFakeClock()
	s := testutil.MustOpen(t, t.TempDir(), func(o *store.Options) { o.Clock = clock })
	ctx := context.Background()
	orig, err := s.Enqueue(ctx, []byte("x"), store.EnqueueOptions{IdempotencyKey: "idem-1"})
	if err != nil {
		t.Fatal(err)
	}
	lease := acquire(t, s, "p", nil)
	op, _ := s.Claim(ctx, lease.Token)
	failed, err := s.Fail(ctx, lease.Token, op.ID, "downstream 503")
	if err != nil {
		t.Fatal(err)
	}
	if failed.Attempts != 1 || failed.LastError != "downstream 503" || failed.State != store.OpFailed {
		t.Errorf("failed op = %+v", failed)
	}
	if d := failed.NextRetryAt.Sub(clock.Now()); d < store.DefaultRetryBase/2 || d > store.DefaultRetryBase {
		t.Errorf("first retry delay %s, want within [%s, %s]", d, store.DefaultRetryBase/2, store.DefaultRetryBase)
	}
	list, err := s.FailedOps(ctx)
	if err != nil || len(list) != 1 || list[0].ID != orig.ID {
		t.Fatalf("FailedOps = %+v, %v", list, err)
	}
	st, _ := s.Stats(ctx)
	if st.PendingOps != 0 || st.FailedOps != 1 {
		t.Errorf("stats = %+v, want 0 pending, 1 failed", st)
	}
	retried, err := s.Retry(ctx, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if retried.IdempotencyKey != "idem-1" || retried.ID != orig.ID || retried.Seq <= orig.Seq || retried.Attempts != 1 {
		t.Errorf("retried op = %+v", retried)
	}
	dup, _ := s.Enqueue(ctx, []byte("y"), store.EnqueueOptions{IdempotencyKey: "idem-1"})
	if dup.ID != orig.ID || !dup.Duplicate {
		t.Errorf("idempotency key lost across retry: %+v", dup)
	}
	if _, err := s.Retry(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("retry of an unknown op: err = %v, want ErrNotFound", err)
	}
}

func TestBackoff_GrowsAndIsCapped(t *testing.T) {
	s := testutil.MustOpen(t, t.TempDir(), func(o *store.Options) { o.RetryBase = time.Second; o.RetryMax = time.Minute })
	for _, c := range []struct {
		attempts int
		lo, hi   time.Duration
	}{{1, 500 * time.Millisecond, time.Second}, {2, time.Second, 2 * time.Second}, {4, 4 * time.Second, 8 * time.Second}, {30, 30 * time.Second, time.Minute}} {
		for range 50 {
			if d := s.Backoff(c.attempts); d < c.lo || d > c.hi {
				t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", c.attempts, d, c.lo, c.hi)
			}
		}
	}
}

func TestLock_FencingRejectsStaleToken(t *testing.T) {
	clockA, clockB := newFakeClock(), newFakeClock()
	s := testutil.MustOpen(t, t.TempDir())
	ctx := context.Background()
	for range 3 {
		if _, err := s.Enqueue(ctx, []byte("x"), store.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	a := acquire(t, s, "A", clockA)
	opA, err := s.Claim(ctx, a.Token)
	if err != nil {
		t.Fatal(err)
	}
	// B cannot take a fresh lock.
	_, err = s.AcquireLock(ctx, store.LockRequest{Owner: "B", Clock: clockB})
	var held *store.LockHeldError
	if !errors.As(err, &held) || held.Owner != "A" {
		t.Fatalf("acquire of a held lock: err = %v, want LockHeldError naming A", err)
	}
	// B's clock runs 5 minutes ahead: by its clock A's lock is stale.
	clockB.Add(5 * time.Minute)
	b := acquire(t, s, "B", clockB)
	if b.Token <= a.Token {
		t.Fatalf("token went from %d to %d; tokens must only grow", a.Token, b.Token)
	}
	for name, call := range map[string]func() error{
		"claim":     func() error { _, err := s.Claim(ctx, a.Token); return err },
		"ack":       func() error { return s.Ack(ctx, a.Token, opA.ID) },
		"fail":      func() error { _, err := s.Fail(ctx, a.Token, opA.ID, "x"); return err },
		"heartbeat": func() error { return s.Heartbeat(ctx, a.Token, clockA) },
		"release":   func() error { return s.ReleaseLock(ctx, a.Token) },
	} {
		if err := call(); !errors.Is(err, store.ErrStaleToken) {
			t.Errorf("%s with the old token: err = %v, want ErrStaleToken", name, err)
		}
	}
	// A's claim is void: B gets the same op again (at-least-once).
	opB, err := s.Claim(ctx, b.Token)
	if err != nil || opB.ID != opA.ID {
		t.Fatalf("B's first claim = %s, %v; want redelivery of %s", opB.ID, err, opA.ID)
	}
	if err := s.Ack(ctx, b.Token, "never-claimed"); !errors.Is(err, store.ErrNotClaimed) {
		t.Errorf("ack of an unclaimed op: err = %v, want ErrNotClaimed", err)
	}
	log, err := s.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := countEvents(log, store.EventStaleLockRecovered); n != 1 {
		t.Errorf("%d stale_lock_recovered entries, want 1", n)
	}
}

func countEvents(log []store.AuditEntry, event string) int {
	n := 0
	for _, e := range log {
		if e.Event == event {
			n++
		}
	}
	return n
}

func TestLock_StaleAfterIsConfigurableAndHeartbeatRenews(t *testing.T) {
	clock := newFakeClock()
	s := testutil.MustOpen(t, t.TempDir(), func(o *store.Options) { o.Clock = clock; o.StaleAfter = 10 * time.Second })
	ctx := context.Background()
	a := acquire(t, s, "A", nil)
	clock.Add(8 * time.Second)
	if err := s.Heartbeat(ctx, a.Token, nil); err != nil {
		t.Fatal(err)
	}
	clock.Add(8 * time.Second) // 16 s after acquire, 8 s after the heartbeat
	if _, err := s.AcquireLock(ctx, store.LockRequest{Owner: "B"}); !errors.Is(err, store.ErrLockHeld) {
		t.Fatalf("lock renewed 8 s ago: err = %v, want ErrLockHeld", err)
	}
	clock.Add(3 * time.Second)
	info, _ := s.LockStatus(nil)
	if !info.Stale || info.Owner != "A" {
		t.Fatalf("status = %+v, want stale lock of A", info)
	}
	b := acquire(t, s, "B", nil)
	if st, _ := s.Stats(ctx); st.Lock.Owner != "B" || st.Lock.Token != b.Token {
		t.Errorf("stats lock = %+v", st.Lock)
	}
	// Tokens keep growing across reopen and release.
	if err := s.ReleaseLock(ctx, b.Token); err != nil {
		t.Fatal(err)
	}
	dir := s.Dir()
	s.Close()
	s = testutil.MustOpen(t, dir, func(o *store.Options) { o.Clock = clock })
	c := acquire(t, s, "C", nil)
	if c.Token <= b.Token {
		t.Errorf("token after reopen %d, want > %d", c.Token, b.Token)
	}
	if err := s.ForceReleaseLock(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, c.Token); !errors.Is(err, store.ErrStaleToken) {
		t.Errorf("claim after force release: err = %v, want ErrStaleToken", err)
	}
}

func TestStats_FailedOpsAlert(t *testing.T) {
	s := testutil.MustOpen(t, t.TempDir(), func(o *store.Options) { o.FailedOpsAlert = 2; o.Sync = store.SyncNever })
	ctx := context.Background()
	lease := acquire(t, s, "p", nil)
	for i := range 3 {
		if _, err := s.Enqueue(ctx, []byte("x"), store.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
		op, err := s.Claim(ctx, lease.Token)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Fail(ctx, lease.Token, op.ID, "boom"); err != nil {
			t.Fatal(err)
		}
		st, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := i+1 > 2; (len(st.Alerts) > 0) != want {
			t.Errorf("after %d failures alerts = %v, want alert %t", i+1, st.Alerts, want)
		}
	}
}

// Stats counts the fsyncs a durable enqueue pays and none under SyncNever.
func TestStats_Fsyncs(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		mode    store.SyncMode
		durable bool
	}{{store.SyncAlways, true}, {store.SyncNever, false}} {
		s := testutil.MustOpen(t, t.TempDir(), func(o *store.Options) { o.Sync = c.mode })
		before, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := s.Enqueue(ctx, []byte("x"), store.EnqueueOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		after, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n := after.Fsyncs - before.Fsyncs; c.durable && n < 3 || !c.durable && n != 0 {
			t.Errorf("%v: 3 sequential enqueues ran %d fsyncs", c.mode, n)
		}
	}
}

// Claim serves a just-enqueued op from memory: it must hand out the payload
// as enqueued, not the caller's buffer as it is later, and a redelivery
// after the claim was voided must read the same op back from the box.
func TestClaim_ServesEnqueuedPayload(t *testing.T) {
	ctx := context.Background()
	s := testutil.MustOpen(t, t.TempDir())
	buf := []byte("first payload")
	first, err := s.Enqueue(ctx, buf, store.EnqueueOptions{IdempotencyKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXX") // the caller reuses its buffer
	lease, err := s.AcquireLock(ctx, store.LockRequest{Owner: "A"})
	if err != nil {
		t.Fatal(err)
	}
	op, err := s.Claim(ctx, lease.Token)
	if err != nil {
		t.Fatal(err)
	}
	if op.ID != first.ID || string(op.Payload) != "first payload" || op.IdempotencyKey != "k1" || op.State != store.OpPending {
		t.Fatalf("claim = %+v", op)
	}
	if err := s.ForceReleaseLock(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	lease2, err := s.AcquireLock(ctx, store.LockRequest{Owner: "B"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Claim(ctx, lease2.Token)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != op.ID || string(again.Payload) != "first payload" || !again.EnqueuedAt.Equal(op.EnqueuedAt) || again.Seq != op.Seq {
		t.Fatalf("redelivery = %+v, first delivery %+v", again, op)
	}
}
