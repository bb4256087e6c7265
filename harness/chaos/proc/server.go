package proc

// The harness's side of the socket: it serves its open store and its op
// gate to the processor processes, one connection each.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/boxstorm/boxstorm/store"
)

// Queue is the part of the store a processor calls: *store.Store itself,
// a target through the protocol, or, in a processor process, the
// harness's store reached through the socket (Client).
type Queue interface {
	AcquireLock(ctx context.Context, req store.LockRequest) (store.Lease, error)
	Heartbeat(ctx context.Context, token uint64, clock store.Clock) error
	ReleaseLock(ctx context.Context, token uint64) error
	Enqueue(ctx context.Context, payload []byte, o store.EnqueueOptions) (store.Op, error)
	Claim(ctx context.Context, token uint64) (store.Op, error)
	Ack(ctx context.Context, token uint64, id string) error
	Fail(ctx context.Context, token uint64, id, reason string) (store.Op, error)
}

// Backend is what a [Server] serves: the harness's open store and op gate,
// and the workload's status, which every response carries.
type Backend interface {
	// Store is the open store, or why there is none.
	Store() (Queue, error)
	// Begin waits for an op ticket of the gate (counted: an op that
	// counts towards op positions); false means the workload is over.
	Begin(counted bool) bool
	// End gives a ticket back.
	End()
	// Claimed notes that a child claimed an op: the workload progressed.
	Claimed()
	// Status is the workload's status now.
	Status() Status
}

// Server serves a [Backend] on a Unix socket, one JSON request and one
// JSON response per line on each connection, in order.
type Server struct {
	ctx  context.Context
	b    Backend
	ln   *net.UnixListener
	path string
	done func()

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
	errs   []string // protocol errors
	wg     sync.WaitGroup
}

// Serve listens on the socket path (replacing a stale one; a path too long
// for a sockaddr is reached through [UnixPath]) and serves b until Close.
// Store calls run under ctx.
func Serve(ctx context.Context, path string, b Backend) (*Server, error) {
	_ = os.Remove(path)
	name, done, err := UnixPath(path)
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
	if err != nil {
		done()
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	s := &Server{ctx: ctx, b: b, ln: ln, path: path, done: done, conns: map[net.Conn]bool{}}
	s.wg.Go(s.accept)
	return s, nil
}

// Path is the socket's path, for the children's spec.
func (s *Server) Path() string { return s.path }

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Go(func() { s.serve(c) })
	}
}

func (s *Server) fail(format string, args ...any) {
	s.mu.Lock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// serve answers one child's requests in order. Gate tickets the child
// still holds when it goes away are given back, so a dead child cannot
// hold up a fault.
func (s *Server) serve(c net.Conn) {
	tickets := 0
	defer func() {
		for ; tickets > 0; tickets-- {
			s.b.End()
		}
		_ = c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 1<<16), 1<<26)
	enc := json.NewEncoder(c)
	for sc.Scan() {
		var req Request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			s.fail("bad request line from a processor process: %v", err)
			return
		}
		res, err := s.do(req, &tickets)
		if err != nil {
			s.fail("processor process: %v", err)
			return
		}
		res.Status = s.b.Status()
		if err := enc.Encode(res); err != nil {
			return
		}
	}
}

// clockAt is a processor's clock as a request carries it.
func clockAt(now time.Time) store.Clock {
	if now.IsZero() {
		return nil
	}
	got := time.Now()
	return store.ClockFunc(func() time.Time { return now.Add(time.Since(got)) })
}

// do runs one request against the store or the gate. The error is for a
// request the protocol does not know.
func (s *Server) do(req Request, tickets *int) (Response, error) {
	ctx := s.ctx
	switch req.Method {
	case "begin":
		ok := s.b.Begin(req.Counted)
		if ok {
			*tickets++
		}
		return Response{OK: ok}, nil
	case "end":
		if *tickets == 0 {
			return Response{}, fmt.Errorf("end without begin: %w", store.ErrInvalid)
		}
		*tickets--
		s.b.End()
		return Response{}, nil
	}
	st, err := s.b.Store()
	if err != nil {
		return ErrorResponse(err), nil
	}
	var op store.Op
	switch req.Method {
	case "acquire":
		var l store.Lease
		l, err = st.AcquireLock(ctx, store.LockRequest{Owner: req.Owner, Clock: clockAt(req.Now)})
		if err == nil {
			return Response{Token: l.Token}, nil
		}
	case "heartbeat":
		err = st.Heartbeat(ctx, req.Token, clockAt(req.Now))
	case "release":
		err = st.ReleaseLock(ctx, req.Token)
	case "enqueue":
		op, err = st.Enqueue(ctx, req.Payload, store.EnqueueOptions{IdempotencyKey: req.Key, Subject: req.Subject})
	case "claim":
		op, err = st.Claim(ctx, req.Token)
		if err == nil {
			s.b.Claimed()
		}
	case "ack":
		err = st.Ack(ctx, req.Token, req.ID)
	case "fail":
		op, err = st.Fail(ctx, req.Token, req.ID, req.Reason)
	default:
		return Response{}, fmt.Errorf("unknown method %q: %w", req.Method, store.ErrInvalid)
	}
	if err != nil {
		return ErrorResponse(err), nil
	}
	if op.ID != "" {
		return Response{Op: &op}, nil
	}
	return Response{}, nil
}

// Close stops serving: the listener goes, and with it the socket file,
// and every connection is closed. It returns the protocol errors seen:
// request lines that were not JSON or named no known method.
func (s *Server) Close() []string {
	_ = s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.done()
	_ = os.Remove(s.path)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errs
}
