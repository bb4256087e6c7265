package proc

// The processor process's end of the socket.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/boxstorm/boxstorm/store"
)

// ErrBroken means the socket to the harness broke: the harness went away
// or sent something that is not a response.
var ErrBroken = errors.New("harness socket broken")

// Client is a processor process's end of the socket: the store calls and
// the workload state the chaos runner's processor loop needs. A broken socket cancels the child's run and stops its
// event stream, so the call in flight stays without a return (outcome
// unknown) in the history.
type Client struct {
	Conn    net.Conn // the connection; closing it ends the child's side
	sc      *bufio.Scanner
	enc     *json.Encoder
	status  Status
	Broken  error  // the transport error that broke the client
	OnBreak func() // called once when the socket breaks, set before the first call
}

// Dial connects to the harness's socket at path (see UnixPath for long
// paths).
func Dial(ctx context.Context, path string) (*Client, error) {
	name, done, err := UnixPath(path)
	if err != nil {
		return nil, err
	}
	defer done()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", name)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", path, err)
	}
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 1<<16), 1<<26)
	return &Client{Conn: conn, sc: sc, enc: json.NewEncoder(conn)}, nil
}

// do sends one request and reads its response. A processor loop is one
// goroutine, so calls never overlap.
func (c *Client) do(req Request) (Response, error) {
	if c.Broken != nil {
		return Response{}, c.Broken
	}
	var res Response
	err := c.enc.Encode(req)
	if err == nil {
		if c.sc.Scan() {
			err = json.Unmarshal(c.sc.Bytes(), &res)
		} else if err = c.sc.Err(); err == nil {
			err = io.ErrUnexpectedEOF
		}
	}
	if err != nil {
		c.Broken = fmt.Errorf("harness socket, %s: %w: %w", req.Method, err, ErrBroken)
		if c.OnBreak != nil {
			c.OnBreak()
		}
		return Response{}, c.Broken
	}
	c.status = res.Status
	return res, nil
}

func (c *Client) call(req Request) (Response, error) {
	res, err := c.do(req)
	if err != nil {
		return res, err
	}
	return res, res.AsError()
}

func clockNow(c store.Clock) time.Time {
	if c == nil {
		return time.Time{}
	}
	return c.Now()
}

func opOf(res Response) store.Op {
	if res.Op == nil {
		return store.Op{}
	}
	return *res.Op
}

// AcquireLock implements queueStore over the socket.
func (c *Client) AcquireLock(_ context.Context, req store.LockRequest) (store.Lease, error) {
	res, err := c.call(Request{Method: "acquire", Owner: req.Owner, Now: clockNow(req.Clock)})
	if err != nil {
		return store.Lease{}, err
	}
	return store.Lease{Owner: req.Owner, Token: res.Token}, nil
}

// Heartbeat implements queueStore over the socket.
func (c *Client) Heartbeat(_ context.Context, token uint64, clock store.Clock) error {
	_, err := c.call(Request{Method: "heartbeat", Token: token, Now: clockNow(clock)})
	return err
}

// ReleaseLock implements queueStore over the socket.
func (c *Client) ReleaseLock(_ context.Context, token uint64) error {
	_, err := c.call(Request{Method: "release", Token: token})
	return err
}

// Enqueue implements queueStore over the socket.
func (c *Client) Enqueue(_ context.Context, payload []byte, o store.EnqueueOptions) (store.Op, error) {
	res, err := c.call(Request{Method: "enqueue", Payload: payload, Key: o.IdempotencyKey, Subject: o.Subject})
	return opOf(res), err
}

// Claim implements queueStore over the socket.
func (c *Client) Claim(_ context.Context, token uint64) (store.Op, error) {
	res, err := c.call(Request{Method: "claim", Token: token})
	return opOf(res), err
}

// Ack implements queueStore over the socket.
func (c *Client) Ack(_ context.Context, token uint64, id string) error {
	_, err := c.call(Request{Method: "ack", Token: token, ID: id})
	return err
}

// Fail implements queueStore over the socket.
func (c *Client) Fail(_ context.Context, token uint64, id, reason string) (store.Op, error) {
	res, err := c.call(Request{Method: "fail", Token: token, ID: id, Reason: reason})
	return opOf(res), err
}

// begin waits for the op gate and takes a ticket, counted or not; false
// means the run is over or the socket broke.
func (c *Client) Begin(counted bool) bool {
	res, err := c.do(Request{Method: "begin", Counted: counted})
	return err == nil && res.OK
}

// end gives the ticket back.
func (c *Client) End() { _, _ = c.do(Request{Method: "end"}) }

// done, idle and failRate answer from the status of the last response:
// every loop iteration has just made a call.
// done reports what the last response said: producers are done and no
// stall is pending.
func (c *Client) Done() bool { return c.status.Done || c.Broken != nil }

// idle reports done, and that nothing was claimed for a while.
func (c *Client) Idle() bool { return c.status.Idle || c.Broken != nil }

// failRate is the fraction of claims the handler fails.
func (c *Client) FailRate() float64 { return c.status.FailRate }

// yield reports a stall waiting for the lock: the holder hands it over.
func (c *Client) Yield() bool { return c.status.Yield }
