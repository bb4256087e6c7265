package chaos

// The chaos runner: one scenario against one store, with its fault
// schedule, a recorded history and the checks the scenario expects.

import (
	"context"
	"errors"
	"fmt"
	"github.com/boxstorm/boxstorm/opname"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
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
	Error        string          `json:"error,omitempty"`
	Dir          string          `json:"-"`
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

// chaosRun is one scenario run, in the harness or in a worker child.
type chaosRun struct {
	sc       *scenarios.Scenario
	opts     RunOptions
	plan     []fault.PlannedFault
	dir      string // the scenario's output directory
	storeDir string
	log      *slog.Logger
	rec      *recorder
	worker   bool
	// remote is the harness's store as a processor process reaches it,
	// over the socket; nil elsewhere.
	remote queueStore
	// procErrs are the processor processes that did not run as asked.
	procErrs []string

	st       *store.Store
	openErr  error
	keyGen   int
	backups  []backupRef
	clocks   []*skewClock
	stallReq []atomic.Int64
	stalls   atomic.Int32
	failRate atomic.Uint64 // the handler failure rate times 1e9 (a rate of 0.25 is 250_000_000)
	harnessN atomic.Int64  // the next N of a "harness" call, see nextN
	gate     *opGate
	notes    []string
	steps    map[int]bool // fault indexes that ran (or started) already
	damage   []damageRecord
	erased   []string
	restores []restoreRef
	synth    int // synthetic migrations the run registered
	// migrations are the built-in migrations and the synthetic ones, once
	// the run registered any; nil before (the store's built-in list).
	migrations []store.Migration
	killed     bool
	repairs    []store.Repair
	states     []stateAt
	events     []history.HistoryEvent
	opened     int // opens since the last store-state observation
	// corruptions are the corruption errors opens returned.
	corruptions []corruptionSeen
	// markers are the backups after which the run wrote an audit marker.
	markers map[int]bool
	probed  bool // the FIFO probe ran
	// indexDamage are the index faults injected; logs the store's log.
	indexDamage []indexDamage
	logs        *logCapture
	ff          *faultfsRun // the fault file system under the store (faultfs.go); nil when not needed
}

type corruptionSeen struct {
	at     int64
	box    string
	offset int64
	err    string
}

func (r *chaosRun) noteCorruption(err error) {
	var ce *store.CorruptionError
	if errors.As(err, &ce) {
		r.corruptions = append(r.corruptions, corruptionSeen{at: r.rec.now(), box: ce.Box, offset: ce.Offset, err: err.Error()})
	}
}

// restartKind is what the next store-state observation follows.
func (r *chaosRun) restartKind() history.RestartKind {
	switch {
	case r.killed && len(r.states) == 0:
		return history.RestartProcess
	case r.opened > 1:
		return history.RestartClean
	}
	return history.RestartNone
}

type backupRef struct {
	Path   string
	Schema int
	Index  int
	KeyGen int // the key generation the store had when it was taken
	// Before is the history time the backup call started: ops that
	// returned before it are in the backup.
	Before int64
	After  int64
}

type restoreRef struct {
	Backup backupRef
	OK     bool // the restore returned success
	Done   bool // the restore returned at all (its process was not killed)
	At     int64
}

type damageRecord struct {
	Index  int
	Box    string
	Kind   scenarios.FaultType
	Mode   string
	Damage fault.Damage
	// At is the history time of the damage; an enqueue that returned
	// before it was acknowledged.
	At int64
}

func newChaosRun(sc *scenarios.Scenario, opts RunOptions, dir string) *chaosRun {
	r := &chaosRun{
		sc: sc, opts: opts, dir: dir,
		storeDir: filepath.Join(dir, "store"),
		log:      opts.Logger,
		rec:      newRecorder(),
		steps:    map[int]bool{},
		markers:  map[int]bool{},
	}
	r.logs = &logCapture{now: r.rec.now}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.clocks = make([]*skewClock, max(sc.Workload.Processors, 1))
	for i := range r.clocks {
		r.clocks[i] = &skewClock{}
	}
	r.stallReq = make([]atomic.Int64, len(r.clocks))
	r.plan = fault.Schedule(sc, opts.Seed)
	return r
}

func (r *chaosRun) backupDir() string { return filepath.Join(r.dir, "backups") }

// storeOptions are the options every open of the run uses, with key
// generation gen.
func (r *chaosRun) storeOptions(gen int) store.Options {
	o := store.Options{
		Key:            store.KeyBytes(chaosKey(gen)),
		SyncPeriod:     r.sc.Store.SyncInterval,
		StaleAfter:     r.sc.Store.StaleAfter,
		FailedOpsAlert: r.sc.Store.FailedOpsAlert,
		Logger:         slog.New(r.logs),
		Migrations:     r.migrations,
	}
	o.Sync, _ = store.ParseSyncMode(string(r.sc.Store.Sync))
	o.Recovery, _ = store.ParseRecoveryMode(string(r.sc.Store.Recovery))
	if r.opts.Canary {
		o.Canary = string(r.sc.Protection)
	}
	return o
}

// current returns the open store, or why there is none.
func (r *chaosRun) current() (*store.Store, error) {
	if r.st == nil {
		if r.openErr != nil {
			return nil, fmt.Errorf("store is not open: %w", r.openErr)
		}
		return nil, fmt.Errorf("store is not open: %w", store.ErrClosed)
	}
	return r.st, nil
}

// open opens the store with the current key generation, recording the
// call; after a crash mid-rotation it tries the next key too.
func (r *chaosRun) open(ctx context.Context, mod func(*store.Options)) error {
	if r.st != nil {
		return nil
	}
	var err error
	for _, gen := range []int{r.keyGen, r.keyGen + 1} {
		o := r.storeOptions(gen)
		if mod != nil {
			mod(&o)
		}
		rec := r.rec.begin(&ChaosOp{Client: "harness", N: r.nextN(), Op: opname.Open})
		var s *store.Store
		s, err = store.Open(ctx, r.storeDir, o)
		r.rec.end(rec, err)
		if err == nil {
			r.st, r.openErr, r.keyGen = s, nil, gen
			r.repairs = append(r.repairs, s.Repairs()...)
			r.opened++
			return nil
		}
		r.noteCorruption(err)
		if !errors.Is(err, store.ErrWrongKey) {
			break
		}
	}
	r.openErr = err
	return err
}

func (r *chaosRun) close() error {
	if r.st == nil {
		return nil
	}
	err := r.st.Close()
	r.st = nil
	return err
}

// nextN numbers the run's own "harness" calls, from 0 in each run (and
// in each process of it), as every client's calls are numbered.
func (r *chaosRun) nextN() int64 { return r.harnessN.Add(1) - 1 }

func (r *chaosRun) handlerFailRate() float64 {
	return float64(r.failRate.Load()) / 1e9
}

func (r *chaosRun) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// needsWorker reports whether the run's workload must run in a worker
// child: a kill or a disk-full fault.
func needsWorker(plan []fault.PlannedFault) bool {
	for _, p := range plan {
		if p.Type == scenarios.FaultKill || p.Type == scenarios.FaultDiskFull || p.Type == scenarios.FaultPowerLoss {
			return true
		}
	}
	return false
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
	dir := filepath.Join(opts.OutDir, sc.Name)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("run scenario %s: %w", sc.Name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("run scenario %s: %w", sc.Name, err)
	}
	r := newChaosRun(sc, opts, dir)
	res := &ScenarioResult{
		Scenario: sc.Name, Description: sc.Description, Protection: string(sc.Protection),
		Seed: opts.Seed, Quick: opts.Quick, Canary: opts.Canary, Ops: sc.Workload.Ops,
		SyncMode: string(sc.Store.Sync), Recovery: string(sc.Store.Recovery), Dir: dir,
	}
	sched, err := fault.MarshalSchedule(r.plan)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "faults.jsonl"), sched, 0o644); err != nil {
		return nil, fmt.Errorf("run scenario %s: %w", sc.Name, err)
	}
	start := time.Now()
	r.log.Info("scenario start", "scenario", sc.Name, "seed", opts.Seed, "quick", opts.Quick, "canary", opts.Canary)
	defer r.stopFaultFS()
	if err := fault.ValidateSchedule(r.plan); err != nil {
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
	final := r.finalState(ctx)
	r.states = append(r.states, stateAt{at: r.rec.now(), restart: r.restartKind(), fs: final})
	res.Checks = r.runChecks(ctx, final, r.states)
	res.Checks = append(res.Checks, r.faultfsChecks()...)
	_ = r.close()
	ops, faults := r.rec.snapshot()
	r.crashFigures(res, faults)
	hs := histograms(ops)
	res.Thresholds = r.thresholds(hs)
	res.Latency = latencySummary(hs)
	res.Elapsed = time.Since(start)
	res.Faults = faults
	if len(ops) > maxOpsFile {
		r.note("ops.jsonl not written: %d calls (history.jsonl has them all)", len(ops))
	}
	res.Notes = r.notes
	res.Verdict = overallVerdict(res)
	if err := r.writeScenario(res, ops, r.events, hs); err != nil {
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
	if err := r.open(ctx, nil); err != nil {
		return fmt.Errorf("create store: %w", err)
	}
	if err := r.prepare(ctx); err != nil {
		return err
	}
	if !needsWorker(r.plan) {
		return r.runPlan(ctx, r.plan)
	}
	if err := r.close(); err != nil {
		return fmt.Errorf("close store before worker: %w", err)
	}
	if err := r.runWorker(ctx); err != nil {
		return err
	}
	restart := history.RestartProcess
	if r.powerLossAfterWorker(ctx) {
		restart = history.RestartMachine
	}
	var rest []fault.PlannedFault
	for _, p := range r.plan {
		if !r.steps[p.Index] && !p.AtOp() {
			rest = append(rest, p)
		}
	}
	r.opened = 0
	if err := r.open(ctx, nil); err != nil {
		r.note("open after worker: %v", err)
	} else if r.killed {
		// What the crash left, before any later step changes it.
		st := r.finalState(ctx)
		r.states = append(r.states, stateAt{at: r.rec.now(), restart: restart, fs: st, crashAt: r.crashAt()})
		r.opened = 1
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
	if !slices.ContainsFunc(r.plan, func(p fault.PlannedFault) bool { return p.Type == scenarios.FaultMigrate }) {
		return nil
	}
	s := r.st
	if _, err := s.Migrate(ctx); err != nil {
		return fmt.Errorf("prepare: built-in migrations: %w", err)
	}
	v, err := s.SchemaVersion()
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	return s.Put(ctx, synthBox, synthKey, []byte(fmt.Sprintf("v%d", v)))
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
	if k := r.sc.Workload.Kind; k == scenarios.WorkloadEnqueue || k == scenarios.WorkloadNone {
		return
	}
	const client = "drain"
	var n int64
	// The dead worker's lease would go stale after StaleAfter; the drain's
	// clock is that far ahead instead of waiting for it.
	late := store.ClockFunc(func() time.Time { return time.Now().Add(r.sc.Store.StaleAfter + time.Second) })
	lease, err := r.acquire(ctx, client, &n, store.LockRequest{Owner: client, Clock: late})
	if err != nil {
		r.note("drain after the crash: %v", err)
		return
	}
	for ctx.Err() == nil {
		op, err := r.call(client, &n, opname.Claim, lease.Token, "", func(s queueStore) (store.Op, error) { return s.Claim(ctx, lease.Token) })
		if err != nil {
			break
		}
		if _, err := r.call(client, &n, opname.Ack, lease.Token, op.ID, func(s queueStore) (store.Op, error) {
			return store.Op{}, s.Ack(ctx, lease.Token, op.ID)
		}); err != nil {
			break
		}
	}
	_, _ = r.call(client, &n, opname.Release, lease.Token, "", func(s queueStore) (store.Op, error) {
		return store.Op{}, s.ReleaseLock(ctx, lease.Token)
	})
}
