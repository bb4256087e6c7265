package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/tidwall/buntdb"
)

// IndexReport is what a pending-index check found, and what a rebuild fixed.
type IndexReport struct {
	Ops                 int      `json:"ops"`                            // ops in pending_ops
	Entries             int      `json:"entries"`                        // entries in pending_index before the rebuild
	Missing             []string `json:"missing,omitempty"`              // op ids with no index entry
	Dangling            []string `json:"dangling,omitempty"`             // index keys naming no pending op
	OutOfOrder          []string `json:"out_of_order,omitempty"`         // index keys whose sequence disagrees with the op's
	MalformedTimestamps []string `json:"malformed_timestamps,omitempty"` // op ids with an impossible enqueue time
	DuplicateOps        []string `json:"duplicate_ops,omitempty"`        // op ids found in pending_ops and failed_ops
	Rebuilt             bool     `json:"rebuilt"`

	reindex []string // ids of out-of-order ops whose right entry must be written
}

// Clean reports whether the check found nothing to fix.
func (r IndexReport) Clean() bool {
	return len(r.Missing)+len(r.Dangling)+len(r.OutOfOrder)+len(r.MalformedTimestamps)+len(r.DuplicateOps) == 0
}

func sortOps(ops []Op) {
	slices.SortFunc(ops, func(a, b Op) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// malformedTime reports an enqueue time no clock could have produced.
func malformedTime(t, now time.Time) bool {
	return t.IsZero() || t.Year() < 2000 || t.After(now.Add(24*time.Hour*365))
}

// loadQueue rebuilds the in-memory queue state at Open and repairs what a
// crash between two boxes can leave: an op in both pending_ops and
// failed_ops, and a pending index that lags (it is synced lazily).
func (s *Store) loadQueue() error {
	s.q.reset()
	if err := s.loadLock(); err != nil {
		return err
	}
	if s.canary(CanaryIndexRebuild) {
		return s.fifoFromIndex()
	}
	rep, err := s.checkIndex(context.Background(), true)
	if err != nil {
		return err
	}
	if !rep.Clean() {
		s.opts.Logger.Info("pending index reconciled on open", "missing", len(rep.Missing), "dangling", len(rep.Dangling), "out_of_order", len(rep.OutOfOrder), "duplicates", len(rep.DuplicateOps))
	}
	return nil
}

// RebuildIndex checks pending_index against pending_ops and rebuilds it from
// the ops, which record their sequence numbers. It reports each problem it
// found: missing, dangling and out-of-order entries, and malformed timestamps.
// Ops whose enqueue time is malformed keep their place, which their
// sequence number decides.
func (s *Store) RebuildIndex(ctx context.Context) (IndexReport, error) {
	if err := s.enter(ctx); err != nil {
		return IndexReport{}, err
	}
	defer s.exit()
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if err := s.flushIndexLocked(); err != nil {
		return IndexReport{}, err
	}
	rep, err := s.checkIndex(ctx, true)
	if err != nil {
		return rep, err
	}
	if err := s.index.flushed(); err != nil {
		return rep, err
	}
	if rep.Rebuilt {
		if err := s.index.sync.syncNow(); err != nil {
			return rep, err
		}
		if err := s.Audit(ctx, "index_rebuilt", map[string]any{"missing": len(rep.Missing), "dangling": len(rep.Dangling), "out_of_order": len(rep.OutOfOrder), "malformed_timestamps": len(rep.MalformedTimestamps)}); err != nil {
			return rep, err
		}
	}
	s.opts.Logger.Info("Index rebuilt", "ops", rep.Ops, "missing", len(rep.Missing), "dangling", len(rep.Dangling), "out_of_order", len(rep.OutOfOrder))
	return rep, nil
}

// CheckIndex reports what RebuildIndex would fix, changing nothing.
func (s *Store) CheckIndex(ctx context.Context) (IndexReport, error) {
	if err := s.enter(ctx); err != nil {
		return IndexReport{}, err
	}
	defer s.exit()
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if err := s.flushIndexLocked(); err != nil {
		return IndexReport{}, err
	}
	return s.checkIndex(ctx, false)
}

// opMeta is what the index check needs of an op: no payload.
type opMeta struct {
	seq        uint64
	gen        uint32
	id         string
	idemKey    string
	enqueuedAt int64
}

// metaChunk is how many op records one decryption job of listMeta takes.
const metaChunk = 4096

// listMeta decodes the ops of a box, sorted by sequence and id. The
// records are collected under buntdb's read lock, then decrypted in
// chunks over the CPUs. The first call after a rewrite built the box
// takes the ops the rewrite decoded instead.
func (s *Store) listMeta(ctx context.Context, b *box) ([]opMeta, error) {
	if ops := b.builtOps; ops != nil {
		b.builtOps = nil
		sortMetas(ops)
		return ops, nil
	}
	var refs []kv
	err := b.view(func(tx *buntdb.Tx) error {
		return tx.AscendGreaterOrEqual("", opPrefix, func(k, v string) bool {
			if !strings.HasPrefix(k, opPrefix) {
				return false
			}
			refs = append(refs, kv{k, v})
			return true
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]opMeta, len(refs))
	var errMu sync.Mutex
	var firstErr error
	var jobs []func()
	for lo := 0; lo < len(refs); lo += metaChunk {
		refs, out := refs[lo:min(lo+metaChunk, len(refs))], out[lo:]
		jobs = append(jobs, func() {
			var buf []byte
			for i, r := range refs {
				var err error
				var op Op
				if buf, err = b.seal.openTo(buf[:0], r.k, unsafe.Slice(unsafe.StringData(r.v), len(r.v))); err == nil {
					if op, err = decodeOp(buf); err != nil {
						err = &CorruptionError{Box: b.name, Offset: -1, Key: r.k, Reason: err.Error()}
					}
				}
				if err != nil {
					errMu.Lock()
					firstErr = cmp.Or(firstErr, err)
					errMu.Unlock()
					return
				}
				out[i] = metaOf(r.k, op)
			}
		})
	}
	if err := runParallel(ctx, jobs); err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	sortMetas(out)
	return out, nil
}

// sortMetas sorts ops by sequence number, then id: pending_index order.
func sortMetas(ops []opMeta) {
	slices.SortFunc(ops, func(a, b opMeta) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return strings.Compare(a.id, b.id)
	})
}

// metaOf is the opMeta of op, stored under key; it keeps nothing op's
// buffers hold.
func metaOf(key string, op Op) opMeta {
	return opMeta{seq: op.Seq, gen: op.Gen, id: key[len(opPrefix):], idemKey: strings.Clone(op.IdempotencyKey), enqueuedAt: timeNano(op.EnqueuedAt)}
}

// checkIndex compares the boxes and, with fix, repairs them and rebuilds the
// in-memory FIFO. qmu is held (or the store is still opening). pending_index
// keys sort like the pending ops sorted by (seq, id), so one merge pass over
// both finds every difference.
func (s *Store) checkIndex(ctx context.Context, fix bool) (IndexReport, error) {
	var rep IndexReport
	pending, err := s.listMeta(ctx, s.pending)
	if err != nil {
		return rep, err
	}
	failed, err := s.listMeta(ctx, s.failed)
	if err != nil {
		return rep, err
	}
	// An op in both boxes: the copy with the higher Gen is the newer move.
	var dropPending, dropFailed []string
	if len(failed) > 0 {
		failedGen := make(map[string]uint32, len(failed))
		for _, op := range failed {
			failedGen[op.id] = op.gen
		}
		live := pending[:0]
		for _, op := range pending {
			g, both := failedGen[op.id]
			switch {
			case !both:
				live = append(live, op)
			case g > op.gen:
				dropPending = append(dropPending, op.id)
				rep.DuplicateOps = append(rep.DuplicateOps, op.id)
			default:
				dropFailed = append(dropFailed, op.id)
				rep.DuplicateOps = append(rep.DuplicateOps, op.id)
				live = append(live, op)
			}
		}
		pending = live
	}
	rep.Ops = len(pending)

	now := s.opts.Clock.Now()
	maxSeq := s.pending.high
	for _, op := range pending {
		maxSeq = max(maxSeq, op.seq)
		if malformedTime(nanoTime(op.enqueuedAt), now) {
			rep.MalformedTimestamps = append(rep.MalformedTimestamps, op.id)
		}
	}
	for _, op := range failed {
		maxSeq = max(maxSeq, op.seq)
	}

	var extra []string // index keys matching no op at its place
	next := 0          // pending[next] is the next op the index should name
	err = s.index.view(func(tx *buntdb.Tx) error {
		return tx.Ascend("", func(k, _ string) bool {
			if k == markerKey {
				return true
			}
			rep.Entries++
			for next < len(pending) {
				want := indexKey(pending[next].seq, pending[next].id)
				if want == k {
					next++
					return true
				}
				if want > k {
					break
				}
				rep.Missing = append(rep.Missing, pending[next].id)
				next++
			}
			extra = append(extra, k)
			return true
		})
	})
	if err != nil {
		return rep, err
	}
	for ; next < len(pending); next++ {
		rep.Missing = append(rep.Missing, pending[next].id)
	}
	if len(extra) > 0 {
		// An extra entry naming a pending op is out of order; the op's right
		// entry was counted missing above. Any other is dangling.
		ids := make(map[string]bool, len(pending))
		for _, op := range pending {
			ids[op.id] = true
		}
		for _, k := range extra {
			if i := strings.IndexByte(k, '/'); i >= 0 && ids[k[i+1:]] {
				rep.OutOfOrder = append(rep.OutOfOrder, k)
			} else {
				rep.Dangling = append(rep.Dangling, k)
			}
		}
		if len(rep.OutOfOrder) > 0 {
			wrong := map[string]bool{}
			for _, k := range rep.OutOfOrder {
				wrong[k[strings.IndexByte(k, '/')+1:]] = true
			}
			missing := rep.Missing[:0:0]
			for _, id := range rep.Missing {
				if !wrong[id] {
					missing = append(missing, id)
				}
			}
			// Out-of-order ops still need their right entry written.
			rep.Missing = missing
			for id := range wrong {
				rep.reindex = append(rep.reindex, id)
			}
		}
	}
	if fix {
		keyOf := func(id string) string { return "" }
		if len(rep.Missing)+len(rep.reindex) > 0 {
			byID := make(map[string]string, len(rep.Missing)+len(rep.reindex))
			need := map[string]bool{}
			for _, id := range append(append([]string{}, rep.Missing...), rep.reindex...) {
				need[id] = true
			}
			for _, op := range pending {
				if need[op.id] {
					byID[op.id] = indexKey(op.seq, op.id)
				}
			}
			keyOf = func(id string) string { return byID[id] }
		}
		if err := s.applyIndexFix(rep, keyOf, dropPending, dropFailed); err != nil {
			return rep, err
		}
		rep.Rebuilt = !rep.Clean()
		s.rebuildFIFOLocked(pending)
		s.q.seq = max(s.q.seq, maxSeq)
		s.q.pending = len(pending)
		s.q.failed = len(failed) - len(dropFailed)
	}
	return rep, nil
}

func (s *Store) applyIndexFix(rep IndexReport, keyOf func(id string) string, dropPending, dropFailed []string) error {
	if err := deleteOps(s.failed, dropFailed); err != nil {
		return err
	}
	if err := deleteOps(s.pending, dropPending); err != nil {
		return err
	}
	// Index entries of dropped pending copies show up as dangling.
	if len(rep.Missing)+len(rep.Dangling)+len(rep.OutOfOrder)+len(rep.reindex) == 0 {
		return nil
	}
	return s.index.update(func(t *txn) error {
		for _, k := range append(rep.Dangling, rep.OutOfOrder...) {
			if err := t.del(k); err != nil {
				return err
			}
		}
		for _, id := range append(append([]string{}, rep.Missing...), rep.reindex...) {
			if err := t.put(keyOf(id), []byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// rebuildFIFOLocked replaces the in-memory FIFO with pending (sorted by
// sequence). Claims survive when their op is still pending.
func (s *Store) rebuildFIFOLocked(pending []opMeta) {
	claims := s.q.claims
	idx := s.q.idx
	s.q.reset()
	s.q.idx = idx
	s.q.order = make([]*qentry, 0, len(pending))
	entries := make([]qentry, len(pending)) // one allocation for all
	for i, op := range pending {
		e := &entries[i]
		*e = qentry{seq: op.seq, id: op.id, idemKey: op.idemKey}
		if _, ok := claims[op.id]; ok {
			e.claimed = true
			s.q.claims[op.id] = e
		}
		s.q.order = append(s.q.order, e)
	}
}

// fifoFromIndex is the index-rebuild canary's Open: it trusts pending_index
// as it is, so ops missing from it are never claimed.
func (s *Store) fifoFromIndex() error {
	var ops []opMeta
	err := s.index.view(func(tx *buntdb.Tx) error {
		return tx.Ascend("", func(k, _ string) bool {
			i := strings.IndexByte(k, '/')
			if k == markerKey || i < 0 {
				return true
			}
			seq, err := strconv.ParseUint(k[:i], 16, 64)
			if err == nil {
				ops = append(ops, opMeta{id: k[i+1:], seq: seq})
				s.q.seq = max(s.q.seq, seq)
			}
			return true
		})
	})
	s.rebuildFIFOLocked(ops)
	s.q.pending = len(ops)
	s.q.seq = max(s.q.seq, s.pending.high)
	return err
}

// deleteOps deletes ops by id from a queue box in one transaction.
func deleteOps(b *box, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	err := b.update(func(t *txn) error {
		for _, id := range ids {
			if err := t.del(opPrefix + id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reconcile %s: %w", b.name, err)
	}
	return nil
}
