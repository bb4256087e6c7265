package fuzz_test

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"

	"github.com/boxstorm/boxstorm/fuzz/internal/inputs"
	"github.com/boxstorm/boxstorm/internal/archive"
	"github.com/boxstorm/boxstorm/store"
)

// FuzzBackupArchive restores archives into the fixture store: tar streams
// from the seeds (real backups), from go-fuzz-headers' TarBytes and
// TarFiles, and built from decoded records (inputs.DecodeArchive), each
// encrypted with age to the store's own backup recipient, so that the key
// check passes and everything behind it is exercised. Restore never panics,
// and:
//
//   - nothing appears next to the store directory (no traversal or link
//     escapes the staging directory);
//   - when it fails, the live store is unchanged: every file under the
//     store directory but LOCK has the same content, none is added or
//     removed (the staging directory included), the pending ops read the
//     same, and the error is one of the store's backup errors;
//   - when it succeeds, the store reads its pending ops, closes, and
//     reopens in strict mode.
//
// The store stays open from one input to the next while restores fail,
// which is what makes the target fast; a successful restore, or a failure,
// makes the next input start from a fresh copy of the fixture. Archives are
// encrypted with fastRecipient, which skips the X25519 work of age's
// recipient on the encrypting side only.
func FuzzBackupArchive(f *testing.F) {
	tuneStoreWorker(f)
	fx := loadFixture(f)
	f.Add(inputs.ArchiveInput{Mode: inputs.ArchiveStructured}.Encode())
	rt := newRestoreTarget(f, fx)
	f.Fuzz(func(t *testing.T, data []byte) { restoreArchive(t, rt, data) })
}

// restoreArchive is one FuzzBackupArchive input.
func restoreArchive(t testing.TB, rt *restoreTarget, data []byte) {
	ctx := context.Background()
	rt.ensure(t)
	in := inputs.DecodeArchive(data)
	var ct bytes.Buffer
	w, err := age.Encrypt(&ct, rt.recipient)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(in.Plaintext()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	o := store.RestoreOptions{}
	if in.ExpectSchema {
		o.ExpectedSchema = rt.schema
	}

	rt.dirty = true // until this input is known to have changed nothing
	_, rerr := rt.s.Restore(ctx, &ct, o)
	if got := listDir(t, rt.sc.root); got != filepath.Base(rt.dir) {
		t.Fatalf("after Restore (error %v), the store's parent holds %q, want only the store directory", rerr, got)
	}
	if rerr == nil {
		checkRestoredStore(t, rt)
		return
	}
	if !isBackupError(rerr) {
		t.Errorf("Restore: %v; want an error matching one of the store's backup errors", rerr)
	}
	if diff := diffTrees(rt.baseline, hashTree(t, rt.dir)); len(diff) > 0 {
		t.Fatalf("failed Restore (%v) changed the live store: %q", rerr, diff)
	}
	ops, err := rt.s.PendingOps(ctx)
	if err != nil {
		t.Fatalf("PendingOps after a failed Restore (%v): %v", rerr, err)
	}
	if ids := opIDs(ops); !slices.Equal(ids, rt.pending) {
		t.Fatalf("failed Restore (%v) changed the pending ops: %q, want %q", rerr, ids, rt.pending)
	}
	if !t.Failed() {
		rt.dirty = false
	}
}

// restoreTarget is the open fixture store that FuzzBackupArchive restores
// into, the only entry of its scratch root.
type restoreTarget struct {
	fx        *fixture
	sc        *scratch
	dir       string
	s         *store.Store
	recipient age.Recipient
	schema    int
	baseline  map[string][32]byte // hashTree of dir after Open
	pending   []string            // pending op ids after Open
	dirty     bool                // the next input needs a fresh store
}

func newRestoreTarget(tb testing.TB, fx *fixture) *restoreTarget {
	rt := &restoreTarget{fx: fx, sc: newScratch(tb)}
	tb.Cleanup(rt.close)
	return rt
}

// ensure opens a fresh copy of the fixture when there is none or the last
// input left it changed. The scratch directory rewrites only the files a
// successful restore replaced.
func (rt *restoreTarget) ensure(t testing.TB) {
	t.Helper()
	if rt.s != nil && !rt.dirty {
		return
	}
	rt.close()
	rt.dir = rt.sc.fill(t, 0, rt.fx.files)
	ctx := context.Background()
	s, err := store.Open(ctx, rt.dir, options(store.Strict))
	if err != nil {
		t.Fatalf("open the fixture store: %v; hint: run go generate ./fuzz/", err)
	}
	rt.s = s
	if rt.recipient == nil {
		rt.recipient = newFastRecipient(t)
	}
	if rt.schema, err = s.SchemaVersion(); err != nil {
		t.Fatal(err)
	}
	ops, err := s.PendingOps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rt.pending = opIDs(ops)
	rt.baseline = hashTree(t, rt.dir)
	rt.dirty = false
}

func (rt *restoreTarget) close() {
	if rt.s != nil {
		rt.s.Close()
		rt.s = nil
	}
}

// fastRecipient encrypts to the store's backup key exactly as age's X25519
// recipient does, followed by the key-id stanza the store's own recipient
// adds, except that one ephemeral key serves the whole process: the two
// X25519 scalar multiplications of every age.Encrypt were an eighth of the
// target's CPU time. Restore's side (the store's identity and its X25519)
// is untouched, and the archives differ from the store's own only in that
// ephemeral share. Reusing the wrapping key breaks age's one-key-one-file-key
// rule, which matters for nothing here: these are test keys.
type fastRecipient struct {
	share string      // the ephemeral public key, encoded as age does
	aead  cipher.AEAD // keyed with the wrapping key for share and the store's key
	extra []*age.Stanza
}

// newFastRecipient derives the store's backup public key from the fixture's
// master key, independently, as docs/backup-format.md specifies, and checks
// against the store's own derivation (internal/archive.ForMaster) that it
// still holds.
func newFastRecipient(tb testing.TB) age.Recipient {
	tb.Helper()
	m := hmac.New(sha256.New, inputs.MasterKey())
	m.Write([]byte("boxstorm/derive/v1/backup"))
	scalar, err := hkdf.Key(sha256.New, m.Sum(nil), nil, "boxstorm backup x25519 identity v1", 32)
	if err != nil {
		tb.Fatal(err)
	}
	eph := make([]byte, curve25519.ScalarSize)
	rand.Read(eph)
	pub, err1 := curve25519.X25519(scalar, curve25519.Basepoint)
	share, err2 := curve25519.X25519(eph, curve25519.Basepoint)
	shared, err3 := curve25519.X25519(eph, pub)
	wrapKey, err4 := hkdf.Key(sha256.New, shared, append(slices.Clone(share), pub...), "age-encryption.org/v1/X25519", chacha20poly1305.KeySize)
	aead, err5 := chacha20poly1305.New(wrapKey)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		tb.Fatal(err)
	}
	r := &fastRecipient{share: base64.RawStdEncoding.EncodeToString(share), aead: aead}
	bk, err := archive.ForMaster(inputs.MasterKey())
	if err != nil {
		tb.Fatal(err)
	}
	own, err := bk.Recipient().Wrap(make([]byte, 16))
	if err != nil {
		tb.Fatal(err)
	}
	for _, st := range own {
		if st.Type != "X25519" {
			r.extra = append(r.extra, st)
		}
	}
	fileKey := make([]byte, 16)
	rand.Read(fileKey)
	stanzas, _ := r.Wrap(fileKey)
	if got, err := bk.Identity().Unwrap(stanzas); err != nil || !bytes.Equal(got, fileKey) {
		tb.Fatalf("the target's archive recipient no longer matches the store's backup key (%v); update newFastRecipient after store/backup.go", err)
	}
	return r
}

// Wrap returns the stanzas age's X25519 recipient would with this
// ephemeral key, and the store's extra stanzas.
func (r *fastRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	out := []*age.Stanza{{Type: "X25519", Args: []string{r.share}, Body: r.aead.Seal(nil, make([]byte, r.aead.NonceSize()), fileKey, nil)}}
	for _, st := range r.extra {
		c := *st
		c.Args = slices.Clone(st.Args)
		c.Body = slices.Clone(st.Body)
		out = append(out, &c)
	}
	return out, nil
}

// checkRestoredStore checks a store right after a successful restore.
func checkRestoredStore(t testing.TB, rt *restoreTarget) {
	t.Helper()
	ctx := context.Background()
	if _, err := rt.s.PendingOps(ctx); err != nil {
		t.Fatalf("PendingOps after a successful Restore: %v", err)
	}
	err := rt.s.Close()
	rt.s = nil
	if err != nil {
		t.Fatalf("Close after a successful Restore: %v", err)
	}
	s, err := store.Open(ctx, rt.dir, options(store.Strict))
	if err != nil {
		t.Fatalf("strict reopen after a successful Restore: %v", err)
	}
	if _, err := s.PendingOps(ctx); err != nil {
		t.Errorf("PendingOps after reopening a restored store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// isBackupError reports whether err matches one of the errors Restore
// reports problems with a backup through.
func isBackupError(err error) bool {
	for _, e := range []error{
		store.ErrBackupTruncated, store.ErrBackupTampered, store.ErrBackupWrongKey, store.ErrSchemaMismatch,
		store.ErrBackupCount, store.ErrBackupHash, store.ErrBackupUnsafeEntry, store.ErrBackupFormat,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func opIDs(ops []store.Op) []string {
	ids := make([]string, len(ops))
	for i, op := range ops {
		ids[i] = op.ID
	}
	return ids
}
