package faultfs

// The client: start a server process, wait for its mount, send it faults,
// and unmount on every way out.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultTimeout bounds each step of Start and Close, and each control
// request, when Options leaves it zero.
const DefaultTimeout = 15 * time.Second

// Options tune Start.
type Options struct {
	// Timeout bounds each step: the mount, each request, the unmount
	// (DefaultTimeout if zero). A power loss is one request.
	Timeout time.Duration
	// Stderr receives the server's log; by default the last 64 KiB are
	// kept for error messages.
	Stderr io.Writer
	// Debug logs every FUSE request to Stderr.
	Debug bool
}

// Mount is a running fault file system. Its methods are safe for
// concurrent use; the requests are served one at a time.
type Mount struct {
	// Dir is the mount point: run the program under test there.
	Dir string
	// Backing is the directory the files live in.
	Backing string

	opts    Options
	cmd     *exec.Cmd
	exited  chan struct{}
	sockDir string
	sock    string // the socket of an attached Mount (Attach); it owns no server
	stderr  *tail

	mu     sync.Mutex
	conn   net.Conn
	r      *bufio.Reader
	closed bool
}

// Start runs exe (the argv of a program whose subcommand calls ServeMain,
// such as {"chaos", "__faultfs"}) to mount backingDir at mountpoint, and
// returns when the mount answers. Whatever FUSE file system is mounted at
// mountpoint (a stale mount left by a killed server) is detached first. The server gets SIGTERM if this process
// dies (Pdeathsig) and then unmounts.
func Start(ctx context.Context, exe []string, backingDir, mountpoint string, opts Options) (*Mount, error) {
	if len(exe) == 0 {
		return nil, errors.New("faultfs: start: no server command")
	}
	if err := Available(); err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	var err error
	if backingDir, err = filepath.Abs(backingDir); err != nil {
		return nil, fmt.Errorf("faultfs: start: %w", err)
	}
	if mountpoint, err = filepath.Abs(mountpoint); err != nil {
		return nil, fmt.Errorf("faultfs: start: %w", err)
	}
	if within(backingDir, mountpoint) || within(mountpoint, backingDir) {
		return nil, fmt.Errorf("faultfs: start: backing %s and mount point %s must not contain each other", backingDir, mountpoint)
	}
	if err := Unmount(mountpoint); err != nil {
		return nil, fmt.Errorf("faultfs: start: clean stale mount: %w", err)
	}
	for _, d := range []string{backingDir, mountpoint} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("faultfs: start: %w", err)
		}
	}
	// A socket path is limited to 108 bytes; t.TempDir() paths can be long.
	sockDir, err := os.MkdirTemp("", "faultfs-")
	if err != nil {
		return nil, fmt.Errorf("faultfs: start: %w", err)
	}
	sock := filepath.Join(sockDir, "ctl.sock")
	m := &Mount{Dir: mountpoint, Backing: backingDir, opts: opts, sockDir: sockDir,
		exited: make(chan struct{}), stderr: &tail{max: 64 << 10}}
	args := append(append([]string(nil), exe[1:]...), "--backing", backingDir, "--mountpoint", mountpoint, "--socket", sock)
	if opts.Debug {
		args = append(args, "--debug")
	}
	m.cmd = exec.Command(exe[0], args...)
	m.cmd.Stdout = m.stderr
	m.cmd.Stderr = m.stderr
	if opts.Stderr != nil {
		m.cmd.Stdout = io.MultiWriter(m.stderr, opts.Stderr)
		m.cmd.Stderr = m.cmd.Stdout
	}
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := m.cmd.Start(); err != nil {
		os.RemoveAll(sockDir)
		return nil, fmt.Errorf("faultfs: start %s: %w", exe[0], err)
	}
	go func() { _ = m.cmd.Wait(); close(m.exited) }()

	deadline := time.Now().Add(opts.Timeout)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			m.conn, m.r = c, bufio.NewReader(c)
			break
		}
		select {
		case <-m.exited:
			m.cleanup()
			return nil, fmt.Errorf("faultfs: server exited before mounting: %s", m.stderr.String())
		case <-ctx.Done():
			m.cleanup()
			return nil, fmt.Errorf("faultfs: start: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.cleanup()
			return nil, fmt.Errorf("faultfs: start: no mount after %v: %s", opts.Timeout, m.stderr.String())
		}
	}
	if _, err := m.call(ctx, request{Cmd: "ping"}); err != nil {
		m.cleanup()
		return nil, err
	}
	return m, nil
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// call sends one request and reads its response.
func (m *Mount) call(ctx context.Context, req request) (*response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.conn == nil {
		return nil, ErrClosed
	}
	deadline := time.Now().Add(m.opts.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = m.conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = m.conn.SetDeadline(time.Now()) })
	defer stop()
	b, _ := json.Marshal(req)
	if _, err := m.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("faultfs: %s: %w (server: %s)", req.Cmd, err, m.stderr.String())
	}
	line, err := m.r.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("faultfs: %s: %w (server: %s)", req.Cmd, err, m.stderr.String())
	}
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("faultfs: %s: bad response: %w", req.Cmd, err)
	}
	if !resp.OK {
		return &resp, fmt.Errorf("faultfs: %s: %s", req.Cmd, resp.Error)
	}
	return &resp, nil
}

// PowerLoss simulates a power cut: the mount then shows exactly what the
// disk would hold (see the package documentation for what that is). Kill
// every process using the mount first; a descriptor still open on it fails
// with ENOTCONN afterwards. The recording, if any, restarts from the new
// state.
func (m *Mount) PowerLoss(ctx context.Context, mode PowerLossMode, seed uint64) error {
	_, err := m.call(ctx, request{Cmd: "power-loss", Mode: mode, Seed: seed})
	return err
}

// FsyncError makes the nth fsync from now (1 is the next) fail with EIO,
// and with sticky every fsync after it too. A failed fsync of a file drops
// that file's unsynced writes from the durable future: they stay visible
// until a power loss, which loses them, and no later fsync saves them.
func (m *Mount) FsyncError(ctx context.Context, nth int, sticky bool) error {
	if nth < 1 {
		return errors.New("faultfs: fsync-error: nth counts from 1")
	}
	_, err := m.call(ctx, request{Cmd: "fsync-error", Nth: int64(nth), Sticky: sticky})
	return err
}

// ENOSPC lets budget more bytes be written from now on; a write that
// would go past it fails whole with ENOSPC, and so do creates and mkdirs
// once it is spent.
func (m *Mount) ENOSPC(ctx context.Context, budget int64) error {
	if budget < 0 {
		return errors.New("faultfs: enospc: negative budget")
	}
	_, err := m.call(ctx, request{Cmd: "enospc", Budget: budget})
	return err
}

// SlowIO delays every write and fsync by a draw from d, from a random
// sequence seeded by seed (which op gets which draw depends on scheduling).
func (m *Mount) SlowIO(ctx context.Context, seed uint64, d Delay) error {
	if d.Median < 0 || d.P99 < 0 || (d.P99 > 0 && d.P99 < d.Median) {
		return errors.New("faultfs: slow-io: want 0 <= median <= p99")
	}
	_, err := m.call(ctx, request{Cmd: "slow-io", Seed: seed, Delay: d})
	return err
}

// Reset disarms every fault: fsync errors, ENOSPC and slow I/O.
func (m *Mount) Reset(ctx context.Context) error {
	_, err := m.call(ctx, request{Cmd: "reset"})
	return err
}

// Stats returns the server's counters.
func (m *Mount) Stats(ctx context.Context) (Stats, error) {
	resp, err := m.call(ctx, request{Cmd: "stats"})
	if err != nil {
		return Stats{}, err
	}
	return *resp.Stats, nil
}

// Mark starts recording: Recording will return the durable state now and
// every mutating operation from now on (plus those still unsynced now).
func (m *Mount) Mark(ctx context.Context) error {
	_, err := m.call(ctx, request{Cmd: "mark"})
	return err
}

// Recording returns what was recorded since Mark, for Explore.
func (m *Mount) Recording(ctx context.Context) (*Recording, error) {
	resp, err := m.call(ctx, request{Cmd: "recording"})
	if err != nil {
		return nil, err
	}
	return resp.Recording, nil
}

// Close unmounts and stops the server. It asks the server to shut down,
// kills it if it does not exit in time, and detaches a mount it left. It
// is safe to call more than once.
func (m *Mount) Close() error {
	if m.cmd == nil {
		return m.detach()
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.Timeout)
	defer cancel()
	_, shutErr := m.call(ctx, request{Cmd: "shutdown"})
	select {
	case <-m.exited:
		shutErr = nil // it is gone either way; what matters is the unmount
	default:
	}
	select {
	case <-m.exited:
	case <-time.After(m.opts.Timeout):
		_ = m.cmd.Process.Kill()
		<-m.exited
		shutErr = errors.Join(shutErr, fmt.Errorf("faultfs: server did not exit in %v: killed", m.opts.Timeout))
	}
	return errors.Join(shutErr, m.cleanup())
}

func (m *Mount) cleanup() error {
	m.mu.Lock()
	m.closed = true
	if m.conn != nil {
		m.conn.Close()
	}
	m.mu.Unlock()
	select {
	case <-m.exited:
	default:
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	os.RemoveAll(m.sockDir)
	return Unmount(m.Dir)
}

// Available reports whether this process can mount FUSE: it needs
// /dev/fuse and root (DirectMount needs CAP_SYS_ADMIN). The error wraps
// ErrNoFUSE and says which is missing.
func Available() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("%w: /dev/fuse: %v", ErrNoFUSE, err)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not root (mounting without fusermount needs root)", ErrNoFUSE)
	}
	return nil
}

// Unmount detaches whatever FUSE file system is mounted at mountpoint, as
// umount -l does, after aborting its connection so that no process blocks
// on a server that is gone or stuck. It does nothing if nothing is mounted
// there. Use it to clean a stale mount after a server was killed.
func Unmount(mountpoint string) error {
	mountpoint = filepath.Clean(mountpoint)
	for {
		dev, ok, err := mountedAt(mountpoint)
		if err != nil || !ok {
			return err
		}
		abortConnection(dev)
		if err := syscall.Unmount(mountpoint, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("faultfs: unmount %s: %w", mountpoint, err)
		}
	}
}

// mountedAt returns the device ("major:minor") of the FUSE mount at p.
func mountedAt(p string) (string, bool, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", false, fmt.Errorf("faultfs: %w", err)
	}
	dev, found := "", false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || unescapeMount(f[4]) != p {
			continue
		}
		i := 6
		for i < len(f) && f[i] != "-" {
			i++
		}
		if i+1 < len(f) && strings.HasPrefix(f[i+1], "fuse") {
			dev, found = f[2], true // the last mount there is on top
		}
	}
	return dev, found, nil
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// abortConnection aborts a FUSE connection through fusectl, if mounted.
func abortConnection(dev string) {
	major, minor, ok := strings.Cut(dev, ":")
	if !ok || major != "0" {
		return
	}
	_ = os.WriteFile(filepath.Join("/sys/fs/fuse/connections", minor, "abort"), []byte("1"), 0o200)
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(t.buf.String())
}
