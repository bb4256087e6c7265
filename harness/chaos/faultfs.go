package chaos

// The fault file system under a scenario's store: a scenario with any
// faultfs fault type (power-loss, fsync-error, enospc, slow-io, explore)
// gets its store directory on a faultfs mount, served by the chaos binary's
// hidden __faultfs subcommand. A worker child attaches to the same server
// over its control socket to inject faults from inside the workload.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/scenarios"
)

// FaultFSCommand is the hidden subcommand of the chaos binary that serves
// the fault file system (faultfs.ServeMain).
const FaultFSCommand = "__faultfs"

// CheckFaultFS names the check that says why a scenario that needs the
// fault file system could not run on one.
const CheckFaultFS = "faultfs"

// faultfsRun is a run's fault file system and what was done on it.
type faultfsRun struct {
	mount *faultfs.Mount
	// unavailable says why no mount could be made; the scenario is then
	// unknown, never a pass.
	unavailable string
	// crashAt is the history time of the last power loss's kill, 0 for none.
	crashAt int64
	// explorations are the explore steps' results, in order.
	explorations []*ExploreResult
	checks       []check.CheckResult
	log          *os.File
}

// startFaultFS mounts the fault file system over the store directory when
// the scenario needs it. The backing directory is inside the scenario's
// directory. stopFaultFS unmounts it; it is safe to call either way.
func (r *chaosRun) startFaultFS(ctx context.Context) error {
	if !r.p.sc.NeedsFaultFS() {
		return nil
	}
	r.ff = &faultfsRun{}
	if err := faultfs.Available(); err != nil {
		r.ff.unavailable = err.Error()
		return fmt.Errorf("the scenario needs the fault file system: %w", err)
	}
	exe, err := r.p.exe()
	if err != nil {
		return fmt.Errorf("faultfs: %w", err)
	}
	logf, err := os.Create(filepath.Join(r.p.dir, "faultfs.log"))
	if err != nil {
		return fmt.Errorf("faultfs: %w", err)
	}
	m, err := faultfs.Start(ctx, []string{exe, FaultFSCommand}, filepath.Join(r.p.dir, "backing"), r.p.storeDir, faultfs.Options{Stderr: logf})
	if err != nil {
		logf.Close()
		r.ff.unavailable = err.Error()
		return fmt.Errorf("faultfs: %w", err)
	}
	r.ff.mount = m
	r.ff.log = logf
	return nil
}

// stopFaultFS closes the store and unmounts the fault file system.
func (r *chaosRun) stopFaultFS() {
	if r.ff == nil || r.ff.mount == nil {
		return
	}
	_ = r.sess.close()
	if err := r.ff.mount.Close(); err != nil {
		r.note("faultfs: unmount: %v", err)
	}
	if r.ff.log != nil {
		r.ff.log.Close()
	}
	r.ff.mount, r.ff.log = nil, nil
}

// faultfsSocket is the control socket a worker child attaches to, or "".
func (r *chaosRun) faultfsSocket() string {
	if r.ff == nil || r.ff.mount == nil {
		return ""
	}
	return r.ff.mount.Socket()
}

// attachFaultFS connects a worker child to the harness's fault file system.
func (r *chaosRun) attachFaultFS(ctx context.Context, socket string) error {
	if socket == "" {
		return nil
	}
	m, err := faultfs.Attach(ctx, socket, r.p.storeDir, faultfs.Options{})
	if err != nil {
		return err
	}
	r.ff = &faultfsRun{mount: m}
	return nil
}

// applyFaultFS runs a fault file system fault.
func (r *chaosRun) applyFaultFS(ctx context.Context, p fault.PlannedFault, ev *history.Fault) error {
	f := p.Fault
	if f.Type == scenarios.FaultExplore {
		return r.explore(ctx, p, ev)
	}
	if r.ff == nil || r.ff.mount == nil {
		return fmt.Errorf("%s: no fault file system: %w", f.Type, fault.ErrUnsupportedFault)
	}
	m := r.ff.mount
	switch f.Type {
	case scenarios.FaultPowerLoss:
		if r.proc != workerClient {
			return fmt.Errorf("power-loss outside a worker child: %w", fault.ErrUnsupportedFault)
		}
		// The harness cuts the power once this process is gone: a power
		// loss takes the process with it.
		r.crash(history.Fault{Index: p.Index, Type: string(p.Type), Phase: history.FaultKill, Detail: map[string]any{"mode": f.Mode, "seed": p.Seed}})
	case scenarios.FaultFsyncError:
		ev.Detail["nth"], ev.Detail["sticky"] = f.Nth, f.Sticky
		return m.FsyncError(ctx, f.Nth, f.Sticky)
	case scenarios.FaultENOSPC:
		ev.Detail["budget"] = f.Budget
		return m.ENOSPC(ctx, f.Budget)
	case scenarios.FaultSlowIO:
		ev.Detail["median"], ev.Detail["p99"] = f.Median.String(), f.P99.String()
		return m.SlowIO(ctx, p.Seed, faultfs.Delay{Median: f.Median, P99: f.P99})
	}
	return fmt.Errorf("%s: %w", f.Type, fault.ErrUnsupportedFault)
}

// powerLossAfterWorker cuts the power of the fault file system once a worker
// child that reached a power-loss fault is dead, so the store reopens on what
// a disk would hold, seeded by the fault's seed. It returns whether it did.
func (r *chaosRun) powerLossAfterWorker(ctx context.Context) bool {
	kill, ok := r.powerLossKill(0)
	if !ok {
		return false
	}
	for _, p := range r.p.faults {
		if p.Index == kill.Index {
			return r.cutPower(ctx, p, p.Seed, kill.Time)
		}
	}
	return false
}

// powerLossKill returns the last kill event of a power-loss fault at event
// index since or later, if a killed worker recorded one and the run has a
// fault file system.
func (r *chaosRun) powerLossKill(since int) (FaultEvent, bool) {
	if !r.killed || r.ff == nil || r.ff.mount == nil {
		return FaultEvent{}, false
	}
	var kill FaultEvent
	ok := false
	for _, ev := range faultEvents(r.hist.Events()[since:]) {
		if ev.Type == scenarios.FaultPowerLoss && ev.Phase == history.FaultKill {
			kill, ok = ev, true
		}
	}
	return kill, ok
}

// cutPower cuts the power of the fault file system for power-loss fault p,
// with seed choosing what a torn write keeps, after the kill at history
// time killAt, then gives the machine back a healthy disk. It records the
// fault's done event and returns whether the power loss took place.
func (r *chaosRun) cutPower(ctx context.Context, p fault.PlannedFault, seed uint64, killAt int64) bool {
	mode := faultfs.LoseUnsynced
	if p.Fault.Mode == scenarios.PowerLossTorn {
		mode = faultfs.Torn
	}
	ev := history.Fault{Index: p.Index, Type: string(p.Type), Phase: history.FaultDone, Detail: map[string]any{"mode": p.Fault.Mode, "seed": seed}}
	if st, err := r.ff.mount.Stats(ctx); err == nil {
		ev.Detail["unsynced_ops"], ev.Detail["unsynced_bytes"] = st.UnsyncedOps, st.UnsyncedBytes
	}
	err := r.ff.mount.PowerLoss(ctx, mode, seed)
	if err == nil {
		// The machine comes back with a healthy disk.
		err = r.ff.mount.Reset(ctx)
	}
	if err != nil {
		ev.Err = err.Error()
	}
	r.fault(ev)
	r.ff.crashAt = killAt
	return err == nil
}

// faultfsChecks are the checks the fault file system adds to a scenario's:
// the explorations' verdicts, or why the scenario could not run on one.
func (r *chaosRun) faultfsChecks() []check.CheckResult {
	if r.ff == nil {
		return nil
	}
	if r.ff.unavailable != "" {
		return []check.CheckResult{{Name: CheckFaultFS, Verdict: check.VerdictUnknown,
			Message: "not run: " + r.ff.unavailable + "; scenarios that need the fault file system never pass without it (run as root with /dev/fuse)"}}
	}
	return r.ff.checks
}

// crashFigures fills in a result's crash_states and kills.
func (r *chaosRun) crashFigures(res *ScenarioResult) {
	for _, ev := range res.Faults {
		if ev.Phase == history.FaultKill {
			res.Kills++
		}
	}
	if r.ff == nil {
		return
	}
	for _, x := range r.ff.explorations {
		res.CrashStates += x.States
		res.Explorations = append(res.Explorations, *x)
	}
}

var errNoFaultFS = errors.New("no fault file system")

// crashAt is the history time of the last power loss, 0 for none.
func (r *chaosRun) crashAt() int64 {
	if r.ff == nil {
		return 0
	}
	return r.ff.crashAt
}
