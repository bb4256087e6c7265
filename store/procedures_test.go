package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

// fill enqueues n ops (every third with a subject) and puts n records in a data box.
func fill(t *testing.T, s *store.Store, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		o := store.EnqueueOptions{IdempotencyKey: "idem-" + strconv.Itoa(i)}
		if i%3 == 0 {
			o.Subject = "subject-" + strconv.Itoa(i%2)
		}
		if _, err := s.Enqueue(ctx, []byte("payload-"+strconv.Itoa(i)), o); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "notes", "n"+strconv.Itoa(i), []byte("note-"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
}

func backupTo(t *testing.T, s *store.Store) (string, store.BackupInfo) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "store.tar.age")
	info, err := s.BackupFile(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return p, info
}

func TestBackupRestore_RoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	fill(t, s, 30)
	path, info := backupTo(t, s)
	if info.SchemaVersion != store.InitialSchemaVersion || len(info.Boxes) == 0 {
		t.Fatalf("backup info %+v", info)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("payload-")) || bytes.Contains(raw, []byte("note-")) {
		t.Fatal("backup file holds plaintext")
	}
	// Change things after the backup, then restore.
	lease := acquire(t, s, "p", nil)
	for range 10 {
		op, err := s.Claim(ctx, lease.Token)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ack(ctx, lease.Token, op.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, "later", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	rinfo, err := s.Restore(ctx, f, store.RestoreOptions{ExpectedSchema: store.InitialSchemaVersion})
	if err != nil {
		t.Fatal(err)
	}
	if rinfo.Records[store.BoxPending] == 0 {
		t.Errorf("restore info %+v", rinfo)
	}
	if got := pendingPayloads(t, s); len(got) != 30 {
		t.Errorf("after restore %d pending ops, want 30", len(got))
	}
	if v, err := s.Get(ctx, "notes", "n7"); err != nil || string(v) != "note-7" {
		t.Errorf("notes/n7 = %q, %v", v, err)
	}
	if _, err := s.Get(ctx, "later", "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a box created after the backup survived the restore: %v", err)
	}
	// The fencing token did not go back with the lock record.
	l2 := acquire(t, s, "q", nil)
	if l2.Token <= lease.Token {
		t.Errorf("token after restore %d, want > %d", l2.Token, lease.Token)
	}
	// Sequence numbers did not go back either.
	op, _ := s.Enqueue(ctx, []byte("new"), store.EnqueueOptions{})
	if op.Seq <= 30 {
		t.Errorf("new op seq %d after restore, want above every seq issued before (30)", op.Seq)
	}
	// Survives a reopen.
	dir2 := s.Dir()
	s.Close()
	s = testutil.MustOpen(t, dir2)
	if got := pendingPayloads(t, s); len(got) != 31 {
		t.Errorf("after reopen %d pending ops, want 31", len(got))
	}
}

func TestRestore_FailuresChangeNothing(t *testing.T) {
	ctx := context.Background()
	src := testutil.MustOpen(t, t.TempDir())
	fill(t, src, 20)
	good, _ := backupTo(t, src)
	goodBytes, _ := os.ReadFile(good)

	other := testutil.MustOpen(t, t.TempDir(), func(o *store.Options) { o.Key = store.KeyBytes(testutil.OtherKey) })
	fill(t, other, 3)
	otherPath, _ := backupTo(t, other)
	otherBytes, _ := os.ReadFile(otherPath)

	flipped := bytes.Clone(goodBytes)
	flipped[len(flipped)/2] ^= 0x40

	// A backup with a box the live store lacks, larger than one 64 KiB age
	// chunk and cut at its very end: that box is staged before the cut is
	// found, and its new data key must not reach the live keyring.
	wider := testutil.MustOpen(t, t.TempDir())
	if err := wider.Put(ctx, "aaa_new_box", "k", bytes.Repeat([]byte("v"), 100_000)); err != nil {
		t.Fatal(err)
	}
	widerPath, _ := backupTo(t, wider)
	widerBytes, _ := os.ReadFile(widerPath)
	cases := []struct {
		name   string
		data   []byte
		expect int
		want   error
	}{
		{"truncated", goodBytes[:len(goodBytes)*2/3], 0, store.ErrBackupTruncated},
		{"tampered", flipped, 0, store.ErrBackupTampered},
		{"wrong backup key", otherBytes, 0, store.ErrBackupWrongKey},
		{"schema mismatch", goodBytes, 7, store.ErrSchemaMismatch},
		{"empty file", nil, 0, store.ErrBackupTruncated},
		{"new box, cut at the end", widerBytes[:len(widerBytes)-1], 0, store.ErrBackupTruncated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := testutil.MustOpen(t, dir)
			fill(t, s, 5)
			s.Close()
			before := testutil.HashDir(t, dir)
			s = testutil.MustOpen(t, dir)
			_, err := s.Restore(ctx, bytes.NewReader(c.data), store.RestoreOptions{ExpectedSchema: c.expect})
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if got := pendingPayloads(t, s); len(got) != 5 {
				t.Errorf("live store changed: %d pending ops", len(got))
			}
			s.Close()
			after := testutil.HashDir(t, dir)
			for name, h := range before {
				if name == "LOCK" {
					continue
				}
				if after[name] != h {
					t.Errorf("%s changed after a failed restore", name)
				}
			}
			for name := range after {
				if _, ok := before[name]; !ok && name != "LOCK" {
					t.Errorf("failed restore left %s behind", name)
				}
			}
		})
	}
}

func TestErase_CryptoShredsAndRestoreDoesNotResurrect(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	if _, err := s.Enqueue(ctx, []byte("ALICE-SECRET-PAYLOAD"), store.EnqueueOptions{Subject: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, []byte("bob payload"), store.EnqueueOptions{Subject: "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	path, _ := backupTo(t, s)
	exp, err := s.Export(ctx, "alice@example.com")
	if err != nil || len(exp.Ops) != 1 || string(exp.Ops[0].Payload) != "ALICE-SECRET-PAYLOAD" {
		t.Fatalf("export = %+v, %v", exp, err)
	}
	rep, err := s.Erase(ctx, "alice@example.com")
	if err != nil || rep.OpsRemoved != 1 {
		t.Fatalf("erase = %+v, %v", rep, err)
	}
	if exp, _ := s.Export(ctx, "alice@example.com"); len(exp.Ops) != 0 || len(exp.Audit) != 1 || exp.Audit[0].Details["redacted"] != true {
		t.Errorf("export after erase = %+v", exp)
	}
	if got := pendingPayloads(t, s); len(got) != 1 || got[0] != "bob payload" {
		t.Errorf("pending after erase = %v", got)
	}
	// Restore the backup made before the erasure: alice stays erased.
	f, _ := os.Open(path)
	info, err := s.Restore(ctx, f, store.RestoreOptions{})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if info.Erased == 0 {
		t.Errorf("restore dropped nothing: %+v", info)
	}
	if exp, _ := s.Export(ctx, "alice@example.com"); len(exp.Ops) != 0 {
		t.Errorf("restore resurrected alice: %+v", exp.Ops)
	}
	if got := pendingPayloads(t, s); len(got) != 1 || got[0] != "bob payload" {
		t.Errorf("pending after restore = %v", got)
	}
	s.Close()
	err = filepathWalkFiles(dir, func(p string, data []byte) {
		if bytes.Contains(data, []byte("alice@example.com")) || bytes.Contains(data, []byte("ALICE-SECRET")) {
			t.Errorf("%s still holds alice's data", p)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrate_AppliesInOrderWithBackupAndAudit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	fill(t, s, 10)
	rep, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.From != 1 || rep.To != store.LatestSchemaVersion() || len(rep.Applied) == 0 || rep.Backup == "" {
		t.Fatalf("report %+v", rep)
	}
	if _, err := os.Stat(rep.Backup); err != nil {
		t.Errorf("no backup before migrating: %v", err)
	}
	if v, _ := s.SchemaVersion(); v != store.LatestSchemaVersion() {
		t.Errorf("schema version %d", v)
	}
	log, _ := s.AuditLog(ctx)
	if countEvents(log, "migration_applied") != len(rep.Applied) {
		t.Errorf("audit log: %+v", log)
	}
	st, _ := s.Stats(ctx)
	if st.LastMigration == "" || st.SchemaVersion != store.LatestSchemaVersion() {
		t.Errorf("stats %+v", st)
	}
	if got := pendingPayloads(t, s); len(got) != 10 {
		t.Errorf("%d ops after migration", len(got))
	}
	// Running again is a no-op.
	if rep, err := s.Migrate(ctx); err != nil || len(rep.Applied) != 0 {
		t.Errorf("second run: %+v, %v", rep, err)
	}
}

func TestPurgeFailed_ArchivesThenDeletes(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := testutil.MustOpen(t, t.TempDir(), func(o *store.Options) { o.Clock = clock })
	lease := acquire(t, s, "p", nil)
	for i := range 3 {
		if _, err := s.Enqueue(ctx, []byte("x"+strconv.Itoa(i)), store.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
		op, _ := s.Claim(ctx, lease.Token)
		if _, err := s.Fail(ctx, lease.Token, op.ID, "boom"); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			clock.Add(40 * 24 * time.Hour)
		}
	}
	archive := filepath.Join(t.TempDir(), "purged.tar.age")
	rep, err := s.PurgeFailed(ctx, store.PurgeOptions{OlderThan: 30 * 24 * time.Hour, ArchivePath: archive})
	if err != nil || rep.Purged != 1 {
		t.Fatalf("purge = %+v, %v", rep, err)
	}
	if b, err := os.ReadFile(archive); err != nil || len(b) == 0 || bytes.Contains(b, []byte("boom")) {
		t.Errorf("archive missing or in plaintext: %v", err)
	}
	if ops, _ := s.FailedOps(ctx); len(ops) != 2 {
		t.Errorf("%d failed ops left, want 2", len(ops))
	}
	if st, _ := s.Stats(ctx); st.FailedOps != 2 {
		t.Errorf("stats failed ops %d", st.FailedOps)
	}
}

func TestRotateKey_ReencryptsAndRetiresOldKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	fill(t, s, 20)
	if _, err := s.Enqueue(ctx, []byte("x"), store.EnqueueOptions{IdempotencyKey: "after"}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.RotateKey(ctx, store.KeyBytes(testutil.OtherKey))
	if err != nil || !rep.OldKeysGone || rep.Boxes[store.BoxPending] == 0 {
		t.Fatalf("rotate = %+v, %v", rep, err)
	}
	// Idempotency survives the rotation.
	if op, _ := s.Enqueue(ctx, []byte("y"), store.EnqueueOptions{IdempotencyKey: "after"}); !op.Duplicate {
		t.Errorf("idempotency key forgotten after rotation: %+v", op)
	}
	s.Close()
	if _, err := store.Open(ctx, dir, testutil.Options()); !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("old key still opens the store: %v", err)
	}
	s = testutil.MustOpen(t, dir, func(o *store.Options) { o.Key = store.KeyBytes(testutil.OtherKey) })
	if got := pendingPayloads(t, s); len(got) != 21 {
		t.Errorf("%d ops after rotation", len(got))
	}
	if v, err := s.Get(ctx, "notes", "n3"); err != nil || string(v) != "note-3" {
		t.Errorf("notes/n3 = %q, %v", v, err)
	}
	vr, err := s.Verify(ctx)
	if err != nil || !vr.OK() {
		t.Errorf("verify after rotation: %v\n%s", err, vr)
	}
	kr, _ := os.ReadFile(filepath.Join(dir, "keyring.json"))
	if strings.Count(string(kr), `"1":`) > 0 {
		t.Errorf("old key id 1 still in the keyring:\n%s", kr)
	}
	log, _ := s.AuditLog(ctx)
	if countEvents(log, "key_rotated") != 1 {
		t.Errorf("no key_rotated entry")
	}
}

func TestRecoverCorrupted_RunbookProcedure(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	fill(t, s, 12)
	backup, _ := backupTo(t, s)
	s.Close()
	path := filepath.Join(dir, store.BoxFailed+".db")
	// Damage failed_ops: a flipped byte in its first transaction.
	s = testutil.MustOpen(t, dir)
	lease := acquire(t, s, "p", nil)
	op, _ := s.Claim(ctx, lease.Token)
	if _, err := s.Fail(ctx, lease.Token, op.ID, "x"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 0x10
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(ctx, dir, testutil.Options()); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("open of the damaged store: %v", err)
	}
	s, rep, err := store.RecoverCorrupted(ctx, dir, backup, testutil.Options())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(rep.Damaged) != 1 || rep.Damaged[0] != store.BoxFailed || !rep.Restored || rep.Schema != store.LatestSchemaVersion() {
		t.Errorf("report %+v", rep)
	}
	if !strings.HasPrefix(filepath.Base(rep.Quarantined[0]), "failed_ops_corrupted_") {
		t.Errorf("quarantine name %s", rep.Quarantined[0])
	}
	if q, _ := os.ReadFile(rep.Quarantined[0]); !bytes.Equal(q, data) {
		t.Errorf("quarantined file does not hold the damaged bytes")
	}
	log, _ := s.AuditLog(ctx)
	if countEvents(log, "corruption_recovery") != 1 {
		t.Errorf("no corruption_recovery entry")
	}
	if got := pendingPayloads(t, s); len(got) != 12 {
		t.Errorf("%d ops after recovery, want the backup's 12", len(got))
	}
}

func TestRebuildIndex_ReportsAndRepairs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	fill(t, s, 10)
	s.Close()
	// Wipe pending_index, as the runbook's last resort does.
	if err := os.Remove(filepath.Join(dir, store.BoxIndex+".db")); err != nil {
		t.Fatal(err)
	}
	s = testutil.MustOpen(t, dir)
	rep, err := s.CheckIndex(ctx)
	if err != nil || !rep.Clean() {
		t.Fatalf("Open should have reconciled the index: %+v, %v", rep, err)
	}
	rep, err = s.RebuildIndex(ctx)
	if err != nil || rep.Ops != 10 {
		t.Fatalf("rebuild = %+v, %v", rep, err)
	}
}

func TestRecoverCorrupted_BadBackupMovesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	fill(t, s, 5)
	s.Close()
	path := filepath.Join(dir, store.BoxPending+".db")
	data, _ := os.ReadFile(path)
	data[len(data)/3] ^= 0x20
	os.WriteFile(path, data, 0o600)
	before := testutil.HashDir(t, dir)
	bad := filepath.Join(t.TempDir(), "bad.tar.age")
	os.WriteFile(bad, []byte("not a backup"), 0o600)
	for _, backup := range []string{"", bad, filepath.Join(t.TempDir(), "missing")} {
		if _, _, err := store.RecoverCorrupted(ctx, dir, backup, testutil.Options()); err == nil {
			t.Fatalf("recover with backup %q succeeded", backup)
		}
	}
	after := testutil.HashDir(t, dir)
	for name, h := range before {
		if name != "LOCK" && after[name] != h {
			t.Errorf("%s changed although the backup was unusable", name)
		}
	}
}
