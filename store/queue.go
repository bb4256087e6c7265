package store

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"time"

	"github.com/tidwall/buntdb"

	"github.com/boxstorm/boxstorm/internal/failpoint"
)

// Record keys of the queue boxes. None carries personal data: op ids are
// random and idempotency keys are stored as keyed hashes.
const (
	opPrefix   = "op/"
	idemPrefix = "idem/"
)

// queueState is the in-memory view of the queue; Store.qmu guards it.
//
// Claims are served from order, an in-memory FIFO of the pending ops built
// at Open, so the pending index is written behind: its changes collect in
// idx and reach the pending_index box in one transaction per batch (see
// flushIndexLocked). pending_index is derived data, and Open reconciles it
// with pending_ops, so a crash that loses the tail of a batch loses nothing.
type queueState struct {
	seq     uint64
	pending int
	failed  int
	order   []*qentry          // pending ops in FIFO order; gone entries are skipped
	head    int                // order[:head] are all gone
	claims  map[string]*qentry // op id -> entry, claimed under the current token
	idx     map[idxEntry]bool  // pending_index entry -> true to put, false to delete
	lock    lockRecord
	// memIdem is the known-bad CanaryIdempotencyDurability's key table.
	memIdem map[string]Op
	hot     int // bytes the entries' cached ops hold (see qentry.op)
}

// qentry is one pending op in the in-memory FIFO.
type qentry struct {
	seq     uint64
	id      string
	idemKey string // the op's idempotency key, "" if none
	claimed bool
	gone    bool
	// op is the op as Enqueue wrote it, with its own copy of the payload,
	// while the queue's hot budget allows: the first Claim takes it instead
	// of reading and decrypting the record it has just written. Ops with a
	// subject are never cached, so an erasure cannot leave a clear copy.
	op *Op
}

// hotBudget bounds the bytes of ops the FIFO caches for their first claim.
const hotBudget = 4 << 20

// hotCost is what caching op costs against hotBudget.
func hotCost(op *Op) int { return len(op.Payload) + len(op.ID) + len(op.IdempotencyKey) + 160 }

// cache keeps a private copy of op in e for its first claim, within the budget.
func (q *queueState) cache(e *qentry, op *Op) {
	if op.Subject != "" || q.hot+hotCost(op) > hotBudget {
		return
	}
	c := *op
	c.Payload = bytes.Clone(op.Payload)
	e.op = &c
	q.hot += hotCost(&c)
}

// uncache drops e's cached op and returns it (nil if none).
func (q *queueState) uncache(e *qentry) *Op {
	op := e.op
	if op != nil {
		q.hot -= hotCost(op)
		e.op = nil
	}
	return op
}

// idxEntry names a pending_index entry without building its key, so a
// cycle whose put and delete cancel out builds no key at all.
type idxEntry struct {
	seq uint64
	id  string
}

// indexBatch is how many index changes collect before they are written.
const indexBatch = 256

func (q *queueState) reset() {
	q.order, q.head = nil, 0
	q.claims = map[string]*qentry{}
	q.idx = map[idxEntry]bool{}
	q.hot = 0
}

// push appends a pending op to the FIFO; seq is larger than any before it.
func (q *queueState) push(op *Op) *qentry {
	e := &qentry{seq: op.Seq, id: op.ID, idemKey: op.IdempotencyKey}
	q.order = append(q.order, e)
	q.setIndex(op.Seq, op.ID, true)
	return e
}

// remove takes a pending op out of the FIFO.
func (q *queueState) remove(e *qentry) {
	e.gone = true
	q.uncache(e)
	delete(q.claims, e.id)
	q.setIndex(e.seq, e.id, false)
	for q.head < len(q.order) && q.order[q.head].gone {
		q.order[q.head] = nil
		q.head++
	}
	if q.head > 1024 && q.head > len(q.order)/2 {
		q.order = append([]*qentry(nil), q.order[q.head:]...)
		q.head = 0
	}
}

// voidClaims makes every claim claimable again (the token changed).
func (q *queueState) voidClaims() {
	for _, e := range q.claims {
		e.claimed = false
	}
	clear(q.claims)
}

func (q *queueState) setIndex(seq uint64, id string, put bool) {
	k := idxEntry{seq, id}
	if was, ok := q.idx[k]; ok && was && !put {
		delete(q.idx, k) // put and deleted before it was written
		return
	}
	q.idx[k] = put
}

// flushIndexLocked writes the collected index changes in one transaction.
func (s *Store) flushIndexLocked() error {
	if len(s.q.idx) == 0 {
		return nil
	}
	_, err := s.index.commit(func(t *txn) error {
		for e, put := range s.q.idx {
			k := indexKey(e.seq, e.id)
			var err error
			if put {
				err = t.put(k, []byte(e.id))
			} else {
				err = t.del(k)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write pending index: %w", err)
	}
	clear(s.q.idx)
	return nil
}

// maybeFlushIndexLocked flushes once a batch is full.
func (s *Store) maybeFlushIndexLocked() error {
	if len(s.q.idx) < indexBatch {
		return nil
	}
	return s.flushIndexLocked()
}

// FlushIndex writes the pending index changes collected so far.
func (s *Store) FlushIndex() error {
	if err := s.enter(context.Background()); err != nil {
		return err
	}
	defer s.exit()
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return s.flushIndexLocked()
}

func indexKey(seq uint64, id string) string { return seqKey(seq) + "/" + id }

func (s *Store) idemKey(k string) string {
	m := hmac.New(sha256.New, s.idem)
	m.Write([]byte(k))
	return idemPrefix + hex.EncodeToString(m.Sum(nil)[:16])
}

// newOpID makes an op id: the op's sequence number (16 hex digits) and 32
// random bits. Ids sort like the queue, so buntdb loads pending_ops with
// appends instead of random inserts, and sequence numbers never repeat, so
// ids never do either.
func newOpID(seq uint64) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return seqKey(seq) + hex.EncodeToString(b[:])
}

// EnqueueOptions are the optional parts of an op.
type EnqueueOptions struct {
	// IdempotencyKey makes Enqueue idempotent: a repeat returns the first op.
	IdempotencyKey string
	// Subject names the data subject the payload belongs to, for privacy
	// export and erasure.
	Subject string
}

// Enqueue appends an op to the FIFO queue. It returns once the op is as
// durable as the sync mode promises. With an idempotency key that was used
// before, it returns the first op (Duplicate set) and adds nothing.
func (s *Store) Enqueue(ctx context.Context, payload []byte, o EnqueueOptions) (Op, error) {
	if s.canary(CanaryDurability) {
		// Known-bad: acknowledge now, write later.
		id := newOpID(0) // known-bad path: the sequence is not known yet
		go func() {
			time.Sleep(50 * time.Millisecond)
			_, _ = s.enqueue(context.Background(), payload, o, id)
		}()
		return Op{ID: id, EnqueuedAt: s.opts.Clock.Now().UTC(), IdempotencyKey: o.IdempotencyKey, Subject: o.Subject, Payload: payload, State: OpPending}, nil
	}
	return s.enqueue(ctx, payload, o, "")
}

func (s *Store) enqueue(ctx context.Context, payload []byte, o EnqueueOptions, id string) (Op, error) {
	if err := s.enter(ctx); err != nil {
		return Op{}, err
	}
	defer s.exit()
	var ik string
	if o.IdempotencyKey != "" && !s.canary(CanaryIdempotency) {
		ik = s.idemKey(o.IdempotencyKey)
	}
	s.qmu.Lock()
	memIdem := ik != "" && s.canary(CanaryIdempotencyDurability)
	if memIdem {
		// Known-bad: the key lives in memory only.
		if first, ok := s.q.memIdem[ik]; ok {
			s.qmu.Unlock()
			first.Duplicate = true
			return first, nil
		}
	}
	if ik != "" && !memIdem {
		first, err := s.lookupIdemLocked(ik)
		if err == nil {
			s.qmu.Unlock()
			// The first op may not be on disk yet; don't vouch for it before it is.
			if err := s.pending.flushed(); err != nil {
				return Op{}, err
			}
			first.Duplicate = true
			return first, nil
		}
		if !errors.Is(err, ErrNotFound) {
			s.qmu.Unlock()
			return Op{}, err
		}
	}
	if id == "" {
		id = newOpID(s.q.seq + 1)
	}
	op := Op{ID: id, Seq: s.q.seq + 1, EnqueuedAt: s.opts.Clock.Now().UTC(), IdempotencyKey: o.IdempotencyKey, Subject: o.Subject, Payload: payload, State: OpPending}
	stored := op
	if op.Subject != "" {
		if err := s.sealSubject(&stored); err != nil {
			s.qmu.Unlock()
			return Op{}, fmt.Errorf("enqueue: %w", err)
		}
	}
	wait, err := s.pending.commit(func(t *txn) error {
		t.high = op.Seq // the marker keeps the last sequence number after the op is gone
		if err := t.putOp(opPrefix+op.ID, &stored); err != nil {
			return err
		}
		if ik != "" && !memIdem {
			return t.put(ik, encodeIdem(idemRecord{OpID: op.ID}))
		}
		return nil
	})
	if err != nil {
		s.qmu.Unlock()
		return Op{}, fmt.Errorf("enqueue: %w", err)
	}
	if memIdem {
		if s.q.memIdem == nil {
			s.q.memIdem = map[string]Op{}
		}
		s.q.memIdem[ik] = Op{ID: op.ID, Seq: op.Seq, EnqueuedAt: op.EnqueuedAt, IdempotencyKey: op.IdempotencyKey, Subject: op.Subject, State: OpPending}
	}
	s.q.seq = op.Seq
	s.q.pending++
	s.q.cache(s.q.push(&op), &op)
	ierr := s.maybeFlushIndexLocked()
	s.qmu.Unlock()
	failpoint.Hit("enqueue/after-write-before-sync")
	if err := wait(); err != nil {
		return Op{}, fmt.Errorf("enqueue: %w", err)
	}
	if ierr != nil {
		return Op{}, fmt.Errorf("enqueue: op %s is stored: %w; hint: run `storectl rebuild-index`", op.ID, ierr)
	}
	return op, nil
}

// EnqueueBatch appends several ops in one transaction: all of them or none
// are enqueued, in the order given. It takes no idempotency keys or
// subjects; it is meant for bulk loads.
func (s *Store) EnqueueBatch(ctx context.Context, payloads [][]byte) ([]Op, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.exit()
	s.qmu.Lock()
	now := s.opts.Clock.Now().UTC()
	ops := make([]Op, len(payloads))
	for i, p := range payloads {
		seq := s.q.seq + 1 + uint64(i)
		ops[i] = Op{ID: newOpID(seq), Seq: seq, EnqueuedAt: now, Payload: p, State: OpPending}
	}
	wait, err := s.pending.commit(func(t *txn) error {
		for i := range ops {
			if err := t.putOp(opPrefix+ops[i].ID, &ops[i]); err != nil {
				return err
			}
		}
		t.high = s.q.seq + uint64(len(ops))
		return nil
	})
	if err != nil {
		s.qmu.Unlock()
		return nil, fmt.Errorf("enqueue batch: %w", err)
	}
	for i := range ops {
		s.q.push(&ops[i])
	}
	s.q.seq += uint64(len(ops))
	s.q.pending += len(ops)
	ierr := s.maybeFlushIndexLocked()
	s.qmu.Unlock()
	if err := wait(); err != nil {
		return nil, fmt.Errorf("enqueue batch: %w", err)
	}
	return ops, ierr
}

// lookupIdemLocked finds the op an idempotency record names, wherever it is.
func (s *Store) lookupIdemLocked(ik string) (Op, error) {
	raw, err := s.pending.get(ik)
	if err != nil {
		return Op{}, err
	}
	rec, err := decodeIdem(raw)
	if err != nil {
		return Op{}, &CorruptionError{Box: BoxPending, Offset: -1, Key: ik, Reason: "malformed idempotency record"}
	}
	if rec.Done {
		return Op{ID: rec.OpID, State: OpDone}, nil
	}
	if op, err := s.readOp(s.pending, rec.OpID); err == nil {
		return op, nil
	} else if !errors.Is(err, ErrNotFound) {
		return Op{}, err
	}
	op, err := s.readOp(s.failed, rec.OpID)
	if errors.Is(err, ErrNotFound) {
		return Op{ID: rec.OpID, State: OpDone}, nil
	}
	return op, err
}

// readOp reads an op with its payload in the clear.
func (s *Store) readOp(b *box, id string) (Op, error) {
	op, err := s.readOpRaw(b, id)
	if err == nil && op.Subject != "" {
		err = s.openSubject(&op)
	}
	return op, err
}

// readOpRaw reads an op as stored: a subject's payload stays sealed under
// the subject key, ready to be written back.
func (s *Store) readOpRaw(b *box, id string) (Op, error) {
	raw, err := b.get(opPrefix + id)
	if err != nil {
		return Op{}, err
	}
	op, err := decodeOp(raw)
	if err != nil {
		return Op{}, &CorruptionError{Box: b.name, Offset: -1, Key: opPrefix + id, Reason: err.Error()}
	}
	op.State = OpPending
	if b == s.failed {
		op.State = OpFailed
	}
	return op, nil
}

// Claim hands the oldest unclaimed op to the holder of token. The op stays in
// pending_ops until Ack or Fail; if the holder loses the lock, its claims
// are void and the op is delivered again (at-least-once). ErrEmpty means
// nothing is claimable.
func (s *Store) Claim(ctx context.Context, token uint64) (Op, error) {
	if err := s.enter(ctx); err != nil {
		return Op{}, err
	}
	defer s.exit()
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if err := s.checkTokenLocked(token); err != nil {
		return Op{}, err
	}
	for i := s.q.head; i < len(s.q.order); i++ {
		e := s.q.order[i]
		if s.canary(CanaryFIFOOrder) {
			e = s.q.order[len(s.q.order)-1-(i-s.q.head)] // known-bad: newest first
		}
		if e.gone || e.claimed {
			continue
		}
		var op Op
		if c := s.q.uncache(e); c != nil {
			op = *c
		} else {
			var err error
			if op, err = s.readOp(s.pending, e.id); err != nil {
				return Op{}, fmt.Errorf("claim op %s: %w", e.id, err)
			}
		}
		e.claimed = true
		s.q.claims[e.id] = e
		return op, nil
	}
	return Op{}, ErrEmpty
}

// claimedLocked returns the entry of op id claimed under token, or why
// there is none.
func (s *Store) claimedLocked(token uint64, id string) (*qentry, error) {
	if err := s.checkTokenLocked(token); err != nil {
		return nil, err
	}
	e, ok := s.q.claims[id]
	if !ok && s.canary(CanaryFencing) {
		for _, x := range s.q.order[s.q.head:] { // known-bad: a stale claimer's ack still lands
			if x.id == id && !x.gone {
				e, ok = x, true
			}
		}
	}
	if !ok {
		return nil, fmt.Errorf("op %s: %w", id, ErrNotClaimed)
	}
	return e, nil
}

// Ack completes a claimed op: it leaves the queue, and its idempotency key
// is marked done so a handler can act effectively once.
func (s *Store) Ack(ctx context.Context, token uint64, id string) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.exit()
	s.qmu.Lock()
	c, err := s.claimedLocked(token, id)
	if err != nil {
		s.qmu.Unlock()
		return fmt.Errorf("ack: %w", err)
	}
	now := s.opts.Clock.Now().UTC()
	wait, err := s.pending.commit(func(t *txn) error {
		if err := t.del(opPrefix + id); err != nil {
			return err
		}
		if c.idemKey != "" && !s.canary(CanaryIdempotencyDurability) {
			return t.put(s.idemKey(c.idemKey), encodeIdem(idemRecord{OpID: id, Done: true, DoneAt: now}))
		}
		return nil
	})
	if err != nil {
		s.qmu.Unlock()
		return fmt.Errorf("ack: %w", err)
	}
	s.q.remove(c)
	s.q.pending--
	ierr := s.maybeFlushIndexLocked()
	s.qmu.Unlock()
	failpoint.Hit("ack/after-complete-before-delete")
	if err := wait(); err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	if ierr != nil {
		return fmt.Errorf("ack: op %s is done but its index entry remains: %w", id, ierr)
	}
	return nil
}

// Backoff returns the delay before retry number attempts: exponential from
// RetryBase, capped at RetryMax, with "equal jitter" (half fixed, half random)
// so failed ops that failed together do not come back together.
func (s *Store) Backoff(attempts int) time.Duration {
	d := s.opts.RetryBase
	for i := 1; i < attempts && d < s.opts.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.opts.RetryMax)
	half := d / 2
	return half + time.Duration(mrand.Int64N(int64(half)+1))
}

// Fail moves a claimed op to failed_ops with its attempt count, the error
// and the time of its next retry.
func (s *Store) Fail(ctx context.Context, token uint64, id, reason string) (Op, error) {
	if err := s.enter(ctx); err != nil {
		return Op{}, err
	}
	defer s.exit()
	s.qmu.Lock()
	c, err := s.claimedLocked(token, id)
	if err != nil {
		s.qmu.Unlock()
		return Op{}, fmt.Errorf("fail: %w", err)
	}
	op, err := s.readOpRaw(s.pending, id)
	if err != nil {
		s.qmu.Unlock()
		return Op{}, fmt.Errorf("fail: %w", err)
	}
	now := s.opts.Clock.Now().UTC()
	op.Attempts++
	op.Gen++
	op.LastError = reason
	op.FailedAt = now
	op.NextRetryAt = now.Add(s.Backoff(op.Attempts))
	op.State = OpFailed
	// The failed copy must be durable before the pending copy goes, so a
	// crash leaves the op in both boxes (Open keeps the higher Gen), never
	// in neither.
	if err := s.failed.update(func(t *txn) error { return t.put(opPrefix+id, encodeOp(&op)) }); err != nil {
		s.qmu.Unlock()
		return Op{}, fmt.Errorf("fail: %w", err)
	}
	s.q.failed++
	failpoint.Hit("fail/between-boxes")
	wait, err := s.pending.commit(func(t *txn) error { return t.del(opPrefix + id) })
	if err != nil {
		s.qmu.Unlock()
		return Op{}, fmt.Errorf("fail: %w", err)
	}
	s.q.remove(c)
	s.q.pending--
	ierr := s.maybeFlushIndexLocked()
	s.qmu.Unlock()
	if err := wait(); err != nil {
		return Op{}, fmt.Errorf("fail: %w", err)
	}
	if ierr != nil {
		return Op{}, fmt.Errorf("fail: %w", ierr)
	}
	return s.clearPayload(op)
}

// Retry re-enqueues a failed op at the tail of the queue. It keeps the op's
// id, idempotency key and attempt count.
func (s *Store) Retry(ctx context.Context, id string) (Op, error) {
	if err := s.enter(ctx); err != nil {
		return Op{}, err
	}
	defer s.exit()
	s.qmu.Lock()
	defer s.qmu.Unlock()
	op, err := s.readOpRaw(s.failed, id)
	if err != nil {
		return Op{}, fmt.Errorf("retry op %s: %w", id, err)
	}
	op.Gen++
	op.Seq = s.q.seq + 1
	op.EnqueuedAt = s.opts.Clock.Now().UTC()
	op.State = OpPending
	if err := s.pending.update(func(t *txn) error {
		t.high = op.Seq
		return t.put(opPrefix+id, encodeOp(&op))
	}); err != nil {
		return Op{}, fmt.Errorf("retry op %s: %w", id, err)
	}
	s.q.seq = op.Seq
	s.q.pending++
	s.q.push(&op)
	if err := s.maybeFlushIndexLocked(); err != nil {
		return Op{}, fmt.Errorf("retry op %s: %w", id, err)
	}
	failpoint.Hit("retry/between-boxes")
	if err := s.failed.update(func(t *txn) error { return t.del(opPrefix + id) }); err != nil {
		return Op{}, fmt.Errorf("retry op %s: %w", id, err)
	}
	s.q.failed--
	return s.clearPayload(op)
}

// FailedOps lists failed_ops in FIFO order of their original sequence.
func (s *Store) FailedOps(ctx context.Context) ([]Op, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.exit()
	return s.openAll(s.listOps(ctx, s.failed))
}

// PendingOps lists pending_ops in FIFO order.
func (s *Store) PendingOps(ctx context.Context) ([]Op, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.exit()
	return s.openAll(s.listOps(ctx, s.pending))
}

func (s *Store) listOps(ctx context.Context, b *box) ([]Op, error) {
	var ops []Op
	var ferr error
	err := b.view(func(tx *buntdb.Tx) error {
		return tx.AscendGreaterOrEqual("", opPrefix, func(k, v string) bool {
			if !strings.HasPrefix(k, opPrefix) {
				return false
			}
			if ferr = ctx.Err(); ferr != nil {
				return false
			}
			pt, err := b.seal.open(k, []byte(v))
			if err != nil {
				ferr = err
				return false
			}
			op, err := decodeOp(pt)
			if err != nil {
				ferr = &CorruptionError{Box: b.name, Offset: -1, Key: k, Reason: err.Error()}
				return false
			}
			op.State = OpPending
			if b == s.failed {
				op.State = OpFailed
			}
			ops = append(ops, op)
			return true
		})
	})
	if err == nil {
		err = ferr
	}
	sortOps(ops)
	return ops, err
}

// clearPayload decrypts a subject-sealed payload.
func (s *Store) clearPayload(op Op) (Op, error) {
	if op.Subject == "" {
		return op, nil
	}
	err := s.openSubject(&op)
	return op, err
}

// openAll decrypts the subject-sealed payloads of a listing.
func (s *Store) openAll(ops []Op, err error) ([]Op, error) {
	if err != nil {
		return ops, err
	}
	for i := range ops {
		if ops[i].Subject != "" {
			if err := s.openSubject(&ops[i]); err != nil {
				return ops, err
			}
		}
	}
	return ops, nil
}
