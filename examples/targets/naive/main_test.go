package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/internal/testutil"
)

// childEnv makes the test binary run the target itself, so every test
// drives a real child process over real pipes.
const childEnv = "BOXSTORM_NAIVE_CHILD"

func TestMain(m *testing.M) {
	testutil.QuietRaceExit()
	if os.Getenv(childEnv) != "" {
		if err := run(context.Background(), os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintf(os.Stderr, "naive: error: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// command is the command line and options that start the target.
func command(t *testing.T) (string, target.Options) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return "'" + exe + "'", target.Options{Env: []string{childEnv + "=1"}, Timeout: 10 * time.Second}
}

func start(t *testing.T) *target.Client {
	t.Helper()
	cmd, o := command(t)
	c, err := target.Start(testCtx(t), cmd, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// call sends req and fails the test on a transport error or an error reply.
func call(t *testing.T, c *target.Client, req target.Request) target.Reply {
	t.Helper()
	rep, err := c.Call(testCtx(t), req)
	if err != nil {
		t.Fatalf("%s: %v", req.Type, err)
	}
	if rep.Error != nil {
		t.Fatalf("%s: error %v", req.Type, rep.Error)
	}
	return rep
}

func open(t *testing.T, c *target.Client, dir string) target.Reply {
	t.Helper()
	return call(t, c, target.Request{Type: target.TypeOpen, Version: target.ProtocolVersion, Dir: dir})
}

// Conform must pass every core request type and the optional types the
// target claims, and fail exactly the checks its flaws fail: stale-token
// (no fencing) and wrong-key (the master key is ignored).
func TestConform(t *testing.T) {
	cmd, o := command(t)
	rep, err := target.Conform(testCtx(t), target.ConformConfig{Command: cmd, WorkDir: t.TempDir(), Options: o})
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	passed := map[string]bool{}
	for _, c := range rep.Checks {
		switch c.Result {
		case target.ResultFail:
			if !slices.Contains(failed, c.Name) {
				failed = append(failed, c.Name)
			}
			t.Logf("FAIL %s: sent %s, got %s", c.Name, c.Sent, c.Got)
		case target.ResultPass:
			passed[c.Name] = true
		}
	}
	slices.Sort(failed)
	if got, want := fmt.Sprint(failed), fmt.Sprint([]string{"error " + target.ClassStaleToken, "error " + target.ClassWrongKey}); got != want {
		t.Errorf("failed checks %s, want %s", got, want)
	}
	for _, typ := range append(target.CoreTypes(), target.TypeState, target.TypeExport, target.TypeAudit,
		"error "+target.ClassLocked, "error "+target.ClassUnsupported) {
		if !passed[typ] || slices.Contains(failed, typ) {
			t.Errorf("%s does not pass", typ)
		}
	}
}

// A SIGKILL leaves the page cache to reach the disk, so it must lose
// nothing that was acknowledged, unsynced as it is: the target is broken
// under power loss only, not under a kill.
func TestSIGKILLKeepsAcknowledgedWrites(t *testing.T) {
	dir := t.TempDir()
	c := start(t)
	open(t, c, dir)
	var ids []string
	for i := range 3 {
		rep := call(t, c, target.Request{Type: target.TypeEnqueue, Payload: fmt.Appendf(nil, "p%d", i), IdempotencyKey: fmt.Sprint("k", i)})
		ids = append(ids, rep.Op.ID)
	}
	call(t, c, target.Request{Type: target.TypePut, Box: "b", Key: "k", Payload: []byte("v")})
	c.Kill()
	c.Close() // waits for the killed process

	c = start(t)
	open(t, c, dir)
	st := call(t, c, target.Request{Type: target.TypeState}).State
	var got []string
	for _, op := range st.Pending {
		got = append(got, op.ID+"="+string(op.Payload))
	}
	if got, want := fmt.Sprint(got), fmt.Sprintf("[%s=p0 %s=p1 %s=p2]", ids[0], ids[1], ids[2]); got != want {
		t.Errorf("pending after SIGKILL %s, want %s", got, want)
	}
	if v := call(t, c, target.Request{Type: target.TypeGet, Box: "b", Key: "k"}).Value; string(v) != "v" {
		t.Errorf("get after SIGKILL %q, want v", v)
	}
	dup := call(t, c, target.Request{Type: target.TypeEnqueue, Payload: []byte("again"), IdempotencyKey: "k1"}).Op
	if dup.ID != ids[1] || !dup.Duplicate {
		t.Errorf("repeated idempotency key after SIGKILL gave %+v, want op %s as a duplicate", dup, ids[1])
	}
}

// Another process's open of the same directory is refused while the
// first holds it.
func TestLockedAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	open(t, start(t), dir)
	rep, err := start(t).Call(testCtx(t), target.Request{Type: target.TypeOpen, Version: target.ProtocolVersion, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Error == nil || rep.Error.Class != target.ClassLocked {
		t.Errorf("second process's open: %+v, want error class locked", rep)
	}
}

// The flaws themselves, as the README lists them: each must still be
// there, or the example stops showing what chaos catches.
func TestFlaws(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	t.Run("garbage-line-skipped-silently", func(t *testing.T) {
		dir := t.TempDir()
		c := start(t)
		open(t, c, dir)
		for _, p := range []string{"a", "b"} {
			call(t, c, target.Request{Type: target.TypeEnqueue, Payload: []byte(p)})
		}
		call(t, c, target.Request{Type: target.TypeClose})
		q := filepath.Join(dir, queueFile)
		b, err := os.ReadFile(q)
		if err != nil {
			t.Fatal(err)
		}
		b[5] ^= 0x40 // damage the first line so it no longer parses
		if err := os.WriteFile(q, b, 0o600); err != nil {
			t.Fatal(err)
		}
		rep := open(t, c, dir)
		if len(rep.Repairs) != 0 {
			t.Errorf("open reported repairs %+v; the naive target reports none", rep.Repairs)
		}
		st := call(t, c, target.Request{Type: target.TypeState}).State
		if len(st.Pending) != 1 || string(st.Pending[0].Payload) != "b" {
			t.Errorf("pending %+v, want only b (a skipped, no error)", st.Pending)
		}
	})

	t.Run("stale-token-accepted", func(t *testing.T) {
		c := start(t)
		open(t, c, t.TempDir())
		id := call(t, c, target.Request{Type: target.TypeEnqueue, Payload: []byte("x")}).Op.ID
		old := call(t, c, target.Request{Type: target.TypeAcquire, Owner: "a", Now: t0}).Token
		call(t, c, target.Request{Type: target.TypeClaim, Token: old})
		// a's lease goes stale; b takes the lock and the op again
		cur := call(t, c, target.Request{Type: target.TypeAcquire, Owner: "b", Now: t0.Add(3 * time.Minute)}).Token
		if cur <= old {
			t.Fatalf("token %d after %d", cur, old)
		}
		if op := call(t, c, target.Request{Type: target.TypeClaim, Token: cur}).Op; op == nil || op.ID != id {
			t.Fatalf("b's claim %+v, want op %s again (a's lease went stale)", op, id)
		}
		if rep := call(t, c, target.Request{Type: target.TypeAck, Token: old, OpID: id}); rep.Outcome != target.OutcomeOK {
			t.Errorf("ack with a's stale token: %+v, want it accepted (no fencing)", rep)
		}
	})

	t.Run("wrong-key-accepted", func(t *testing.T) {
		dir := t.TempDir()
		c := start(t)
		open(t, c, dir)
		call(t, c, target.Request{Type: target.TypePut, Box: "b", Key: "k", Payload: []byte("v")})
		call(t, c, target.Request{Type: target.TypeClose})
		call(t, c, target.Request{Type: target.TypeOpen, Version: target.ProtocolVersion, Dir: dir, MasterKey: fmt.Sprintf("%064x", 7)})
		if v := call(t, c, target.Request{Type: target.TypeGet, Box: "b", Key: "k"}).Value; string(v) != "v" {
			t.Errorf("get under another key %q, want v: the key is ignored", v)
		}
	})

	t.Run("tokens-restart-per-process", func(t *testing.T) {
		dir := t.TempDir()
		for range 2 {
			c := start(t)
			open(t, c, dir)
			if tok := call(t, c, target.Request{Type: target.TypeAcquire, Owner: "a", Now: t0}).Token; tok != 1 {
				t.Errorf("first token of a process %d, want 1", tok)
			}
			c.Close()
		}
	})
}

// Claims are per lease holder: the holder is not handed its own claim
// twice, and heartbeat and release check their token.
func TestClaimsAndLease(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := start(t)
	open(t, c, t.TempDir())
	for _, p := range []string{"a", "b"} {
		call(t, c, target.Request{Type: target.TypeEnqueue, Payload: []byte(p)})
	}
	tok := call(t, c, target.Request{Type: target.TypeAcquire, Owner: "p1", Now: t0}).Token
	var got []string
	for range 3 {
		rep := call(t, c, target.Request{Type: target.TypeClaim, Token: tok})
		if rep.Op == nil {
			got = append(got, rep.Outcome)
			continue
		}
		got = append(got, string(rep.Op.Payload))
	}
	if got, want := fmt.Sprint(got), "[a b empty]"; got != want {
		t.Errorf("claims by one holder %s, want %s", got, want)
	}
	rep, err := c.Call(testCtx(t), target.Request{Type: target.TypeHeartbeat, Token: tok + 1, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Error == nil || rep.Error.Class != target.ClassStaleToken {
		t.Errorf("heartbeat with a token never granted: %+v, want stale-token", rep)
	}
	call(t, c, target.Request{Type: target.TypeRelease, Token: tok, Now: t0})
	if op := call(t, c, target.Request{Type: target.TypeClaim, Token: tok}).Op; op == nil || string(op.Payload) != "a" {
		t.Errorf("claim after the holder changed %+v, want a again", op)
	}
}
