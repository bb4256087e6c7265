package chaos

// Worker children: the chaos binary in its hidden worker mode runs a
// scenario's workload and steps in a process the harness can SIGKILL, or
// under an RLIMIT_FSIZE, and streams its history to the parent as JSON
// lines on stdout. The open-only mode tries a second open of a store
// directory from another process.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/boxstorm/boxstorm/opname"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/chaos/proc"
	"github.com/boxstorm/boxstorm/internal/failpoint"
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

// WorkerCommand is the hidden subcommand of the chaos binary that runs a
// worker child. The binary must pass its arguments to WorkerMain.
const WorkerCommand = "__worker"

// workerSpec is what a worker child runs: worker.json in the scenario's
// directory.
type workerSpec struct {
	Scenario *scenarios.Scenario `json:"scenario"` // already scaled for --quick
	Seed     uint64              `json:"seed"`
	Canary   bool                `json:"canary"`
	Dir      string              `json:"dir"`
	KeyGen   int                 `json:"key_gen"`
	// Socket is where the harness serves its store to processor
	// processes; MonoStart is MonotonicNanos at the harness recorder's
	// start, so a processor process records on the harness's clock.
	Socket    string `json:"socket,omitempty"`
	MonoStart int64  `json:"mono_start,omitempty"`
	// FaultFS is the fault file system's control socket, when the store
	// directory is a faultfs mount.
	FaultFS string `json:"faultfs,omitempty"`
}

func (r *chaosRun) exe() (string, error) {
	if r.opts.Exe != "" {
		return r.opts.Exe, nil
	}
	return os.Executable()
}

// failpointSpec is the failpoint the worker child arms for the run's kill
// fault, as NAME@N, or "": at the op position's hit for an op fault, at the
// first hit for a step.
func (r *chaosRun) failpointSpec() string {
	for _, p := range r.plan {
		if p.Type != scenarios.FaultKill || p.Fault.Failpoint == "" {
			continue
		}
		n := int64(1)
		if p.AtOp() && p.Op > 0 {
			n = p.Op
		}
		return fmt.Sprintf("%s@%d", p.Fault.Failpoint, n)
	}
	return ""
}

// runWorker runs the scenario's workload and steps in a worker child and
// takes over its history, backups and key generation.
func (r *chaosRun) runWorker(ctx context.Context) error {
	exe, err := r.exe()
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	spec := workerSpec{Scenario: r.sc, Seed: r.opts.Seed, Canary: r.opts.Canary, Dir: r.dir, KeyGen: r.keyGen, FaultFS: r.faultfsSocket()}
	b, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	specPath := filepath.Join(r.dir, "worker.json")
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	stderr, err := os.Create(filepath.Join(r.dir, "worker.stderr"))
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	defer stderr.Close()
	args := []string{WorkerCommand, "--spec", specPath}
	if fp := r.failpointSpec(); fp != "" {
		args = append(args, "--failpoint", fp)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	off := r.rec.now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("worker: start %s: %w", exe, err)
	}
	ended := r.rec.readWorkerEvents(out, off)
	streamEnd := r.rec.now()
	werr := cmd.Wait()
	// A killed worker leaves the socket it served processor processes
	// on (they die with it).
	_ = os.Remove(filepath.Join(r.dir, proc.SocketName))
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
	switch {
	case r.killed && ended:
		r.note("worker ended its stream, then was killed")
	case r.killed:
		r.recordObservedKill(streamEnd)
	}
	r.adoptWorkerFaults()
	wantKill := slices.ContainsFunc(r.plan, func(p fault.PlannedFault) bool { return p.Type == scenarios.FaultKill })
	if wantKill && !r.killed {
		r.note("the kill fault did not fire: the worker was not killed")
		r.rec.fault(FaultEvent{Index: -1, Type: scenarios.FaultKill, Phase: "done", Skipped: "the worker finished without reaching the kill"})
	}
	return nil
}

// recordObservedKill records the kill of a worker that died at a
// failpoint: the store kills the process itself there, mid-call, so the
// worker never records the kill, but the parent sees its stream end at
// time cut. The event has phase "kill" and says in its detail that it was
// observed; it goes in time order. Nothing is added when the worker
// recorded its kill itself or the plan has no kill.
func (r *chaosRun) recordObservedKill(cut int64) {
	i := slices.IndexFunc(r.plan, func(p fault.PlannedFault) bool { return p.Type == scenarios.FaultKill })
	if i < 0 {
		return
	}
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	if slices.ContainsFunc(r.rec.faults, func(ev FaultEvent) bool {
		return ev.Type == scenarios.FaultKill && ev.Phase == "kill"
	}) {
		return
	}
	ev := FaultEvent{Index: r.plan[i].Index, Type: scenarios.FaultKill, Phase: "kill", Proc: "worker", Time: cut,
		Detail: map[string]any{"observed": "the worker's stream ended here: a kill at a failpoint records no event of its own", "failpoint": r.plan[i].Fault.Failpoint}}
	at := slices.IndexFunc(r.rec.faults, func(f FaultEvent) bool { return f.Time > cut })
	if at < 0 {
		at = len(r.rec.faults)
	}
	r.rec.faults = slices.Insert(r.rec.faults, at, ev)
}

// adoptWorkerFaults takes over what the worker's faults changed: which
// steps ran, the backups it took, restores it started, key rotations.
func (r *chaosRun) adoptWorkerFaults() {
	_, faults := r.rec.snapshot()
	starts := map[int]int64{}
	for _, ev := range faults {
		if ev.Proc != "worker" {
			continue
		}
		r.steps[ev.Index] = true
		switch {
		case ev.Phase == "start" && ev.Type == scenarios.FaultBackup:
			path, _ := ev.Detail["path"].(string)
			r.backups = append(r.backups, backupRef{Path: path, Index: ev.Index, KeyGen: r.keyGen, Before: ev.Time, After: -1})
			starts[ev.Index] = ev.Time
		case ev.Phase == "done" && ev.Type == scenarios.FaultBackup:
			if n := len(r.backups); n > 0 {
				r.backups[n-1].After = ev.Time
				if v, ok := ev.Detail["schema_version"].(float64); ok {
					r.backups[n-1].Schema = int(v)
				}
				if m, ok := ev.Detail["marker"].(bool); ok && m {
					r.markers[ev.Index] = true
				}
			}
		case ev.Phase == "start" && ev.Type == scenarios.FaultRestore:
			if b, ok := r.latestBackup(); ok {
				r.restores = append(r.restores, restoreRef{Backup: b, At: ev.Time})
			}
		case ev.Phase == "done" && ev.Type == scenarios.FaultRestore:
			if n := len(r.restores); n > 0 {
				r.restores[n-1].OK, r.restores[n-1].Done = ev.Err == "", true
			}
		case ev.Phase == "done" && ev.Type == scenarios.FaultRotateKey && ev.Err == "":
			r.keyGen++
		case ev.Phase == "done" && ev.Type == scenarios.FaultErase:
			if s, ok := ev.Detail["subject"].(string); ok {
				r.erased = append(r.erased, s)
			}
		}
	}
}

// secondOpenProcess opens the store directory from another process.
func (r *chaosRun) secondOpenProcess(ctx context.Context, ev *FaultEvent) error {
	exe, err := r.exe()
	if err != nil {
		return fmt.Errorf("second-open: %w", err)
	}
	args := []string{WorkerCommand, "--open-only", "--dir", r.storeDir, "--key-gen", strconv.Itoa(r.keyGen)}
	if r.opts.Canary {
		args = append(args, "--canary", string(r.sc.Protection))
	}
	rec := r.rec.begin(&ChaosOp{Client: "other-process", N: r.nextN(), Op: opname.SecondOpen})
	out, err := exec.CommandContext(ctx, exe, args...).Output()
	var res openOnlyResult
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		r.rec.end(rec, fmt.Errorf("second-open child: %w (output %q, %v)", jerr, out, err))
		return fmt.Errorf("second-open: child: %v: %w", err, fault.ErrUnsupportedFault)
	}
	r.rec.mu.Lock()
	rec.Return = r.rec.now()
	rec.Err, rec.Class = res.Err, res.Class
	r.rec.mu.Unlock()
	ev.Detail["pid"] = res.PID
	if res.Err == "" {
		ev.Detail["opened"] = true
		return nil
	}
	return classError{msg: res.Err, class: res.Class}
}

// classError carries an error and its class across a process boundary.
type classError struct{ msg, class string }

func (e classError) Error() string { return e.msg }

type openOnlyResult struct {
	Err   string `json:"err,omitempty"`
	Class string `json:"class,omitempty"`
	PID   int    `json:"pid"`
}

// limitFileSize lets the store's files grow by only limit more bytes:
// RLIMIT_FSIZE set to the largest file's size plus limit, with SIGXFSZ
// ignored so that writes fail with EFBIG instead of killing the process.
// It is for a worker child: the limit holds for the whole process.
func limitFileSize(dir string, limit int64) (uint64, error) {
	var largest int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				largest = max(largest, fi.Size())
			}
		}
		return nil
	})
	signal.Ignore(syscall.SIGXFSZ)
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &rl); err != nil {
		return 0, fmt.Errorf("disk-full: %w", err)
	}
	rl.Cur = uint64(largest + limit)
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &rl); err != nil {
		return 0, fmt.Errorf("disk-full: setrlimit: %w", err)
	}
	return rl.Cur, nil
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
	dieAfter := fs.Int("enqueue-and-die", 0, "enqueue this many ops, then SIGKILL this process")
	valueSize := fs.Int("value-size", 256, "payload size (enqueue-and-die)")
	process := fs.Int("process", -1, "run processor process N against the harness's socket (with --spec)")
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
		if err := enqueueAndDie(ctx, *dir, *keyGen, *dieAfter, *valueSize, stdout); err != nil {
			fmt.Fprintf(stderr, "chaos worker: error: %v\n", err)
		}
		return 1
	}
	if *openOnly {
		res := openOnlyResult{PID: os.Getpid()}
		s, err := store.Open(ctx, *dir, store.Options{Key: store.KeyBytes(chaosKey(*keyGen)), Canary: *canary})
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
	r := newChaosRun(spec.Scenario, RunOptions{Seed: spec.Seed, Canary: spec.Canary}, spec.Dir)
	r.worker, r.keyGen = true, spec.KeyGen
	r.rec.proc = "worker"
	r.rec.stream = json.NewEncoder(stdout)
	if err := r.attachFaultFS(ctx, spec.FaultFS); err != nil {
		return fmt.Errorf("faultfs: %w", err)
	}
	if err := r.open(ctx, nil); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	err = r.runPlan(ctx, r.plan)
	_ = r.close()
	r.rec.mu.Lock()
	_ = r.rec.stream.Encode(workerEvent{Kind: "end"})
	r.rec.mu.Unlock()
	return err
}
