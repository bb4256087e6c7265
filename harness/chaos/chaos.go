package chaos

// The chaos runner: one scenario against one store, with its fault
// schedule, a recorded history and the checks the scenario expects.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/reports"
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

// Errors of the chaos runner.
var (
	// ErrWorker means a worker child failed in a way the scenario did not
	// ask for.
	ErrWorker = errors.New("chaos worker failed")
)

// RunOptions configure RunScenario.
type RunOptions struct {
	// Seed drives the fault schedule and every random choice of the run.
	Seed uint64
	// Quick scales the scenario down (Scenario.Quick).
	Quick bool
	// Canary runs the scenario against its known-bad target: the store
	// with the scenario's protection switched off.
	Canary bool
	// OutDir is the run directory; the scenario writes to OutDir/<name>/.
	OutDir string
	// Exe is the chaos binary, run in its hidden worker mode for faults
	// that need another process. Empty means os.Executable.
	Exe string
	// Logger receives progress; slog.Default when nil.
	Logger *slog.Logger
	// Target, when not empty, is the command line of a target the run
	// drives instead of the reference store (docs/target-protocol.md);
	// TargetTimeout its per-request timeout (target.DefaultTimeout if 0).
	Target        string
	TargetTimeout time.Duration
}

// VerdictViolation is VerdictFail as chaos reports name it: a scenario
// whose checks found a violation.
const VerdictViolation = check.VerdictFail

// ThresholdResult compares one latency percentile with its limit.
type ThresholdResult struct {
	Op         string        `json:"op"`
	Percentile string        `json:"percentile"`
	Limit      time.Duration `json:"limit_ns"`
	Measured   time.Duration `json:"measured_ns"`
	Count      int64         `json:"count"`
	Verdict    check.Verdict `json:"verdict"`
	Note       string        `json:"note,omitempty"`
}

// ScenarioResult is what RunScenario found: result.json.
type ScenarioResult struct {
	Scenario    string              `json:"scenario"`
	Description string              `json:"description"`
	Protection  string              `json:"protection"`
	Seed        uint64              `json:"seed"`
	Quick       bool                `json:"quick"`
	Canary      bool                `json:"canary"`
	Verdict     check.Verdict       `json:"verdict"`
	Checks      []check.CheckResult `json:"checks"`
	Thresholds  []ThresholdResult   `json:"thresholds,omitempty"`
	Faults      []FaultEvent        `json:"faults"`
	Ops         int64               `json:"ops"`
	Elapsed     time.Duration       `json:"elapsed_ns"`
	SyncMode    string              `json:"sync_mode"`
	Recovery    string              `json:"recovery"`
	Latency     []reports.OpLatency `json:"latency,omitempty"`
	Notes       []string            `json:"notes,omitempty"`
	// CrashStates is the number of crash states explore steps opened and
	// checked; Kills counts SIGKILLs and power losses.
	CrashStates  int             `json:"crash_states"`
	Kills        int             `json:"kills"`
	Explorations []ExploreResult `json:"explorations,omitempty"`
	// Target is the target the run drove, as its open reply named it;
	// nil for the reference store in process.
	Target *target.Info `json:"target,omitempty"`
	Error  string       `json:"error,omitempty"`
	Dir    string       `json:"-"`
}

// Caught reports whether a canary run saw the violation its known-bad
// target must produce.
func (r *ScenarioResult) Caught() bool { return r.Verdict == VerdictViolation }

// chaosKey is the run's fixed master key generation gen: generation 0 is
// the key the store is created with, each key rotation moves to the next.
func chaosKey(gen int) []byte {
	k := []byte("boxstorm-chaos-fixed-test-key-00")
	k[len(k)-2] += byte(gen / 10)
	k[len(k)-1] += byte(gen % 10)
	return k
}

// wrongKey is a key that opens nothing the run made.
var wrongKey = []byte("boxstorm-chaos-wrong-test-key-99")

// chaosRun is one scenario run, in the harness or in a child process (a
// crash worker, a processor process): the plan it follows, the store
// session, the history it records into, the record of what its faults did,
// and the controls its faults turn in the running workload.
type chaosRun struct {
	p    *plan
	sess *session
	hist *history.History
	// mono is MonotonicNanos at the history's time 0: children record on
	// the same clock (history.ClockSince).
	mono int64
	// proc names the child process the run is in ("worker", "process-0"),
	// "" in the harness; its clients' names start with it.
	proc string
	eff  check.Effects
	ctl  *controls
	log  *slog.Logger
	logs *logCapture // the store's log, for integrity-reported

	// remote is the harness's store as a processor process reaches it,
	// over the socket; nil elsewhere.
	remote queueStore
	// procErrs are the processor processes that did not run as asked.
	procErrs []string
	notes    []string
	steps    map[int]bool // fault indexes that ran (or started) already
	killed   bool         // the crash worker was SIGKILLed
	// killArmed: a target's in-flight kill will land; the worker waits.
	killArmed bool
	probed    bool        // the FIFO probe ran
	observed  int         // store-state observations made
	ff        *faultfsRun // the fault file system under the store (faultfs.go); nil when not needed

	// resume is each producer's first enqueue number in a worker resumed
	// after a repeated kill; segment counts the workers before it.
	resume  map[string]int64
	segment int
	retried int // in-flight enqueues retried after kills
}

// newChaosRun makes a run of p that records on the clock that started at
// mono (a MonotonicNanos reading), streaming to sink when it is not nil.
func newChaosRun(p *plan, mono int64, proc string, sink io.Writer) *chaosRun {
	r := &chaosRun{
		p: p, mono: mono, proc: proc,
		hist:  history.NewHistory(history.HistoryOptions{Clock: history.ClockSince(mono), Sink: sink}),
		log:   p.opts.Logger,
		steps: map[int]bool{},
		ctl:   newControls(max(p.sc.Workload.Processors, 1)),
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.logs = &logCapture{now: r.hist.Now}
	r.sess = &session{p: p, hist: r.hist, client: r.client(harnessClient), eff: &r.eff, logger: slog.New(r.logs)}
	return r
}

// client is the history's name for client: prefixed with the process it
// runs in, if a child.
func (r *chaosRun) client(name string) string {
	if r.proc == "" {
		return name
	}
	return r.proc + "/" + name
}

// fault records a fault event of the run's process.
func (r *chaosRun) fault(f history.Fault) {
	who := r.proc
	if who == "" {
		who = harnessClient
	}
	r.hist.RecordFault(who, f)
}

func (r *chaosRun) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// RunScenario runs sc with opts and returns what the checks found. The
// error is for a run that could not be carried out at all (a bad option,
// an unwritable directory); violations are in the result.
func RunScenario(ctx context.Context, sc *scenarios.Scenario, opts RunOptions) (*ScenarioResult, error) {
	if opts.Quick {
		sc = sc.Quick()
	}
	if opts.OutDir == "" {
		return nil, fmt.Errorf("run scenario %s: no output directory: %w", sc.Name, store.ErrInvalid)
	}
	if opts.Target != "" && opts.Canary {
		return nil, fmt.Errorf("run scenario %s: the canary switches are the reference store's; a target is its own known-bad target: %w", sc.Name, store.ErrInvalid)
	}
	dir := filepath.Join(opts.OutDir, sc.Name)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("run scenario %s: %w", sc.Name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("run scenario %s: %w", sc.Name, err)
	}
	r := newChaosRun(newPlan(sc, opts, dir), history.MonotonicNanos(), "", nil)
	res := &ScenarioResult{
		Scenario: sc.Name, Description: sc.Description, Protection: string(sc.Protection),
		Seed: opts.Seed, Quick: opts.Quick, Canary: opts.Canary, Ops: sc.Workload.Ops,
		SyncMode: string(sc.Store.Sync), Recovery: string(sc.Store.Recovery), Dir: dir,
	}
	sched, err := fault.MarshalSchedule(r.p.faults)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "faults.jsonl"), sched, 0o644); err != nil {
		return nil, fmt.Errorf("run scenario %s: %w", sc.Name, err)
	}
	start := time.Now()
	r.log.Info("scenario start", "scenario", sc.Name, "seed", opts.Seed, "quick", opts.Quick, "canary", opts.Canary)
	// The fault file system is unmounted on every path; on the normal one
	// below, before the notes are taken, so an unmount error is among them.
	defer r.stopFaultFS()
	if err := fault.ValidateSchedule(r.p.faults); err != nil {
		res.Error = err.Error()
	} else if err := r.startFaultFS(ctx); err != nil {
		res.Error = err.Error()
	} else if err := r.execute(ctx); err != nil {
		res.Error = err.Error()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("run scenario %s: %w", sc.Name, err)
	}
	r.fifoProbe(ctx)
	final := r.observe(ctx, r.restartKind())
	_ = r.sess.close()
	r.stopFaultFS()
	raw := history.MergeHistories(r.hist.Events())
	judged := check.ForgiveTornTails(raw, r.eff)
	res.Checks = r.runChecks(raw, judged, final)
	res.Checks = append(res.Checks, r.faultfsChecks()...)
	hs := histograms(raw)
	res.Thresholds = r.thresholds(hs)
	res.Latency = latencySummary(hs)
	res.Elapsed = time.Since(start)
	res.Faults = faultEvents(raw)
	r.crashFigures(res)
	res.Notes = r.notes
	if opts.Target != "" {
		info := r.p.remoteInfo()
		res.Target = &info
	}
	res.Verdict = overallVerdict(res)
	if err := r.writeScenario(res, raw, judged, hs); err != nil {
		return res, err
	}
	r.log.Info("scenario done", "scenario", sc.Name, "verdict", res.Verdict, "elapsed", res.Elapsed.Round(time.Millisecond))
	return res, nil
}

func overallVerdict(res *ScenarioResult) check.Verdict {
	v := check.VerdictPass
	for _, c := range res.Checks {
		switch c.Verdict {
		case VerdictViolation:
			return VerdictViolation
		case check.VerdictUnknown:
			v = check.VerdictUnknown
		}
	}
	for _, t := range res.Thresholds {
		switch t.Verdict {
		case VerdictViolation:
			return VerdictViolation
		case check.VerdictUnknown:
			v = check.VerdictUnknown
		}
	}
	if res.Error != "" && v == check.VerdictPass {
		v = check.VerdictUnknown
	}
	return v
}

// execute creates the store, then runs the workload and the faults: in
// this process, or in a worker child when a fault needs one, followed by
// the steps the child did not reach.
func (r *chaosRun) execute(ctx context.Context) error {
	if err := r.sess.open(ctx, nil); err != nil {
		return fmt.Errorf("create store: %w", err)
	}
	if err := r.prepare(ctx); err != nil {
		return err
	}
	if !r.p.needsWorker() {
		return r.runPlan(ctx, r.p.faults)
	}
	if err := r.sess.close(); err != nil {
		return fmt.Errorf("close store before worker: %w", err)
	}
	if kf, ok := r.p.repeatedKill(); ok {
		return r.runKills(ctx, kf)
	}
	if err := r.runWorker(ctx); err != nil {
		return err
	}
	restart := history.RestartProcess
	if r.powerLossAfterWorker(ctx) {
		restart = history.RestartMachine
	}
	var rest []fault.PlannedFault
	for _, p := range r.p.faults {
		if !r.steps[p.Index] && !p.AtOp() {
			rest = append(rest, p)
		}
	}
	r.sess.opened = 0
	rest = r.beforeReopen(ctx, rest)
	if err := r.sess.open(ctx, nil); err != nil {
		r.note("open after worker: %v", err)
	} else if r.killed {
		// What the crash left, before any later step changes it.
		r.observe(ctx, restart)
		r.sess.opened = 1
		r.resumeProducers(ctx, 0, true)
		r.drain(ctx)
	}
	for _, p := range rest {
		r.applyFault(ctx, p)
	}
	return nil
}

// prepare brings a new store to the state the scenario's steps expect:
// migrations need the built-in ones applied first, so that synthetic
// migrations are the only pending ones.
func (r *chaosRun) prepare(ctx context.Context) error {
	if !r.p.has(scenarios.FaultMigrate) || r.claims(target.TypeMigrate) != nil {
		return nil // without migrate, the migrate steps are not injected
	}
	s := r.sess.st
	if _, err := s.Migrate(ctx, nil); err != nil {
		return fmt.Errorf("prepare: built-in migrations: %w", err)
	}
	st, err := s.State(ctx)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	return s.Put(ctx, synthBox, synthKey, []byte(fmt.Sprintf("v%d", st.SchemaVersion)))
}

// runPlan runs the workload with the op faults, then the step faults.
func (r *chaosRun) runPlan(ctx context.Context, plan []fault.PlannedFault) error {
	var opFaults, steps []fault.PlannedFault
	for _, p := range plan {
		if p.AtOp() {
			opFaults = append(opFaults, p)
		} else {
			steps = append(steps, p)
		}
	}
	if err := r.runWorkload(ctx, opFaults); err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	for _, p := range steps {
		r.applyFault(ctx, p)
	}
	return nil
}

// drain claims and acks what a killed worker left in the queue, as a
// restarted processor would, so that redeliveries after the crash are in
// the history.
func (r *chaosRun) drain(ctx context.Context) {
	if k := r.p.sc.Workload.Kind; k == scenarios.WorkloadEnqueue || k == scenarios.WorkloadNone {
		return
	}
	const client = "drain"
	// The dead worker's lease would go stale after StaleAfter; the drain's
	// clock is that far ahead instead of waiting for it.
	late := store.ClockFunc(func() time.Time { return time.Now().Add(r.p.sc.Store.StaleAfter + time.Second) })
	lease, err := r.acquire(ctx, client, store.LockRequest{Owner: client, Clock: late})
	if err != nil {
		r.note("drain after the crash: %v", err)
		return
	}
	for ctx.Err() == nil {
		op, err := r.call(client, history.KindClaim, history.OpInput{Token: lease.Token}, func(s queueStore) (store.Op, error) { return s.Claim(ctx, lease.Token) })
		if err != nil {
			break
		}
		if _, err := r.call(client, history.KindAck, history.OpInput{Token: lease.Token, OpID: op.ID}, func(s queueStore) (store.Op, error) {
			return store.Op{}, s.Ack(ctx, lease.Token, op.ID)
		}); err != nil {
			break
		}
	}
	_, _ = r.call(client, history.KindRelease, history.OpInput{Token: lease.Token}, func(s queueStore) (store.Op, error) {
		return store.Op{}, s.ReleaseLock(ctx, lease.Token)
	})
}
