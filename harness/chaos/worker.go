package chaos

// Worker children: the chaos binary in its hidden worker mode runs a
// scenario's workload and steps in a process the harness can SIGKILL, or
// under an RLIMIT_FSIZE, and streams its history to the parent on stdout:
// a history.History whose Sink is stdout, on the parent's clock, which the
// parent follows into its own (History.Follow). The open-only mode tries a second open of a store
// directory from another process.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/chaos/proc"
	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/internal/failpoint"
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

// WorkerCommand is the hidden subcommand of the chaos binary that runs a
// worker child. The binary must pass its arguments to WorkerMain.
const WorkerCommand = "__worker"

// workerSpec is what a worker child runs: worker.json in the scenario's dir.
type workerSpec struct {
	Scenario *scenarios.Scenario `json:"scenario"` // already scaled for --quick
	Seed     uint64              `json:"seed"`
	Canary   bool                `json:"canary"`
	Dir      string              `json:"dir"`
	KeyGen   int                 `json:"key_gen"`
	// MonoStart is MonotonicNanos at the harness history's time 0, so the
	// child records on the harness's clock (history.ClockSince).
	MonoStart int64 `json:"mono_start"`
	// Socket is where the harness serves its store to processor
	// processes.
	Socket string `json:"socket,omitempty"`
	// FaultFS is the fault file system's control socket, when the store
	// directory is a faultfs mount.
	FaultFS string `json:"faultfs,omitempty"`
	// Resume is, after a repeated kill, each producer's next enqueue
	// number, so the same clients go on with new markers; Segment counts
	// the workers started before this one.
	Resume  map[string]int64 `json:"resume,omitempty"`
	Segment int              `json:"segment,omitempty"`
	// Target and TargetTimeout are RunOptions'.
	Target        string        `json:"target,omitempty"`
	TargetTimeout time.Duration `json:"target_timeout,omitempty"`
}

// runWorker runs the scenario's workload and steps in a worker child and
// takes over its history, backups and key generation.
func (r *chaosRun) runWorker(ctx context.Context) error {
	if err := r.startWorker(ctx, r.spec(), r.p.failpointSpec(), 0); err != nil {
		return err
	}
	if r.p.has(scenarios.FaultKill) && !r.killed {
		r.note("the kill fault did not fire: the worker was not killed")
		r.fault(history.Fault{Index: -1, Type: string(scenarios.FaultKill), Phase: history.FaultDone, Skipped: "the worker finished without reaching the kill"})
	}
	return nil
}

// startWorker runs one worker child with spec, arming failpoint fp (NAME@N)
// when not empty, until it exits or is killed; since is the history's
// length when it started, for recordObservedKill.
func (r *chaosRun) startWorker(ctx context.Context, spec workerSpec, fp string, since int) error {
	r.killed = false
	exe, err := r.p.exe()
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	specPath := filepath.Join(r.p.dir, "worker.json")
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	stderr, err := os.Create(filepath.Join(r.p.dir, "worker.stderr"))
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	defer stderr.Close()
	args := []string{WorkerCommand, "--spec", specPath}
	if fp != "" {
		args = append(args, "--failpoint", fp)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("worker: start %s: %w", exe, err)
	}
	// A SIGKILL leaves a torn last line at worst, and the calls in flight
	// without returns: they read as never returned.
	ferr := r.hist.Follow(out, "worker", nil)
	_, _ = io.Copy(io.Discard, out)
	streamEnd := r.hist.Now()
	werr := cmd.Wait()
	// A killed worker leaves the socket it served processor processes
	// on (they die with it).
	_ = os.Remove(filepath.Join(r.p.dir, proc.SocketName))
	var ee *exec.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			r.killed = true
		} else {
			r.note("worker exited: %v (see worker.stderr)", werr)
		}
	default:
		return fmt.Errorf("worker: %w: %w", werr, ErrWorker)
	}
	if ferr != nil && !errors.Is(ferr, history.ErrTornHistory) {
		r.note("worker history: %v (see worker.stderr)", ferr)
	}
	if r.killed {
		r.recordObservedKill(streamEnd, since)
	}
	r.adoptWorkerFaults()
	return nil
}

// spec is what a child of the run needs to run its part.
func (r *chaosRun) spec() workerSpec {
	return workerSpec{Scenario: r.p.sc, Seed: r.p.opts.Seed, Canary: r.p.opts.Canary, Dir: r.p.dir, KeyGen: r.sess.keyGen, MonoStart: r.mono, FaultFS: r.faultfsSocket(), Target: r.p.opts.Target, TargetTimeout: r.p.opts.TargetTimeout}
}

// workerClient is the fault client, and the client prefix, of a crash
// worker's events.
const workerClient = "worker"

// recordObservedKill records, as an observed "kill" event at time cut (in
// time order), the kill of a worker that died at a failpoint, mid-call,
// without recording it; nothing when it did, or the plan has no kill.
func (r *chaosRun) recordObservedKill(cut int64, since int) {
	i := slices.IndexFunc(r.p.faults, func(p fault.PlannedFault) bool { return p.Type == scenarios.FaultKill })
	if i < 0 {
		return
	}
	if slices.ContainsFunc(faultEvents(r.hist.Events()[since:]), func(ev FaultEvent) bool {
		return ev.Type == scenarios.FaultKill && ev.Phase == history.FaultKill
	}) {
		return
	}
	f := history.Fault{Index: r.p.faults[i].Index, Type: string(scenarios.FaultKill), Phase: history.FaultKill,
		Detail: map[string]any{"observed": "the worker's stream ended here: a kill at a failpoint records no event of its own", "failpoint": r.p.faults[i].Fault.Failpoint}}
	r.hist.Record(history.HistoryEvent{Client: workerClient, Kind: history.KindFault, Call: cut, Return: cut, Fault: &f})
}

// adoptWorkerFaults takes over what the worker's faults changed: which
// steps ran, the backups it took, restores it started, key rotations.
func (r *chaosRun) adoptWorkerFaults() {
	for _, ev := range faultEvents(r.hist.Events()) {
		if ev.Proc != workerClient {
			continue
		}
		r.steps[ev.Index] = true
		switch {
		case ev.Phase == history.FaultStart && ev.Type == scenarios.FaultBackup:
			path, _ := ev.Detail["path"].(string)
			r.eff.Backups = append(r.eff.Backups, check.Backup{Path: path, Index: ev.Index, KeyGen: r.sess.keyGen, Before: ev.Time, After: -1})
		case ev.Phase == history.FaultDone && ev.Type == scenarios.FaultBackup:
			if n := len(r.eff.Backups); n > 0 {
				b := &r.eff.Backups[n-1]
				b.After = ev.Time
				if v, ok := ev.Detail["schema_version"].(float64); ok {
					b.Schema = int(v)
				}
				if m, ok := ev.Detail["marker"].(bool); ok && m {
					b.Marker = true
				}
			}
		case ev.Phase == history.FaultStart && ev.Type == scenarios.FaultRestore:
			if b, ok := r.latestBackup(); ok {
				r.eff.Restores = append(r.eff.Restores, check.Restore{Backup: b, At: ev.Time})
			}
		case ev.Phase == history.FaultDone && ev.Type == scenarios.FaultRestore:
			if n := len(r.eff.Restores); n > 0 {
				r.eff.Restores[n-1].OK, r.eff.Restores[n-1].Done = ev.Err == "", true
			}
		case ev.Phase == history.FaultDone && ev.Type == scenarios.FaultRotateKey && ev.Err == "" && ev.Skipped == "":
			r.sess.keyGen++
		case ev.Phase == history.FaultDone && ev.Type == scenarios.FaultErase:
			if s, ok := ev.Detail["subject"].(string); ok {
				r.eff.Erased = append(r.eff.Erased, s)
			}
		}
	}
}

// secondOpenProcess opens the store directory from another process.
func (r *chaosRun) secondOpenProcess(ctx context.Context, ev *history.Fault) error {
	exe, err := r.p.exe()
	if err != nil {
		return fmt.Errorf("second-open: %w", err)
	}
	args := []string{WorkerCommand, "--open-only", "--dir", r.p.storeDir, "--key-gen", strconv.Itoa(r.sess.keyGen)}
	if r.p.opts.Canary {
		args = append(args, "--canary", string(r.p.sc.Protection))
	}
	if r.p.opts.Target != "" {
		args = append(args, "--target", r.p.opts.Target)
	}
	call := r.hist.Call(r.client("other-process"), history.KindSecondOpen, "", history.OpInput{})
	out, err := exec.CommandContext(ctx, exe, args...).Output()
	var res openOnlyResult
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		r.hist.Return(call, result(history.OpOutput{}, fmt.Errorf("second-open child: %w (output %q, %v)", jerr, out, err)))
		return fmt.Errorf("second-open: child: %v: %w", err, fault.ErrUnsupportedFault)
	}
	var cerr error
	if res.Err != "" {
		cerr = classError{msg: res.Err, class: res.Class}
	}
	r.hist.Return(call, result(history.OpOutput{}, cerr))
	ev.Detail["pid"] = res.PID
	if res.Err == "" {
		ev.Detail["opened"] = true
		return nil
	}
	return classError{msg: res.Err, class: res.Class}
}

type openOnlyResult struct {
	Err   string `json:"err,omitempty"`
	Class string `json:"class,omitempty"`
	PID   int    `json:"pid"`
}

// WorkerMain is the hidden worker mode of the chaos binary: it parses args
// (everything after WorkerCommand), runs, and returns the exit code. It is
// an internal protocol between the harness and its own binary.
func WorkerMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(WorkerCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	spec := fs.String("spec", "", "worker spec file")
	openOnly := fs.Bool("open-only", false, "only try to open the store")
	dir := fs.String("dir", "", "store directory (open-only)")
	keyGen := fs.Int("key-gen", 0, "key generation (open-only)")
	canary := fs.String("canary", "", "canary (open-only)")
	tgt := fs.String("target", "", "the target's command line (open-only)")
	dieAfter := fs.Int("enqueue-and-die", 0, "enqueue this many ops, then SIGKILL this process")
	valueSize := fs.Int("value-size", 256, "payload size (enqueue-and-die)")
	process := fs.Int("process", -1, "run processor process N against the harness's socket (with --spec)")
	monoStart := fs.Int64("mono-start", 0, "MonotonicNanos at the parent history's time 0 (enqueue-and-die)")
	fp := fs.String("failpoint", "", "arm the store failpoint `NAME@N`: SIGKILL this process at its N-th hit (with --spec)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *fp != "" {
		name, after, err := failpoint.Parse(*fp)
		if err == nil {
			err = failpoint.Arm(name, after)
		}
		if err != nil {
			fmt.Fprintf(stderr, "chaos worker: error: --failpoint: %v\n", err)
			return 2
		}
	}
	if *process >= 0 {
		if err := runProcessSpec(ctx, *spec, *process, stdout); err != nil {
			fmt.Fprintf(stderr, "chaos worker: %s: error: %v\n", proc.Name(*process), err)
			return 1
		}
		return 0
	}
	if *dieAfter > 0 {
		if err := enqueueAndDie(ctx, *dir, *keyGen, *dieAfter, *valueSize, *monoStart, stdout); err != nil {
			fmt.Fprintf(stderr, "chaos worker: error: %v\n", err)
		}
		return 1
	}
	if *openOnly {
		res := openOnlyResult{PID: os.Getpid()}
		p := &plan{opts: RunOptions{Target: *tgt}, targetLog: io.Discard}
		s, err := p.openBackend(ctx, *dir, chaosKey(*keyGen), store.Options{Canary: *canary})
		if err != nil {
			res.Err, res.Class = err.Error(), ErrorClass(err)
		} else {
			_ = s.Close()
		}
		_ = json.NewEncoder(stdout).Encode(res)
		return 0
	}
	if err := runWorkerSpec(ctx, *spec, stdout); err != nil {
		fmt.Fprintf(stderr, "chaos worker: error: %v\n", err)
		return 1
	}
	return 0
}

// readWorkerSpec reads a worker child's spec file.
func readWorkerSpec(path string) (*workerSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var spec workerSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("spec %s: %w", path, err)
	}
	if spec.Scenario == nil {
		return nil, fmt.Errorf("spec %s: no scenario: %w", path, store.ErrInvalid)
	}
	return &spec, nil
}

func runWorkerSpec(ctx context.Context, path string, stdout io.Writer) error {
	spec, err := readWorkerSpec(path)
	if err != nil {
		return err
	}
	r := newChaosRun(newPlan(spec.Scenario, RunOptions{Seed: spec.Seed, Canary: spec.Canary, Target: spec.Target, TargetTimeout: spec.TargetTimeout}, spec.Dir), spec.MonoStart, workerClient, stdout)
	r.sess.keyGen = spec.KeyGen
	if err := r.attachFaultFS(ctx, spec.FaultFS); err != nil {
		return fmt.Errorf("faultfs: %w", err)
	}
	r.resume, r.segment = spec.Resume, spec.Segment
	if err := r.sess.open(ctx, nil); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	err = r.runPlan(ctx, r.p.faults)
	if r.killArmed {
		select {} // the kill lands in a few milliseconds
	}
	_ = r.sess.close()
	if herr := r.hist.Err(); herr != nil && err == nil {
		err = herr
	}
	return err
}
