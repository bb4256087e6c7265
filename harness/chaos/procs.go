package chaos

// Processor processes: workload.processes children of the chaos binary,
// each running one processor loop (processorLoop, the goroutine
// processors' own) against the harness's store.
//
// The store holds an exclusive flock on its directory, so a child cannot
// open it while the harness has it open. The harness therefore serves its
// open store over a Unix socket in the scenario's directory (proc.Server),
// with one JSON request and one JSON response per line; the op gate is served the same
// way, so children stop with the goroutines at each op position. A child
// records its own calls in a history.History on the harness's clock
// (history.ClockSince of the spec's MonoStart) whose Sink is its stdout,
// as a crash worker does; the harness follows that stream into its own
// history, where the child's clients are named "process-N/...".

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/boxstorm/boxstorm/harness/chaos/proc"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/store"
)

// procGrace is how long the harness waits for processor processes
// after its own processors stopped before it kills them.
const procGrace = 30 * time.Second

// procBackend is the run's open store and op gate as the processor socket
// serves them (proc.Server).
type procBackend struct {
	r  *chaosRun
	ws *workers
}

var _ proc.Backend = procBackend{}

func (b procBackend) Store() (proc.Queue, error) { return b.r.sess.current() }
func (b procBackend) End()                       { b.ws.gate.End() }
func (b procBackend) Claimed()                   { b.ws.lastProgress.Store(time.Now().UnixNano()) }

func (b procBackend) Begin(counted bool) bool {
	_, ok := b.ws.gate.Begin(counted)
	return ok
}

func (b procBackend) Status() proc.Status {
	return proc.Status{Done: b.ws.done(), Idle: b.ws.idle(), Yield: b.ws.stallWaiting(-1), FailRate: b.r.ctl.handlerFailRate()}
}

// serveProcs serves the run's store and op gate to its processor
// processes on the socket in the scenario's directory.
func (r *chaosRun) serveProcs(ctx context.Context, ws *workers) (*proc.Server, error) {
	return proc.Serve(ctx, filepath.Join(r.p.dir, proc.SocketName), procBackend{r: r, ws: ws})
}

// procChild is one processor process as the harness sees it.
type procChild struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	bad  string // the first line the harness could not take
	err  error  // how the child exited

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
	srv      *proc.Server
	children []*procChild
}

// startProcs serves the store and starts workload.processes processor
// processes. It returns nil when there is nothing to wait for. A failure
// to start them is noted and reported by faults-injected, and the
// goroutine processors run without the processes that did not start.
func (r *chaosRun) startProcs(ctx context.Context, ws *workers) *procSet {
	n := r.p.sc.Workload.Processes
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
	exe, err := r.p.exe()
	if err != nil {
		return err
	}
	srv, err := r.serveProcs(ctx, ws)
	if err != nil {
		return err
	}
	ps.srv = srv
	spec := r.spec()
	spec.Socket = srv.Path()
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	specPath := filepath.Join(r.p.dir, proc.SpecName)
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		return err
	}
	for i := range n {
		c, err := ps.spawn(ctx, exe, specPath, i)
		if err != nil {
			return fmt.Errorf("%s: %w", proc.Name(i), err)
		}
		ps.children = append(ps.children, c)
	}
	return nil
}

// spawn starts processor process i. It dies with the harness: SIGKILL on
// the parent's death, the run's context, and its socket closing.
func (ps *procSet) spawn(ctx context.Context, exe, specPath string, i int) (*procChild, error) {
	r := ps.r
	c := &procChild{name: proc.Name(i), done: make(chan struct{})}
	stderr, err := os.Create(filepath.Join(r.p.dir, c.name+".stderr"))
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

// read follows a child's history into the run's (in a crash worker, on
// up to its parent). An event that is not a call of the child's own
// clients, or a line the harness cannot read, ends the child's history
// there, and is reported.
func (ps *procSet) read(c *procChild, out io.Reader) {
	own := func(ev history.HistoryEvent) error {
		if !strings.HasPrefix(ev.Client, c.name+"/") || ev.Kind == history.KindFault || ev.Kind == history.KindStoreState {
			return fmt.Errorf("not a call of %s: %s", c.name, ev)
		}
		return nil
	}
	if err := ps.r.hist.Follow(out, c.name, own); err != nil {
		// What it does from here on would be missing from the history:
		// stop it.
		c.bad = err.Error()
		var he *history.HistoryError
		if errors.As(err, &he) {
			c.bad = fmt.Sprintf("line %d: %v", he.Line, he.Err)
		}
		c.kill("after its unreadable line")
	}
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
	errs := ps.srv.Close()
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
		if len(why) == 0 {
			ran++
			if fi, err := os.Stat(filepath.Join(r.p.dir, c.name+".stderr")); err == nil && fi.Size() == 0 {
				_ = os.Remove(filepath.Join(r.p.dir, c.name+".stderr"))
			}
			continue
		}
		r.procProblem("%s: %s (see %s.stderr)", c.name, joinWhy(why), c.name)
	}
	for _, e := range errs {
		r.procProblem("harness socket: %s", e)
	}
	r.note("%d of %d processor processes ran to the end against the harness's store over %s", ran, r.p.sc.Workload.Processes, proc.SocketName)
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
	c, err := proc.Dial(ctx, spec.Socket)
	if err != nil {
		return err
	}
	defer c.Conn.Close()
	out := &cutWriter{w: stdout}
	r := newChaosRun(newPlan(spec.Scenario, RunOptions{Seed: spec.Seed, Canary: spec.Canary}, spec.Dir), spec.MonoStart, proc.Name(i), out)
	r.sess.keyGen, r.remote = spec.KeyGen, remoteProc{c}
	c.OnBreak = func() {
		// The harness is gone: writing on would meet a closed pipe.
		out.cut()
		cancel()
	}
	rng := rand.New(rand.NewPCG(spec.Seed, uint64(2000+i)))
	r.processorLoop(ctx, remoteProc{c}, proc.ClientName(i), &skewClock{}, rng)
	if c.Broken != nil {
		return fmt.Errorf("%w: %w", c.Broken, ErrWorker)
	}
	return r.hist.Err()
}

// cutWriter passes writes on until it is cut, then drops them.
type cutWriter struct {
	mu    sync.Mutex
	w     io.Writer
	isCut bool
}

func (c *cutWriter) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isCut {
		return len(b), nil
	}
	return c.w.Write(b)
}

func (c *cutWriter) cut() {
	c.mu.Lock()
	c.isCut = true
	c.mu.Unlock()
}

// remoteProc is a processor process's queueStore and procEnv: the
// harness's store and workload state, over the socket. Stalls and clock
// skews name goroutine processors only.
type remoteProc struct{ *proc.Client }

func (p remoteProc) begin(counted bool) bool { return p.Client.Begin(counted) }
func (p remoteProc) end()                    { p.Client.End() }
func (p remoteProc) done() bool              { return p.Client.Done() }
func (p remoteProc) idle() bool              { return p.Client.Idle() }
func (p remoteProc) failRate() float64       { return p.Client.FailRate() }
func (p remoteProc) yield() bool             { return p.Client.Yield() }
func (remoteProc) progress()                 {}
func (remoteProc) stallPending() bool        { return false }
func (remoteProc) stall(context.Context)     {}
func (remoteProc) dropStall()                {}
