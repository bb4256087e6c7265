package store

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"sync"
	"time"
	"unsafe"

	"github.com/boxstorm/boxstorm/internal/archive"
	"github.com/boxstorm/boxstorm/internal/failpoint"
	"github.com/boxstorm/boxstorm/internal/fileio"
	"github.com/tidwall/buntdb"
)

// ToolVersion is recorded in backups and reports.
const ToolVersion = "boxstorm/dev"

// Backup errors. Restore reports every problem with a backup file through
// one of them (match with errors.Is); each message ends with a hint.
var (
	ErrBackupTruncated   = archive.ErrTruncated
	ErrBackupTampered    = archive.ErrTampered
	ErrBackupWrongKey    = archive.ErrWrongKey
	ErrSchemaMismatch    = archive.ErrSchemaMismatch
	ErrBackupCount       = archive.ErrCountMismatch
	ErrBackupHash        = archive.ErrHashMismatch
	ErrBackupUnsafeEntry = archive.ErrUnsafeEntry
	ErrBackupFormat      = archive.ErrUnsupportedFormat
)

// BackupInfo describes a backup: the content of its backup_meta.json.
type BackupInfo struct {
	FormatVersion int             `json:"format_version"`
	SchemaVersion int             `json:"schema_version"`
	CreatedAt     time.Time       `json:"created_at"`
	StoreID       string          `json:"store_id"`
	ToolVersion   string          `json:"tool_version"`
	Boxes         []BackupBoxInfo `json:"boxes"`
}

// BackupBoxInfo is one box of a backup.
type BackupBoxInfo struct {
	Name    string `json:"name"`
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256"`
}

func infoFromMeta(m archive.Meta) BackupInfo {
	info := BackupInfo{FormatVersion: m.FormatVersion, SchemaVersion: m.SchemaVersion, CreatedAt: m.CreatedAt, StoreID: m.StoreID, ToolVersion: m.ToolVersion}
	for _, b := range m.Boxes {
		info.Boxes = append(info.Boxes, BackupBoxInfo(b))
	}
	return info
}

// backupKey derives the age identity of backups made under master.
func backupKey(master []byte) (*archive.Key, error) {
	return archive.ForMaster(master)
}

// ownBackupKey is backupKey of the store's master key, derived once per
// master key (the X25519 work is most of a small restore's CPU).
func (s *Store) ownBackupKey() (*archive.Key, error) {
	s.bkMu.Lock()
	defer s.bkMu.Unlock()
	if s.bk == nil || !bytes.Equal(s.bkMaster, s.master) {
		k, err := backupKey(s.master)
		if err != nil {
			return nil, err
		}
		s.bk, s.bkMaster = k, s.master
	}
	return s.bk, nil
}

type kv struct{ k, v string }

// snapshot copies every record reference of every box (buntdb strings are
// immutable, so this is cheap) while the store is held exclusively.
func (s *Store) snapshot() (map[string][]kv, error) {
	if err := s.exclusive(); err != nil {
		return nil, err
	}
	defer s.swap.Unlock()
	s.qmu.Lock()
	err := s.flushIndexLocked()
	s.qmu.Unlock()
	if err != nil {
		return nil, err
	}
	snap := map[string][]kv{}
	for _, b := range s.boxList() {
		var recs []kv
		if err := b.view(func(tx *buntdb.Tx) error {
			return tx.Ascend("", func(k, v string) bool {
				if k != markerKey {
					recs = append(recs, kv{k, v})
				}
				return true
			})
		}); err != nil {
			return nil, err
		}
		snap[b.name] = recs
	}
	return snap, nil
}

// Backup writes an encrypted backup of every box to w: an age-encrypted tar
// with backup_meta.json first, then one JSON-lines dump per box sorted by
// key (docs/backup-format.md). Writers are paused only while the store takes
// a snapshot of its record references; encryption happens after.
func (s *Store) Backup(ctx context.Context, w io.Writer) (BackupInfo, error) {
	if err := ctx.Err(); err != nil {
		return BackupInfo{}, err
	}
	snap, err := s.snapshot()
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	return s.writeBackup(ctx, w, snap)
}

func (s *Store) writeBackup(ctx context.Context, w io.Writer, snap map[string][]kv) (BackupInfo, error) {
	rec, err := s.schema()
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	key, err := s.ownBackupKey()
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	plain, err := s.openSnapshot(ctx, snap)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	var boxes []archive.Box
	for name, recs := range plain {
		boxes = append(boxes, archive.Box{Name: name, Records: func(yield func(k, v string) bool) error {
			for i, r := range recs {
				if i == len(recs)/2 {
					failpoint.Hit("backup/mid-stream")
				}
				if !yield(r.k, r.v) {
					return nil
				}
			}
			return nil
		}})
	}
	meta := archive.Meta{SchemaVersion: rec.Version, CreatedAt: s.opts.Clock.Now().UTC(), StoreID: s.kr.StoreID, ToolVersion: ToolVersion}
	m, err := archive.Write(ctx, w, key.Recipient(), meta, boxes)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	return infoFromMeta(m), nil
}

// openChunk is how many records one decryption job of a backup takes.
const openChunk = 16384

// openSnapshot decrypts every record of snap once, in chunks spread over
// the CPUs (pending_ops alone is most of a large store); archive.Write
// reads each box twice, to hash, then to write. A chunk's plaintexts share
// one allocation.
func (s *Store) openSnapshot(ctx context.Context, snap map[string][]kv) (map[string][]kv, error) {
	plain := make(map[string][]kv, len(snap))
	var jobs []func()
	var errMu sync.Mutex
	var firstErr error
	for name, recs := range snap {
		seal := s.boxes[name].seal
		out := make([]kv, len(recs))
		plain[name] = out
		for lo := 0; lo < len(recs); lo += openChunk {
			in, out := recs[lo:min(lo+openChunk, len(recs))], out[lo:]
			jobs = append(jobs, func() {
				size := 0
				for _, r := range in {
					size += len(r.v)
				}
				arena := make([]byte, 0, size)
				for i, r := range in {
					pt, err := seal.openTo(arena[len(arena):], r.k, unsafe.Slice(unsafe.StringData(r.v), len(r.v)))
					if err != nil {
						errMu.Lock()
						firstErr = cmp.Or(firstErr, err)
						errMu.Unlock()
						return
					}
					arena = arena[:len(arena)+len(pt)]
					out[i] = kv{r.k, unsafe.String(unsafe.SliceData(pt), len(pt))}
				}
			})
		}
	}
	if err := runParallel(ctx, jobs); err != nil {
		return nil, err
	}
	return plain, firstErr
}

// BackupFile writes a backup to path (mode 0600) through a temporary file,
// fsync and rename, so path holds a whole backup or nothing.
func (s *Store) BackupFile(ctx context.Context, path string) (BackupInfo, error) {
	var info BackupInfo
	err := fileio.WriteAtomic(path, 0o600, func(w io.Writer) error {
		var err error
		info, err = s.Backup(ctx, w)
		return err
	})
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	return info, nil
}
