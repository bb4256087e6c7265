package target_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/target"
)

// testCtx bounds a test, so a hang fails it instead of stalling the run.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func start(t *testing.T, mode string, timeout time.Duration) *target.Client {
	t.Helper()
	cmd, o := self(t, mode)
	o.Timeout = timeout
	c, err := target.Start(testCtx(t), cmd, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClient_BadTargets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, mode string
		calls      int
		want       error
		msg        string
	}{
		{"garbage", "garbage", 1, target.ErrProtocol, "not a JSON reply"},
		{"exits mid-run", "exit", 2, target.ErrExited, "fake: giving up"},
		{"never answers", "silent", 1, target.ErrTimeout, "no reply within"},
		{"unknown id", "unknownid", 1, target.ErrProtocol, "never sent"},
		{"duplicate reply", "duplicate", 2, target.ErrProtocol, "second reply to request 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := start(t, tc.mode, 2*time.Second)
			ctx := testCtx(t)
			var err error
			for i := 0; i < tc.calls && err == nil; i++ {
				_, err = c.Call(ctx, target.Request{Type: target.TypeGet})
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			if !strings.Contains(err.Error(), c.Name()) {
				t.Errorf("error %q does not name the target %s", err, c.Name())
			}
		})
	}
}

// A target that exits before it reads a request is an error that says how
// it exited and what its stderr said, however the first write races its
// exit (the write may find the pipe broken before stdout is seen to end).
func TestClient_ExitsBeforeFirstRequest(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	for i := range 10 {
		c, err := target.Start(ctx, `sh -c "echo dying >&2; exit 3"`, target.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Call(ctx, target.Request{Type: target.TypeOpen})
		c.Close()
		if !errors.Is(err, target.ErrExited) || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "its stderr ends: dying") {
			t.Fatalf("start %d: error %v, want ErrExited with its exit status and stderr", i, err)
		}
	}
}

// A target that writes to stdout before it is asked (a banner, a debug
// print) breaks the protocol; the next call says so and names it.
func TestClient_UnpromptedOutput(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	cmd := "'" + sh + "' -c 'echo starting up; exec cat >/dev/null'"
	c, err := target.Start(testCtx(t), cmd, target.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_, err = c.Call(testCtx(t), target.Request{Type: target.TypeGet})
	if !errors.Is(err, target.ErrProtocol) {
		t.Fatalf("error %v, want ErrProtocol", err)
	}
	for _, want := range []string{"not a JSON reply", `"starting up"`, cmd} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestClient_BrokenStaysBroken(t *testing.T) {
	t.Parallel()
	c := start(t, "garbage", 2*time.Second)
	ctx := testCtx(t)
	if _, err := c.Call(ctx, target.Request{Type: target.TypeGet}); !errors.Is(err, target.ErrProtocol) {
		t.Fatalf("first call: %v", err)
	}
	if _, err := c.Call(ctx, target.Request{Type: target.TypeGet}); !errors.Is(err, target.ErrProtocol) {
		t.Fatalf("second call: %v, want the first error again", err)
	}
}

func TestClient_OutOfOrderMatchedByID(t *testing.T) {
	t.Parallel()
	c := start(t, "outoforder", 5*time.Second)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			rep, err := c.Call(ctx, target.Request{Type: target.TypeGet})
			if err == nil && rep.Token != rep.ID {
				err = errors.New("reply matched to the wrong request")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestClient_KillFailsCallsInFlight(t *testing.T) {
	t.Parallel()
	c := start(t, "silent", 30*time.Second)
	ctx := testCtx(t)
	done := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, target.Request{Type: target.TypeGet})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the call be sent; the result does not depend on it
	c.Kill()
	if err := <-done; !errors.Is(err, target.ErrExited) {
		t.Fatalf("call in flight: %v, want ErrExited", err)
	}
}

func TestStart_MissingBinary(t *testing.T) {
	t.Parallel()
	_, err := target.Start(testCtx(t), "/nonexistent/target --x", target.Options{})
	if err == nil || !strings.Contains(err.Error(), "cannot start") {
		t.Fatalf("error %v, want cannot start", err)
	}
}

func TestSplitCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a b  c", []string{"a", "b", "c"}},
		{`python3 'my dir/t.py' --x "a \"b\""`, []string{"python3", "my dir/t.py", "--x", `a "b"`}},
		{`a\ b`, []string{"a b"}},
	} {
		got, err := target.SplitCommand(tc.in)
		if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "   ", "a 'b", `a "b`} {
		if _, err := target.SplitCommand(bad); err == nil {
			t.Errorf("SplitCommand(%q): no error", bad)
		}
	}
}
