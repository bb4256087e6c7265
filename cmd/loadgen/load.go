// This file carries out a validated `loadgen run`: it opens the store, builds
// the workload, drives the engine and writes the reports.

package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/boxstorm/boxstorm/opname"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/harness/load"
	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/reports"
	"github.com/boxstorm/boxstorm/store"
)

// errInterrupted marks a run stopped by a signal.
var errInterrupted = errors.New("run interrupted")

// run carries out the run and returns nil, a regression against the
// baseline, or why it failed; the reports are written in every case where
// the engine ran.
func (c *runConfig) run(ctx context.Context, e *env) (err error) {
	// Everything that can fail on a typo fails before the store is made.
	var base *baseline
	if c.baseline != "" {
		if base, err = loadBaseline(c.baseline); err != nil {
			return cli.WithHint(fmt.Errorf("baseline: %w", err), "--baseline takes a run directory (with summary.json) or a summary.json file")
		}
	}
	out := c.out
	if out == "" {
		out = defaultOutDir(time.Now())
	}
	_, statErr := os.Stat(out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	wrote := false
	defer func() {
		if !wrote && statErr != nil {
			_ = os.Remove(out) // made for this run, and still empty
		}
	}()
	if !c.seedGiven {
		c.seed = uint64(time.Now().UnixNano())
	}

	b, err := c.openBackend(ctx, e)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.close()) }()
	storeDir := b.dir
	if abs, err := filepath.Abs(storeDir); err == nil {
		storeDir = abs
	}
	fsName, err := fsType(storeDir)
	if err != nil {
		e.log.Warn("cannot tell the store's file system type", "err", err)
	}

	fmt.Fprintf(e.stdout, "seed: %d\n", c.seed)
	fmt.Fprintf(e.stdout, "sync: %s\n", b.syncMode)
	where := storeDir
	if b.temp {
		where += " (temporary)"
	}
	if fsName != "" {
		where += ", file system " + fsName
	}
	fmt.Fprintf(e.stdout, "store: %s\n", where)
	if b.target != nil {
		fmt.Fprintf(e.stdout, "target: %s, started as %s\n", b.target.Report(), c.target)
		fmt.Fprintf(e.stdout, "round trip: p50 %v, p99 %v over %d requests\n", b.roundTrip.P50.Duration(), b.roundTrip.P99.Duration(), b.roundTrip.Count)
	}
	switch {
	case c.slowIO != (faultfs.Delay{}):
		fmt.Fprintf(e.stdout, "faultfs: slow-io median %v, p99 %v\n", c.slowIO.Median, c.slowIO.P99)
	case c.faultFS:
		fmt.Fprintf(e.stdout, "faultfs: no fault armed\n")
	}

	records := c.recordCount()
	if records > 0 {
		e.log.Info("prefilling the store", "workload", c.workload, "records", records)
	}
	wl, err := load.NewWorkload(ctx, b, c.workload, load.StoreWorkloadOptions{
		Workers: c.workers, ValueSize: c.valueSize, Records: records, Seed: int64(c.seed),
	})
	if err != nil {
		return b.targetFailed(c, fmt.Errorf("workload %s: %w", c.workload, err))
	}
	runCtx := ctx
	if b.target != nil {
		var stop func()
		runCtx, stop = watchTarget(ctx, b.target)
		defer stop()
	}

	eng := load.NewEngine(wl)
	eng.Mode, eng.Rate, eng.Workers = c.mode, c.rate, c.workers
	eng.Duration, eng.Ops, eng.Warmup, eng.Interval = c.duration, c.ops, c.warmup, c.interval
	eng.Pauses, eng.Seed, eng.Logger = c.pauseList, c.seed, e.log
	eng.Progress = newProgress(e.stderr, e.log, c.mode == load.OpenLoop)

	res, runErr := eng.Run(runCtx)
	if res == nil {
		return fmt.Errorf("run: %w", runErr)
	}
	meta := reports.Meta{
		ToolVersion: toolVersion(),
		Flags:       givenFlags(e.flags),
		SyncMode:    b.syncMode,
		Workload:    c.workload,
		ValueSize:   c.valueSize,
		StoreDir:    storeDir,
		StoreFS:     fsName,
	}
	if b.target != nil {
		meta.Target, meta.TargetRoundTrip = b.target.Report(), b.roundTrip
		meta.Target.Command = c.target
		// The target may ignore the setting (the naive example never
		// fsyncs): the report says what was asked, not what it did.
		meta.SyncMode += " (asked of the target)"
	}
	run := res.ReportRun(meta)
	r := rendering{run: run, baseline: base}
	if base != nil {
		r.comparison = reports.Compare(base.summary, reports.Summarize(run), c.thresholds)
	}
	sum, werr := writeReports(out, r)
	wrote = true
	if werr != nil {
		return errors.Join(runErr, werr)
	}
	if err := printRun(e, sum, r.comparison, out); err != nil {
		return err
	}
	c.warnDrained(e, sum)

	switch {
	case b.target != nil && b.target.Err() != nil:
		return cli.WithHint(fmt.Errorf("%w after %v of the measured window: %w", errTargetFailed, res.Elapsed.Round(time.Millisecond), b.target.Err()),
			"the reports in "+out+" hold what was measured until then; "+c.targetHint())
	case errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded):
		return cli.WithHint(fmt.Errorf("%w after %v of the measured window", errInterrupted, res.Elapsed.Round(time.Millisecond)),
			"the reports in "+out+" hold what was measured until then")
	case runErr != nil:
		return fmt.Errorf("run: %w", runErr)
	case r.comparison != nil && r.comparison.Failed():
		return regression(r.comparison, c.baseline)
	}
	return nil
}

// backend is the store a run drives, in process or through --target.
type backend struct {
	load.Backend
	dir      string // where the store opened: the mount point with --faultfs
	temp     bool   // dir is temporary, removed by close
	syncMode string // the store's, or the one asked of the target
	// target and roundTrip are set with --target.
	target    *load.TargetBackend
	roundTrip *reports.RoundTrip
	close     func() error // closes the store and removes a temporary dir
}

// targetFailed gives err the target's failure, when it broke, and the hint
// for it.
func (b *backend) targetFailed(c *runConfig, err error) error {
	if b.target == nil || b.target.Err() == nil {
		return err
	}
	return cli.WithHint(fmt.Errorf("%w: %w", errTargetFailed, err), c.targetHint())
}

// openBackend opens the store the run uses, in --dir or a temporary
// directory, with --faultfs under it: in process, with --key-file or a
// fresh key, or in the --target process, which gets the key in its open
// request.
func (c *runConfig) openBackend(ctx context.Context, e *env) (_ *backend, err error) {
	b := &backend{dir: c.dir, temp: c.dir == "", syncMode: c.syncMode.String()}
	if b.temp {
		if b.dir, err = os.MkdirTemp("", "loadgen-store-"); err != nil {
			return nil, fmt.Errorf("create temporary store directory: %w", err)
		}
	}
	backing := b.dir // b.dir becomes the mount point with --faultfs
	remove := func() error {
		if !b.temp {
			return nil
		}
		if err := os.RemoveAll(backing); err != nil {
			return fmt.Errorf("remove temporary store: %w", err)
		}
		return nil
	}
	// With --faultfs the store directory is the mount's backing directory
	// and the store opens on the mount.
	if c.faultFS {
		dir, unmount, err := c.mountFaultFS(ctx, e, b.dir)
		if err != nil {
			return nil, errors.Join(err, remove())
		}
		b.dir = dir
		prev := remove
		remove = func() error { return errors.Join(unmount(), prev()) }
	}
	if c.target != "" {
		tb, rt, closeTarget, err := c.openTarget(ctx, e, b.dir)
		if err != nil {
			return nil, errors.Join(err, remove())
		}
		b.Backend, b.target, b.roundTrip = tb, tb, rt
		b.close = func() error { return errors.Join(closeTarget(), remove()) }
		return b, nil
	}
	key := store.KeyBytes(store.NewKey())
	if c.keyFile != "" {
		key = store.KeyFile(c.keyFile)
	}
	// The store logs repairs and alerts at warning level and above; its
	// routine messages would drown the progress lines.
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := store.Open(ctx, b.dir, store.Options{Key: key, Sync: c.syncMode, Logger: logger})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: %w", b.dir, err), remove())
	}
	b.Backend, b.syncMode = load.NewStoreBackend(s), s.SyncMode().String()
	b.close = func() error {
		var cerr error
		if err := s.Close(); err != nil {
			cerr = fmt.Errorf("close store: %w", err)
		}
		return errors.Join(cerr, remove())
	}
	return b, nil
}

// warnDrained warns when the claim workload found the queue empty: its
// claims then cost nothing and flatter the figures.
func (c *runConfig) warnDrained(e *env, sum *reports.Summary) {
	if c.workload != load.WorkloadClaim {
		return
	}
	claims, acks := sum.Op(opname.Claim), sum.Op(opname.Ack)
	if claims == nil {
		return
	}
	var acked int64
	if acks != nil {
		acked = acks.Count
	}
	if empty := claims.Count - acked - int64(c.workers); empty > 0 {
		e.log.Warn("the queue ran dry: claims found it empty, and their latency is not a claim's",
			"empty_claims", empty, "hint", fmt.Sprintf("pass --records above %d", c.recordCount()))
	}
}

// toolVersion is the module version loadgen was built from, when the build
// knows it, else the store's version string.
func toolVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return store.ToolVersion
}
