package store

// Rewriting box files. Restore, key rotation, erasure and migrations build
// a complete new box file next to the live one, check it by opening it like
// any other box, and only then swap it in by rename and directory fsync.
// Until the rename a crash leaves the live file as it was.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/tidwall/buntdb"

	"github.com/boxstorm/boxstorm/internal/failpoint"
	"github.com/boxstorm/boxstorm/internal/fileio"
)

// rewriteBatch is how many records each transaction of a rewritten file holds.
const rewriteBatch = 1024

// plainRecord is one record to write into a rebuilt box file.
type plainRecord struct {
	key   string
	value []byte // plaintext
}

// boxWriter writes a framed box file directly, without buntdb: records are
// sealed and grouped into transactions of rewriteBatch, each with a marker.
type boxWriter struct {
	f     *os.File
	w     *bufio.Writer
	name  string
	seal  *sealer
	seq   uint64
	high  uint64
	batch []txRecord
	buf   []byte // a transaction's bytes, reused
	n     int
}

func newBoxWriter(path, name string, seal *sealer, high uint64) (*boxWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("box %s: create %s: %w", name, path, err)
	}
	w := boxWriterBufs.Get().(*bufio.Writer)
	w.Reset(f)
	return &boxWriter{f: f, w: w, name: name, seal: seal, high: high}, nil
}

// boxWriterBufs recycles the 1 MiB write buffers of boxWriters.
var boxWriterBufs = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 1<<20) }}

func (bw *boxWriter) release() {
	if bw.w != nil {
		bw.w.Reset(nil)
		boxWriterBufs.Put(bw.w)
		bw.w = nil
	}
}

func (bw *boxWriter) add(key string, plaintext []byte) error {
	sealed := bw.seal.seal(key, plaintext) // fresh, and never written to again
	bw.batch = append(bw.batch, txRecord{key: key, val: unsafe.String(unsafe.SliceData(sealed), len(sealed))})
	bw.n++
	if len(bw.batch) >= rewriteBatch {
		return bw.flushBatch()
	}
	return nil
}

// addSealed copies an already sealed value (under one of the box's keys).
func (bw *boxWriter) addSealed(key, sealed string) error {
	bw.batch = append(bw.batch, txRecord{key: key, val: sealed})
	bw.n++
	if len(bw.batch) >= rewriteBatch {
		return bw.flushBatch()
	}
	return nil
}

func appendRecord(buf []byte, r txRecord) []byte {
	bulk := func(b []byte, s string) []byte {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, '\r', '\n')
		b = append(b, s...)
		return append(b, '\r', '\n')
	}
	if r.del {
		return bulk(bulk(append(buf, "*2\r\n"...), "del"), r.key)
	}
	return bulk(bulk(bulk(append(buf, "*3\r\n"...), "set"), r.key), r.val)
}

func (bw *boxWriter) flushBatch() error {
	if len(bw.batch) == 0 {
		return nil
	}
	bw.seq++
	m := newMarker(bw.seal.current, bw.seq, bw.high, bw.batch)
	mac := bw.seal.newMAC(bw.seal.current)
	buf := bw.buf[:0]
	for _, r := range bw.batch {
		buf = appendRecord(buf, r)
	}
	buf = appendRecord(buf, txRecord{key: markerKey, val: m.encode(mac, bw.name, bw.batch)})
	bw.batch, bw.buf = bw.batch[:0], buf
	if _, err := bw.w.Write(buf); err != nil {
		return fmt.Errorf("box %s: write: %w", bw.name, err)
	}
	return nil
}

// finish writes what is left, fsyncs and closes the file.
func (bw *boxWriter) finish() error {
	err := bw.flushBatch()
	if err == nil {
		err = bw.w.Flush()
	}
	if err == nil {
		if serr := bw.f.Sync(); serr != nil {
			err = fmt.Errorf("box %s: %w: %w", bw.name, ErrSync, serr)
		}
	}
	if cerr := bw.f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	bw.release()
	return err
}

func (bw *boxWriter) abort() {
	bw.release()
	bw.f.Close()
	os.Remove(bw.f.Name())
}

// eachRecord calls fn with every record of a box but the marker, in key
// order, with the plaintext.
func (b *box) eachRecord(ctx context.Context, fn func(key string, plaintext []byte) error) error {
	return b.eachTyped(ctx, func(k string, pt []byte, _ TypeID) error { return fn(k, pt) })
}

// eachTyped is eachRecord that also passes each record's type id.
func (b *box) eachTyped(ctx context.Context, fn func(key string, plaintext []byte, id TypeID) error) error {
	var ferr error
	err := b.view(func(tx *buntdb.Tx) error {
		return tx.Ascend("", func(k, v string) bool {
			if k == markerKey {
				return true
			}
			if ferr = ctx.Err(); ferr != nil {
				return false
			}
			pt, id, err := b.seal.openTyped(nil, k, []byte(v))
			if err != nil {
				ferr = err
				return false
			}
			ferr = fn(k, pt, id)
			return ferr == nil
		})
	})
	return errors.Join(err, ferr)
}

// stagedBox is a complete new box file waiting to replace a live one.
type stagedBox struct {
	name string
	path string
	// built, when set, is what a boxWriter of this process wrote and
	// fsynced: the swap loads the file without scanning it again.
	built *builtBox
	// fresh, when set, is the data key of a box new to this store, which
	// the swap adds to the keyring before the first rename.
	fresh *wrappedBox
}

// builtBox is what a scan of a file a boxWriter wrote would find, and, for
// a queue box, its ops as the writer's caller decoded them.
type builtBox struct {
	lastSeq, high uint64
	ops           []opMeta
}

// staged describes the finished file, to pass to swapBoxes.
func (bw *boxWriter) staged() stagedBox {
	b := &builtBox{lastSeq: bw.seq}
	if bw.seq > 0 {
		b.high = bw.high
	}
	return stagedBox{name: bw.name, path: bw.f.Name(), built: b}
}

// swapJournal lists staged box files being renamed into place. It is
// written before the first rename and removed after the last, so a crash in
// between is finished by the next Open: a swap of several boxes is atomic.
type swapJournal struct {
	Version int         `json:"version"`
	Boxes   []swapEntry `json:"boxes"`
}

type swapEntry struct {
	Name   string `json:"name"`
	Staged string `json:"staged"` // path relative to the store directory
	// Size and SHA256 identify the staged file's content, so that a staged
	// file found missing is known to be renamed into place, not lost.
	// Journals written before they existed lack them.
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// fileDigest returns a file's size and the hex sha256 of its content.
func fileDigest(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

const journalName = "swap-journal.json"

// swapBoxes replaces live box files with staged ones (complete, fsynced
// files inside the store directory) and reopens them. The caller holds
// s.swap exclusively.
func (s *Store) swapBoxes(staged []stagedBox) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if err := s.flushIndexLocked(); err != nil {
		return err
	}
	j := swapJournal{Version: 1}
	stagingDirs := map[string]bool{}
	for _, st := range staged {
		rel, err := filepath.Rel(s.dir, st.path)
		if err != nil || strings.HasPrefix(rel, "..") {
			return fmt.Errorf("swap box %s: staged file %s is outside the store directory", st.name, st.path)
		}
		size, sum, err := fileDigest(st.path)
		if err != nil {
			return fmt.Errorf("swap box %s: %w", st.name, err)
		}
		j.Boxes = append(j.Boxes, swapEntry{Name: st.name, Staged: rel, Size: size, SHA256: sum})
		if d := filepath.Dir(st.path); d != filepath.Clean(s.dir) {
			stagingDirs[d] = true
		}
	}
	// The staged files' names must be durable before the journal that
	// points at them: without this fsync a power loss can keep the journal
	// and lose a staged file's name, and finishing the journal would then
	// swap in some boxes and not others.
	for d := range stagingDirs {
		if err := fileio.SyncDir(d); err != nil {
			return fmt.Errorf("swap: %w", err)
		}
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := s.adoptKeysLocked(staged); err != nil {
		return err
	}
	// The checkpoint describes the files being replaced: drop their entries
	// (durably) before the first rename.
	names := make([]string, len(staged))
	for i, st := range staged {
		names[i] = st.name
	}
	if err := s.cp.forget(names...); err != nil {
		return err
	}
	if s.canary(CanaryStepAtomicity) {
		return s.swapInPlaceLocked(staged)
	}
	if s.canary(CanaryAtomicRestore) {
		// Known-bad: rename box by box with no journal to finish the job.
		for _, st := range staged {
			if b, ok := s.boxes[st.name]; ok {
				_ = b.close()
				delete(s.boxes, st.name)
			}
			if err := os.Rename(st.path, filepath.Join(s.dir, st.name+".db")); err != nil {
				return err
			}
			failpoint.Hit("swap/between-renames")
		}
		return s.reopenLocked(nil)
	}
	if err := fileio.WriteFileAtomic(filepath.Join(s.dir, journalName), b, 0o600); err != nil {
		return fmt.Errorf("swap journal: %w", err)
	}
	for _, st := range staged {
		if b, ok := s.boxes[st.name]; ok {
			if err := b.close(); err != nil {
				return err
			}
			delete(s.boxes, st.name)
		}
	}
	failpoint.Hit("swap/after-journal")
	if err := finishSwap(s.dir); err != nil {
		return err
	}
	built := map[string]*builtBox{}
	for _, st := range staged {
		if st.built != nil {
			built[st.name] = st.built
		}
	}
	return s.reopenLocked(built)
}

// adoptKeysLocked adds the data keys of staged boxes new to this store to
// the keyring and writes it. A crash right after leaves keys for boxes that
// do not exist yet, which is harmless: such a box is created with the key.
func (s *Store) adoptKeysLocked(staged []stagedBox) error {
	changed := false
	for _, st := range staged {
		if st.fresh != nil {
			s.kr.Boxes[st.name], changed = st.fresh, true
		}
	}
	if !changed {
		return nil
	}
	return s.kr.write(s.dir)
}

// finishSwap carries out a swap journal: it renames every staged file that
// is still there, fsyncs the directory and removes the journal. Renames
// are idempotent: a staged file already renamed is simply gone.
func finishSwap(dir string) error {
	path := filepath.Join(dir, journalName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("swap journal: %w", err)
	}
	var j swapJournal
	if err := json.Unmarshal(b, &j); err != nil || j.Version != 1 {
		return fmt.Errorf("swap journal %s is unreadable: %w; hint: it was written atomically, so this is damage: restore the directory from a backup", path, ErrCorrupt)
	}
	// Check every entry before the first rename: a staged file that is gone
	// must have been renamed into place already, and the live file must be
	// it. Otherwise finishing would leave some boxes new and others old, so
	// nothing is changed and the store is refused.
	var todo []swapEntry
	for _, e := range j.Boxes {
		if !boxNameRE.MatchString(e.Name) || strings.Contains(e.Staged, "..") || filepath.IsAbs(e.Staged) {
			return fmt.Errorf("swap journal names %q -> %q: %w", e.Name, e.Staged, ErrCorrupt)
		}
		if exists(filepath.Join(dir, e.Staged)) {
			todo = append(todo, e)
			continue
		}
		if e.SHA256 == "" {
			continue // a journal of an older version: trust it
		}
		live := filepath.Join(dir, e.Name+".db")
		size, sum, err := fileDigest(live)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("swap journal: %w", err)
		}
		if err != nil || size != e.Size || sum != e.SHA256 {
			return &CorruptionError{Box: e.Name, Offset: -1, Reason: fmt.Sprintf(
				"an interrupted swap (%s) cannot be finished: the staged file %s is gone, and %s.db is not the file that was staged (%d bytes, sha256 %.12s): finishing it would leave the swap half applied",
				journalName, e.Staged, e.Name, e.Size, e.SHA256)}
		}
	}
	for _, e := range todo {
		src := filepath.Join(dir, e.Staged)
		if err := os.Rename(src, filepath.Join(dir, e.Name+".db")); err != nil {
			return fmt.Errorf("swap box %s: %w", e.Name, err)
		}
		failpoint.Hit("swap/between-renames")
	}
	if err := fileio.SyncDir(dir); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("swap journal: %w", err)
	}
	return fileio.SyncDir(dir)
}

// stagingPrefixes name the directories procedures stage new box files in.
var stagingPrefixes = []string{".restore-", ".erase-", ".rotate-", ".migrate-"}

// removeStaging removes staging directories a crashed procedure left. Open
// calls it, holding the directory lock, after finishSwap: nothing staged is
// needed any more, and the files are sealed copies, not originals.
func removeStaging(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() || !slices.ContainsFunc(stagingPrefixes, func(p string) bool { return strings.HasPrefix(e.Name(), p) }) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("removing a crashed procedure's staging directory: %w", err)
		}
	}
	return nil
}

// reopenLocked opens every box that is not open and reloads the in-memory
// state from them. Boxes in built are loaded without a scan.
func (s *Store) reopenLocked(built map[string]*builtBox) error {
	names := append([]string{}, SystemBoxes()...)
	if err := s.openBoxes(append(names, s.dataBoxNames()...), built); err != nil {
		return err
	}
	s.meta, s.pending, s.index, s.failed, s.audit = s.boxes[BoxMetadata], s.boxes[BoxPending], s.boxes[BoxIndex], s.boxes[BoxFailed], s.boxes[BoxAudit]
	s.auditSeq = 0
	if err := s.loadAuditSeq(); err != nil {
		return err
	}
	s.q = queueState{} // a swap voids every claim: the ops may be different ones
	err := s.loadQueue()
	s.pending.builtOps, s.failed.builtOps = nil, nil // used by now, or not wanted
	return err
}

// swapInPlaceLocked is the step-atomicity canary's swap: each live box file
// is truncated and rewritten with the staged file's bytes, then fsynced, so
// a power loss in between leaves a box that is neither old nor new.
func (s *Store) swapInPlaceLocked(staged []stagedBox) error {
	for _, st := range staged {
		if b, ok := s.boxes[st.name]; ok {
			_ = b.close()
			delete(s.boxes, st.name)
		}
		data, err := os.ReadFile(st.path)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(filepath.Join(s.dir, st.name+".db"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		for off := 0; off < len(data); off += 4096 {
			if _, err := f.Write(data[off:min(off+4096, len(data))]); err != nil {
				f.Close()
				return err
			}
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Remove(st.path); err != nil {
			return err
		}
	}
	if err := fileio.SyncDir(s.dir); err != nil {
		return err
	}
	return s.reopenLocked(nil)
}
