package store

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/boxstorm/boxstorm/internal/fileio"
)

// BoxSubjectKeys holds one data key per privacy subject. Payloads of ops
// enqueued with a Subject are sealed under that key inside the op record,
// so deleting the key (crypto-shredding) makes every copy unreadable,
// backups included.
const BoxSubjectKeys = "subject_keys"

const (
	subjectPrefix = "subj/"
	ledgerName    = "erasure_ledger.json"
)

// subjectHash names a subject without revealing it.
func (s *Store) subjectHash(subject string) string {
	m := hmac.New(sha256.New, s.subj)
	m.Write([]byte(subject))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func subjectAD(opID string) []byte { return []byte("boxstorm/subject/v1\x00" + opID) }

// subjectAEAD returns the subject's key, creating it when create is set.
// qmu is held.
func (s *Store) subjectAEAD(subject string, create bool) (cipher.AEAD, error) {
	key := subjectPrefix + s.subjectHash(subject)
	b := s.boxes[BoxSubjectKeys]
	dk, err := b.get(key)
	if errors.Is(err, ErrNotFound) && create {
		dk = NewKey()
		err = b.update(func(t *txn) error { return t.put(key, dk) })
	}
	if err != nil {
		return nil, fmt.Errorf("subject key: %w", err)
	}
	return chacha20poly1305.NewX(dk)
}

// sealSubject encrypts an op's payload under its subject's key.
func (s *Store) sealSubject(op *Op) error {
	a, err := s.subjectAEAD(op.Subject, true)
	if err != nil {
		return err
	}
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(op.Payload)+a.Overhead())
	_, _ = rand.Read(nonce)
	op.Payload = a.Seal(nonce, nonce, op.Payload, subjectAD(op.ID))
	return nil
}

// openSubject decrypts a subject-sealed payload in place.
func (s *Store) openSubject(op *Op) error {
	a, err := s.subjectAEAD(op.Subject, false)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("op %s: its subject was erased: %w", op.ID, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if len(op.Payload) < a.NonceSize() {
		return &CorruptionError{Box: BoxPending, Offset: -1, Key: opPrefix + op.ID, Reason: "subject-sealed payload too short"}
	}
	pt, err := a.Open(nil, op.Payload[:a.NonceSize()], op.Payload[a.NonceSize():], subjectAD(op.ID))
	if err != nil {
		return &CorruptionError{Box: BoxPending, Offset: -1, Key: opPrefix + op.ID, Reason: "subject-sealed payload fails authentication"}
	}
	op.Payload = pt
	return nil
}

// erasureLedger lists erased subjects by hash. It lives outside the boxes,
// so a restore does not replace it, and every restore applies it.
type erasureLedger struct {
	Version int           `json:"version"`
	Entries []ledgerEntry `json:"entries"`
	set     map[string]bool
}

type ledgerEntry struct {
	SubjectHash string    `json:"subject_hash"`
	ErasedAt    time.Time `json:"erased_at"`
}

func (s *Store) readLedger() (*erasureLedger, error) {
	l := &erasureLedger{Version: 1, set: map[string]bool{}}
	b, err := os.ReadFile(filepath.Join(s.dir, ledgerName))
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("erasure ledger: %w", err)
	}
	if err := json.Unmarshal(b, l); err != nil || l.Version != 1 {
		return nil, fmt.Errorf("erasure ledger %s is unreadable: %w; hint: restore it from a copy, erased data could come back without it", ledgerName, ErrCorrupt)
	}
	for _, e := range l.Entries {
		l.set[e.SubjectHash] = true
	}
	return l, nil
}

func (s *Store) appendLedger(hash string) error {
	l, err := s.readLedger()
	if err != nil {
		return err
	}
	if l.set[hash] {
		return nil
	}
	l.Entries = append(l.Entries, ledgerEntry{SubjectHash: hash, ErasedAt: s.opts.Clock.Now().UTC()})
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	return fileio.WriteFileAtomic(filepath.Join(s.dir, ledgerName), append(b, '\n'), 0o600)
}

// drops reports whether a record of a backup belongs to an erased subject.
func (l *erasureLedger) drops(s *Store, box, key string, plaintext []byte) bool {
	if len(l.set) == 0 {
		return false
	}
	switch {
	case box == BoxSubjectKeys:
		return l.set[strings.TrimPrefix(key, subjectPrefix)]
	case (box == BoxPending || box == BoxFailed) && strings.HasPrefix(key, opPrefix):
		op, err := decodeOp(plaintext)
		return err == nil && op.Subject != "" && l.set[s.subjectHash(op.Subject)]
	}
	return false
}

// SubjectExport is a subject's data, as the privacy export returns it.
type SubjectExport struct {
	SubjectHash string       `json:"subject_hash"`
	ExportedAt  time.Time    `json:"exported_at"`
	Ops         []Op         `json:"ops"`
	Audit       []AuditEntry `json:"audit"`
}

// Export returns every op of a subject, with its payload, and the audit
// entries that concern it with their details replaced by {"redacted": true}.
func (s *Store) Export(ctx context.Context, subject string) (SubjectExport, error) {
	if err := s.enter(ctx); err != nil {
		return SubjectExport{}, err
	}
	defer s.exit()
	if subject == "" {
		return SubjectExport{}, fmt.Errorf("export: empty subject: %w", ErrInvalid)
	}
	h := s.subjectHash(subject)
	out := SubjectExport{SubjectHash: h, ExportedAt: s.opts.Clock.Now().UTC(), Ops: []Op{}, Audit: []AuditEntry{}}
	s.qmu.Lock()
	defer s.qmu.Unlock()
	for _, b := range []*box{s.pending, s.failed} {
		ops, err := s.listOps(ctx, b)
		if err != nil {
			return out, err
		}
		for _, op := range ops {
			if op.Subject != subject {
				continue
			}
			if err := s.openSubject(&op); err != nil {
				return out, err
			}
			out.Ops = append(out.Ops, op)
		}
	}
	log, err := s.auditLog(ctx)
	if err != nil {
		return out, err
	}
	for _, e := range log {
		if e.Details["subject_hash"] == h {
			e.Details = map[string]any{"redacted": true}
			out.Audit = append(out.Audit, e)
		}
	}
	return out, nil
}

// EraseReport is what Erase removed.
type EraseReport struct {
	SubjectHash    string   `json:"subject_hash"`
	OpsRemoved     int      `json:"ops_removed"`
	BoxesRewritten []string `json:"boxes_rewritten"`
}

// Erase removes a subject: it records the subject in the erasure ledger,
// deletes the subject's key (crypto-shredding every copy, backups included),
// deletes its ops, and rewrites the affected box files so no old ciphertext
// line of the subject remains on disk (buntdb only appends).
func (s *Store) Erase(ctx context.Context, subject string) (EraseReport, error) {
	if subject == "" {
		return EraseReport{}, fmt.Errorf("erase: empty subject: %w", ErrInvalid)
	}
	if err := s.exclusive(); err != nil {
		return EraseReport{}, err
	}
	defer s.swap.Unlock()
	h := s.subjectHash(subject)
	rep := EraseReport{SubjectHash: h}
	// The ledger comes first: if we crash below, a restore still drops the subject.
	if err := s.appendLedger(h); err != nil {
		return rep, fmt.Errorf("erase: %w", err)
	}
	ledger := &erasureLedger{set: map[string]bool{h: true}}
	staging, err := os.MkdirTemp(s.dir, ".erase-")
	if err != nil {
		return rep, fmt.Errorf("erase: %w", err)
	}
	defer os.RemoveAll(staging)
	s.qmu.Lock()
	if err := s.flushIndexLocked(); err != nil {
		s.qmu.Unlock()
		return rep, err
	}
	high := s.q.seq
	s.qmu.Unlock()
	var staged []stagedBox
	for _, name := range []string{BoxPending, BoxFailed, BoxSubjectKeys, BoxIndex} {
		b := s.boxes[name]
		bw, err := newBoxWriter(filepath.Join(staging, name+".db"), name, b.seal, b.high)
		if err != nil {
			return rep, err
		}
		if name == BoxPending {
			bw.high = max(bw.high, high)
		}
		err = b.eachRecord(ctx, func(k string, pt []byte) error {
			if ledger.drops(s, name, k, pt) {
				if strings.HasPrefix(k, opPrefix) {
					rep.OpsRemoved++
				}
				return nil
			}
			return bw.add(k, pt)
		})
		if err == nil {
			err = bw.finish()
		} else {
			bw.abort()
		}
		if err != nil {
			return rep, fmt.Errorf("erase: box %s: %w", name, err)
		}
		staged = append(staged, stagedBox{name: name, path: filepath.Join(staging, name+".db")})
		rep.BoxesRewritten = append(rep.BoxesRewritten, name)
	}
	if err := s.swapBoxes(staged); err != nil {
		return rep, fmt.Errorf("erase: %w", err)
	}
	if err := s.Audit(ctx, "subject_erased", map[string]any{"subject_hash": h, "ops_removed": rep.OpsRemoved}); err != nil {
		return rep, err
	}
	return rep, nil
}
