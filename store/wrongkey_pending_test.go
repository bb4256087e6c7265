package store_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

// pendingSwapStore makes a store with one op and leaves it as a restore
// killed between its renames would: a staging directory with a staged box
// file and the swap journal naming it (docs/store-format.md).
func pendingSwapStore(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	s, err := store.Open(ctx, dir, testutil.Options())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, []byte("payload"), store.EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(dir, ".restore-1")
	if err := os.Mkdir(staging, 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, store.BoxPending+".db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(staging, store.BoxPending+".db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	journal := `{"version":1,"boxes":[{"name":"pending_ops","staged":".restore-1/pending_ops.db"}]}`
	if err := os.WriteFile(filepath.Join(dir, "swap-journal.json"), []byte(journal), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A wrong key is refused before a pending swap is finished or staging is
// cleared: the open changes no byte of the directory. Issue 13 planted the
// opposite order and no test noticed; the known-bad target shows this one
// does.
func TestOpen_WrongKeyLeavesPendingSwap(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		canary  string
		changed bool
	}{
		{"store", "", false},
		{"known-bad", store.CanaryKeyCheckFirst, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := pendingSwapStore(t)
			before := testutil.HashDir(t, dir)
			_, err := store.Open(ctx, dir, testutil.Options(func(o *store.Options) {
				o.Key = store.KeyBytes(testutil.OtherKey)
				o.Canary = tt.canary
			}))
			if !errors.Is(err, store.ErrWrongKey) {
				t.Fatalf("open with the wrong key: %v, want ErrWrongKey", err)
			}
			after := testutil.HashDir(t, dir)
			delete(before, "LOCK")
			delete(after, "LOCK")
			if changed := !maps.Equal(before, after); changed != tt.changed {
				t.Errorf("files changed: %t, want %t\nbefore %v\nafter  %v", changed, tt.changed, before, after)
			}
			// The right key then finishes the swap.
			s, err := store.Open(ctx, dir, testutil.Options())
			if err != nil {
				t.Fatalf("open with the right key: %v", err)
			}
			defer s.Close()
			if _, err := os.Stat(filepath.Join(dir, "swap-journal.json")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("swap journal still there after a good open: %v", err)
			}
		})
	}
}
