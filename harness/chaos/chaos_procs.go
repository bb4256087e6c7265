package chaos

// Processor processes: workload.processes children of the chaos binary,
// each running one processor loop (processorLoop, the goroutine
// processors' own) against the harness's store.
//
// The store holds an exclusive flock on its directory, so a child cannot
// open it while the harness has it open. The harness therefore serves its
// open store over a Unix socket in the scenario's directory, with one JSON
// request and one JSON response per line; the op gate is served the same
// way, so children stop with the goroutines at each op position. A child
// records its own calls in its recorder, whose clock is the harness's
// (both read CLOCK_MONOTONIC, see MonotonicNanos), and streams them as
// JSON lines on stdout, as a crash worker does; the harness adds them to
// its history with Proc "process-N".

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/store"
)

const (
	// procSocketName is the socket the harness serves its store on, in the
	// scenario's directory. It is removed when the processes are done.
	procSocketName = "procs.sock"
	// procSpecName is the spec every processor process reads.
	procSpecName = "processes.json"
	// procGrace is how long the harness waits for processor processes
	// after its own processors stopped before it kills them.
	procGrace = 30 * time.Second
)

// procName is the Proc of processor process i's ops; procClientName is
// its client name and lock owner, distinct from every goroutine's.
func procName(i int) string       { return fmt.Sprintf("process-%d", i) }
func procClientName(i int) string { return fmt.Sprintf("proc-processor-%d", i) }

// procRequest is one call of a processor process: a method and its
// arguments.
type procRequest struct {
	Method  string `json:"m"`
	Counted bool   `json:"counted,omitempty"`
	Owner   string `json:"owner,omitempty"`
	// Now is the processor's clock reading when it sent the call; the
	// store reads it, plus the time since the request arrived, as the
	// processor's clock. Zero means the store's clock.
	Now     time.Time `json:"now,omitzero"`
	Token   uint64    `json:"token,omitempty"`
	ID      string    `json:"id,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Payload []byte    `json:"payload,omitempty"`
	Key     string    `json:"key,omitempty"`
	Subject string    `json:"subject,omitempty"`
}

// procStatus is the workload state a processor loop asks about (procEnv);
// every response carries it.
type procStatus struct {
	Done     bool    `json:"done,omitempty"`
	Idle     bool    `json:"idle,omitempty"`
	Yield    bool    `json:"yield,omitempty"` // a stall waits for the lock
	FailRate float64 `json:"fail_rate,omitempty"`
}

// procResponse answers one procRequest.
type procResponse struct {
	OK    bool      `json:"ok,omitempty"` // begin: a ticket was taken
	Token uint64    `json:"token,omitempty"`
	Op    *store.Op `json:"op,omitempty"`
	Err   string    `json:"err,omitempty"`
	// Sentinel names the error Err wraps (procSentinels), so that
	// errors.Is, ErrorClass and outcomeOf work in the child.
	Sentinel string     `json:"sentinel,omitempty"`
	Status   procStatus `json:"status"`
}

// procSentinels are the errors a response can carry by name.
var procSentinels = []struct {
	name string
	err  error
}{
	{"empty", store.ErrEmpty}, {"stale-token", store.ErrStaleToken}, {"not-claimed", store.ErrNotClaimed},
	{"lock-held", store.ErrLockHeld}, {"not-found", store.ErrNotFound}, {"closed", store.ErrClosed},
	{"invalid", store.ErrInvalid}, {"corrupt", store.ErrCorrupt}, {"wrong-key", store.ErrWrongKey},
	{"locked", store.ErrLocked}, {"sync", store.ErrSync}, {"efbig", syscall.EFBIG}, {"enospc", syscall.ENOSPC},
	{"canceled", context.Canceled}, {"deadline", context.DeadlineExceeded},
}

// remoteError is a store error that crossed the socket: the harness's
// message, wrapping the sentinel it named.
type remoteError struct {
	msg string
	err error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.err }

func errorResponse(err error) procResponse {
	res := procResponse{Err: err.Error()}
	for _, s := range procSentinels {
		if errors.Is(err, s.err) {
			res.Sentinel = s.name
			break
		}
	}
	return res
}

func (res *procResponse) error() error {
	if res.Err == "" {
		return nil
	}
	e := &remoteError{msg: res.Err}
	for _, s := range procSentinels {
		if s.name == res.Sentinel {
			e.err = s.err
		}
	}
	return e
}

// unixPath returns a name for the socket at path that fits in a sockaddr
// (108 bytes): path itself, or for a long path /proc/self/fd/N/<base>
// through a descriptor of its directory, which done closes.
func unixPath(path string) (name string, done func(), err error) {
	if len(path) < 100 {
		return path, func() {}, nil
	}
	fd, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("socket directory: %w", err)
	}
	return "/proc/self/fd/" + strconv.Itoa(fd) + "/" + filepath.Base(path), func() { _ = unix.Close(fd) }, nil
}

// procServer serves the harness's store and op gate to processor
// processes, one connection each.
type procServer struct {
	ctx  context.Context
	r    *chaosRun
	ws   *workers
	ln   *net.UnixListener
	path string
	done func()

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
	errs   []string // protocol errors
	wg     sync.WaitGroup
}

func (r *chaosRun) serveProcs(ctx context.Context, ws *workers) (*procServer, error) {
	path := filepath.Join(r.dir, procSocketName)
	_ = os.Remove(path)
	name, done, err := unixPath(path)
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
	if err != nil {
		done()
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	s := &procServer{ctx: ctx, r: r, ws: ws, ln: ln, path: path, done: done, conns: map[net.Conn]bool{}}
	s.wg.Go(s.accept)
	return s, nil
}

func (s *procServer) accept() {
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

func (s *procServer) fail(format string, args ...any) {
	s.mu.Lock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// serve answers one child's requests in order. Gate tickets the child
// still holds when it goes away are given back, so a dead child cannot
// hold up a fault.
func (s *procServer) serve(c net.Conn) {
	tickets := 0
	defer func() {
		for ; tickets > 0; tickets-- {
			s.ws.gate.end()
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
		var req procRequest
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			s.fail("bad request line from a processor process: %v", err)
			return
		}
		res, err := s.do(req, &tickets)
		if err != nil {
			s.fail("processor process: %v", err)
			return
		}
		res.Status = procStatus{Done: s.ws.done(), Idle: s.ws.idle(), Yield: s.ws.stallWaiting(-1), FailRate: s.r.handlerFailRate()}
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
func (s *procServer) do(req procRequest, tickets *int) (procResponse, error) {
	ctx := s.ctx
	switch req.Method {
	case "begin":
		_, ok := s.ws.gate.begin(req.Counted)
		if ok {
			*tickets++
		}
		return procResponse{OK: ok}, nil
	case "end":
		if *tickets == 0 {
			return procResponse{}, fmt.Errorf("end without begin: %w", store.ErrInvalid)
		}
		*tickets--
		s.ws.gate.end()
		return procResponse{}, nil
	}
	st, err := s.r.current()
	if err != nil {
		return errorResponse(err), nil
	}
	var op store.Op
	switch req.Method {
	case "acquire":
		var l store.Lease
		l, err = st.AcquireLock(ctx, store.LockRequest{Owner: req.Owner, Clock: clockAt(req.Now)})
		if err == nil {
			return procResponse{Token: l.Token}, nil
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
			s.ws.lastProgress.Store(time.Now().UnixNano())
		}
	case "ack":
		err = st.Ack(ctx, req.Token, req.ID)
	case "fail":
		op, err = st.Fail(ctx, req.Token, req.ID, req.Reason)
	default:
		return procResponse{}, fmt.Errorf("unknown method %q: %w", req.Method, store.ErrInvalid)
	}
	if err != nil {
		return errorResponse(err), nil
	}
	if op.ID != "" {
		return procResponse{Op: &op}, nil
	}
	return procResponse{}, nil
}

// close stops serving: the listener goes, and with it the socket file,
// and every connection is closed.
func (s *procServer) close() []string {
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

// procChild is one processor process as the harness sees it.
type procChild struct {
	name  string
	cmd   *exec.Cmd
	done  chan struct{}
	ended bool   // the child ended its stream
	bad   string // the first line the harness could not read
	err   error  // how the child exited

	mu     sync.Mutex
	killed string // why the harness killed it
}

// kill kills the child, once, for the reason why.
func (c *procChild) kill(why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.killed == "" {
		c.killed = why
		_ = c.cmd.Process.Kill()
	}
}

// procSet is the run's processor processes and the server they use.
type procSet struct {
	r        *chaosRun
	srv      *procServer
	children []*procChild
}

// startProcs serves the store and starts workload.processes processor
// processes. It returns nil when there is nothing to wait for. A failure
// to start them is noted and reported by faults-injected, and the
// goroutine processors run without the processes that did not start.
func (r *chaosRun) startProcs(ctx context.Context, ws *workers) *procSet {
	n := r.sc.Workload.Processes
	if n == 0 {
		return nil
	}
	ps := &procSet{r: r}
	if err := ps.start(ctx, ws, n); err != nil {
		r.procProblem("%d of %d processor processes started: %v", len(ps.children), n, err)
	}
	if ps.srv == nil {
		return nil
	}
	return ps
}

func (ps *procSet) start(ctx context.Context, ws *workers, n int) error {
	r := ps.r
	exe, err := r.exe()
	if err != nil {
		return err
	}
	srv, err := r.serveProcs(ctx, ws)
	if err != nil {
		return err
	}
	ps.srv = srv
	// The children's recorders read the same clock as r.rec: CLOCK_MONOTONIC
	// (Go's monotonic time on Linux), from the instant r.rec started.
	mono, since := history.MonotonicAt(r.rec.now)
	spec := workerSpec{Scenario: r.sc, Seed: r.opts.Seed, Canary: r.opts.Canary, Dir: r.dir, KeyGen: r.keyGen,
		Socket: srv.path, MonoStart: mono - since}
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	specPath := filepath.Join(r.dir, procSpecName)
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		return err
	}
	for i := range n {
		c, err := ps.spawn(ctx, exe, specPath, i)
		if err != nil {
			return fmt.Errorf("%s: %w", procName(i), err)
		}
		ps.children = append(ps.children, c)
	}
	return nil
}

// spawn starts processor process i. It dies with the harness: SIGKILL on
// the parent's death, the run's context, and its socket closing.
func (ps *procSet) spawn(ctx context.Context, exe, specPath string, i int) (*procChild, error) {
	r := ps.r
	c := &procChild{name: procName(i), done: make(chan struct{})}
	stderr, err := os.Create(filepath.Join(r.dir, c.name+".stderr"))
	if err != nil {
		return nil, err
	}
	c.cmd = exec.CommandContext(ctx, exe, WorkerCommand, "--spec", specPath, "--process", strconv.Itoa(i))
	c.cmd.Stderr = stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		_ = stderr.Close()
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		_ = stderr.Close()
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	go func() {
		defer close(c.done)
		defer stderr.Close()
		ps.read(c, out)
		c.err = c.cmd.Wait()
	}()
	return c, nil
}

// read checks each line of a child's stream and hands the good ones to
// readWorkerEvents; in a crash worker they also go on up to its parent. A
// line it cannot read ends the child's history there, and is reported.
func (ps *procSet) read(c *procChild, out io.Reader) {
	r := ps.r
	pr, pw := io.Pipe()
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		r.rec.readWorkerEvents(pr, 0)
		_, _ = io.Copy(io.Discard, pr)
	}()
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for line := 1; sc.Scan(); line++ {
		var ev workerEvent
		err := json.Unmarshal(sc.Bytes(), &ev)
		switch {
		case err != nil:
		case ev.Kind == "end":
			c.ended = true
			continue
		case (ev.Kind == "call" || ev.Kind == "ret") && ev.Op != nil && ev.Op.Proc == c.name:
		default:
			err = fmt.Errorf("not a call or return of %s", c.name)
		}
		if err != nil {
			// What it does from here on would be missing from the
			// history: stop it.
			c.bad = fmt.Sprintf("line %d: %v: %.120q", line, err, sc.Bytes())
			c.kill("after its unreadable line")
			break
		}
		_, _ = pw.Write(append(sc.Bytes(), '\n'))
		if r.rec.stream != nil {
			r.rec.mu.Lock()
			_ = r.rec.stream.Encode(ev)
			r.rec.mu.Unlock()
		}
	}
	_ = pw.Close()
	<-fed
	// Drain what is left, so the child never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, out)
}

// wait waits for the children, killing any still running procGrace after
// the call, stops the server and reports every child that did not end its
// stream cleanly.
func (ps *procSet) wait() {
	r := ps.r
	timer := time.NewTimer(procGrace)
	defer timer.Stop()
	for _, c := range ps.children {
		select {
		case <-c.done:
		case <-timer.C:
			for _, k := range ps.children {
				select {
				case <-k.done:
				default:
					k.kill(fmt.Sprintf("still running %s after the harness's processors stopped", procGrace))
				}
			}
			<-c.done
		}
	}
	errs := ps.srv.close()
	ran := 0
	for _, c := range ps.children {
		var why []string
		if c.bad != "" {
			why = append(why, "unreadable event "+c.bad)
		}
		switch {
		case c.killed != "":
			why = append(why, "killed "+c.killed)
		case c.err != nil:
			why = append(why, fmt.Sprintf("exited: %v", c.err))
		}
		if !c.ended && len(why) == 0 {
			why = append(why, "ended without closing its event stream")
		}
		if len(why) == 0 {
			ran++
			if fi, err := os.Stat(filepath.Join(r.dir, c.name+".stderr")); err == nil && fi.Size() == 0 {
				_ = os.Remove(filepath.Join(r.dir, c.name+".stderr"))
			}
			continue
		}
		r.procProblem("%s: %s (see %s.stderr)", c.name, joinWhy(why), c.name)
	}
	for _, e := range errs {
		r.procProblem("harness socket: %s", e)
	}
	r.note("%d of %d processor processes ran to the end against the harness's store over %s", ran, r.sc.Workload.Processes, procSocketName)
}

func joinWhy(why []string) string {
	s := why[0]
	for _, w := range why[1:] {
		s += "; " + w
	}
	return s
}

// procProblem records a processor process that did not run as asked: a
// note, and faults-injected unknown.
func (r *chaosRun) procProblem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.procErrs = append(r.procErrs, msg)
	r.note("workload.processes: %s", msg)
	r.log.Warn("processor process problem", "problem", msg)
}

// procClient is a processor process's end of the socket: its queueStore
// and its procEnv. A broken socket cancels the child's run and stops its
// event stream, so the call in flight stays without a return (outcome
// unknown) in the history.
type procClient struct {
	conn    net.Conn
	sc      *bufio.Scanner
	enc     *json.Encoder
	status  procStatus
	err     error // the transport error that broke the client
	onBreak func()
}

func dialProcs(ctx context.Context, path string) (*procClient, error) {
	name, done, err := unixPath(path)
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
	return &procClient{conn: conn, sc: sc, enc: json.NewEncoder(conn)}, nil
}

// do sends one request and reads its response. A processor loop is one
// goroutine, so calls never overlap.
func (c *procClient) do(req procRequest) (procResponse, error) {
	if c.err != nil {
		return procResponse{}, c.err
	}
	var res procResponse
	err := c.enc.Encode(req)
	if err == nil {
		if c.sc.Scan() {
			err = json.Unmarshal(c.sc.Bytes(), &res)
		} else if err = c.sc.Err(); err == nil {
			err = io.ErrUnexpectedEOF
		}
	}
	if err != nil {
		c.err = fmt.Errorf("harness socket, %s: %w: %w", req.Method, err, ErrWorker)
		if c.onBreak != nil {
			c.onBreak()
		}
		return procResponse{}, c.err
	}
	c.status = res.Status
	return res, nil
}

func (c *procClient) call(req procRequest) (procResponse, error) {
	res, err := c.do(req)
	if err != nil {
		return res, err
	}
	return res, res.error()
}

func clockNow(c store.Clock) time.Time {
	if c == nil {
		return time.Time{}
	}
	return c.Now()
}

func opOf(res procResponse) store.Op {
	if res.Op == nil {
		return store.Op{}
	}
	return *res.Op
}

// AcquireLock implements queueStore over the socket.
func (c *procClient) AcquireLock(_ context.Context, req store.LockRequest) (store.Lease, error) {
	res, err := c.call(procRequest{Method: "acquire", Owner: req.Owner, Now: clockNow(req.Clock)})
	if err != nil {
		return store.Lease{}, err
	}
	return store.Lease{Owner: req.Owner, Token: res.Token}, nil
}

// Heartbeat implements queueStore over the socket.
func (c *procClient) Heartbeat(_ context.Context, token uint64, clock store.Clock) error {
	_, err := c.call(procRequest{Method: "heartbeat", Token: token, Now: clockNow(clock)})
	return err
}

// ReleaseLock implements queueStore over the socket.
func (c *procClient) ReleaseLock(_ context.Context, token uint64) error {
	_, err := c.call(procRequest{Method: "release", Token: token})
	return err
}

// Enqueue implements queueStore over the socket.
func (c *procClient) Enqueue(_ context.Context, payload []byte, o store.EnqueueOptions) (store.Op, error) {
	res, err := c.call(procRequest{Method: "enqueue", Payload: payload, Key: o.IdempotencyKey, Subject: o.Subject})
	return opOf(res), err
}

// Claim implements queueStore over the socket.
func (c *procClient) Claim(_ context.Context, token uint64) (store.Op, error) {
	res, err := c.call(procRequest{Method: "claim", Token: token})
	return opOf(res), err
}

// Ack implements queueStore over the socket.
func (c *procClient) Ack(_ context.Context, token uint64, id string) error {
	_, err := c.call(procRequest{Method: "ack", Token: token, ID: id})
	return err
}

// Fail implements queueStore over the socket.
func (c *procClient) Fail(_ context.Context, token uint64, id, reason string) (store.Op, error) {
	res, err := c.call(procRequest{Method: "fail", Token: token, ID: id, Reason: reason})
	return opOf(res), err
}

func (c *procClient) begin(counted bool) bool {
	res, err := c.do(procRequest{Method: "begin", Counted: counted})
	return err == nil && res.OK
}

func (c *procClient) end() { _, _ = c.do(procRequest{Method: "end"}) }

// done, idle and failRate answer from the status of the last response:
// every loop iteration has just made a call.
func (c *procClient) done() bool        { return c.status.Done || c.err != nil }
func (c *procClient) idle() bool        { return c.status.Idle || c.err != nil }
func (c *procClient) failRate() float64 { return c.status.FailRate }
func (c *procClient) yield() bool       { return c.status.Yield }

// progress is noted by the harness when it serves a claim.
func (c *procClient) progress() {}

// Stalls and clock skews name goroutine processors only.
func (c *procClient) stallPending() bool    { return false }
func (c *procClient) stall(context.Context) {}
func (c *procClient) dropStall()            {}

// runProcessSpec is processor process i: one processor loop against the
// store the harness serves on spec.Socket, its calls streamed to stdout.
func runProcessSpec(ctx context.Context, path string, i int, stdout io.Writer) error {
	spec, err := readWorkerSpec(path)
	if err != nil {
		return err
	}
	if spec.Socket == "" {
		return fmt.Errorf("spec %s: no socket: %w", path, store.ErrInvalid)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, err := dialProcs(ctx, spec.Socket)
	if err != nil {
		return err
	}
	defer c.conn.Close()
	r := newChaosRun(spec.Scenario, RunOptions{Seed: spec.Seed, Canary: spec.Canary}, spec.Dir)
	r.worker, r.keyGen, r.remote = true, spec.KeyGen, c
	r.rec.proc = procName(i)
	// Read the harness's clock: CLOCK_MONOTONIC minus its start.
	mono, now := history.MonotonicAt(time.Now)
	r.rec.start = now.Add(-time.Duration(mono - spec.MonoStart))
	r.rec.stream = json.NewEncoder(stdout)
	c.onBreak = func() {
		r.rec.mu.Lock()
		r.rec.stream = nil
		r.rec.mu.Unlock()
		cancel()
	}
	rng := rand.New(rand.NewPCG(spec.Seed, uint64(2000+i)))
	r.processorLoop(ctx, c, procClientName(i), &skewClock{}, rng)
	if c.err != nil {
		return c.err
	}
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	return r.rec.stream.Encode(workerEvent{Kind: "end"})
}
