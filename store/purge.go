package store

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/boxstorm/boxstorm/internal/archive"
	"github.com/boxstorm/boxstorm/internal/failpoint"
	"github.com/boxstorm/boxstorm/internal/fileio"
)

// DefaultRetention is how long failed ops are kept before a purge.
const DefaultRetention = 30 * 24 * time.Hour

// PurgeOptions configure PurgeFailed.
type PurgeOptions struct {
	// OlderThan is the retention: ops that failed longer ago are purged.
	// DefaultRetention when zero.
	OlderThan time.Duration
	// ArchivePath is where the purged ops are archived first, encrypted
	// like a backup. By default <dir>/backups/failed_ops_archive_<UTC>.tar.age.
	ArchivePath string
}

// PurgeReport describes a purge.
type PurgeReport struct {
	Purged  int    `json:"purged"`
	Archive string `json:"archive,omitempty"`
}

// PurgeFailed archives the failed ops older than the retention into an
// encrypted file, fsyncs it, and only then deletes them from failed_ops.
func (s *Store) PurgeFailed(ctx context.Context, o PurgeOptions) (PurgeReport, error) {
	var rep PurgeReport
	if err := s.enter(ctx); err != nil {
		return rep, err
	}
	defer s.exit()
	if o.OlderThan <= 0 {
		o.OlderThan = DefaultRetention
	}
	now := s.opts.Clock.Now().UTC()
	cutoff := now.Add(-o.OlderThan)
	s.qmu.Lock()
	defer s.qmu.Unlock()
	var old []kv
	err := s.failed.eachRecord(ctx, func(k string, pt []byte) error {
		op, err := decodeOp(pt)
		if err != nil {
			return &CorruptionError{Box: BoxFailed, Offset: -1, Key: k, Reason: err.Error()}
		}
		if op.FailedAt.Before(cutoff) {
			old = append(old, kv{k, string(pt)})
		}
		return nil
	})
	if err != nil || len(old) == 0 {
		return rep, err
	}
	if o.ArchivePath == "" {
		if err := os.MkdirAll(filepath.Join(s.dir, "backups"), 0o700); err != nil {
			return rep, err
		}
		o.ArchivePath = filepath.Join(s.dir, "backups", "failed_ops_archive_"+now.Format("20060102T150405Z")+".tar.age")
	}
	key, err := s.ownBackupKey()
	if err != nil {
		return rep, err
	}
	if err := writeArchiveFile(ctx, o.ArchivePath, key, archive.Meta{CreatedAt: now, StoreID: s.kr.StoreID, ToolVersion: ToolVersion}, BoxFailed, old); err != nil {
		return rep, fmt.Errorf("purge: archive: %w", err)
	}
	failpoint.Hit("purge/after-archive")
	if err := s.failed.update(func(t *txn) error {
		for _, r := range old {
			if err := t.del(r.k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return rep, fmt.Errorf("purge: %w", err)
	}
	s.q.failed -= len(old)
	rep.Purged, rep.Archive = len(old), o.ArchivePath
	return rep, s.Audit(ctx, "failed_ops_purged", map[string]any{"purged": len(old), "older_than": o.OlderThan.String(), "archive": filepath.Base(o.ArchivePath)})
}

// writeArchiveFile writes one box of plaintext records as an encrypted
// archive at path, through a temporary file, fsync and rename.
func writeArchiveFile(ctx context.Context, path string, key *archive.Key, meta archive.Meta, box string, recs []kv) error {
	return fileio.WriteAtomic(path, 0o600, func(w io.Writer) error {
		_, err := archive.Write(ctx, w, key.Recipient(), meta, []archive.Box{{Name: box, Records: func(yield func(k, v string) bool) error {
			for _, r := range recs {
				if !yield(r.k, r.v) {
					break
				}
			}
			return nil
		}}})
		return err
	})
}
