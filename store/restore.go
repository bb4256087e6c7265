package store

// Restoring a backup. The archive package verifies the archive as it
// streams; the store checks every record it could not read back, applies
// the erasure ledger, seals and writes the new box files into a staging
// directory, and swaps them in only after everything verified.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/boxstorm/boxstorm/internal/archive"
	"golang.org/x/crypto/chacha20poly1305"
)

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

// Restore replaces the store's content with a backup. In one pass it
// decrypts and verifies the whole backup and builds every new box file
// (sealed, as box files always are) in a temporary directory; only when all
// of that succeeded does it swap the files in by rename and directory fsync,
// under a journal that Open completes after a crash. No decrypted record is
// ever written to disk. On any failure the live store is unchanged. The
// erasure ledger is applied to the backup's records, so a restore never
// brings erased data back; fencing tokens never go back either.
func (s *Store) Restore(ctx context.Context, r io.Reader, o RestoreOptions) (RestoreInfo, error) {
	if err := s.enter(ctx); err != nil {
		return RestoreInfo{}, err
	}
	staging, staged, info, err := s.stageRestore(ctx, r, o)
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

// A restore stages each box on its own goroutine: the archive reader
// (decryption, hashing, line checks) hands records over in batches, and the
// box's stager checks, seals and writes them, so both run at once.

// stageBatchRecords is how many records one hand-over batch holds.
const stageBatchRecords = 1024

// stageBatch is a run of records copied out of the archive reader: buf
// holds key and value bytes back to back, ends their end offsets.
type stageBatch struct {
	buf  []byte
	ends []int // key end, value end, per record
}

func (b *stageBatch) add(k, v []byte) {
	b.buf = append(b.buf, k...)
	b.ends = append(b.ends, len(b.buf))
	b.buf = append(b.buf, v...)
	b.ends = append(b.ends, len(b.buf))
}

// stager builds one box's new file from the records it is handed.
type stager struct {
	s         *Store
	name      string
	bw        *boxWriter
	fresh     *wrappedBox // the data key of a box new to this store
	ledger    *erasureLedger
	unchecked bool // the backup-verification canary: take records as they come

	in     chan *stageBatch
	free   chan *stageBatch
	cur    *stageBatch // the reader's batch being filled
	failed atomic.Bool
	done   chan struct{}

	// Owned by the stager's goroutine until done is closed.
	n, dropped int
	facts      recordFacts
	err        error
}

// recordFacts is what checkRecord learns from a box's records.
type recordFacts struct {
	// sealed are the subject-sealed payloads of the box's ops, checked
	// against keys once the whole backup is read (subject_keys comes
	// last). Only ops with a subject are held, and only their payloads.
	sealed []subjectPayload
	keys   map[string][]byte // subject hash -> key, from subject_keys
	ops    []opMeta          // a queue box's ops
}

// newStager creates the box's staging file and starts its goroutine.
func (s *Store) newStager(staging, name string, ledger *erasureLedger, unchecked bool) (*stager, error) {
	// A box new to this store gets a data key that only the swap adds to
	// the keyring: a restore that fails leaves the store as it was.
	var seal *sealer
	var fresh *wrappedBox
	s.mu.Lock()
	b, err := s.boxes[name], error(nil)
	if _, known := s.kr.Boxes[name]; b == nil && known {
		b, err = s.openBox(name)
	}
	s.mu.Unlock()
	switch {
	case err != nil:
		return nil, err
	case b != nil:
		seal = b.seal
	default:
		dk := NewKey()
		fresh = &wrappedBox{Current: 1, Keys: map[string]string{"1": wrapKey(s.master, name, 1, dk)}}
		if seal, err = newSealer(s.opts.Types, name, 1, map[uint32][]byte{1: dk}); err != nil {
			return nil, err
		}
	}
	var high uint64
	if name == BoxPending {
		s.qmu.Lock()
		high = s.q.seq // sequence numbers never go back
		s.qmu.Unlock()
	}
	bw, err := newBoxWriter(filepath.Join(staging, name+".db"), name, seal, high)
	if err != nil {
		return nil, err
	}
	st := &stager{
		s: s, name: name, bw: bw, fresh: fresh, ledger: ledger, unchecked: unchecked,
		in: make(chan *stageBatch, 4), free: make(chan *stageBatch, 6), done: make(chan struct{}),
		facts: recordFacts{keys: map[string][]byte{}},
	}
	if name == BoxPending || name == BoxFailed {
		st.facts.ops = []opMeta{} // known, even when empty
	}
	go st.run()
	return st, nil
}

// errStagerFailed stops the archive reader after a stager failed; finish
// returns the stager's own error.
var errStagerFailed = errors.New("staging failed")

// record is the archive reader's side: it copies a record into the batch
// being filled and hands full batches over. After the stager failed it
// returns errStagerFailed, so the reader delivers no more records.
func (st *stager) record(k, v []byte) error {
	if st.failed.Load() {
		return errStagerFailed
	}
	if st.cur == nil {
		select {
		case st.cur = <-st.free:
		default:
			st.cur = &stageBatch{}
		}
	}
	st.cur.add(k, v)
	if len(st.cur.ends) >= 2*stageBatchRecords {
		st.in <- st.cur
		st.cur = nil
	}
	return nil
}

// handOver hands over the batch being filled, if any.
func (st *stager) handOver() {
	if st.cur != nil {
		st.in <- st.cur
		st.cur = nil
	}
}

// finish hands over the last batch and waits for the file to be complete.
func (st *stager) finish() error {
	st.handOver()
	close(st.in)
	<-st.done
	return st.err // checkRecord's and the boxWriter's errors name the box
}

func (st *stager) run() {
	defer close(st.done)
	for b := range st.in {
		if st.err == nil {
			if st.err = st.take(b); st.err != nil {
				st.failed.Store(true)
			}
		}
		b.buf, b.ends = b.buf[:0], b.ends[:0]
		select {
		case st.free <- b:
		default:
		}
	}
	if st.err == nil {
		st.err = st.bw.finish()
	} else {
		st.bw.abort()
	}
}

func (st *stager) take(b *stageBatch) error {
	start := 0
	for i := 0; i < len(b.ends); i += 2 {
		k, v := string(b.buf[start:b.ends[i]]), b.buf[b.ends[i]:b.ends[i+1]]
		start = b.ends[i+1]
		if !st.unchecked {
			if st.ledger.drops(st.s, st.name, k, v) {
				st.dropped++
				continue
			}
			// A record the store could not read back must stop the
			// restore here, before anything live changes.
			if err := st.s.checkRecord(st.name, k, v, &st.facts); err != nil {
				return err
			}
		}
		st.n++
		if err := st.bw.add(k, v); err != nil {
			return err
		}
	}
	return nil
}

// stageRestore reads, verifies and builds the new box files in one pass.
// It returns the staging directory (to remove) even on error.
func (s *Store) stageRestore(ctx context.Context, r io.Reader, o RestoreOptions) (string, []stagedBox, RestoreInfo, error) {
	var info RestoreInfo
	key, err := s.ownBackupKey()
	if o.BackupKey != nil {
		var master []byte
		if master, err = o.BackupKey.masterKey(s.kr); err == nil {
			key, err = backupKey(master)
		}
	}
	if err != nil {
		return "", nil, info, err
	}
	staging, err := os.MkdirTemp(s.dir, ".restore-")
	if err != nil {
		return "", nil, info, err
	}
	ledger, err := s.readLedger()
	if err != nil {
		return staging, nil, info, err
	}
	if s.canary(CanaryErasureLedger) {
		ledger = &erasureLedger{set: map[string]bool{}}
	}
	stagers := map[string]*stager{}
	var last *stager
	// finishAll completes every stager and returns the first error.
	finishAll := func() error {
		var first error
		for _, name := range slices.Sorted(maps.Keys(stagers)) {
			st := stagers[name]
			if st.in == nil {
				continue
			}
			if err := st.finish(); err != nil && first == nil {
				first = err
			}
			st.in = nil
		}
		return first
	}
	start := func(name string) (*stager, error) {
		st, err := s.newStager(staging, name, ledger, s.canary(CanaryBackupVerification))
		if err != nil {
			return nil, err
		}
		stagers[name] = st
		return st, nil
	}
	var meta archive.Meta
	if s.canary(CanaryBackupVerification) {
		// Known-bad: take whatever the archive yields, unverified.
		for name, recs := range uncheckedExtract(r, key.Identity()) {
			st, err := start(name)
			if err != nil {
				finishAll()
				return staging, nil, info, err
			}
			meta.Boxes = append(meta.Boxes, archive.BoxMeta{Name: name})
			for _, rec := range recs {
				st.record([]byte(rec.k), []byte(rec.v))
			}
		}
	} else {
		meta, err = archive.Read(ctx, r, key.Identity(), archive.Expect{SchemaVersion: o.ExpectedSchema}, func(bm archive.BoxMeta) (archive.RecordFunc, error) {
			if last != nil {
				// The previous box is complete; let its stager finish
				// while this one fills.
				last.handOver()
			}
			st, err := start(bm.Name)
			if err != nil {
				return nil, err
			}
			last = st
			return st.record, nil
		})
		if errors.Is(err, errStagerFailed) {
			err = finishAll() // the stager's own error
		}
		if err != nil {
			finishAll()
			return staging, nil, info, err
		}
	}
	// Every live box is rebuilt: from the backup, or empty if the backup
	// does not have it.
	s.mu.Lock()
	var missing []string
	for n := range s.boxes {
		if stagers[n] == nil {
			missing = append(missing, n)
		}
	}
	s.mu.Unlock()
	for _, n := range missing {
		if _, err := start(n); err != nil {
			finishAll()
			return staging, nil, info, err
		}
	}
	if err := finishAll(); err != nil {
		return staging, nil, info, err
	}
	info.Backup = infoFromMeta(meta)
	info.Records = map[string]int{}
	keys := map[string][]byte{}
	var staged []stagedBox
	for _, name := range slices.Sorted(maps.Keys(stagers)) {
		st := stagers[name]
		info.Records[name] = st.n
		info.Erased += st.dropped
		maps.Copy(keys, st.facts.keys)
		sb := st.bw.staged()
		sb.fresh = st.fresh
		if !st.unchecked {
			sb.built.ops = st.facts.ops
		}
		staged = append(staged, sb)
	}
	if s.canary(CanaryBackupVerification) {
		return staging, staged, info, nil
	}
	for _, sb := range staged {
		for _, p := range stagers[sb.name].facts.sealed {
			if err := p.check(keys); err != nil {
				return staging, nil, info, fmt.Errorf("box %s: %w", sb.name, err)
			}
		}
	}
	return staging, staged, info, nil
}

// subjectPayload is the sealed payload of an op with a privacy subject.
type subjectPayload struct {
	hash, opID string
	payload    []byte
}

// check opens the payload with its subject's key from the backup, as
// reading the op back would.
func (p subjectPayload) check(keys map[string][]byte) error {
	key, ok := keys[p.hash]
	if !ok {
		return fmt.Errorf("op %s has subject %s, whose key is not in the backup: %w", p.opID, p.hash, ErrBackupTampered)
	}
	a, err := chacha20poly1305.NewX(key)
	if err == nil && len(p.payload) >= a.NonceSize() {
		_, err = a.Open(nil, p.payload[:a.NonceSize()], p.payload[a.NonceSize():], subjectAD(p.opID))
	} else if err == nil {
		err = errors.New("too short")
	}
	if err != nil {
		return fmt.Errorf("op %s: subject-sealed payload does not open with its subject's key: %w", p.opID, ErrBackupTampered)
	}
	return nil
}

// checkRecord makes sure a record from a backup is one the store can read
// back: op, idempotency, index, audit, schema, lock and subject-key records
// must decode. Data boxes hold opaque values.
func (s *Store) checkRecord(box, key string, v []byte, facts *recordFacts) error {
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
				facts.sealed = append(facts.sealed, subjectPayload{hash: s.subjectHash(op.Subject), opID: op.ID, payload: bytes.Clone(op.Payload)})
			}
			facts.ops = append(facts.ops, metaOf(key, op))
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
		facts.keys[key[len(subjectPrefix):]] = bytes.Clone(v)
	}
	return nil
}
