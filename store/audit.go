package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/tidwall/buntdb"
)

// AuditEntry is one record of the audit log.
type AuditEntry struct {
	Seq     uint64         `json:"seq"`
	Time    time.Time      `json:"time"`
	Event   string         `json:"event"`
	Details map[string]any `json:"details,omitempty"`
}

// Audit events written by the store.
const (
	EventStaleLockRecovered = "stale_lock_recovered"
	EventLockForceReleased  = "lock_force_released"
	EventBoxRepaired        = "box_repaired"
)

func seqKey(seq uint64) string {
	var b [16]byte
	s := strconv.AppendUint(b[:0], seq, 16)
	out := make([]byte, 16-len(s), 16)
	for i := range out {
		out[i] = '0'
	}
	return string(append(out, s...))
}

func (s *Store) loadAuditSeq() error {
	return s.audit.view(func(tx *buntdb.Tx) error {
		return tx.Descend("", func(k, _ string) bool {
			if k == markerKey {
				return true
			}
			if v, err := strconv.ParseUint(k, 16, 64); err == nil {
				s.auditSeq = v
			}
			return false
		})
	})
}

// Audit appends an entry to the audit log, durably in SyncAlways.
func (s *Store) Audit(ctx context.Context, event string, details map[string]any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	e := AuditEntry{Seq: s.auditSeq + 1, Time: s.opts.Clock.Now().UTC(), Event: event, Details: details}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit %s: %w", event, err)
	}
	if err := s.audit.update(func(t *txn) error { return t.put(seqKey(e.Seq), b) }); err != nil {
		return fmt.Errorf("audit %s: %w", event, err)
	}
	s.auditSeq = e.Seq
	return nil
}

// AuditLog returns every audit entry in order.
func (s *Store) AuditLog(ctx context.Context) ([]AuditEntry, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.exit()
	return s.auditLog(ctx)
}

func (s *Store) auditLog(ctx context.Context) ([]AuditEntry, error) {
	var out []AuditEntry
	var ferr error
	err := s.audit.view(func(tx *buntdb.Tx) error {
		return tx.Ascend("", func(k, v string) bool {
			if k == markerKey {
				return true
			}
			if ferr = ctx.Err(); ferr != nil {
				return false
			}
			pt, err := s.audit.seal.open(k, []byte(v))
			if err != nil {
				ferr = err
				return false
			}
			var e AuditEntry
			if err := json.Unmarshal(pt, &e); err != nil {
				ferr = &CorruptionError{Box: BoxAudit, Offset: -1, Key: k, Reason: "entry is not valid JSON"}
				return false
			}
			out = append(out, e)
			return true
		})
	})
	if err != nil {
		return nil, err
	}
	return out, ferr
}
