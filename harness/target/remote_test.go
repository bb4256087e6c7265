package target_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/store"
)

func dial(t *testing.T, mode string, timeout time.Duration) (*target.Remote, string, error) {
	t.Helper()
	cmd, o := self(t, mode)
	o.Timeout = timeout
	dir := filepath.Join(t.TempDir(), "store")
	rem, err := target.Dial(testCtx(t), target.RemoteConfig{Command: cmd, Dir: dir, Key: store.NewKey(), Options: o})
	if err == nil {
		t.Cleanup(func() { rem.Close() })
	}
	return rem, dir, err
}

// Remote answers with the store's own errors, so the harness classes a
// target's refusals as it does the store's.
func TestRemote_RefusalsAreTheStoresErrors(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	rem, dir, err := dial(t, "store", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rem.Claim(ctx, 0); !errors.Is(err, store.ErrEmpty) && !errors.Is(err, store.ErrStaleToken) {
		t.Errorf("claim with no lease: %v, want empty or stale-token", err)
	}
	l1, err := rem.AcquireLock(ctx, store.LockRequest{Owner: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rem.AcquireLock(ctx, store.LockRequest{Owner: "b"}); !errors.Is(err, store.ErrLockHeld) {
		t.Errorf("acquire of a held lock: %v, want store.ErrLockHeld", err)
	}
	if err := rem.ReleaseLock(ctx, l1.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := rem.AcquireLock(ctx, store.LockRequest{Owner: "b"}); err != nil {
		t.Fatal(err)
	}
	_, err = rem.Claim(ctx, l1.Token)
	if !errors.Is(err, store.ErrStaleToken) || target.ErrorClass(err) != target.ClassStaleToken {
		t.Errorf("claim with the released token: %v (class %q), want store.ErrStaleToken", err, target.ErrorClass(err))
	}
	if _, err := rem.Get(ctx, "conform", "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get of a missing key: %v, want store.ErrNotFound", err)
	}
	// A second open of the same directory, by another process: locked.
	cmd, o := self(t, "store")
	_, err = target.Dial(ctx, target.RemoteConfig{Command: cmd, Dir: dir, Key: store.NewKey(), Options: o})
	if !errors.Is(err, store.ErrLocked) {
		t.Errorf("second open from another process: %v, want store.ErrLocked", err)
	}
	if err := rem.OpenAgain(ctx); !errors.Is(err, store.ErrLocked) {
		t.Errorf("second open in the same target: %v, want store.ErrLocked", err)
	}
}

// A wrong key is wrong-key, and a damaged box is a *store.CorruptionError
// naming the box and the offset.
func TestRemote_WrongKeyAndCorruption(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cmd, o := self(t, "store")
	dir, key := filepath.Join(t.TempDir(), "store"), store.NewKey()
	rem, err := target.Dial(ctx, target.RemoteConfig{Command: cmd, Dir: dir, Key: key, Options: o})
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if _, err := rem.Enqueue(ctx, bytes.Repeat([]byte("p"), 200), store.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rem.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = target.Dial(ctx, target.RemoteConfig{Command: cmd, Dir: dir, Key: store.NewKey(), Options: o})
	if !errors.Is(err, store.ErrWrongKey) {
		t.Errorf("open under another key: %v, want store.ErrWrongKey", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, store.BoxPending+".db"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xff}, 64), fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = target.Dial(ctx, target.RemoteConfig{Command: cmd, Dir: dir, Key: key, Options: o})
	var ce *store.CorruptionError
	if !errors.As(err, &ce) || ce.Box != store.BoxPending || ce.Offset < 0 {
		t.Errorf("open of a damaged box: %v (%+v), want a CorruptionError naming %s and an offset", err, ce, store.BoxPending)
	}
}

// A target that stops answering is stopped: the first call waits out the
// timeout, the next fails at once.
func TestRemote_SilentTargetIsStopped(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	rem, _, err := dial(t, "mute", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rem.Enqueue(ctx, []byte("p"), store.EnqueueOptions{}); !errors.Is(err, target.ErrTimeout) || !target.IsTransport(err) {
		t.Fatalf("enqueue to a mute target: %v, want ErrTimeout", err)
	}
	if _, err := rem.Enqueue(ctx, []byte("p"), store.EnqueueOptions{}); !errors.Is(err, target.ErrExited) {
		t.Errorf("the next enqueue: %v, want ErrExited (the target was stopped, not waited for again)", err)
	}
	// An optional request the target does not claim is not sent.
	if _, err := rem.State(ctx); !errors.Is(err, target.ErrUnsupported) {
		t.Errorf("state from a target that does not claim it: %v, want ErrUnsupported", err)
	}
}
