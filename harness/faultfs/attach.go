package faultfs

// Attaching: a second process (a worker child that runs the store under
// test) sends faults to a server another process started.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
)

// Socket returns the path of the server's control socket, for Attach in
// another process. It is valid until Close.
func (m *Mount) Socket() string {
	if m.sockDir == "" {
		return m.sock
	}
	return filepath.Join(m.sockDir, "ctl.sock")
}

// Attach connects to the control socket of a server that another process
// started with Start, and returns a Mount that sends it requests. Such a
// Mount owns neither the server nor the mount: its Close only disconnects.
// The server answers every connection, one request at a time.
func Attach(ctx context.Context, socket, mountpoint string, opts Options) (*Mount, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("faultfs: attach %s: %w", socket, err)
	}
	m := &Mount{Dir: mountpoint, opts: opts, sock: socket, stderr: &tail{max: 1}, conn: c, r: bufio.NewReader(c)}
	if _, err := m.call(ctx, request{Cmd: "ping"}); err != nil {
		c.Close()
		return nil, err
	}
	return m, nil
}

// detach closes an attached Mount's connection.
func (m *Mount) detach() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	return m.conn.Close()
}
