package store_test

// A randomized test against a queue model that closes and reopens the store
// after every mutating call: whatever a call changed must be in the files,
// not only in memory. Replay a failure with -reopen.seed=N (or
// BOXSTORM_REOPEN_SEED=N); -reopen.steps sets the length of a run.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

var (
	reopenSeed  = flag.Uint64("reopen.seed", 0, "seed of TestReopen_QueueModel (0: from BOXSTORM_REOPEN_SEED, else random)")
	reopenSteps = flag.Int("reopen.steps", 200, "mutating calls per run of TestReopen_QueueModel")
)

// modelOp is what the model knows of an op.
type modelOp struct {
	id, payload, idem, subject string
	attempts                   int
	failedAt                   time.Time
}

// queueModel is the queue as the calls so far should have left it.
type queueModel struct {
	pending []*modelOp          // FIFO order
	failed  map[string]*modelOp // by id
	idem    map[string]string   // idempotency key -> first op id, while that op exists or was acked
	erased  map[string]bool     // subjects erased: never used again
}

func TestReopen_QueueModel(t *testing.T) {
	seed := *reopenSeed
	if seed == 0 {
		if v, err := strconv.ParseUint(os.Getenv("BOXSTORM_REOPEN_SEED"), 10, 64); err == nil {
			seed = v
		}
	}
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (replay: go test ./store -run TestReopen_QueueModel -reopen.seed=%d)", seed, seed)
	t.Cleanup(func() {
		if t.Failed() {
			fmt.Fprintf(os.Stderr, "TestReopen_QueueModel failed with seed %d; replay: go test ./store -run TestReopen_QueueModel -reopen.seed=%d\n", seed, seed)
		}
	})
	rng := rand.New(rand.NewPCG(seed, 0x72656f70656e))
	ctx := context.Background()
	dir := t.TempDir()
	clock := newFakeClock()
	opts := testutil.Options(func(o *store.Options) { o.Clock = clock })
	s, err := store.Open(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	m := &queueModel{failed: map[string]*modelOp{}, idem: map[string]string{}, erased: map[string]bool{}}
	reopen := func(step int, what string) {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatalf("step %d (%s): close: %v", step, what, err)
		}
		if s, err = store.Open(ctx, dir, opts); err != nil {
			t.Fatalf("step %d (%s): reopen: %v", step, what, err)
		}
		if reps := s.Repairs(); len(reps) > 0 {
			t.Fatalf("step %d (%s): reopen after a clean close repaired %+v", step, what, reps)
		}
		m.compare(t, ctx, s, step, what)
	}
	// withClaim claims the head of the queue under a fresh lease and calls fn.
	withClaim := func(step int, fn func(token uint64, op store.Op)) {
		t.Helper()
		l, err := s.AcquireLock(ctx, store.LockRequest{Owner: "p"})
		if err != nil {
			t.Fatalf("step %d: acquire: %v", step, err)
		}
		op, err := s.Claim(ctx, l.Token)
		if len(m.pending) == 0 {
			if !errors.Is(err, store.ErrEmpty) {
				t.Fatalf("step %d: claim of an empty queue: %+v, %v", step, op, err)
			}
		} else if err != nil || op.ID != m.pending[0].id || string(op.Payload) != m.pending[0].payload {
			t.Fatalf("step %d: claim = %s %q, %v; want the head %s %q", step, op.ID, op.Payload, err, m.pending[0].id, m.pending[0].payload)
		} else {
			fn(l.Token, op)
		}
		if err := s.ReleaseLock(ctx, l.Token); err != nil {
			t.Fatalf("step %d: release: %v", step, err)
		}
	}
	subjects := 0
	for step := range *reopenSteps {
		clock.Add(time.Hour)
		var what string
		switch k := rng.IntN(100); {
		case k < 35: // enqueue, some with a key, some with a subject
			what = "enqueue"
			mo := &modelOp{payload: fmt.Sprintf("payload-%d", step)}
			if rng.IntN(2) == 0 {
				mo.idem = fmt.Sprintf("key-%d", step)
			}
			if rng.IntN(3) == 0 {
				mo.subject = fmt.Sprintf("subject-%d", subjects+rng.IntN(2))
			}
			op, err := s.Enqueue(ctx, []byte(mo.payload), store.EnqueueOptions{IdempotencyKey: mo.idem, Subject: mo.subject})
			if err != nil || op.Duplicate {
				t.Fatalf("step %d: enqueue: %+v, %v", step, op, err)
			}
			mo.id = op.ID
			m.pending = append(m.pending, mo)
			if mo.idem != "" {
				m.idem[mo.idem] = op.ID
			}
		case k < 42: // a repeated idempotency key
			what = "enqueue-repeat"
			keys := slices.Sorted(mapKeys(m.idem))
			if len(keys) == 0 {
				continue
			}
			key := keys[rng.IntN(len(keys))]
			op, err := s.Enqueue(ctx, []byte("repeat"), store.EnqueueOptions{IdempotencyKey: key})
			if err != nil || !op.Duplicate || op.ID != m.idem[key] {
				t.Fatalf("step %d: repeat of key %s: %+v, %v; want the first op %s", step, key, op, err, m.idem[key])
			}
		case k < 50:
			what = "claim"
			withClaim(step, func(uint64, store.Op) {}) // the claim dies with the process
		case k < 68:
			what = "ack"
			withClaim(step, func(token uint64, op store.Op) {
				if err := s.Ack(ctx, token, op.ID); err != nil {
					t.Fatalf("step %d: ack: %v", step, err)
				}
				m.pending = m.pending[1:]
			})
		case k < 80:
			what = "fail"
			withClaim(step, func(token uint64, op store.Op) {
				if _, err := s.Fail(ctx, token, op.ID, "boom"); err != nil {
					t.Fatalf("step %d: fail: %v", step, err)
				}
				mo := m.pending[0]
				m.pending = m.pending[1:]
				mo.attempts++
				mo.failedAt = clock.Now()
				m.failed[mo.id] = mo
			})
		case k < 90:
			what = "retry"
			ids := slices.Sorted(mapKeys(m.failed))
			if len(ids) == 0 {
				continue
			}
			id := ids[rng.IntN(len(ids))]
			if _, err := s.Retry(ctx, id); err != nil {
				t.Fatalf("step %d: retry %s: %v", step, id, err)
			}
			m.pending = append(m.pending, m.failed[id])
			delete(m.failed, id)
		case k < 95:
			what = "purge"
			older := time.Duration(1+rng.IntN(6))*time.Hour + 30*time.Minute
			rep, err := s.PurgeFailed(ctx, store.PurgeOptions{OlderThan: older})
			if err != nil {
				t.Fatalf("step %d: purge: %v", step, err)
			}
			n := 0
			for id, mo := range m.failed {
				if clock.Now().Sub(mo.failedAt) > older {
					delete(m.failed, id)
					m.forgetKey(mo)
					n++
				}
			}
			if rep.Purged != n {
				t.Fatalf("step %d: purge older than %s removed %d, want %d", step, older, rep.Purged, n)
			}
		default:
			what = "erase"
			subject := fmt.Sprintf("subject-%d", subjects)
			subjects += 2 // the next enqueues use fresh subjects
			if _, err := s.Erase(ctx, subject); err != nil {
				t.Fatalf("step %d: erase: %v", step, err)
			}
			m.pending = slices.DeleteFunc(m.pending, func(mo *modelOp) bool {
				if mo.subject == subject {
					m.forgetKey(mo)
				}
				return mo.subject == subject
			})
			for id, mo := range m.failed {
				if mo.subject == subject {
					delete(m.failed, id)
					m.forgetKey(mo)
				}
			}
		}
		reopen(step, what)
	}
}

// forgetKey stops the model from asking about a removed op's key: whether a
// purged or erased op's key is still remembered is not part of the contract.
func (m *queueModel) forgetKey(mo *modelOp) {
	if mo.idem != "" {
		delete(m.idem, mo.idem)
	}
}

func mapKeys[V any](mp map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range mp {
			if !yield(k) {
				return
			}
		}
	}
}

// compare checks the reopened store against the model.
func (m *queueModel) compare(t *testing.T, ctx context.Context, s *store.Store, step int, what string) {
	t.Helper()
	pending, err := s.PendingOps(ctx)
	if err != nil {
		t.Fatalf("step %d (%s): pending ops: %v", step, what, err)
	}
	var got, want []string
	for _, op := range pending {
		got = append(got, fmt.Sprintf("%s %q attempts=%d", op.ID, op.Payload, op.Attempts))
	}
	for _, mo := range m.pending {
		want = append(want, fmt.Sprintf("%s %q attempts=%d", mo.id, mo.payload, mo.attempts))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("step %d (%s): after reopen, pending ops =\n%q\nwant\n%q", step, what, got, want)
	}
	failed, err := s.FailedOps(ctx)
	if err != nil {
		t.Fatalf("step %d (%s): failed ops: %v", step, what, err)
	}
	got, want = nil, nil
	for _, op := range failed {
		got = append(got, fmt.Sprintf("%s attempts=%d", op.ID, op.Attempts))
	}
	for _, mo := range m.failed {
		want = append(want, fmt.Sprintf("%s attempts=%d", mo.id, mo.attempts))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("step %d (%s): after reopen, failed ops = %q, want %q", step, what, got, want)
	}
}
