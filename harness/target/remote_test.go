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

// State reads a queue longer than one page (target.StatePage) in pages,
// whole and in FIFO order.
func TestRemote_StateInPages(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cmd, o := self(t, "store")
	rem, err := target.Dial(ctx, target.RemoteConfig{Command: cmd, Dir: filepath.Join(t.TempDir(), "store"), Key: store.NewKey(),
		Settings: &target.Settings{Sync: "never"}, Options: o})
	if err != nil {
		t.Fatal(err)
	}
	defer rem.Close()
	n := target.StatePage + 37
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = []byte{byte(i), byte(i >> 8)}
	}
	ops, err := rem.EnqueueBatch(ctx, payloads)
	if err != nil {
		t.Fatal(err)
	}
	st, err := rem.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Pending) != n || st.More {
		t.Fatalf("state lists %d pending ops (more %t), want %d", len(st.Pending), st.More, n)
	}
	seen := map[string]bool{}
	for i, op := range st.Pending {
		if seen[op.ID] || i > 0 && op.Seq <= st.Pending[i-1].Seq {
			t.Fatalf("pending op %d (%s, seq %d) repeats or is out of FIFO order", i, op.ID, op.Seq)
		}
		seen[op.ID] = true
	}
	for _, op := range ops {
		if !seen[op.ID] {
			t.Fatalf("enqueued op %s is missing from the state", op.ID)
		}
	}
}

// Page cuts each list at the limit from its own position and says when
// more follow.
func TestState_Page(t *testing.T) {
	st := target.State{Pending: []target.Op{{ID: "a"}, {ID: "b"}, {ID: "c"}}, Failed: []target.Op{{ID: "x"}}}
	p := st.Page(target.Request{Limit: 2})
	if len(p.Pending) != 2 || len(p.Failed) != 1 || !p.More {
		t.Errorf("first page %+v, want 2 pending, 1 failed, more", p)
	}
	p = st.Page(target.Request{Limit: 2, PendingFrom: 2, FailedFrom: 1})
	if len(p.Pending) != 1 || p.Pending[0].ID != "c" || len(p.Failed) != 0 || p.More {
		t.Errorf("second page %+v, want [c], no failed, no more", p)
	}
	if p := st.Page(target.Request{}); len(p.Pending) != 3 || p.More {
		t.Errorf("no limit: %+v, want everything", p)
	}
}
