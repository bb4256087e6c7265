package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/boxstorm/boxstorm/harness/chaos"
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/reports"
	"github.com/boxstorm/boxstorm/scenarios"
)

// suiteOptions are the flags of run, and what replay reads back.
type suiteOptions struct {
	seed    uint64
	seedSet bool
	out     string
	junit   string
	quick   bool
	canary  bool
	shard   string
	verbose bool
	// target is the target's command line; empty for the reference store
	// in process. targetTimeout is its per-request timeout.
	target        string
	targetTimeout time.Duration
	// keepStore keeps every scenario's store and backups; without it only
	// the stores of scenarios that did not hold are kept.
	keepStore bool
	// files maps the names of scenarios loaded from files to their paths.
	files map[string]string
}

var runCommand = command{
	Summary: "run scenarios and check them",
	Usage:   "run [FILE|NAME...|--all] [--seed N] [--out DIR] [--junit FILE] [--quick] [--canary] [--target CMD [--target-timeout D]] [--shard I/N] [--keep-store]",
	Help: `run runs each scenario: it opens a fresh store under the output directory,
drives the workload, injects the faults at their logical positions, and runs
the checks the scenario lists. Scenarios are files (a path with a / or a .)
or names of built-in scenarios; --all runs every built-in one.

The seed decides the fault schedule (faults.jsonl is byte-identical for the
same seed) and is printed first; pass it back with --seed to reproduce a run.
With --canary each scenario runs against its known-bad target, the store with
the scenario's protection switched off, and the run passes only if every
scenario reports a violation.

With --target CMD the scenarios drive a target, a program that speaks the
target protocol (docs/target-protocol.md), instead of the reference store in
process: each open of the store starts CMD (split as a shell would, nothing
expanded) and sends it an open request, each close ends it, and a kill
SIGKILLs it. Power loss, fsync errors and slow I/O act on the store
directory's fault file system, clock skew on the clocks the requests carry.
The checks read the queue back with the state request; crash-state
exploration starts CMD on each crash state. What needs the reference store
in process (exploring purge or migrate, index damage, the failpoints,
synthetic migrations) is reported unknown, naming why; a failpoint kill
lands 0-4 ms after its position instead, with requests in flight. So is a
check of a promise the target does not make, or a step whose request it
does not claim. A request unanswered within --target-timeout kills the
target. Give CMD a built binary, not go run: disk-full starts it under a
file-size limit, and a kill reaches only the process group. Run chaos
conform --target CMD first.

Output, under --out (default out/chaos-<UTC time>/): one directory per
scenario (result.json, faults.jsonl, history.jsonl, <op>.hgrm, and
on a violation violation-history.jsonl and porcupine's linearizable.html),
then summary.json, summary.md, junit.xml and report.html.

A scenario's store (its store/ and backups/ directories, tens of megabytes
for some) is kept only when the scenario did not hold: a fail or unknown
verdict, or in a canary run a violation that was not caught. --keep-store
keeps every one.`,
	Examples: `chaos run --all --quick
chaos run --all --quick --canary
chaos run truncated-tail clock-skew-lock --seed 7
chaos run scenarios/disk-full.yaml --out out/df --junit out/df.xml
chaos run --all --seed 20260101 --shard 2/4
chaos run clock-skew-lock --quick --keep-store
chaos run --all --quick --target 'storectl serve'
chaos run power-loss-enqueue --target 'go run ./examples/targets/naive'`,
	Setup: func(fs *pflag.FlagSet) runFunc {
		var o suiteOptions
		all := fs.Bool("all", false, "run every built-in scenario")
		fs.Uint64Var(&o.seed, "seed", 0, "seed `N` of the fault schedule (default: random, printed)")
		fs.StringVar(&o.out, "out", "", "write the results into `DIR` (default out/chaos-<UTC time>)")
		fs.StringVar(&o.junit, "junit", "", "also write the JUnit report to `FILE` (default <out>/junit.xml)")
		fs.BoolVar(&o.quick, "quick", false, "scale every scenario down to its quick_ops")
		fs.BoolVar(&o.canary, "canary", false, "run against the known-bad targets; pass only if every violation is caught")
		fs.StringVar(&o.shard, "shard", "", "run only shard `I/N`: the I-th of N (1-based)")
		fs.BoolVar(&o.keepStore, "keep-store", false, "keep every scenario's store and backups, not only those of scenarios that did not hold")
		fs.BoolVarP(&o.verbose, "verbose", "v", false, "log each scenario's progress to stderr")
		fs.StringVar(&o.target, "target", "", "drive the target `CMD` through the target protocol instead of the reference store")
		fs.DurationVar(&o.targetTimeout, "target-timeout", target.DefaultTimeout, "with --target, how long a request waits for its reply `D`; a target that does not answer in time is killed")
		return func(ctx context.Context, e *env, args []string) error {
			if o.canary && o.target != "" {
				return cli.UsageErrorf("drop one: a target is its own known-bad target", "run: --canary and --target together: the canary switches are the reference store's")
			}
			o.seedSet = fs.Changed("seed")
			o.files = map[string]string{}
			list, err := loadScenarios(args, *all, o.files)
			if err != nil {
				return err
			}
			return runSuite(ctx, e, list, o)
		}
	},
}

// parseShard reads I/N.
func parseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || n < 1 || i < 1 || i > n {
		return 0, 0, cli.UsageErrorf("write the shard as I/N with 1 <= I <= N, as in --shard 2/4", "run: bad --shard %q", s)
	}
	return i, n, nil
}

func randomSeed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) >> 1
}

// workerExe is the binary worker children run: this one, found the way the
// shell found it, so that a test binary standing in for chaos works too.
func workerExe() string {
	if p, err := exec.LookPath(os.Args[0]); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	p, _ := os.Executable()
	return p
}

// runSuite runs the scenarios and writes the run's reports. A violation
// is no error: it sets the exit code, e.code, to cli.ExitFailure.
func runSuite(ctx context.Context, e *env, list []*scenarios.Scenario, o suiteOptions) error {
	if o.shard != "" {
		i, n, err := parseShard(o.shard)
		if err != nil {
			return err
		}
		var mine []*scenarios.Scenario
		for k, sc := range list {
			if k%n == i-1 {
				mine = append(mine, sc)
			}
		}
		list = mine
	}
	if !o.seedSet {
		o.seed = randomSeed()
	}
	started := time.Now().UTC()
	if o.out == "" {
		o.out = filepath.Join("out", "chaos-"+started.Format("20060102T150405Z"))
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	fmt.Fprintf(e.stdout, "seed %d\n", o.seed)
	sum := &reports.ChaosSummary{Tool: "boxstorm chaos", Seed: o.seed, Quick: o.quick, Canary: o.canary, Shard: o.shard, Started: started}
	if o.target != "" {
		name, rt, err := probeTarget(ctx, o.target, o.targetTimeout, o.out)
		if err != nil {
			return err
		}
		sum.Target, sum.TargetCommand, sum.TargetRoundTrip = name, o.target, rt
		fmt.Fprintf(e.stdout, "target %s; protocol round trip p50 %s, p99 %s\n", name, reports.HumanDuration(rt.P50.Duration()), reports.HumanDuration(rt.P99.Duration()))
	}
	exe := workerExe()
	for _, sc := range list {
		res, err := chaos.RunScenario(ctx, sc, chaos.RunOptions{Seed: o.seed, Quick: o.quick, Canary: o.canary, OutDir: o.out, Exe: exe, Logger: logger, Target: o.target, TargetTimeout: o.targetTimeout})
		if err != nil && res == nil {
			if ctx.Err() != nil {
				return err
			}
			sum.Scenarios = append(sum.Scenarios, reports.ChaosScenario{Name: sc.Name, Verdict: reports.VerdictUnknown, Error: err.Error()})
			fmt.Fprintf(e.stdout, "%-26s error   %v\n", sc.Name, err)
			continue
		}
		entry := res.Entry()
		if err != nil {
			entry.Error = err.Error()
		}
		if f, ok := o.files[sc.Name]; ok {
			if abs, err := filepath.Abs(f); err == nil {
				f = abs
			}
			entry.File = f
		}
		entry.Checks = checkVerdicts(res)
		sum.Scenarios = append(sum.Scenarios, entry)
		printEntry(e, entry)
		if !o.keepStore && entry.Held() && entry.Error == "" {
			if err := removeStore(filepath.Join(o.out, sc.Name)); err != nil {
				logger.Warn("cannot remove the store of a scenario that held", "scenario", sc.Name, "err", err)
			}
		}
	}
	sum.Elapsed = time.Since(started)
	sum.Finish()
	if err := reports.WriteChaosReports(o.out, o.junit, sum); err != nil {
		return fmt.Errorf("run: write reports: %w", err)
	}
	fmt.Fprintf(e.stdout, "%s: %d scenarios in %s, seed %d; reports in %s\n", strings.ToUpper(sum.Verdict), len(sum.Scenarios), sum.Elapsed.Round(time.Millisecond), o.seed, o.out)
	if sum.Verdict == reports.VerdictFail {
		e.code = cli.ExitFailure
		return nil
	}
	return nil
}

// probeTarget starts the target and opens a store in a scratch directory
// under out, to fail early and clearly on a target that cannot start or
// open; it returns the target's name and version, and the protocol's round
// trip (target.MeasureRoundTrip).
func probeTarget(ctx context.Context, command string, timeout time.Duration, out string) (string, *reports.RoundTrip, error) {
	if _, err := target.SplitCommand(command); err != nil {
		return "", nil, cli.UsageErrorf("quote CMD as a shell would", "run: --target: %v", err)
	}
	dir, err := os.MkdirTemp(out, "target-probe-")
	if err != nil {
		return "", nil, fmt.Errorf("run: %w", err)
	}
	defer os.RemoveAll(dir)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	fail := func(err error) (string, *reports.RoundTrip, error) {
		return "", nil, cli.WithHint(fmt.Errorf("run: --target %q: %w", command, err), "check it with chaos conform --target CMD")
	}
	rem, err := target.Dial(ctx, target.RemoteConfig{Command: command, Dir: filepath.Join(dir, "store"), Key: key, Options: target.Options{Timeout: timeout}})
	if err != nil {
		return fail(err)
	}
	rt, err := target.MeasureRoundTrip(ctx, rem, "chaos_probe", target.DefaultRoundTrips)
	if err != nil {
		rem.Close()
		return fail(err)
	}
	name := strings.TrimSpace(rem.Name() + " " + rem.Version())
	if err := rem.Close(); err != nil {
		return fail(fmt.Errorf("close: %w", err))
	}
	return name, rt, nil
}

// storeDirs are the directories under a scenario's output directory that
// hold its store's data: the store itself and the backups of it.
var storeDirs = []string{"store", "backups"}

// removeStore deletes the store directories of the scenario whose output
// directory is dir. They are evidence only when the scenario did not hold.
func removeStore(dir string) error {
	var errs []error
	for _, n := range storeDirs {
		if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
			errs = append(errs, fmt.Errorf("remove store: %w", err))
		}
	}
	return errors.Join(errs...)
}

// checkVerdicts lists every check of res and every latency threshold with
// its verdict, so the report shows what held, not only what failed.
func checkVerdicts(res *chaos.ScenarioResult) []reports.CheckVerdict {
	var out []reports.CheckVerdict
	for _, c := range res.Checks {
		out = append(out, reports.CheckVerdict{Name: c.Name, Verdict: string(c.Verdict), Message: c.Message})
	}
	for _, t := range res.Thresholds {
		msg := fmt.Sprintf("measured %s over %d calls, limit %s", reports.HumanDuration(t.Measured), t.Count, reports.HumanDuration(t.Limit))
		if t.Count == 0 {
			msg = fmt.Sprintf("no %s calls returned, limit %s", t.Op, reports.HumanDuration(t.Limit))
		}
		if t.Note != "" {
			msg += "; " + t.Note
		}
		out = append(out, reports.CheckVerdict{Name: fmt.Sprintf("threshold %s %s", t.Op, t.Percentile), Verdict: string(t.Verdict), Message: msg})
	}
	return out
}

func printEntry(e *env, en reports.ChaosScenario) {
	v := string(en.Verdict)
	if en.Caught != nil {
		if *en.Caught {
			v = "caught"
		} else {
			v = "MISSED(" + v + ")"
		}
	}
	line := fmt.Sprintf("%-26s %-8s %6.1fs", en.Name, v, en.Elapsed.Seconds())
	if len(en.Failed) > 0 {
		line += "  failed: " + strings.Join(en.Failed, ", ")
	}
	if len(en.Unknown) > 0 {
		line += "  unknown: " + strings.Join(en.Unknown, ", ")
	}
	if en.Error != "" {
		line += "  error: " + en.Error
	}
	fmt.Fprintln(e.stdout, line)
}
