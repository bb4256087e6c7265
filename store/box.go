package store

import (
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/tidwall/buntdb"

	"github.com/boxstorm/boxstorm/internal/fileio"
)

// box is one buntdb file with its data keys, its framing and its syncer.
type box struct {
	name   string
	path   string
	db     *buntdb.DB
	seal   *sealer
	sync   *syncer
	mode   SyncMode
	lazy   bool          // derived data: synced in the background even in SyncAlways
	wmu    sync.Mutex    // serializes writers around buntdb's own lock
	txnSeq uint64        // last transaction sequence number; guarded by wmu
	high   uint64        // high-water mark carried by every marker; guarded by wmu
	length int64         // file length after the last commit; guarded by wmu
	mac    hash.Hash     // marker MAC under the current key; guarded by wmu
	msc    markerScratch // marker buffers; guarded by wmu
	opBuf  []byte        // an op's encoding on its way to put; guarded by wmu
	wtx    txn           // the transaction commit reuses; guarded by wmu

	ackFailedWrites bool  // the disk-full-safety canary
	broken          error // sticky write failure; guarded by wmu

	// builtOps, for a queue box a rewrite just built, are its ops as the
	// rewrite decoded them: the first listMeta takes them instead of
	// decrypting the box again. Guarded by qmu.
	builtOps []opMeta
}

// openBox scans, repairs if allowed, and loads <dir>/<name>.db.
//
// With trust set (a canary, or a file this process just built and fsynced),
// the file goes to buntdb unscanned.
//
// cp is the box's checkpoint entry (nil for none): a file that stops short
// of it is damaged, not torn.
func openBox(dir, name string, seal *sealer, mode SyncMode, lazy, trust bool, cp *checkpointEntry) (*box, scanResult, error) {
	path := filepath.Join(dir, name+".db")
	var res scanResult
	if !trust {
		data, err := fileio.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, res, fmt.Errorf("box %s: %w", name, err)
		}
		res = scanChecked(name, data, seal, cp)
		if res.damage != nil || res.torn {
			res.data = data // for the repair's quarantine copy
		}
		if res.damage != nil {
			return nil, res, res.damage
		}
		if res.torn {
			// buntdb would cut the tail itself, without a copy: the caller repairs first.
			return nil, res, nil
		}
	}
	created, err := createPrivate(path)
	if err != nil {
		return nil, res, fmt.Errorf("box %s: %w", name, err)
	}
	if created {
		// A new box file's name is durable only once its directory is
		// fsynced: without it, a power loss takes the file and every
		// commit fsynced into it.
		if err := fileio.SyncDir(dir); err != nil {
			return nil, res, fmt.Errorf("box %s: %w: %w", name, ErrSync, err)
		}
	}
	db, err := buntdbOpen(path)
	if err != nil {
		return nil, res, fmt.Errorf("box %s: buntdb open: %w", name, err)
	}
	var cfg buntdb.Config
	if err := db.ReadConfig(&cfg); err != nil {
		db.Close()
		return nil, res, fmt.Errorf("box %s: %w", name, err)
	}
	// We fsync ourselves through a second descriptor (buntdb's Always
	// ignores fsync errors), and buntdb's shrink would drop our framing.
	cfg.SyncPolicy = buntdb.Never
	cfg.AutoShrinkDisabled = true
	if err := db.SetConfig(cfg); err != nil {
		db.Close()
		return nil, res, fmt.Errorf("box %s: %w", name, err)
	}
	// The fsync descriptor: under SyncNever nothing is synced before Close,
	// and a box nobody wrote is not synced at all, so it is opened when first
	// needed (box files are replaced only while their box is closed).
	fi, err := os.Stat(path)
	if err != nil {
		db.Close()
		return nil, res, fmt.Errorf("box %s: %w", name, err)
	}
	var f *os.File
	if mode != SyncNever {
		if f, err = os.Open(path); err != nil {
			db.Close()
			return nil, res, fmt.Errorf("box %s: %w", name, err)
		}
	}
	b := &box{name: name, path: path, db: db, seal: seal, sync: newSyncer(f, path), mode: mode, lazy: lazy, txnSeq: res.lastSeq, high: res.high, length: fi.Size(), mac: seal.newMAC(seal.current)}
	return b, res, nil
}

// buntdbOpen opens a buntdb file; buntdb panics on some damaged records,
// which only an unscanned (canary) open can reach.
func buntdbOpen(path string) (db *buntdb.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("buntdb panicked loading %s: %v: %w", filepath.Base(path), r, ErrCorrupt)
		}
	}()
	return buntdb.Open(path)
}

func (b *box) close() error {
	serr := b.sync.syncNow()
	if b.sync.f != nil {
		b.sync.f.Close()
	}
	cerr := b.db.Close()
	if serr != nil {
		return fmt.Errorf("box %s: %w", b.name, serr)
	}
	if cerr != nil {
		return fmt.Errorf("box %s: %w", b.name, cerr)
	}
	return nil
}

// txn is the write side of one box transaction. Every value is sealed on
// the way in, and the records are kept for the transaction's marker.
type txn struct {
	b    *box
	tx   *buntdb.Tx
	recs []txRecord
	pos  map[string]int // index into recs by key, once recs is long
	high uint64         // raises the box's high-water mark when larger
}

// record keeps the last change of each key, as buntdb writes only that.
func (t *txn) record(r txRecord) {
	if t.pos == nil && len(t.recs) >= 8 {
		t.pos = make(map[string]int, 2*len(t.recs))
		for i, x := range t.recs {
			t.pos[x.key] = i
		}
	}
	if t.pos != nil {
		if i, ok := t.pos[r.key]; ok {
			t.recs[i] = r
			return
		}
		t.pos[r.key] = len(t.recs)
		t.recs = append(t.recs, r)
		return
	}
	for i := range t.recs {
		if t.recs[i].key == r.key {
			t.recs[i] = r
			return
		}
	}
	t.recs = append(t.recs, r)
}

// put seals plaintext and stores it under key.
func (t *txn) put(key string, plaintext []byte) error {
	sealed := t.b.seal.seal(key, plaintext)
	v := unsafe.String(unsafe.SliceData(sealed), len(sealed)) // sealed is never written again
	if _, _, err := t.tx.Set(key, v, nil); err != nil {
		return fmt.Errorf("box %s: set: %w", t.b.name, err)
	}
	t.record(txRecord{key: key, val: v})
	return nil
}

// putOp seals op's encoding and stores it under key; the encoding goes
// through a buffer the box reuses (put copies it into the sealed value).
func (t *txn) putOp(key string, op *Op) error {
	t.b.opBuf = appendOp(t.b.opBuf[:0], op)
	err := t.put(key, t.b.opBuf)
	if cap(t.b.opBuf) > 64<<10 {
		t.b.opBuf = nil // a large op's buffer is not kept
	}
	return err
}

// del deletes key; deleting a missing key is not an error.
func (t *txn) del(key string) error {
	if _, err := t.tx.Delete(key); err != nil {
		if errors.Is(err, buntdb.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("box %s: delete: %w", t.b.name, err)
	}
	t.record(txRecord{del: true, key: key})
	return nil
}

// get reads and opens key inside the transaction.
func (t *txn) get(key string) ([]byte, error) {
	v, err := t.tx.Get(key)
	if err != nil {
		if errors.Is(err, buntdb.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("box %s: get: %w", t.b.name, err)
	}
	return t.b.seal.open(key, []byte(v))
}

// update commits fn and waits until the commit is as durable as the box's
// sync mode promises.
func (b *box) update(fn func(*txn) error) error {
	wait, err := b.commit(fn)
	if err != nil {
		return err
	}
	return wait()
}

func noWait() error { return nil }

// commit runs fn in one buntdb transaction, adds the marker and writes it.
// It returns a wait function that blocks until the write is durable. Callers
// that hold their own locks release them before they wait, so concurrent
// commits share one fsync.
func (b *box) commit(fn func(*txn) error) (wait func() error, err error) {
	b.wmu.Lock()
	if b.broken != nil {
		b.wmu.Unlock()
		return noWait, b.broken
	}
	var wrote bool
	var newHigh, newLen uint64
	err = b.db.Update(func(tx *buntdb.Tx) error {
		// One txn per box, reused: its records outlive the commit only
		// until the next one, and a large transaction's are not kept.
		t := &b.wtx
		recs := t.recs[:0]
		if cap(recs) > 1024 {
			recs = nil
		}
		*t = txn{b: b, tx: tx, recs: recs}
		if err := fn(t); err != nil {
			return err
		}
		if len(t.recs) == 0 {
			return nil
		}
		m := newMarker(b.seal.current, b.txnSeq+1, max(b.high, t.high), t.recs)
		newHigh, newLen = m.high, m.length
		if _, _, err := tx.Set(markerKey, encodeMarker(&b.msc, m, b.mac, b.name, t.recs), nil); err != nil {
			return fmt.Errorf("box %s: marker: %w", b.name, err)
		}
		wrote = true
		return nil
	})
	if wrote && err != nil && b.ackFailedWrites {
		// Known-bad (canary): the failed write is acknowledged.
		b.wmu.Unlock()
		return noWait, nil
	}
	if wrote && err != nil {
		// buntdb rolled back and cut its partial write; what reached the
		// disk is uncertain, so this box takes no more writes.
		b.broken = fmt.Errorf("box %s: a write failed (%v); hint: free disk space and reopen the store: %w", b.name, err, ErrSync)
		b.wmu.Unlock()
		return noWait, b.broken
	}
	if err != nil || !wrote {
		b.wmu.Unlock()
		return noWait, err
	}
	b.txnSeq++
	b.high = newHigh
	b.length += int64(newLen)
	target := b.sync.written(checkpointEntry{Seq: b.txnSeq, Length: b.length})
	b.wmu.Unlock()
	if b.mode != SyncAlways || b.lazy {
		return noWait, nil
	}
	return func() error {
		if err := b.sync.waitFor(target); err != nil {
			return fmt.Errorf("box %s: %w", b.name, err)
		}
		return nil
	}, nil
}

// view runs fn in a read-only buntdb transaction.
func (b *box) view(fn func(tx *buntdb.Tx) error) error { return b.db.View(fn) }

// get reads and opens one key.
func (b *box) get(key string) ([]byte, error) {
	var out []byte
	err := b.db.View(func(tx *buntdb.Tx) error {
		v, err := tx.Get(key)
		if err != nil {
			if errors.Is(err, buntdb.ErrNotFound) {
				return ErrNotFound
			}
			return err
		}
		out, err = b.seal.open(key, []byte(v))
		return err
	})
	return out, err
}

// keysWithPrefix returns the keys that start with prefix, in order.
func (b *box) keysWithPrefix(prefix string) ([]string, error) {
	var keys []string
	err := b.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendGreaterOrEqual("", prefix, func(k, _ string) bool {
			if len(k) < len(prefix) || k[:len(prefix)] != prefix {
				return false
			}
			keys = append(keys, k)
			return true
		})
	})
	return slices.Clip(keys), err
}

// syncer fsyncs a box file through its own descriptor, grouping concurrent
// commits into one fsync, and keeps the first fsync error forever.
type syncer struct {
	path    string
	f       *os.File // opened at the first sync when nil
	mu      sync.Mutex
	cond    *sync.Cond
	writes  uint64          // commits written to the file
	synced  uint64          // commits known durable
	mark    checkpointEntry // the last commit written
	durable checkpointEntry // the last commit known durable (zero: none since open)
	syncing bool
	waiting int // waitFor calls blocked on an fsync in flight
	err     error
	count   atomic.Uint64 // fsyncs run, for Stats

	skipSync  bool // the power-loss-durability canary: count commits durable without an fsync
	ignoreErr bool // the fsync-honesty canary: a failed fsync counts as done
}

func newSyncer(f *os.File, path string) *syncer {
	s := &syncer{f: f, path: path}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// written counts a commit, which ends the file at m, and returns its ticket
// for waitFor.
func (s *syncer) written(m checkpointEntry) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	s.mark = m
	return s.writes
}

// durableMark returns the last commit an fsync has made durable.
func (s *syncer) durableMark() checkpointEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.durable
}

func (s *syncer) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// waitFor returns once commit number target is durable. The first waiter
// to find no fsync in flight runs one for everybody.
func (s *syncer) waitFor(target uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.synced < target && s.err == nil {
		if s.syncing {
			s.waiting++
			s.cond.Wait()
			s.waiting--
			continue
		}
		s.runSyncLocked()
	}
	return s.err
}

// runSyncLocked runs one fsync for every commit written so far; s.mu is
// held on entry and on return.
//
// Commits written while it ran gather for the next fsync, as in pebble's
// commit pipeline. When some did and their writers wait, the next fsync
// starts at once on a goroutine of its own: handing it to one of the
// waiters instead cost a scheduler round trip per fsync, during which
// the writers just released ran their next commits ahead of it, and under
// 16 producers that doubled the time between fsyncs.
func (s *syncer) runSyncLocked() {
	s.syncing = true
	if s.syncOnceLocked() {
		go func() {
			s.mu.Lock()
			for s.syncOnceLocked() {
			}
			s.mu.Unlock()
		}()
		return
	}
	s.syncing = false
}

// syncOnceLocked runs one fsync with s.syncing set. It reports whether
// another should follow at once (s.syncing stays set); otherwise it clears
// s.syncing.
func (s *syncer) syncOnceLocked() bool {
	upto, mark := s.writes, s.mark
	s.mu.Unlock()
	var err error
	if s.f == nil {
		s.f, err = os.Open(s.path)
	}
	if err == nil && !s.skipSync {
		s.count.Add(1)
		err = syncData(s.f)
		if s.ignoreErr {
			err = nil
		}
	}
	s.mu.Lock()
	if err != nil && s.err == nil {
		s.err = fmt.Errorf("%w: %w", ErrSync, err)
	}
	if err == nil && upto > s.synced {
		s.synced = upto
	}
	if err == nil && mark.Seq > s.durable.Seq {
		s.durable = mark
	}
	s.cond.Broadcast()
	if s.err == nil && s.writes > s.synced && s.waiting > 0 {
		return true
	}
	s.syncing = false
	return false
}

// syncNow fsyncs if anything is unsynced; used by the background ticker and Close.
func (s *syncer) syncNow() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.syncing {
		s.cond.Wait()
	}
	if s.synced < s.writes && s.err == nil {
		s.runSyncLocked()
	}
	return s.err
}

// flushed waits until every commit written so far is as durable as the sync
// mode promises. It lets a reader return data only once it cannot be lost.
func (b *box) flushed() error {
	if b.mode != SyncAlways || b.lazy {
		return nil
	}
	b.sync.mu.Lock()
	target := b.sync.writes
	b.sync.mu.Unlock()
	if err := b.sync.waitFor(target); err != nil {
		return fmt.Errorf("box %s: %w", b.name, err)
	}
	return nil
}
