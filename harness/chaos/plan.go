package chaos

// The plan of one scenario run: the scenario, the options it runs with,
// its fault schedule and where it writes; only the live target changes.

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/internal/fileio"
	"github.com/boxstorm/boxstorm/scenarios"
)

type plan struct {
	sc       *scenarios.Scenario
	opts     RunOptions
	faults   []fault.PlannedFault // the schedule, in order
	dir      string               // the scenario's output directory
	storeDir string
	// targetLog receives the target processes' stderr (target.stderr);
	// live is the target started last (opens are one at a time).
	targetLog io.Writer
	live      atomic.Pointer[target.Remote]
}

// remoteInfo is what the target started last said of itself.
func (p *plan) remoteInfo() target.Info { return p.live.Load().Info() }

func newPlan(sc *scenarios.Scenario, opts RunOptions, dir string) *plan {
	p := &plan{sc: sc, opts: opts, faults: fault.Schedule(sc, opts.Seed), dir: dir, storeDir: filepath.Join(dir, "store")}
	p.targetLog = fileio.Appender(filepath.Join(dir, "target.stderr"))
	return p
}

func (p *plan) backupDir() string { return filepath.Join(p.dir, "backups") }

func (p *plan) backupPath(index int) string {
	return filepath.Join(p.backupDir(), fmt.Sprintf("backup-%02d.tar.age", index))
}

// has reports whether the schedule has a fault of type t.
func (p *plan) has(t scenarios.FaultType) bool {
	return slices.ContainsFunc(p.faults, func(f fault.PlannedFault) bool { return f.Type == t })
}

// needsWorker: a kill, disk-full or power-loss needs a worker child.
func (p *plan) needsWorker() bool {
	return p.has(scenarios.FaultKill) || p.has(scenarios.FaultDiskFull) || p.has(scenarios.FaultPowerLoss)
}

// failpointSpec is the NAME@N failpoint the worker arms for the kill
// fault, or "": the op position's hit for an op fault, the first for a step.
func (p *plan) failpointSpec() string {
	for _, f := range p.faults {
		if p.opts.Target != "" {
			break // a target's process has no failpoints: see crash
		}
		if f.Type != scenarios.FaultKill || f.Fault.Failpoint == "" {
			continue
		}
		n := int64(1)
		if f.AtOp() && f.Op > 0 {
			n = f.Op
		}
		return fmt.Sprintf("%s@%d", f.Fault.Failpoint, n)
	}
	return ""
}

// exe is the chaos binary the run starts its children from.
func (p *plan) exe() (string, error) {
	if p.opts.Exe != "" {
		return p.opts.Exe, nil
	}
	return os.Executable()
}

// judgesFencing: the scenario checks fencing or stale-token refusals.
func (p *plan) judgesFencing() bool {
	return slices.ContainsFunc(p.sc.Checks, func(c scenarios.Check) bool {
		return c.Name == scenarios.CheckFencing || c.Error == scenarios.ErrorStaleToken
	})
}

// inProcessOnly refuses what needs the store in process, with a target.
func (p *plan) inProcessOnly(what string) error {
	if p.opts.Target == "" {
		return nil
	}
	return fmt.Errorf("%s needs the reference store in process, not a target: %w", what, fault.ErrUnsupportedFault)
}
