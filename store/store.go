package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/boxstorm/boxstorm/internal/archive"
	"github.com/boxstorm/boxstorm/internal/envelope"
	"github.com/boxstorm/boxstorm/internal/fileio"
)

// The runbook's boxes.
const (
	BoxMetadata = "persistence_metadata"
	BoxPending  = "pending_ops"
	BoxIndex    = "pending_index"
	BoxFailed   = "failed_ops"
	BoxAudit    = "audit_logs"
)

// SystemBoxes() returns the runbook's boxes in the order Open loads them, in
// a new slice.
func SystemBoxes() []string {
	return []string{BoxAudit, BoxMetadata, BoxPending, BoxIndex, BoxFailed, BoxSubjectKeys}
}

var boxNameRE = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// Store is an open store directory. Its methods are safe for concurrent use.
type Store struct {
	dir    string
	opts   Options
	dlock  *dirLock
	kr     *keyringFile
	master []byte
	idem   []byte // HMAC key that turns idempotency keys into record keys
	subj   []byte // HMAC key that turns privacy subjects into hashes

	swap   sync.RWMutex // read-held by every call, write-held while box files are swapped
	mu     sync.Mutex   // guards boxes, closed
	boxes  map[string]*box
	closed bool

	meta, pending, index, failed, audit *box

	q queueState // guarded by qmu
	// qmu orders every queue and lock decision: the sequence numbers, the
	// claims and the fencing check all happen under it.
	qmu sync.Mutex

	auditMu  sync.Mutex
	auditSeq uint64

	repairs []Repair
	cp      *checkpoint // durable length per box, kept outside the box files

	// bk is the backup key derived from bkMaster (see ownBackupKey).
	bkMu     sync.Mutex
	bk       *archive.Key
	bkMaster []byte

	// schemaCache keeps the schema record last decoded, by sealed value.
	schemaCache struct {
		sync.Mutex
		raw string
		rec schemaRecord
	}

	stop chan struct{}
	wg   sync.WaitGroup
}

// Repair describes bytes Open did not load, and where their copy is.
type Repair struct {
	Box           string `json:"box"`
	Mode          string `json:"mode"`            // recovery mode that allowed it
	Kind          string `json:"kind"`            // "torn-tail" or "damage"
	Offset        int64  `json:"offset"`          // first byte not loaded
	DroppedBytes  int64  `json:"dropped_bytes"`   // bytes cut from the file
	DroppedTxns   int    `json:"dropped_txns"`    // whole or partial transactions dropped
	DroppedRecord int    `json:"dropped_records"` // records in them that were readable
	// DroppedKeys names the readable records that were dropped (at most
	// 1000). Record keys carry no personal data.
	DroppedKeys []string `json:"dropped_keys,omitempty"`
	Quarantine  string   `json:"quarantine"` // copy of the original file
	Reason      string   `json:"reason"`
}

// Open opens the store in dir, creating it when dir is empty or missing.
//
// Before anything is read or written, Open takes an exclusive lock on the
// directory and checks the master key against the key-check value; a wrong
// key returns ErrWrongKey and changes nothing on disk. Every box file is then
// scanned; see "Integrity" in the package documentation.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	return openStore(ctx, dir, opts, false)
}

// openStore is Open. With recovering set it opens a store whose
// corrupted-box procedure is under way (RecoverCorrupted's own opens);
// otherwise such a store is refused.
func openStore(ctx context.Context, dir string, opts Options, recovering bool) (_ *Store, err error) {
	if opts.Key == nil {
		return nil, fmt.Errorf("open %s: no key source; hint: pass Options.Key (KeyFile, KeyEnv, KeyBytes or Passphrase): %w", dir, ErrInvalid)
	}
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	opts = opts.withDefaults()
	if err := checkCanary(opts.Canary); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	var dl *dirLock
	if opts.Canary != CanaryDirLock {
		if dl, err = lockDir(dir); err != nil {
			return nil, err
		}
	}
	s := &Store{dir: dir, opts: opts, dlock: dl, boxes: map[string]*box{}, stop: make(chan struct{})}
	defer func() {
		if err != nil {
			s.closeBoxes()
			dl.unlock()
		}
	}()
	if s.canary(CanaryKeyCheckFirst) {
		// Known-bad: what a crashed procedure left is dealt with before
		// the key is known to be right.
		if err := finishSwap(dir); err != nil {
			return nil, err
		}
		if err := removeStaging(dir); err != nil {
			return nil, err
		}
	}
	if err := s.loadKeys(); err != nil {
		return nil, err
	}
	if err := privateDir(dir, opts.Logger); err != nil {
		return nil, err
	}
	if !recovering {
		// The damaged boxes are moved aside and the rest not yet restored:
		// opening now would show empty boxes as if nothing were lost.
		if err := checkRecoverJournal(dir); err != nil {
			return nil, err
		}
	}
	if s.cp, err = loadCheckpoint(dir); err != nil {
		return nil, err
	}
	// A procedure that crashed while swapping box files in is finished first;
	// then what crashed procedures left staged is garbage.
	if err := finishSwap(dir); err != nil {
		return nil, err
	}
	if err := removeStaging(dir); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.openBoxes(append(append([]string{}, SystemBoxes()...), s.dataBoxNames()...), nil); err != nil {
		return nil, err
	}
	s.meta, s.pending, s.index, s.failed, s.audit = s.boxes[BoxMetadata], s.boxes[BoxPending], s.boxes[BoxIndex], s.boxes[BoxFailed], s.boxes[BoxAudit]
	if err := s.loadAuditSeq(); err != nil {
		return nil, err
	}
	if err := s.initMeta(); err != nil {
		return nil, err
	}
	if err := s.loadQueue(); err != nil {
		return nil, err
	}
	for _, r := range s.repairs {
		if err := s.Audit(ctx, "box_repaired", map[string]any{
			"box": r.Box, "kind": r.Kind, "mode": r.Mode, "offset": r.Offset, "dropped_bytes": r.DroppedBytes,
			"dropped_txns": r.DroppedTxns, "dropped_records": r.DroppedRecord, "dropped_keys": r.DroppedKeys, "quarantine": filepath.Base(r.Quarantine), "reason": r.Reason,
		}); err != nil {
			return nil, err
		}
		opts.Logger.Warn("box repaired on open", "box", r.Box, "kind", r.Kind, "offset", r.Offset, "dropped_bytes", r.DroppedBytes, "quarantine", r.Quarantine)
	}
	s.startBackground()
	return s, nil
}

// loadKeys reads keyring.json, or creates it for a new store, and checks the
// master key before anything else is touched.
func (s *Store) loadKeys() error {
	kr, err := readKeyring(s.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if dbs, _ := filepath.Glob(filepath.Join(s.dir, "*.db")); len(dbs) > 0 {
			return fmt.Errorf("open %s: box files exist but %s is missing: %w; hint: restore keyring.json from a backup of the directory", s.dir, keyringName, ErrCorrupt)
		}
		id := make([]byte, 8)
		_, _ = rand.Read(id)
		kr = &keyringFile{Version: keyringVersion, StoreID: hex.EncodeToString(id), Cipher: cipherName, KDF: newKDFParams(), Boxes: map[string]*wrappedBox{}}
		master, err := s.opts.Key.masterKey(kr)
		if err != nil {
			return err
		}
		kr.KeyCheck = keyCheck(master)
		kr.HashKey = wrapKey(master, hashKeyBox, 0, NewKey())
		s.kr, s.master = kr, master
		if err := s.loadHashKey(); err != nil {
			return err
		}
		return kr.write(s.dir)
	case err != nil:
		return fmt.Errorf("open %s: %w", s.dir, err)
	}
	master, err := s.opts.Key.masterKey(kr)
	if err != nil {
		return err
	}
	if !kr.checkMaster(master) && !s.canary(CanaryKeyCheck) {
		return fmt.Errorf("open %s: the master key from %s is not this store's key: %w; hint: use the key the store was created with, or restore from a backup made under this key", s.dir, s.opts.Key, ErrWrongKey)
	}
	s.kr, s.master = kr, master
	if err := s.loadHashKey(); err != nil && s.canary(CanaryKeyCheck) {
		kr.HashKey = wrapKey(master, hashKeyBox, 0, NewKey())
		return s.loadHashKey()
	} else if err != nil {
		return err
	}
	return nil
}

// loadHashKey unwraps the keyring's hash key and derives the idempotency
// and subject keys from it.
func (s *Store) loadHashKey() error {
	hk, err := unwrapKey(s.master, hashKeyBox, 0, s.kr.HashKey)
	if err != nil {
		return err
	}
	s.idem = deriveKey(hk, "idempotency")
	s.subj = deriveKey(hk, "subject")
	return nil
}

func deriveKey(master []byte, label string) []byte { return envelope.DeriveKey(master, label) }

// dataBoxNames lists the data boxes recorded in the keyring.
func (s *Store) dataBoxNames() []string {
	var names []string
	for name := range s.kr.Boxes {
		if !slices.Contains(SystemBoxes(), name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// openBox opens a box by name, creating its data key and file if needed,
// and applies the recovery mode to whatever the scan finds.
func (s *Store) openBox(name string) (*box, error) {
	if b, ok := s.boxes[name]; ok {
		return b, nil
	}
	current, keys, created, err := s.kr.boxKeys(s.master, name)
	if err != nil && s.canary(CanaryKeyCheck) {
		// Known-bad, as Hive does: a key that does not fit gets the box
		// re-keyed and truncated.
		delete(s.kr.Boxes, name)
		if ferr := s.cp.forget(name); ferr != nil {
			return nil, ferr
		}
		if terr := os.Truncate(filepath.Join(s.dir, name+".db"), 0); terr != nil && !errors.Is(terr, fs.ErrNotExist) {
			return nil, terr
		}
		current, keys, created, err = s.kr.boxKeys(s.master, name)
	}
	if err != nil {
		return nil, err
	}
	if created {
		if err := s.kr.write(s.dir); err != nil {
			return nil, err
		}
	}
	seal, err := newSealer(s.opts.Types, name, current, keys)
	if err != nil {
		return nil, err
	}
	b, res, err := openBox(s.dir, name, seal, s.opts.Sync, name == BoxIndex, s.canary(CanaryCorruptionDetection), s.cp.entry(name))
	if b == nil {
		if b, err = s.recoverBox(name, seal, res, err); err != nil {
			return nil, err
		}
	}
	s.armCanaries(b)
	s.boxes[name] = b
	return b, nil
}

// recoverBox opens a box whose file openBox did not load: it applies the
// recovery mode to what the scan found (res, and err, which is res.damage
// for damage), and opens the repaired file.
func (s *Store) recoverBox(name string, seal *sealer, res scanResult, err error) (*box, error) {
	if err != nil && res.damage == nil {
		return nil, err
	}
	lazy := name == BoxIndex
	if res.torn && s.canary(CanaryTornTailRepair) {
		// Known-bad: hand the torn file to buntdb, which half-applies it.
		b, _, err := openBox(s.dir, name, seal, s.opts.Sync, lazy, true, nil)
		return b, err
	}
	built, err := s.repair(name, seal, res)
	if err != nil {
		return nil, err
	}
	// The repaired file is the scanned file's verified prefix, or a file
	// repair has just written: it is loaded without another scan.
	b, _, err := openBox(s.dir, name, seal, s.opts.Sync, lazy, true, nil)
	if err != nil {
		return nil, err
	}
	b.txnSeq, b.high = built.lastSeq, built.high
	return b, nil
}

// openBoxes opens boxes that are not open yet. Every file is scanned and
// loaded, a box per goroutine (one after another on one P); then each
// damaged or torn one goes through recoverBox, which applies the recovery
// mode, in the order of names (the audit box first: repairs are audited).
// A box in built was just written and fsynced by this process, and is
// loaded without a scan.
func (s *Store) openBoxes(names []string, built map[string]*builtBox) error {
	type job struct {
		name string
		seal *sealer
		b    *box
		res  scanResult // when b is nil: what the scan found
		err  error
	}
	var jobs []*job
	for _, name := range names {
		if _, ok := s.boxes[name]; ok {
			continue
		}
		current, keys, created, err := s.kr.boxKeys(s.master, name)
		if err != nil {
			// openBox reports it (or, for the key-check canary, re-keys).
			if _, err := s.openBox(name); err != nil {
				return err
			}
			continue
		}
		if created {
			if err := s.kr.write(s.dir); err != nil {
				return err
			}
		}
		seal, err := newSealer(s.opts.Types, name, current, keys)
		if err != nil {
			return err
		}
		jobs = append(jobs, &job{name: name, seal: seal})
	}
	load := func(j *job) {
		bb := built[j.name]
		j.b, j.res, j.err = openBox(s.dir, j.name, j.seal, s.opts.Sync, j.name == BoxIndex, bb != nil || s.canary(CanaryCorruptionDetection), s.cp.entry(j.name))
		if j.b != nil && bb != nil {
			j.b.txnSeq, j.b.high, j.b.builtOps = bb.lastSeq, bb.high, bb.ops
		}
	}
	// On one P the goroutines would only add their start-up and stack
	// growth to every Open.
	if runtime.GOMAXPROCS(0) == 1 {
		for _, j := range jobs {
			load(j)
		}
	} else {
		var wg sync.WaitGroup
		for _, j := range jobs {
			wg.Go(func() { load(j) })
		}
		wg.Wait()
	}
	// Every box loaded goes into s.boxes before any recovery, so that the
	// caller's cleanup closes them all when one cannot be recovered.
	for _, j := range jobs {
		if j.b != nil {
			s.armCanaries(j.b)
			s.boxes[j.name] = j.b
		}
	}
	for _, j := range jobs {
		if j.b != nil {
			continue
		}
		b, err := s.recoverBox(j.name, j.seal, j.res, j.err)
		if err != nil {
			return err
		}
		s.armCanaries(b)
		s.boxes[j.name] = b
	}
	return nil
}

// repair applies the recovery mode to a damaged or torn box file, whose
// bytes as scanned are res.data: copy the original aside, then cut the file
// back to its last whole transaction (or, in skip-damaged, rewrite it from
// its whole transactions). It returns what a scan of the repaired file
// would find.
func (s *Store) repair(name string, seal *sealer, res scanResult) (*builtBox, error) {
	mode := s.opts.Recovery
	kind := "torn-tail"
	reason := "incomplete last transaction (a torn write)"
	if res.damage != nil {
		kind, reason = "damage", res.damage.Reason
	} else if res.holed {
		reason = fmt.Sprintf("incomplete last transaction (a torn write: the blocks from offset %d were never written, and nothing after them was acknowledged)", res.holeAt)
	}
	switch {
	case mode == Strict:
		if res.damage != nil {
			return nil, res.damage
		}
		return nil, &CorruptionError{Box: name, Offset: int64(res.goodEnd), Reason: reason + "; the strict recovery mode refuses it; hint: reopen with the tolerate-torn-tail mode"}
	case res.damage != nil && mode == TolerateTornTail:
		return nil, res.damage
	}
	if res.damage != nil {
		// The cut or the rewrite may go below the checkpointed length.
		if err := s.cp.forget(name); err != nil {
			return nil, err
		}
	}
	path := filepath.Join(s.dir, name+".db")
	q := s.quarantineName(name, strings.ReplaceAll(kind, "-", ""))
	if err := writeNewFile(q, res.data); err != nil {
		return nil, fmt.Errorf("box %s: quarantine copy before repair: %w", name, err)
	}
	if res.damage != nil && mode == SkipDamaged {
		return s.skipDamaged(name, path, q, seal, res)
	}
	if err := truncateSync(path, int64(res.goodEnd)); err != nil {
		return nil, fmt.Errorf("box %s: repair: %w", name, err)
	}
	keys := droppedKeys(res.data, res.goodEnd)
	s.repairs = append(s.repairs, Repair{
		Box: name, Mode: mode.String(), Kind: kind, Offset: int64(res.goodEnd), DroppedBytes: int64(res.size - res.goodEnd),
		DroppedTxns: 1, DroppedRecord: len(keys), DroppedKeys: keys, Quarantine: q, Reason: reason,
	})
	return &builtBox{lastSeq: res.lastSeq, high: res.high}, nil
}

// skipDamaged rewrites a damaged box file from the whole transactions it
// still holds, replayed in order; the damaged regions between them are
// dropped. The original is already in quarantine q.
func (s *Store) skipDamaged(name, path, q string, seal *sealer, res scanResult) (*builtBox, error) {
	sv := salvage(name, res.data, seal)
	tmp := path + ".salvage"
	bw, err := newBoxWriter(tmp, name, seal, sv.high)
	if err != nil {
		return nil, err
	}
	keysSorted := make([]string, 0, len(sv.state))
	for k := range sv.state {
		keysSorted = append(keysSorted, k)
	}
	sort.Strings(keysSorted)
	for _, k := range keysSorted {
		if k == markerKey {
			continue
		}
		if err := bw.addSealed(k, sv.state[k]); err != nil {
			bw.abort()
			return nil, err
		}
	}
	if err := bw.finish(); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	if err := fileio.SyncDir(s.dir); err != nil {
		return nil, err
	}
	s.repairs = append(s.repairs, Repair{
		Box: name, Mode: SkipDamaged.String(), Kind: "damage", Offset: res.damage.Offset, DroppedBytes: int64(sv.droppedBytes),
		DroppedTxns: sv.regions, Quarantine: q, Reason: res.damage.Reason + fmt.Sprintf("; kept %d whole transactions, skipped %d damaged regions", sv.kept, sv.regions),
	})
	return bw.staged().built, nil
}

// quarantineName picks <box>_<kind>_YYYYMMDD.bak, adding a time and then a
// counter when that name is taken.
func (s *Store) quarantineName(box, kind string) string {
	now := s.opts.Clock.Now().UTC()
	base := filepath.Join(s.dir, fmt.Sprintf("%s_%s_%s", box, kind, now.Format("20060102")))
	if p := base + ".bak"; !exists(p) {
		return p
	}
	base += "_" + now.Format("150405")
	p := base + ".bak"
	for i := 2; exists(p); i++ {
		p = fmt.Sprintf("%s_%d.bak", base, i)
	}
	return p
}

func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%w: %w", ErrSync, err)
	}
	return nil
}

// Repairs lists what Open cut from damaged box files.
func (s *Store) Repairs() []Repair { return slices.Clone(s.repairs) }

// Dir returns the store directory.
func (s *Store) Dir() string { return s.dir }

// StoreID returns the random id the store got when it was created.
func (s *Store) StoreID() string { return s.kr.StoreID }

// SyncMode returns the durability mode the store runs in.
func (s *Store) SyncMode() SyncMode { return s.opts.Sync }

// startBackground starts the ticker that writes the pending index behind and
// fsyncs the boxes of SyncInterval and the lazily synced derived boxes, and
// the ticker that writes the checkpoint every Options.CheckpointPeriod.
func (s *Store) startBackground() {
	period := DefaultLazySync
	if s.opts.Sync == SyncInterval {
		period = s.opts.SyncPeriod
	}
	s.every(period, func() {
		s.qmu.Lock()
		if err := s.flushIndexLocked(); err != nil {
			s.opts.Logger.Error("pending index write-behind failed", "err", err)
		}
		s.qmu.Unlock()
		if s.opts.Sync == SyncNever {
			return
		}
		for _, b := range s.boxList() {
			if s.opts.Sync == SyncInterval || b.lazy {
				if err := b.sync.syncNow(); err != nil {
					s.opts.Logger.Error("background fsync failed", "box", b.name, "err", err)
				}
			}
		}
	})
	// The checkpoint has a ticker of its own: under SyncAlways the boxes
	// are fsynced by their writers, not by the ticker above, and its
	// period (DefaultLazySync) is not the operator's checkpoint period.
	s.every(s.opts.CheckpointPeriod, func() {
		if err := s.cp.update(s.boxList()); err != nil {
			s.opts.Logger.Error("checkpoint write failed", "err", err)
		}
	})
}

// every runs fn every period, inside the store's gate, until Close.
func (s *Store) every(period time.Duration, fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				if s.enter(context.Background()) != nil {
					return
				}
				fn()
				s.exit()
			}
		}
	}()
}

func (s *Store) boxList() []*box {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*box, 0, len(s.boxes))
	for _, b := range s.boxes {
		out = append(out, b)
	}
	return out
}

// Close syncs and closes every box and releases the directory lock.
func (s *Store) Close() error {
	if err := s.exclusive(); err != nil {
		return err
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.swap.Unlock()
	close(s.stop)
	s.wg.Wait()
	s.qmu.Lock()
	ferr := s.flushIndexLocked()
	s.qmu.Unlock()
	err := errors.Join(ferr, s.closeBoxes())
	if err == nil {
		// Every box was fsynced by its close: checkpoint what is durable.
		err = s.cp.update(s.boxList())
	}
	if uerr := s.dlock.unlock(); err == nil && uerr != nil {
		err = uerr
	}
	return err
}

func (s *Store) closeBoxes() error {
	var errs []error
	for _, b := range s.boxes {
		if err := b.close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// enter admits a call whose ctx is not done: many at once, none while a
// procedure that swaps box files (Restore, RotateKey, Erase, ...) or Close
// holds the store. Every successful enter is paired with exit.
func (s *Store) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.swap.RLock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.swap.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) exit() { s.swap.RUnlock() }

// exclusive admits a procedure that swaps box files; it waits for every
// call in flight. Pair it with s.swap.Unlock.
func (s *Store) exclusive() error {
	s.swap.Lock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.swap.Unlock()
		return ErrClosed
	}
	return nil
}

// dataBox checks the record keys a call names, then returns the data box,
// opening or creating it on first use.
func (s *Store) dataBox(name string, keys ...string) (*box, error) {
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return nil, err
		}
	}
	if !boxNameRE.MatchString(name) {
		return nil, fmt.Errorf("box name %q: want 1-64 characters of a-z, 0-9 and _: %w", name, ErrInvalid)
	}
	if slices.Contains(SystemBoxes(), name) {
		return nil, fmt.Errorf("box %s is reserved for the runbook's records; hint: pick another data box name: %w", name, ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.openBox(name)
}

// checkKey admits record keys of 1-1024 printable ASCII bytes. Keys are
// stored in the clear, so they are identifiers, never personal data.
func checkKey(key string) error {
	ok := key != "" && len(key) <= 1024
	for i := 0; ok && i < len(key); i++ {
		ok = key[i] >= 0x20 && key[i] <= 0x7e
	}
	if !ok {
		return fmt.Errorf("record key %q: want 1-1024 printable ASCII characters; hint: keys are stored in the clear, use an id, not personal data: %w", printableKey(key), ErrInvalid)
	}
	return nil
}

// Put stores value under key in the data box, creating the box on first use.
// Keys must carry no personal data: they are stored in the clear.
func (s *Store) Put(ctx context.Context, boxName, key string, value []byte) error {
	return s.PutBatch(ctx, boxName, map[string][]byte{key: value})
}

// PutBatch stores several records in the data box in one transaction: all
// or none of them are written.
func (s *Store) PutBatch(ctx context.Context, boxName string, records map[string][]byte) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.exit()
	b, err := s.dataBox(boxName, slices.Collect(maps.Keys(records))...)
	if err != nil {
		return err
	}
	return b.update(func(t *txn) error {
		for k, v := range records {
			if err := t.put(k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Get returns the value under key in the data box, or ErrNotFound.
func (s *Store) Get(ctx context.Context, boxName, key string) ([]byte, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.exit()
	b, err := s.dataBox(boxName, key)
	if err != nil {
		return nil, err
	}
	v, err := b.get(key)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("box %s: key %q: %w", boxName, printableKey(key), ErrNotFound)
	}
	return v, err
}

// Record is one record of a box as [Store.Records] reads it: its plaintext
// and the type id its envelope carries (0 for a record sealed before type
// ids). [Registry.Decode] turns it into a value.
type Record struct {
	Box    string
	Key    string
	TypeID TypeID
	Value  []byte
}

// Records reads every record of the box name, a runbook box or a data box,
// in key order, for inspection tools. The values are plaintext: a
// subject_keys record is a subject's key, so a tool shows it only through
// its codec, which redacts it.
func (s *Store) Records(ctx context.Context, name string) ([]Record, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.exit()
	if name == BoxIndex {
		// The index is written behind: write what is pending first, so the
		// records read are the index the queue uses.
		s.qmu.Lock()
		err := s.flushIndexLocked()
		s.qmu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	b, ok := s.boxes[name]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("box %s: %w", name, ErrNotFound)
	}
	var out []Record
	err := b.eachTyped(ctx, func(k string, pt []byte, id TypeID) error {
		out = append(out, Record{Box: name, Key: k, TypeID: id, Value: pt})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Types returns the registry the store stamps its records' type ids from
// (Options.Types, or the store's own types).
func (s *Store) Types() *Registry { return s.opts.Types }

// Delete removes key from the data box. Deleting a missing key succeeds.
func (s *Store) Delete(ctx context.Context, boxName, key string) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.exit()
	b, err := s.dataBox(boxName, key)
	if err != nil {
		return err
	}
	return b.update(func(t *txn) error { return t.del(key) })
}
