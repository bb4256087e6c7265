package store_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

// TestRotateKey_SIGKILLAtEveryStepThenResume kills a child process at each
// step of a key rotation, then checks that every record is readable with
// the key that opens the store, and that calling RotateKey again finishes.
func TestRotateKey_SIGKILLAtEveryStepThenResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	steps := []string{
		"rotate/after-keyring-add",
		"rotate/after-stage",
		"swap/after-journal",
		"swap/between-renames@1",
		"swap/between-renames@4",
		"rotate/before-old-key-delete",
	}
	ctx := context.Background()
	for _, fp := range steps {
		t.Run(strings.ReplaceAll(fp, "/", "_"), func(t *testing.T) {
			dir := t.TempDir()
			s := testutil.MustOpen(t, dir)
			fill(t, s, 15)
			s.Close()

			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "BOXSTORM_STORE_HELPER=rotate", "BOXSTORM_STORE_DIR="+dir, "BOXSTORM_STORE_FAILPOINT="+fp)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed at %s: err %v, output %s", fp, err, out)
			}

			// Whichever key opens the store now must read everything.
			s, err = store.Open(ctx, dir, testutil.Options())
			if errors.Is(err, store.ErrWrongKey) {
				s, err = store.Open(ctx, dir, testutil.Options(func(o *store.Options) { o.Key = store.KeyBytes(testutil.OtherKey) }))
			}
			if err != nil {
				t.Fatalf("no key opens the store after a kill at %s: %v", fp, err)
			}
			// Open removed what the killed rotation staged.
			if left, _ := filepath.Glob(filepath.Join(dir, ".rotate-*")); len(left) > 0 {
				t.Fatalf("after a kill at %s and a reopen, staging is left: %v", fp, left)
			}
			if got := pendingPayloads(t, s); len(got) != 15 {
				t.Fatalf("after a kill at %s: %d ops readable, want 15", fp, len(got))
			}
			if v, err := s.Get(ctx, "notes", "n14"); err != nil || string(v) != "note-14" {
				t.Fatalf("after a kill at %s: notes/n14 = %q, %v", fp, v, err)
			}
			// Resume.
			if _, err := s.RotateKey(ctx, store.KeyBytes(testutil.OtherKey)); err != nil {
				t.Fatalf("resume after a kill at %s: %v", fp, err)
			}
			s.Close()
			s, err = store.Open(ctx, dir, testutil.Options(func(o *store.Options) { o.Key = store.KeyBytes(testutil.OtherKey) }))
			if err != nil {
				t.Fatalf("new key after resume: %v", err)
			}
			defer s.Close()
			if got := pendingPayloads(t, s); len(got) != 15 {
				t.Errorf("after resume: %d ops", len(got))
			}
			if vr, err := s.Verify(ctx); err != nil || !vr.OK() {
				t.Errorf("verify after resume: %v\n%s", err, vr)
			}
		})
	}
}
