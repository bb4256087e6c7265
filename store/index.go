package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

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
	if err := s.enter(); err != nil {
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
	if err := s.enter(); err != nil {
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

// checkIndex compares the boxes and, with fix, repairs them. qmu is held (or
// the store is still opening).
func (s *Store) checkIndex(ctx context.Context, fix bool) (IndexReport, error) {
	var rep IndexReport
	pending, err := s.listOps(ctx, s.pending)
	if err != nil {
		return rep, err
	}
	failed, err := s.listOps(ctx, s.failed)
	if err != nil {
		return rep, err
	}
	// An op in both boxes: the copy with the higher Gen is the newer move.
	failedGen := make(map[string]uint32, len(failed))
	for _, op := range failed {
		failedGen[op.ID] = op.Gen
	}
	var dropPending, dropFailed []string
	live := pending[:0]
	for _, op := range pending {
		g, both := failedGen[op.ID]
		switch {
		case !both:
			live = append(live, op)
		case g > op.Gen:
			dropPending = append(dropPending, op.ID)
			rep.DuplicateOps = append(rep.DuplicateOps, op.ID)
		default:
			dropFailed = append(dropFailed, op.ID)
			rep.DuplicateOps = append(rep.DuplicateOps, op.ID)
			live = append(live, op)
		}
	}
	pending = live
	rep.Ops = len(pending)

	want := make(map[string]string, len(pending)) // index key -> op id
	byID := make(map[string]string, len(pending)) // op id -> index key
	now := s.opts.Clock.Now()
	var maxSeq uint64
	for _, op := range pending {
		k := indexKey(op.Seq, op.ID)
		want[k], byID[op.ID] = op.ID, k
		maxSeq = max(maxSeq, op.Seq)
		if malformedTime(op.EnqueuedAt, now) {
			rep.MalformedTimestamps = append(rep.MalformedTimestamps, op.ID)
		}
	}
	for _, op := range failed {
		maxSeq = max(maxSeq, op.Seq)
	}
	maxSeq = max(maxSeq, s.pending.high)

	have := map[string]bool{}
	err = s.index.view(func(tx *buntdb.Tx) error {
		return tx.Ascend("", func(k, _ string) bool {
			if k == markerKey {
				return true
			}
			rep.Entries++
			have[k] = true
			if _, ok := want[k]; ok {
				return true
			}
			i := strings.IndexByte(k, '/')
			if i >= 0 && byID[k[i+1:]] != "" {
				rep.OutOfOrder = append(rep.OutOfOrder, k)
			} else {
				rep.Dangling = append(rep.Dangling, k)
			}
			return true
		})
	})
	if err != nil {
		return rep, err
	}
	for _, op := range pending {
		if !have[byID[op.ID]] {
			rep.Missing = append(rep.Missing, op.ID)
		}
	}
	if fix {
		if err := s.applyIndexFix(rep, byID, dropPending, dropFailed); err != nil {
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

func (s *Store) applyIndexFix(rep IndexReport, byID map[string]string, dropPending, dropFailed []string) error {
	if len(dropFailed) > 0 {
		if err := s.failed.update(func(t *txn) error {
			for _, id := range dropFailed {
				if err := t.del(opPrefix + id); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("reconcile failed_ops: %w", err)
		}
	}
	if len(dropPending) > 0 {
		if err := s.pending.update(func(t *txn) error {
			for _, id := range dropPending {
				if err := t.del(opPrefix + id); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("reconcile pending_ops: %w", err)
		}
	}
	// Index entries of dropped pending copies show up as dangling.
	if len(rep.Missing)+len(rep.Dangling)+len(rep.OutOfOrder) == 0 {
		return nil
	}
	return s.index.update(func(t *txn) error {
		for _, k := range append(rep.Dangling, rep.OutOfOrder...) {
			if err := t.del(k); err != nil {
				return err
			}
		}
		for _, id := range rep.Missing {
			if err := t.put(byID[id], []byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// rebuildFIFOLocked replaces the in-memory FIFO with pending (sorted by
// sequence). Claims survive when their op is still pending.
func (s *Store) rebuildFIFOLocked(pending []Op) {
	claims := s.q.claims
	idx := s.q.idx
	s.q.reset()
	s.q.idx = idx
	for i := range pending {
		op := &pending[i]
		e := &qentry{seq: op.Seq, id: op.ID, idemKey: op.IdempotencyKey}
		if _, ok := claims[op.ID]; ok {
			e.claimed = true
			s.q.claims[op.ID] = e
		}
		s.q.order = append(s.q.order, e)
		s.q.live[op.ID] = e
	}
}

// fifoFromIndex is the index-rebuild canary's Open: it trusts pending_index
// as it is, so ops missing from it are never claimed.
func (s *Store) fifoFromIndex() error {
	var ops []Op
	err := s.index.view(func(tx *buntdb.Tx) error {
		return tx.Ascend("", func(k, _ string) bool {
			i := strings.IndexByte(k, '/')
			if k == markerKey || i < 0 {
				return true
			}
			seq, err := strconv.ParseUint(k[:i], 16, 64)
			if err == nil {
				ops = append(ops, Op{ID: k[i+1:], Seq: seq})
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
