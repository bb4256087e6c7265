package fuzz_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"filippo.io/age"

	"github.com/boxstorm/boxstorm/fuzz/internal/inputs"
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
// makes the next input start from a fresh copy of the fixture.
func FuzzBackupArchive(f *testing.F) {
	fx := loadFixture(f)
	f.Add(inputs.ArchiveInput{Mode: inputs.ArchiveStructured}.Encode())
	rt := &restoreTarget{fx: fx, parent: f.TempDir()}
	f.Cleanup(rt.close)
	f.Fuzz(func(t *testing.T, data []byte) { restoreArchive(t, rt, data) })
}

// restoreArchive is one FuzzBackupArchive input.
func restoreArchive(t *testing.T, rt *restoreTarget, data []byte) {
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
	if got := listDir(t, rt.parent); got != "store" {
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
// into, in <parent>/store.
type restoreTarget struct {
	fx        *fixture
	parent    string
	dir       string
	s         *store.Store
	recipient age.Recipient
	schema    int
	baseline  map[string][32]byte // hashTree of dir after Open
	pending   []string            // pending op ids after Open
	dirty     bool                // the next input needs a fresh store
}

// ensure opens a fresh copy of the fixture when there is none or the last
// input left it changed.
func (rt *restoreTarget) ensure(t *testing.T) {
	t.Helper()
	if rt.s != nil && !rt.dirty {
		return
	}
	rt.close()
	rt.dir = filepath.Join(rt.parent, "store")
	if err := os.RemoveAll(rt.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(rt.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeStoreFiles(t, rt.dir, rt.fx.files)
	ctx := context.Background()
	s, err := store.Open(ctx, rt.dir, options(store.Strict))
	if err != nil {
		t.Fatalf("open the fixture store: %v; hint: run go generate ./fuzz/", err)
	}
	rt.s = s
	rt.recipient = s.BackupRecipient()
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

// checkRestoredStore checks a store right after a successful restore.
func checkRestoredStore(t *testing.T, rt *restoreTarget) {
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
