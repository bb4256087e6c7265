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

	s, storeDir, temp, closeStore, err := c.openStore(ctx, e)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeStore()) }()
	if abs, err := filepath.Abs(storeDir); err == nil {
		storeDir = abs
	}
	fsName, err := fsType(storeDir)
	if err != nil {
		e.log.Warn("cannot tell the store's file system type", "err", err)
	}

	fmt.Fprintf(e.stdout, "seed: %d\n", c.seed)
	fmt.Fprintf(e.stdout, "sync: %s\n", s.SyncMode())
	where := storeDir
	if temp {
		where += " (temporary)"
	}
	if fsName != "" {
		where += ", file system " + fsName
	}
	fmt.Fprintf(e.stdout, "store: %s\n", where)
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
	wl, err := load.NewStoreWorkload(ctx, s, c.workload, load.StoreWorkloadOptions{
		Workers: c.workers, ValueSize: c.valueSize, Records: records, Seed: int64(c.seed),
	})
	if err != nil {
		return fmt.Errorf("workload %s: %w", c.workload, err)
	}

	eng := load.NewEngine(wl)
	eng.Mode, eng.Rate, eng.Workers = c.mode, c.rate, c.workers
	eng.Duration, eng.Ops, eng.Warmup, eng.Interval = c.duration, c.ops, c.warmup, c.interval
	eng.Pauses, eng.Seed, eng.Logger = c.pauseList, c.seed, e.log
	eng.Progress = newProgress(e.stderr, e.log, c.mode == load.OpenLoop)

	res, runErr := eng.Run(ctx)
	if res == nil {
		return fmt.Errorf("run: %w", runErr)
	}
	run := res.ReportRun(reports.Meta{
		ToolVersion: toolVersion(),
		Flags:       givenFlags(e.flags),
		SyncMode:    s.SyncMode().String(),
		Workload:    c.workload,
		ValueSize:   c.valueSize,
		StoreDir:    storeDir,
		StoreFS:     fsName,
	})
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

// openStore opens the store the run uses: --dir with --key-file or a fresh
// key, or a temporary directory with a fresh key. closeStore closes it and
// removes a temporary directory.
func (c *runConfig) openStore(ctx context.Context, e *env) (s *store.Store, dir string, temp bool, closeStore func() error, err error) {
	key := store.KeyBytes(store.NewKey())
	if c.keyFile != "" {
		key = store.KeyFile(c.keyFile)
	}
	dir, temp = c.dir, c.dir == ""
	if temp {
		if dir, err = os.MkdirTemp("", "loadgen-store-"); err != nil {
			return nil, "", false, nil, fmt.Errorf("create temporary store directory: %w", err)
		}
	}
	backing := dir // dir, the result, becomes the mount point with --faultfs
	remove := func() error {
		if !temp {
			return nil
		}
		if err := os.RemoveAll(backing); err != nil {
			return fmt.Errorf("remove temporary store: %w", err)
		}
		return nil
	}
	// With --faultfs the store directory is the mount's backing directory
	// and the store opens on the mount.
	openDir, unmount := dir, func() error { return nil }
	if c.faultFS {
		if openDir, unmount, err = c.mountFaultFS(ctx, e, dir); err != nil {
			return nil, "", false, nil, errors.Join(err, remove())
		}
		prev := remove
		remove = func() error { return errors.Join(unmount(), prev()) }
	}
	// The store logs repairs and alerts at warning level and above; its
	// routine messages would drown the progress lines.
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err = store.Open(ctx, openDir, store.Options{Key: key, Sync: c.syncMode, Logger: logger})
	if err != nil {
		return nil, "", false, nil, errors.Join(fmt.Errorf("open store %s: %w", openDir, err), remove())
	}
	closeStore = func() error {
		var cerr error
		if err := s.Close(); err != nil {
			cerr = fmt.Errorf("close store: %w", err)
		}
		return errors.Join(cerr, remove())
	}
	return s, openDir, temp, closeStore, nil
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
