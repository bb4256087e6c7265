package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

// TestCanaries_SwitchTheirProtectionOff proves each known-bad target really
// lacks its protection, where a single process can show it; the chaos suite
// shows the rest (kills between steps) against the same canaries.
func TestCanaries_SwitchTheirProtectionOff(t *testing.T) {
	ctx := context.Background()
	canary := func(name string) func(*store.Options) { return func(o *store.Options) { o.Canary = name } }
	tests := map[string]func(t *testing.T){
		store.CanaryFencing: func(t *testing.T) {
			s := testutil.MustOpen(t, t.TempDir(), canary(store.CanaryFencing))
			s.Enqueue(ctx, []byte("x"), store.EnqueueOptions{})
			old := acquire(t, s, "a", nil)
			if err := s.ForceReleaseLock(ctx, "t"); err != nil {
				t.Fatal(err)
			}
			acquire(t, s, "b", nil)
			if _, err := s.Claim(ctx, old.Token); err != nil {
				t.Errorf("canary refused a stale token: %v", err)
			}
		},
		store.CanaryIdempotency: func(t *testing.T) {
			s := testutil.MustOpen(t, t.TempDir(), canary(store.CanaryIdempotency))
			a, _ := s.Enqueue(ctx, []byte("x"), store.EnqueueOptions{IdempotencyKey: "k"})
			b, _ := s.Enqueue(ctx, []byte("x"), store.EnqueueOptions{IdempotencyKey: "k"})
			if a.ID == b.ID {
				t.Error("canary kept idempotency")
			}
		},
		store.CanaryFIFOOrder: func(t *testing.T) {
			s := testutil.MustOpen(t, t.TempDir(), canary(store.CanaryFIFOOrder))
			s.Enqueue(ctx, []byte("1"), store.EnqueueOptions{})
			s.Enqueue(ctx, []byte("2"), store.EnqueueOptions{})
			l := acquire(t, s, "a", nil)
			if op, _ := s.Claim(ctx, l.Token); string(op.Payload) != "2" {
				t.Errorf("canary claimed %q first, want the newest", op.Payload)
			}
		},
		store.CanaryDirLock: func(t *testing.T) {
			dir := t.TempDir()
			testutil.MustOpen(t, dir, canary(store.CanaryDirLock))
			s2, err := store.Open(ctx, dir, testutil.Options(canary(store.CanaryDirLock)))
			if err != nil {
				t.Fatalf("canary refused a second open: %v", err)
			}
			s2.Close()
		},
		store.CanaryKeyCheck: func(t *testing.T) {
			dir := t.TempDir()
			s := testutil.MustOpen(t, dir)
			fill(t, s, 3)
			s.Close()
			before := testutil.HashDir(t, dir)
			s2, err := store.Open(ctx, dir, testutil.Options(canary(store.CanaryKeyCheck), func(o *store.Options) { o.Key = store.KeyBytes(testutil.OtherKey) }))
			if err == nil {
				s2.Close()
			}
			after := testutil.HashDir(t, dir)
			if after[store.BoxPending+".db"] == before[store.BoxPending+".db"] {
				t.Error("canary left the box files alone under a wrong key")
			}
		},
		store.CanaryFailedOpsAlert: func(t *testing.T) {
			s := testutil.MustOpen(t, t.TempDir(), canary(store.CanaryFailedOpsAlert), func(o *store.Options) { o.FailedOpsAlert = 1 })
			l := acquire(t, s, "a", nil)
			for range 3 {
				s.Enqueue(ctx, []byte("x"), store.EnqueueOptions{})
				op, _ := s.Claim(ctx, l.Token)
				s.Fail(ctx, l.Token, op.ID, "x")
			}
			if st, _ := s.Stats(ctx); len(st.Alerts) != 0 {
				t.Errorf("canary raised %v", st.Alerts)
			}
		},
		store.CanaryErasureLedger: func(t *testing.T) {
			s := testutil.MustOpen(t, t.TempDir(), canary(store.CanaryErasureLedger))
			s.Enqueue(ctx, []byte("secret"), store.EnqueueOptions{Subject: "alice"})
			p, _ := backupTo(t, s)
			if _, err := s.Erase(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			f, _ := os.Open(p)
			defer f.Close()
			if _, err := s.Restore(ctx, f, store.RestoreOptions{}); err != nil {
				t.Fatal(err)
			}
			if exp, _ := s.Export(ctx, "alice"); len(exp.Ops) == 0 {
				t.Error("canary did not resurrect the erased subject")
			}
		},
		store.CanaryBackupVerification: func(t *testing.T) {
			s := testutil.MustOpen(t, t.TempDir(), canary(store.CanaryBackupVerification))
			p, _ := backupTo(t, s)
			f, _ := os.Open(p)
			defer f.Close()
			if _, err := s.Restore(ctx, f, store.RestoreOptions{ExpectedSchema: 9}); err != nil {
				t.Errorf("canary refused a schema mismatch: %v", err)
			}
		},
		store.CanaryDurability: func(t *testing.T) {
			s := testutil.MustOpen(t, t.TempDir(), canary(store.CanaryDurability))
			if _, err := s.Enqueue(ctx, []byte("x"), store.EnqueueOptions{}); err != nil {
				t.Fatal(err)
			}
			if got := pendingPayloads(t, s); len(got) != 0 {
				t.Error("canary wrote the op before acknowledging it")
			}
			time.Sleep(200 * time.Millisecond) // let the late write land before Close
		},
		store.CanaryTornTailRepair: func(t *testing.T) {
			dir, path, ends := buildPending(t, 3)
			if err := os.Truncate(path, ends[1]+(ends[2]-ends[1])/2); err != nil {
				t.Fatal(err)
			}
			s := testutil.MustOpen(t, dir, canary(store.CanaryTornTailRepair))
			if len(s.Repairs()) != 0 {
				t.Error("canary repaired the torn tail")
			}
			if q, _ := filepath.Glob(filepath.Join(dir, "*torntail*")); len(q) != 0 {
				t.Error("canary kept a quarantine copy")
			}
		},
		store.CanaryCorruptionDetection: func(t *testing.T) {
			dir, path, ends := buildPending(t, 5)
			data, _ := os.ReadFile(path)
			data[ends[1]+3] = '9' // a length prefix of transaction 3
			os.WriteFile(path, data, 0o600)
			s, err := store.Open(ctx, dir, testutil.Options(canary(store.CanaryCorruptionDetection)))
			var ce *store.CorruptionError
			if errors.As(err, &ce) {
				t.Fatalf("canary still scanned the file: %v", err)
			}
			if err == nil {
				s.Close()
			}
		},
		store.CanaryIndexRebuild: func(t *testing.T) {
			dir := t.TempDir()
			s := testutil.MustOpen(t, dir)
			for i := range 3 {
				s.Enqueue(ctx, []byte(strconv.Itoa(i)), store.EnqueueOptions{})
			}
			s.Close()
			os.Remove(filepath.Join(dir, store.BoxIndex+".db"))
			s = testutil.MustOpen(t, dir, canary(store.CanaryIndexRebuild))
			l := acquire(t, s, "a", nil)
			if _, err := s.Claim(ctx, l.Token); !errors.Is(err, store.ErrEmpty) {
				t.Errorf("canary claimed from a wiped index: %v", err)
			}
		},
		store.CanaryRotationResume: func(t *testing.T) {
			dir := t.TempDir()
			s := testutil.MustOpen(t, dir, canary(store.CanaryRotationResume))
			fill(t, s, 3)
			_, err := s.RotateKey(ctx, store.KeyBytes(testutil.OtherKey))
			s.Close()
			if err == nil {
				t.Skip("rotation finished in one go; the chaos suite kills it midway")
			}
			if _, err := store.Open(ctx, dir, testutil.Options()); err == nil {
				t.Error("canary rotation left a store the old key still opens whole")
			}
		},
	}
	for _, name := range store.Canaries() {
		test, ok := tests[name]
		if !ok {
			continue // atomic-restore, disk-full-safety, migration-atomicity: shown by the chaos suite
		}
		t.Run(name, test)
	}
	if _, err := store.Open(ctx, t.TempDir(), testutil.Options(canary("no-such-protection"))); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("unknown canary: %v", err)
	}
}
