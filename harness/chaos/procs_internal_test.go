package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/chaos/proc"
	"github.com/boxstorm/boxstorm/store"
)

// Store errors keep their identity across the socket, so the processor
// loop and the history classify a child's calls as the harness's.
func TestProcResponse_ErrorRoundTrip(t *testing.T) {
	for _, want := range []error{
		fmt.Errorf("claim: %w", store.ErrEmpty),
		fmt.Errorf("ack: token 3, current token 4: %w", store.ErrStaleToken),
		&store.LockHeldError{Owner: "processor-1", Token: 7},
		errors.New("something else"),
	} {
		res := proc.ErrorResponse(want)
		got := res.AsError()
		if got.Error() != want.Error() {
			t.Errorf("message %q, want %q", got, want)
		}
		if outcomeOf(got) != outcomeOf(want) || ErrorClass(got) != ErrorClass(want) {
			t.Errorf("%v: outcome %s class %s, want %s %s", want, outcomeOf(got), ErrorClass(got), outcomeOf(want), ErrorClass(want))
		}
	}
	if (&proc.Response{}).AsError() != nil {
		t.Error("an empty response is an error")
	}
}

// A run directory too deep for a sockaddr still gets its socket, reached
// through a descriptor of the directory, and loses it on close.
func TestUnixPath_LongDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &chaosRun{p: &plan{dir: dir}, ctl: newControls(1)}
	ws := &workers{r: r, gate: fault.NewGate(1, nil, nil)}
	ws.lastProgress.Store(time.Now().UnixNano())
	srv, err := r.serveProcs(context.Background(), ws)
	if err != nil {
		t.Fatal(err)
	}
	c, err := proc.Dial(context.Background(), srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !c.Begin(true) {
		t.Error("begin: no ticket")
	}
	// The ticket the client holds is given back when it goes away.
	_ = c.Conn.Close()
	if errs := srv.Close(); len(errs) > 0 {
		t.Errorf("server errors: %v", errs)
	}
	if ws.gate.InFlight() != 0 {
		t.Errorf("%d tickets still out after the client left", ws.gate.InFlight())
	}
	if _, err := os.Stat(srv.Path()); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}
