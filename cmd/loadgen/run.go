package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/harness/load"
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/reports"
	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

// Defaults of `loadgen run`, which double as its flag defaults. Together they
// make a run of about 25 s that the store sustains comfortably with an fsync
// on every commit.
const (
	DefaultWorkload  = load.WorkloadCycle
	DefaultRate      = 500.0 // ops/s
	DefaultDuration  = 20 * time.Second
	DefaultWarmup    = 2 * time.Second
	DefaultValueSize = 256 // bytes
	DefaultSync      = store.SyncAlways

	// DefaultKVRecords is the size of the kv-* workloads' data box.
	DefaultKVRecords = 10_000
	// DefaultClaimMargin is added to the claim workload's computed prefill,
	// on top of 10%, so the queue does not run dry near the end of a run.
	DefaultClaimMargin = 1_000
	// DefaultClosedClaimRate sizes the claim workload's prefill in a closed
	// loop, whose op count cannot be known ahead: this many ops per second
	// of the run, about what the store drains with SyncAlways on the
	// development machine. Faster setups pass --records; loadgen warns when
	// the queue ran dry.
	DefaultClosedClaimRate = 5_000
)

// runFlags are the flags of `loadgen run`.
type runFlags struct {
	workload   string
	rate       float64
	closed     bool
	workers    int
	duration   time.Duration
	ops        int64
	warmup     time.Duration
	interval   time.Duration
	valueSize  int
	records    int
	sync       string
	dir        string
	keyFile    string
	pauses     []string
	seed       uint64
	out        string
	baseline   string
	regression string
	faultFS    bool
	slowIOSpec string
	target     string
	// targetTimeout is how long a request to the target waits for its reply.
	targetTimeout time.Duration
}

func (f *runFlags) register(fs *pflag.FlagSet) {
	fs.StringVarP(&f.workload, "workload", "w", DefaultWorkload, "workload `W` to run; see `loadgen workloads`")
	fs.Float64Var(&f.rate, "rate", DefaultRate, "open loop: issue `N` ops per second, whatever the latency")
	fs.BoolVar(&f.closed, "closed", false, "closed loop: each worker issues its next op when the last one returns")
	fs.IntVar(&f.workers, "workers", load.DefaultWorkers, "`N` concurrent workers: the most ops in flight at once")
	fs.DurationVarP(&f.duration, "duration", "d", DefaultDuration, "measure for `D` (0 with --ops: stop by count only)")
	fs.Int64Var(&f.ops, "ops", 0, "stop after `N` measured ops (alone, it replaces the default --duration)")
	fs.DurationVar(&f.warmup, "warmup", DefaultWarmup, "run for `D` first, excluded from the results")
	fs.DurationVar(&f.interval, "interval", load.DefaultInterval, "length `D` of the interval histograms in run.hlog")
	fs.IntVar(&f.valueSize, "value-size", DefaultValueSize, "payload and value size: `N` bytes")
	fs.IntVar(&f.records, "records", 0, "kv-*: `N` records in the data box (default 10000); claim: ops to prefill\n(default: enough for the run)")
	fs.StringVar(&f.sync, "sync", DefaultSync.String(), "store durability `MODE`: always, interval or never")
	fs.StringVar(&f.dir, "dir", "", "run against the store in `DIR`, and keep it (default: a temporary store)")
	fs.StringVar(&f.target, "target", "", "drive the store in the target `CMD`, a command line that speaks the target\nprotocol (docs/target-protocol.md), such as 'storectl serve' (default: the\nreference store in process)")
	fs.DurationVar(&f.targetTimeout, "target-timeout", target.DefaultTimeout, "with --target, how long a request waits for its reply `D`; a target that\ndoes not answer in time is killed and the run stops")
	fs.StringVar(&f.keyFile, "key-file", "", "master key `FILE` for the store in --dir (default: a fresh random key)")
	fs.StringArrayVar(&f.pauses, "pause", nil, "stall every store op for DUR starting AT into the measured window,\nas `DUR@AT` such as 2s@8s; repeatable")
	fs.Uint64Var(&f.seed, "seed", 0, "seed `N` of the workers' random sources (default: from the clock; printed)")
	fs.StringVarP(&f.out, "out", "o", "", "write the reports into `DIR` (default out/loadgen-<UTC time>)")
	fs.StringVar(&f.baseline, "baseline", "", "compare with the run in `PATH`: a run directory or a summary.json")
	fs.BoolVar(&f.faultFS, "faultfs", false, "run the store on the fault file system (FUSE; needs root and /dev/fuse),\nwith no fault armed: to measure its overhead")
	fs.StringVar(&f.slowIOSpec, "slow-io", "", "on the fault file system, delay every write and fsync by a seeded log-normal\ndraw with median MEDIAN and 99th percentile P99, as `MEDIAN[,P99]` such as\n200us,5ms (a fixed delay without P99); implies --faultfs")
	fs.StringVar(&f.regression, "max-regression", defaultMaxRegression, "with --baseline: allowed regression `PCT` per percentile, or a list such as\ndefault=10,p99=5,max=off,floor=20us")
}

// defaultMaxRegression is reports.DefaultMaxRegression as the flag default.
var defaultMaxRegression = strconv.FormatFloat(reports.DefaultMaxRegression, 'f', -1, 64)

func runCmd() command {
	var f runFlags
	return command{
		Summary: "run a workload against a store and write its reports",
		Usage: `run [--workload W] [--rate N | --closed --workers N] [--duration D | --ops N]
            [--warmup D] [--value-size N] [--sync MODE] [--dir DIR] [--pause DUR@AT]...
            [--target CMD] [--faultfs] [--slow-io MEDIAN[,P99]]
            [--seed N] [--out DIR] [--baseline RUN_DIR|summary.json] [--max-regression PCT]`,
		Help: `Run drives a store workload in an open loop at a constant rate (or a closed
loop with --closed) and measures every op's latency into HDR histograms.
Open-loop latency runs from each op's intended start, which corrects for
coordinated omission; the uncorrected service time is reported beside it.

The store is a temporary directory with a fresh random key, removed afterwards,
unless --dir names one to use and keep. It is opened with the --sync mode, and
every report states it. The run prints its seed; --seed replays the same op
sequence per worker.

The reports go to --out: <op>.hgrm and <op>.uncorrected.hgrm per op, run.hlog,
summary.json, summary.md and report.html (see docs/reports.md). The percentile
table, corrected and uncorrected side by side, goes to stdout. With
--baseline, the run is compared with it and loadgen exits 1 on a regression.
Ctrl-C stops the run early and still writes the partial reports.

With --faultfs the store runs on the fault file system (docs/faults.md), a
FUSE mount over the store directory served by loadgen itself in a child
process; with --slow-io its writes and fsyncs also sleep, seeded by --seed,
which gives real latency tails. Both need root and /dev/fuse, and fail
without them.

With --target the store is a separate process that speaks the target
protocol (docs/target-protocol.md), in any language: loadgen starts CMD,
opens the run's store directory in it with a fresh random key (or
--key-file's) and the --sync mode as its settings, times 200 round trips of
a get of a missing key, one at a time, and then runs the workload with one
request in flight per busy worker. The reports name the target and show the
protocol's round trip beside the latencies, and count failed requests by
their error class. A target that does not start, open or answer fails the
run (exit 1); one that exits or breaks the protocol mid-run stops it, and
the reports hold what was measured until then.`,
		Examples: `
			loadgen run
			loadgen run --workload kv-a --rate 2000 --duration 30s --sync never
			loadgen run --closed --workers 4 --ops 100000 --workload enqueue
			loadgen run --rate 2000 --duration 10s --pause 2s@4s
			loadgen run --workload cycle --rate 500 --duration 10s --slow-io 200us,5ms
			loadgen run --workload cycle --rate 500 --duration 10s --faultfs
			loadgen run --workload claim --rate 1000 --value-size 1024 --seed 42
			loadgen run --dir /mnt/ssd/bench --key-file bench.key --out out/ssd
			loadgen run --target 'storectl serve' --rate 1000 --duration 10s
			loadgen run --target 'python3 examples/targets/python/target.py' --closed --workers 4 --ops 5000
			loadgen run --out out/new --baseline out/base --max-regression p99=5,max=off`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			f.register(fs)
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("run", args, 0, 0, "run [flags]"); err != nil {
					return err
				}
				cfg, err := f.config(fs)
				if err != nil {
					return err
				}
				return cfg.run(ctx, e)
			}
		},
	}
}

// runConfig is a validated `loadgen run`.
type runConfig struct {
	runFlags
	mode       load.Mode
	syncMode   store.SyncMode
	slowIO     faultfs.Delay
	pauseList  []load.Pause
	thresholds reports.Thresholds
	seedGiven  bool
}

// config validates the flags; every mistake is a usage error with a hint.
func (f *runFlags) config(fs *pflag.FlagSet) (*runConfig, error) {
	c := &runConfig{runFlags: *f, mode: load.OpenLoop, seedGiven: fs.Changed("seed")}
	if !knownWorkload(c.workload) {
		return nil, cli.UsageErrorf("the workloads are "+strings.Join(workloadNames(), ", ")+"; `loadgen workloads` describes them",
			"run: unknown workload %q", c.workload)
	}
	if c.closed {
		c.mode, c.rate = load.ClosedLoop, 0
		if fs.Changed("rate") {
			return nil, cli.UsageErrorf("drop --rate for a closed loop (it runs as fast as its --workers can), or drop --closed",
				"run: --rate and --closed do not go together")
		}
	} else if c.rate <= 0 || math.IsInf(c.rate, 0) || math.IsNaN(c.rate) {
		return nil, cli.UsageErrorf("--rate is a positive number of ops per second; for as fast as possible, use --closed",
			"run: --rate %v", f.rate)
	}
	if c.workers < 1 {
		return nil, cli.UsageErrorf("--workers is at least 1", "run: --workers %d", c.workers)
	}
	if fs.Changed("ops") && !fs.Changed("duration") {
		c.duration = 0 // --ops alone stops by count
	}
	switch {
	case c.duration < 0 || c.ops < 0 || c.warmup < 0:
		return nil, cli.UsageErrorf("--duration, --ops and --warmup cannot be negative", "run: negative --duration, --ops or --warmup")
	case c.duration == 0 && c.ops == 0:
		return nil, cli.UsageErrorf("give --duration D (such as 20s) or --ops N, or both: the run stops at whichever comes first",
			"run: neither --duration nor --ops: the run would never stop")
	}
	if c.interval <= 0 {
		return nil, cli.UsageErrorf("--interval is a positive duration such as 1s", "run: --interval %v", c.interval)
	}
	if c.valueSize < 0 {
		return nil, cli.UsageErrorf("--value-size is a size in bytes, 0 or more", "run: --value-size %d", c.valueSize)
	}
	if err := c.checkRecords(fs.Changed("records")); err != nil {
		return nil, err
	}
	var err error
	if c.syncMode, err = store.ParseSyncMode(c.sync); err != nil {
		return nil, cli.UsageErrorf("--sync is always (fsync every commit), interval (fsync in the background) or never",
			"run: --sync %q: not a sync mode", c.sync)
	}
	if c.target != "" {
		if _, err := target.SplitCommand(c.target); err != nil {
			return nil, cli.UsageErrorf("quote --target as a shell would: --target 'storectl --key-file store.key serve'",
				"run: --target: %v", err)
		}
	}
	if c.keyFile != "" && c.dir == "" {
		return nil, cli.UsageErrorf("--key-file opens the store in --dir; add --dir DIR, or drop --key-file for a temporary store",
			"run: --key-file without --dir")
	}
	for _, s := range c.pauses {
		ps, err := load.ParsePauses(s)
		if err != nil {
			return nil, cli.UsageErrorf("write a pause as DUR@AT, Go durations such as 2s@8s: stall for 2s, 8s into the measured window",
				"run: --pause %q: %v", s, err)
		}
		c.pauseList = append(c.pauseList, ps...)
	}
	slices.SortFunc(c.pauseList, func(a, b load.Pause) int { return int(a.At - b.At) })
	for _, p := range c.pauseList {
		if c.duration > 0 && p.At >= c.duration {
			return nil, cli.UsageErrorf(fmt.Sprintf("AT counts from the start of the measured window, after the warm-up: keep it under --duration %v", c.duration),
				"run: --pause %v starts after the measured window ends", p)
		}
	}
	if c.slowIOSpec != "" {
		if c.slowIO, err = parseSlowIO(c.slowIOSpec); err != nil {
			return nil, cli.UsageErrorf("write --slow-io as MEDIAN[,P99], Go durations with 0 < MEDIAN <= P99, such as 200us,5ms",
				"run: --slow-io %q: %v", c.slowIOSpec, err)
		}
		c.faultFS = true
	}
	if c.thresholds, err = parseThresholds("run", c.regression); err != nil {
		return nil, err
	}
	if fs.Changed("max-regression") && c.baseline == "" {
		return nil, cli.UsageErrorf("add --baseline RUN_DIR to compare with, or drop --max-regression",
			"run: --max-regression without --baseline")
	}
	return c, nil
}

// checkRecords checks --records against the workload it sizes.
func (c *runConfig) checkRecords(given bool) error {
	switch {
	case !given:
		return nil
	case c.workload != load.WorkloadClaim && !isKV(c.workload):
		return cli.UsageErrorf("--records sizes the claim and kv-* workloads only; drop it",
			"run: --records with workload %s", c.workload)
	case isKV(c.workload) && c.records < 2:
		return cli.UsageErrorf("a kv workload needs at least 2 records", "run: --records %d", c.records)
	case c.records < 1:
		return cli.UsageErrorf("--records is at least 1", "run: --records %d", c.records)
	}
	return nil
}

func isKV(w string) bool {
	return w == load.WorkloadKVA || w == load.WorkloadKVB || w == load.WorkloadKVC
}

func knownWorkload(name string) bool {
	return slices.Contains(workloadNames(), name)
}

func workloadNames() []string {
	names := make([]string, len(load.StoreWorkloads))
	for i, w := range load.StoreWorkloads {
		names[i] = w.Name
	}
	return names
}

// parseThresholds reads a --max-regression value.
func parseThresholds(cmd, s string) (reports.Thresholds, error) {
	t, err := reports.ParseThresholds(s)
	if err != nil {
		return t, cli.UsageErrorf("--max-regression is a percentage such as 10, or a list such as default=10,p99=5,max=off,floor=20us",
			"%s: --max-regression %q: %v", cmd, s, err)
	}
	return t, nil
}

// recordCount returns the workload's Records: --records, or a default that
// fits the run. The claim workload drains a prefilled queue with a claim and
// an ack per op, so prefilling one op per op of the whole run (warm-up
// included), plus 10% and DefaultClaimMargin, leaves it a wide margin.
func (c *runConfig) recordCount() int {
	if c.records > 0 {
		return c.records
	}
	switch {
	case isKV(c.workload):
		return DefaultKVRecords
	case c.workload != load.WorkloadClaim:
		return 0
	}
	rate := c.rate
	if c.mode == load.ClosedLoop {
		rate = DefaultClosedClaimRate
	}
	n := rate * (c.duration + c.warmup).Seconds()
	if c.ops > 0 && (c.duration == 0 || float64(c.ops) < rate*c.duration.Seconds()) {
		n = float64(c.ops) + rate*c.warmup.Seconds()
	}
	base := int(math.Ceil(n))
	return base + base/10 + DefaultClaimMargin
}
