package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/boxstorm/boxstorm/store/internal/archive"
	"github.com/tidwall/buntdb"
)

// ToolVersion is recorded in backups and reports.
var ToolVersion = "boxstorm/dev"

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

// backupKey derives the age identity of this store's backups from the master key.
func backupKey(master []byte) (*archive.Key, error) {
	return archive.NewKey(deriveKey(master, "backup"))
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
	key, err := backupKey(s.master)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	// Decrypt every box once, a box per goroutine; archive.Write reads each
	// box twice (to hash, then to write).
	plain := make(map[string][]kv, len(snap))
	errs := make(map[string]error, len(snap))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, recs := range snap {
		seal := s.boxes[name].seal
		wg.Go(func() {
			out := make([]kv, 0, len(recs))
			var err error
			for _, r := range recs {
				var pt []byte
				if pt, err = seal.open(r.k, unsafe.Slice(unsafe.StringData(r.v), len(r.v))); err != nil {
					break
				}
				out = append(out, kv{r.k, unsafe.String(unsafe.SliceData(pt), len(pt))})
			}
			mu.Lock()
			plain[name], errs[name] = out, err
			mu.Unlock()
		})
	}
	wg.Wait()
	var boxes []archive.Box
	for name, recs := range plain {
		if err := errs[name]; err != nil {
			return BackupInfo{}, fmt.Errorf("backup: %w", err)
		}
		boxes = append(boxes, archive.Box{Name: name, Records: func(yield func(k, v string) bool) error {
			for i, r := range recs {
				if i == len(recs)/2 {
					failpoint("backup/mid-stream")
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

// BackupFile writes a backup to path (mode 0600) through a temporary file,
// fsync and rename, so path holds a whole backup or nothing.
func (s *Store) BackupFile(ctx context.Context, path string) (BackupInfo, error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	info, err := s.Backup(ctx, f)
	if err == nil {
		if serr := f.Sync(); serr != nil {
			err = fmt.Errorf("backup: %w: %w", ErrSync, serr)
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return BackupInfo{}, err
	}
	return info, nil
}

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// ExpectedSchema, when not zero, is the schema version the backup must
	// carry; otherwise Restore fails with ErrSchemaMismatch and changes nothing.
	ExpectedSchema int
	// BackupKey is the master key the backup was made under, when it is not
	// the store's current one (after a key rotation).
	BackupKey KeySource
}

// RestoreInfo reports a restore.
type RestoreInfo struct {
	Backup  BackupInfo     `json:"backup"`
	Records map[string]int `json:"records"` // records loaded per box
	Erased  int            `json:"erased"`  // records dropped by the erasure ledger
}

// Restore replaces the store's content with a backup. It decrypts and
// verifies the whole backup, then builds every box file, in a temporary
// directory; only when all of that succeeded does it swap the files in by
// rename and directory fsync, under a journal that Open completes after a
// crash. On any failure the live store is unchanged. The erasure ledger is
// applied to the backup's records, so a restore never brings erased data
// back; fencing tokens never go back either.
func (s *Store) Restore(ctx context.Context, r io.Reader, o RestoreOptions) (RestoreInfo, error) {
	if err := s.enter(ctx); err != nil {
		return RestoreInfo{}, err
	}
	staging, info, err := s.stageRestore(ctx, r, o)
	s.exit()
	if staging != "" {
		defer os.RemoveAll(staging)
	}
	if err != nil {
		return info, fmt.Errorf("restore: %w", err)
	}
	if err := s.exclusive(); err != nil {
		return info, err
	}
	defer s.swap.Unlock()
	token := s.q.lock.Token
	var staged []stagedBox
	for name := range info.Records {
		staged = append(staged, stagedBox{name: name, path: filepath.Join(staging, name+".db")})
	}
	slices.SortFunc(staged, func(a, b stagedBox) int { return compareStrings(a.name, b.name) })
	if err := s.swapBoxes(staged); err != nil {
		return info, fmt.Errorf("restore: %w", err)
	}
	if err := s.keepTokenLocked(token); err != nil {
		return info, fmt.Errorf("restore: %w", err)
	}
	if err := s.Audit(ctx, "backup_restored", map[string]any{"created_at": info.Backup.CreatedAt, "schema_version": info.Backup.SchemaVersion, "erased_records_dropped": info.Erased}); err != nil {
		return info, err
	}
	return info, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// keepTokenLocked makes sure the lock token is at least token after a swap
// brought back an older lock record; the restored lock is released.
func (s *Store) keepTokenLocked(token uint64) error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.q.lock.Token >= token && !s.q.lock.Held {
		return nil
	}
	l := s.q.lock
	l.Token, l.Held = max(l.Token, token), false
	return s.writeLockLocked(l)
}

// stageRestore extracts, verifies and builds the new box files. It returns
// the staging directory (to remove) even on error.
func (s *Store) stageRestore(ctx context.Context, r io.Reader, o RestoreOptions) (string, RestoreInfo, error) {
	var info RestoreInfo
	master := s.master
	if o.BackupKey != nil {
		var err error
		if master, err = o.BackupKey.masterKey(s.kr); err != nil {
			return "", info, err
		}
	}
	key, err := backupKey(master)
	if err != nil {
		return "", info, err
	}
	staging, err := os.MkdirTemp(s.dir, ".restore-")
	if err != nil {
		return "", info, err
	}
	extract := filepath.Join(staging, "extract")
	if err := os.Mkdir(extract, 0o700); err != nil {
		return staging, info, err
	}
	var meta archive.Meta
	var unchecked map[string][]kv
	if s.canary(CanaryBackupVerification) {
		// Known-bad: take whatever the archive yields, unverified.
		unchecked = uncheckedExtract(r, key.Identity())
		for name := range unchecked {
			meta.Boxes = append(meta.Boxes, archive.BoxMeta{Name: name})
		}
	} else if meta, err = archive.Extract(ctx, r, key.Identity(), extract, archive.Expect{SchemaVersion: o.ExpectedSchema}); err != nil {
		return staging, info, err
	}
	info.Backup = infoFromMeta(meta)
	info.Records = map[string]int{}
	ledger, err := s.readLedger()
	if err != nil {
		return staging, info, err
	}
	if s.canary(CanaryErasureLedger) {
		ledger = &erasureLedger{set: map[string]bool{}}
	}
	inBackup := map[string]bool{}
	for _, bm := range meta.Boxes {
		inBackup[bm.Name] = true
	}
	// Every live box is rebuilt: from the backup, or empty if the backup
	// does not have it.
	names := map[string]bool{}
	s.mu.Lock()
	for n := range s.boxes {
		names[n] = true
	}
	s.mu.Unlock()
	for n := range inBackup {
		names[n] = true
	}
	// Boxes are built concurrently: each reads its own dump and writes its
	// own file.
	type job struct {
		name       string
		seal       *sealer
		high       uint64
		n, dropped int
		err        error
		needs      map[string]bool // subject hashes its ops need a key for
		has        map[string]bool // subject hashes it holds a key for
	}
	var jobs []*job
	for name := range names {
		s.mu.Lock()
		b, err := s.openBox(name) // creates keys for boxes new to this store
		s.mu.Unlock()
		if err != nil {
			return staging, info, err
		}
		j := &job{name: name, seal: b.seal, needs: map[string]bool{}, has: map[string]bool{}}
		if name == BoxPending {
			s.qmu.Lock()
			j.high = s.q.seq // sequence numbers never go back
			s.qmu.Unlock()
		}
		jobs = append(jobs, j)
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			bw, err := newBoxWriter(filepath.Join(staging, j.name+".db"), j.name, j.seal, j.high)
			if err != nil {
				j.err = err
				return
			}
			if unchecked != nil {
				for _, r := range unchecked[j.name] {
					j.n++
					if err = bw.add(r.k, []byte(r.v)); err != nil {
						break
					}
				}
			} else if inBackup[j.name] {
				err = archive.ReadBox(ctx, extract, j.name, func(k, v string) error {
					if ledger.drops(s, j.name, k, []byte(v)) {
						j.dropped++
						return nil
					}
					// A record the store could not read back must stop the
					// restore here, before anything live changes.
					if err := s.checkRecord(j.name, k, []byte(v), j.needs, j.has); err != nil {
						return err
					}
					j.n++
					return bw.add(k, []byte(v))
				})
			}
			if err == nil {
				err = bw.finish()
			} else {
				bw.abort()
			}
			if err != nil {
				j.err = fmt.Errorf("box %s: %w", j.name, err)
			}
		})
	}
	wg.Wait()
	has := map[string]bool{}
	for _, j := range jobs {
		if j.err != nil {
			return staging, info, j.err
		}
		info.Records[j.name] = j.n
		info.Erased += j.dropped
		for h := range j.has {
			has[h] = true
		}
	}
	for _, j := range jobs {
		for h := range j.needs {
			if !has[h] && unchecked == nil {
				return staging, info, fmt.Errorf("box %s holds ops of subject %s, whose key is not in the backup: %w", j.name, h, ErrBackupTampered)
			}
		}
	}
	return staging, info, nil
}

// checkRecord makes sure a record from a backup is one the store can read
// back: op, idempotency, index, audit, schema, lock and subject-key records
// must decode. Data boxes hold opaque values.
func (s *Store) checkRecord(box, key string, v []byte, needs, has map[string]bool) error {
	bad := func(why string) error {
		return fmt.Errorf("box %s: record %q %s: %w", box, printableKey(key), why, ErrBackupTampered)
	}
	switch box {
	case BoxPending, BoxFailed:
		switch {
		case strings.HasPrefix(key, opPrefix):
			op, err := decodeOp(v)
			if err != nil || op.ID != key[len(opPrefix):] {
				return bad("is not an op record")
			}
			if op.Subject != "" {
				needs[s.subjectHash(op.Subject)] = true
			}
		case box == BoxPending && strings.HasPrefix(key, idemPrefix):
			if _, err := decodeIdem(v); err != nil {
				return bad("is not an idempotency record")
			}
		default:
			return bad("is not a queue record")
		}
	case BoxIndex:
		if i := strings.IndexByte(key, '/'); i != 16 || string(v) != key[i+1:] {
			return bad("is not an index entry")
		}
	case BoxAudit:
		var e AuditEntry
		if json.Unmarshal(v, &e) != nil {
			return bad("is not an audit entry")
		}
	case BoxMetadata:
		var err error
		switch key {
		case metaSchemaKey:
			var r schemaRecord
			if err = json.Unmarshal(v, &r); err == nil && r.Version < 1 {
				err = errors.New("schema version below 1")
			}
		case metaLockKey:
			var l lockRecord
			err = json.Unmarshal(v, &l)
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			return bad("is not a metadata record")
		}
	case BoxSubjectKeys:
		if !strings.HasPrefix(key, subjectPrefix) || len(v) != MasterKeySize {
			return bad("is not a subject key")
		}
		has[key[len(subjectPrefix):]] = true
	}
	return nil
}
