package proc_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/boxstorm/boxstorm/harness/chaos/proc"
	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

// backend serves a real store and counts gate tickets.
type backend struct {
	st      *store.Store
	out     atomic.Int64 // tickets handed out and not given back
	claimed atomic.Int64
}

func (b *backend) Store() (proc.Queue, error) { return b.st, nil }
func (b *backend) Begin(bool) bool            { b.out.Add(1); return true }
func (b *backend) End()                       { b.out.Add(-1) }
func (b *backend) Claimed()                   { b.claimed.Add(1) }
func (b *backend) Status() proc.Status        { return proc.Status{FailRate: 0.25} }

func serve(t *testing.T) (*backend, *proc.Server, *proc.Client) {
	t.Helper()
	b := &backend{st: testutil.MustOpen(t, filepath.Join(t.TempDir(), "store"))}
	srv, err := proc.Serve(context.Background(), filepath.Join(t.TempDir(), proc.SocketName), b)
	if err != nil {
		t.Fatal(err)
	}
	c, err := proc.Dial(context.Background(), srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	return b, srv, c
}

// Store calls cross the socket with their results and errors, every
// response carries the backend's status, and a claim is reported.
func TestServer_StoreCalls(t *testing.T) {
	ctx := context.Background()
	b, srv, c := serve(t)
	lease, err := c.AcquireLock(ctx, store.LockRequest{Owner: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Claim(ctx, lease.Token); !errors.Is(err, store.ErrEmpty) {
		t.Errorf("claim of an empty queue: %v, want ErrEmpty", err)
	}
	op, err := c.Enqueue(ctx, []byte("x"), store.EnqueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Claim(ctx, lease.Token)
	if err != nil || got.ID != op.ID {
		t.Fatalf("claim: %v %v, want %s", got.ID, err, op.ID)
	}
	if n := b.claimed.Load(); n != 1 {
		t.Errorf("%d claims reported, want 1", n)
	}
	if got, want := c.FailRate(), 0.25; got != want {
		t.Errorf("status fail rate %v, want %v", got, want)
	}
	if err := c.Ack(ctx, lease.Token, op.ID); err != nil {
		t.Fatal(err)
	}
	_ = c.Conn.Close()
	if errs := srv.Close(); len(errs) > 0 {
		t.Errorf("server errors: %v", errs)
	}
}

// Tickets a client holds are given back when it goes away, and a request
// the protocol does not know is a protocol error Close reports.
func TestServer_TicketsBackAndProtocolErrors(t *testing.T) {
	b, srv, c := serve(t)
	if !c.Begin(true) || !c.Begin(false) {
		t.Fatal("begin: no ticket")
	}
	if _, err := c.Conn.Write([]byte(`{"m":"nonsense"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	// The server hangs up on a protocol error: wait for it, so Close
	// cannot cut the connection before the line was read.
	if _, err := io.Copy(io.Discard, c.Conn); err != nil {
		t.Fatal(err)
	}
	errs := srv.Close()
	if len(errs) != 1 || !strings.Contains(errs[0], "nonsense") {
		t.Errorf("protocol errors %v, want the unknown method", errs)
	}
	if n := b.out.Load(); n != 0 {
		t.Errorf("%d tickets still out after the client left", n)
	}
}
