package target

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Defaults for Options.
const (
	// DefaultTimeout is how long a request waits for its reply.
	DefaultTimeout = 10 * time.Second
	// DefaultCloseGrace is how long Close waits for the target to exit
	// after its stdin is closed, before it kills it.
	DefaultCloseGrace = 3 * time.Second
	// MaxLine is the longest reply line the client reads.
	MaxLine = 16 << 20
)

// Options configure Start.
type Options struct {
	// Timeout is the per-request timeout; DefaultTimeout when zero.
	Timeout time.Duration
	// CloseGrace is how long Close waits before it kills; DefaultCloseGrace
	// when zero.
	CloseGrace time.Duration
	// Stderr receives a copy of the target's stderr when not nil. The
	// client keeps its tail for error messages either way.
	Stderr io.Writer
	// Env is added to the target's environment.
	Env []string
}

// exitWait is how long a client whose target closed its stdout waits for
// the process to be reaped, so that its error can say how it exited.
const exitWait = time.Second

// Client drives one target process over the protocol. Call may be used
// from many goroutines at once: requests are matched to replies by id, so
// a target may answer them in any order.
type Client struct {
	name    string
	opts    Options
	cmd     *exec.Cmd
	stdin   *os.File
	wmu     sync.Mutex // serialises whole lines on stdin
	stderr  *tail
	exited  chan struct{} // closed when the process has been waited for
	waitErr error

	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan Reply
	late    map[uint64]bool // ids whose request timed out: a late reply is dropped
	err     error           // set once, when the client broke; every Call returns it
	broken  chan struct{}   // closed when err is set
}

// Start starts the target named by command, a command line split by
// SplitCommand, in its own process group so that a kill reaches the
// processes it started (go run, a shell wrapper). The context bounds the
// whole life of the process.
func Start(ctx context.Context, command string, o Options) (*Client, error) {
	argv, err := SplitCommand(command)
	if err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.CloseGrace <= 0 {
		o.CloseGrace = DefaultCloseGrace
	}
	c := &Client{
		name:    command,
		opts:    o,
		stderr:  &tail{max: 4 << 10, copy: o.Stderr},
		exited:  make(chan struct{}),
		pending: map[uint64]chan Reply{},
		late:    map[uint64]bool{},
		broken:  make(chan struct{}),
	}
	c.cmd = exec.Command(argv[0], argv[1:]...)
	// A descendant that leaves the process group and keeps stderr open
	// must not keep Wait, and so Close and Kill, from returning.
	c.cmd.WaitDelay = o.CloseGrace
	c.cmd.Env = append(os.Environ(), o.Env...)
	c.cmd.Stderr = c.stderr
	setProcessGroup(c.cmd)
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", command, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("target %q: %w", command, err)
	}
	c.cmd.Stdin, c.cmd.Stdout = inR, outW
	err = c.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("target %q: cannot start: %w", command, err)
	}
	c.stdin = inW
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	go c.read(outR)
	go func() {
		select {
		case <-ctx.Done():
			c.fail(fmt.Errorf("target %q: %w", c.name, ctx.Err()))
		case <-c.exited:
		}
	}()
	return c, nil
}

// Name is the command line the client started.
func (c *Client) Name() string { return c.name }

// PID is the target's process id.
func (c *Client) PID() int { return c.cmd.Process.Pid }

// read reads replies until stdout ends or the target breaks the protocol.
func (c *Client) read(r *os.File) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var rep Reply
		if err := json.Unmarshal(b, &rep); err != nil {
			c.fail(fmt.Errorf("target %q: stdout line %d is not a JSON reply (%v): %s: %w", c.name, line, err, quote(b), ErrProtocol))
			return
		}
		if err := c.deliver(rep); err != nil {
			c.fail(fmt.Errorf("target %q: stdout line %d: %w", c.name, line, err))
			return
		}
	}
	if err := sc.Err(); err != nil {
		c.fail(fmt.Errorf("target %q: reading stdout: %v: %w", c.name, err, ErrProtocol))
		return
	}
	// Stdout closed: give the process a moment to be reaped, so the error
	// can say how it exited.
	select {
	case <-c.exited:
	case <-time.After(exitWait):
	}
	c.fail(c.exitError())
}

// deliver hands rep to the Call waiting for it.
func (c *Client) deliver(rep Reply) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.pending[rep.ID]
	switch {
	case ok:
		delete(c.pending, rep.ID)
		ch <- rep
		return nil
	case c.late[rep.ID]:
		delete(c.late, rep.ID) // its Call gave up already
		return nil
	case rep.ID == 0:
		return fmt.Errorf("a reply without an id (%s): %w", describeReply(rep), ErrProtocol)
	case rep.ID <= c.next:
		return fmt.Errorf("a second reply to request %d: %w", rep.ID, ErrProtocol)
	}
	return fmt.Errorf("a reply to request %d, which was never sent (last sent: %d): %w", rep.ID, c.next, ErrProtocol)
}

func (c *Client) exitError() error {
	state := "closed its stdout"
	select {
	case <-c.exited:
		if c.waitErr != nil {
			state = "exited (" + c.waitErr.Error() + ")"
		} else {
			state = "exited (status 0)"
		}
	default:
	}
	msg := fmt.Sprintf("target %q %s", c.name, state)
	if t := c.stderr.String(); t != "" {
		msg += "; its stderr ends: " + strings.TrimSpace(t)
	}
	return fmt.Errorf("%s: %w", msg, ErrExited)
}

// fail breaks the client with err (the first error wins), fails every call
// in flight and kills the target.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	close(c.broken)
	c.pending = map[uint64]chan Reply{}
	c.mu.Unlock()
	c.kill()
}

// Kill kills the target and its process group at once, as a crash would.
// Every call in flight and every later call fails with ErrExited.
func (c *Client) Kill() {
	c.fail(fmt.Errorf("target %q was killed: %w", c.name, ErrExited))
}

func (c *Client) kill() {
	killGroup(c.cmd)
	c.stdin.Close()
}

// Call sends req, with a fresh id, and waits for its reply. The returned
// error is about the transport only: a target that broke the protocol,
// exited, or did not answer within the timeout. A request the target
// refused comes back as a Reply with Error set.
func (c *Client) Call(ctx context.Context, req Request) (Reply, error) {
	return c.CallWithin(ctx, req, c.opts.Timeout)
}

// CallWithin is Call with its own timeout, for a request that may take
// longer than most (the first page of a large state).
func (c *Client) CallWithin(ctx context.Context, req Request, timeout time.Duration) (Reply, error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return Reply{}, c.err
	}
	c.next++
	req.ID = c.next
	ch := make(chan Reply, 1)
	c.pending[req.ID] = ch
	c.mu.Unlock()

	b, err := json.Marshal(req)
	if err != nil {
		c.forget(req.ID, false)
		return Reply{}, fmt.Errorf("%s request: %w", req.Type, err)
	}
	deadline := time.Now().Add(timeout)
	c.wmu.Lock()
	c.stdin.SetWriteDeadline(deadline)
	_, err = c.stdin.Write(append(b, '\n'))
	c.wmu.Unlock()
	if err != nil {
		c.forget(req.ID, false)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return Reply{}, fmt.Errorf("target %q: %s request %d: stdin not read for %s: %w", c.name, req.Type, req.ID, timeout, ErrTimeout)
		}
		// A target that exited closed its stdin before the reader sees its
		// stdout end: wait for that, so the error says how it exited and
		// what its stderr said, not only that the pipe broke.
		select {
		case <-c.broken:
			return Reply{}, c.brokenErr()
		case <-time.After(exitWait + time.Second):
		}
		return Reply{}, fmt.Errorf("target %q: writing %s request %d: %v: %w", c.name, req.Type, req.ID, err, ErrExited)
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case rep := <-ch:
		return rep, nil
	case <-c.broken:
		return Reply{}, c.brokenErr()
	case <-timer.C:
		c.forget(req.ID, true)
		return Reply{}, fmt.Errorf("target %q: %s request %d: no reply within %s: %w", c.name, req.Type, req.ID, timeout, ErrTimeout)
	case <-ctx.Done():
		c.forget(req.ID, true)
		return Reply{}, fmt.Errorf("target %q: %s request %d: %w", c.name, req.Type, req.ID, ctx.Err())
	}
}

func (c *Client) forget(id uint64, late bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pending[id]; ok {
		delete(c.pending, id)
		if late {
			c.late[id] = true
		}
	}
}

func (c *Client) brokenErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Open sends the open request for dir, with masterKey (64 hex digits) when
// not empty, and checks the reply's protocol version. A refused open comes
// back as a Reply with Error set and a nil error.
func (c *Client) Open(ctx context.Context, dir, masterKey string) (Reply, error) {
	rep, err := c.Call(ctx, Request{Type: TypeOpen, Version: ProtocolVersion, Dir: dir, MasterKey: masterKey})
	if err != nil || rep.Error != nil {
		return rep, err
	}
	if rep.Version != ProtocolVersion {
		err := fmt.Errorf("target %q: open reply speaks protocol version %d, want %d: %w", c.name, rep.Version, ProtocolVersion, ErrProtocol)
		c.fail(err)
		return rep, err
	}
	return rep, nil
}

// Close closes the target's stdin, which asks it to exit, waits for it
// for the grace period and then kills it. It returns an error when the
// target had to be killed or exited with a failure status.
func (c *Client) Close() error {
	c.wmu.Lock()
	c.stdin.Close()
	c.wmu.Unlock()
	var err error
	select {
	case <-c.exited:
		if c.waitErr != nil {
			err = fmt.Errorf("target %q: %w", c.name, c.waitErr)
		}
	case <-time.After(c.opts.CloseGrace):
		err = fmt.Errorf("target %q did not exit within %s of its stdin closing; killed it", c.name, c.opts.CloseGrace)
	}
	c.fail(fmt.Errorf("target %q: %w", c.name, ErrClosed))
	<-c.exited
	return err
}

// tail keeps the last max bytes written to it, and copies them on.
type tail struct {
	mu   sync.Mutex
	max  int
	buf  []byte
	copy io.Writer
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	if t.copy != nil {
		t.copy.Write(p)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// quote shows at most 200 bytes of a line.
func quote(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%q…", b[:200])
	}
	return fmt.Sprintf("%q", b)
}

func describeReply(r Reply) string {
	b, _ := json.Marshal(r)
	return quote(b)
}
