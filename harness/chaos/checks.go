package chaos

// The chaos runner's checks: each scenario check name mapped to a checker
// of package check. The history checkers (no-loss, no-unexpected,
// duplicates, fifo, fencing, linearizable, no-resurrection,
// lock-takeover, idempotency) read the run's history; the state checks (integrity-reported, error-is,
// restore-whole, migration-atomicity) read it with the run's effects
// record and final state; no-plaintext reads the files.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

// Check names the runner adds to a scenario's own.
const (
	// CheckFaultsInjected is unknown when a fault could not be injected, so
	// that a scenario whose faults did not happen never passes.
	CheckFaultsInjected = "faults-injected"
	// CheckMigrationAtomicity is added to scenarios with migrate steps: the
	// synthetic migrations' record must list every applied version.
	CheckMigrationAtomicity = check.CheckerMigrationAtomicity
	// CheckFIFOProbe is added to fifo-order scenarios whose workload claims
	// nothing: after the workload one processor claims the head of the
	// queue, and the claims must follow enqueue order.
	CheckFIFOProbe = "fifo-probe"
)

// fifoProbeClaims is how many ops the FIFO probe claims.
const fifoProbeClaims = 200

// fifoProbe claims the head of the queue under a fresh lease and releases
// it, so the claims void and the ops stay pending.
func (r *chaosRun) fifoProbe(ctx context.Context) {
	sc := r.p.sc
	if sc.Protection != scenarios.Protection(store.CanaryFIFOOrder) || sc.Workload.Kind != scenarios.WorkloadEnqueue {
		return
	}
	if err := r.sess.open(ctx, nil); err != nil {
		return
	}
	r.probed = true
	const client = "fifo-probe"
	lease, err := r.acquire(ctx, client, store.LockRequest{Owner: client})
	if err != nil {
		return
	}
	for range fifoProbeClaims {
		if _, err := r.call(client, history.KindClaim, history.OpInput{Token: lease.Token}, func(s queueStore) (store.Op, error) { return s.Claim(ctx, lease.Token) }); err != nil {
			break
		}
	}
	_, _ = r.call(client, history.KindRelease, history.OpInput{Token: lease.Token}, func(s queueStore) (store.Op, error) {
		return store.Op{}, s.ReleaseLock(ctx, lease.Token)
	})
}

// finalState is what the harness read: check.FinalState, and the alerts.
type finalState struct {
	check.FinalState
	failedOps int
	alerts    []string
	migration time.Duration // the last migration's
}

// restartKind is what the next store-state observation follows.
func (r *chaosRun) restartKind() history.RestartKind {
	switch {
	case r.killed && r.observed == 0:
		return history.RestartProcess
	case r.sess.opened > 1:
		return history.RestartClean
	}
	return history.RestartNone
}

// observe reads the store (see readState) and records what it found in
// the history as a store-state event following restart.
func (r *chaosRun) observe(ctx context.Context, restart history.RestartKind) *finalState {
	fs := r.readState(ctx)
	r.observed++
	if fs.Err == "" {
		st := fs.State
		st.Restart = restart
		if restart == history.RestartMachine {
			// The no-loss check applies the sync mode's promise from here.
			st.CrashAt = r.crashAt()
		}
		r.hist.RecordState(r.client(harnessClient), "", st)
	}
	return fs
}

// readState opens the store if needed and reads everything the checks
// need. A store that refuses to open as corrupt is opened once more in
// point-in-time mode, which keeps a quarantine copy, so the checks can
// still see what survived.
func (r *chaosRun) readState(ctx context.Context) *finalState {
	fs := &finalState{}
	if r.sess.st == nil {
		if err := r.sess.open(ctx, nil); err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				fs.Err = err.Error()
				return fs
			}
			if err := r.sess.open(ctx, func(o *store.Options) { o.Recovery = store.PointInTime }); err != nil {
				fs.Err = err.Error()
				return fs
			}
			r.note("final state read after a point-in-time open (the normal open refused: corrupt)")
		}
	}
	s := r.sess.st
	st, err := s.State(ctx)
	if err != nil {
		fs.Err = fmt.Sprintf("read the state: %v", err)
		return fs
	}
	fs.State = history.StoreState{Pending: stateOps(st.Pending), Failed: stateOps(st.Failed)}
	fs.failedOps, fs.alerts, fs.migration = st.FailedOps, st.Alerts, time.Duration(st.MigrationMS)*time.Millisecond
	fs.Audit, fs.Schema = st.Audit, st.SchemaVersion
	if r.sess.synth > 0 {
		b, err := s.Get(ctx, synthBox, synthKey)
		if err != nil {
			fs.Synthetic = "error: " + err.Error()
		} else {
			fs.Synthetic = string(b)
		}
	}
	if len(r.eff.Erased) > 0 {
		fs.State.Subjects = map[string]int{}
		for _, subj := range r.eff.Erased {
			ops, err := s.Export(ctx, subj)
			if err == nil {
				fs.State.Subjects[subj] = len(ops)
			}
		}
	}
	return fs
}

func stateOps(ops []target.Op) []history.StateOp {
	out := make([]history.StateOp, 0, len(ops))
	for _, op := range ops {
		out = append(out, history.StateOp{ID: op.ID, Seq: op.Seq, PayloadHash: history.HashPayload(op.Payload), Subject: op.Subject})
	}
	return out
}

// effects completes the run's effects record with what only the end of
// the run can tell: which quarantine copies exist, what the store logged,
// the rebuilds that ran.
func (r *chaosRun) effects(raw []history.HistoryEvent) check.Effects {
	eff := r.eff
	eff.Repairs = append([]check.Repair(nil), eff.Repairs...)
	for i, rp := range eff.Repairs {
		_, err := os.Stat(rp.Quarantine)
		eff.Repairs[i].QuarantineExists = err == nil
	}
	for _, l := range r.logs.records() {
		if l.Msg != indexReconciledLog {
			continue
		}
		missing, _ := l.Attrs["missing"].(int64)
		eff.IndexLogs = append(eff.IndexLogs, check.IndexLog{At: l.At, Missing: missing, Text: fmt.Sprintf("%q %v", l.Msg, l.Attrs)})
	}
	for _, ev := range faultEvents(raw) {
		if ev.Type != scenarios.FaultRebuildIndex || ev.Phase != history.FaultDone {
			continue
		}
		b, _ := json.Marshal(ev.Detail["report"])
		var rep store.IndexReport
		_ = json.Unmarshal(b, &rep)
		eff.Rebuilds = append(eff.Rebuilds, check.Rebuild{At: ev.Time, Missing: len(rep.Missing), Malformed: len(rep.MalformedTimestamps)})
	}
	eff.RecoverScheduled = r.p.has(scenarios.FaultRecover) && !slices.ContainsFunc(faultEvents(raw), func(e FaultEvent) bool { return e.Type == scenarios.FaultRecover && e.Skipped != "" })
	eff.Quarantines, _ = filepath.Glob(filepath.Join(r.p.storeDir, "*_corrupted_*.bak"))
	return eff
}

// errorSteps are the fault types that provoke each error an error-is
// check names; corrupt is provoked by damage, stale-token and disk-full
// have checks of their own.
var errorSteps = map[scenarios.ErrorName][]scenarios.FaultType{
	scenarios.ErrorWrongKey:       {scenarios.FaultWrongKey},
	scenarios.ErrorSchemaMismatch: {scenarios.FaultSchemaMismatch},
	scenarios.ErrorLocked:         {scenarios.FaultSecondOpen},
	scenarios.ErrorBackupInvalid:  {scenarios.FaultRestore, scenarios.FaultRecover},
}

// runChecks evaluates every check of the scenario, and the runner's own:
// raw is the history as recorded, judged the history the history checkers
// judge (check.ForgiveTornTails of it).
func (r *chaosRun) runChecks(raw, judged []history.HistoryEvent, fs *finalState) []check.CheckResult {
	sc := r.p.sc
	eff := r.effects(raw)
	opts := check.CheckOptions{Durability: check.Durability(sc.Store.Sync), SyncInterval: sc.Store.SyncInterval, VisualizeDir: r.p.dir}
	if opts.Durability == "" {
		opts.Durability = check.DurabilityAlways
	}
	var out []check.CheckResult
	for _, c := range sc.Checks {
		var res check.CheckResult
		switch c.Name {
		case scenarios.CheckNoLoss:
			switch {
			case fs.Err != "" && len(eff.Damage) == 0:
				// Nothing damaged the files behind the store's back, yet
				// it does not open or read: every acknowledged op is
				// out of reach.
				res = check.CheckResult{Verdict: check.VerdictFail, Message: "the store cannot be opened or read after the run, and the scenario damaged no file: " + fs.Err,
					Violations: []check.Violation{{Kind: "unreadable", Severity: check.SeverityViolation, Message: fs.Err}}}
			case len(eff.Restores) > 0:
				res = check.CheckRestoreWhole(raw, eff, fs.FinalState)
			default:
				res = check.CheckNoLoss(judged, opts)
			}
		case scenarios.CheckNoUnexpected:
			res = check.CheckNoUnexpected(judged)
		case scenarios.CheckDuplicates:
			res = check.CheckDuplicates(judged, opts)
		case scenarios.CheckFIFO:
			res = check.CheckFIFO(judged)
		case scenarios.CheckFencing:
			res = check.CheckFencing(judged)
		case scenarios.CheckLinearizable:
			res = check.CheckLinearizable(judged, opts)
		case scenarios.CheckNoPlaintext:
			res = r.checkNoPlaintext()
		case scenarios.CheckNoResurrection:
			res = check.CheckNoResurrection(judged, opts)
		case scenarios.CheckIntegrityReported:
			res = check.CheckIntegrityReported(raw, eff, fs.FinalState)
		case scenarios.CheckAlertFired:
			res = r.checkAlert(fs)
		case scenarios.CheckErrorIs:
			res = checkErrorIs(c.Error, raw, eff)
		case scenarios.CheckLockTakeover:
			res = check.CheckLockTakeover(judged, sc.Store.StaleAfter)
		case scenarios.CheckIdempotency:
			res = check.CheckIdempotency(judged, opts)
		default:
			res = check.CheckResult{Verdict: check.VerdictUnknown, Message: "the harness has no checker for it"}
		}
		res.Name = c.String()
		if fs.Err != "" && res.Verdict == check.VerdictPass && c.Name != scenarios.CheckErrorIs && c.Name != scenarios.CheckNoPlaintext {
			res.Verdict = check.VerdictUnknown
			res.Message += "; the final state could not be read: " + fs.Err
		}
		if pr := target.CheckPromise(res.Name); pr != "" && r.p.opts.Target != "" && !r.p.remoteInfo().Makes(pr) {
			res = check.CheckResult{Name: res.Name, Verdict: check.VerdictUnknown, Message: fmt.Sprintf("the target does not promise %s (it found: %s %s)", pr, res.Verdict, res.Message)}
		}
		out = append(out, res)
	}
	switch {
	case r.p.opts.Target != "" && r.p.has(scenarios.FaultMigrate):
		out = append(out, check.CheckResult{Name: "migration-atomicity", Verdict: check.VerdictUnknown,
			Message: "the synthetic migrations it needs run in process and cannot cross the target protocol: the target ran its own migrations"})
	case r.sess.synth > 0:
		out = append(out, check.CheckMigrationAtomicity(fs.FinalState))
	}
	if r.probed {
		res := check.CheckFIFO(judged)
		res.Name = CheckFIFOProbe
		out = append(out, res)
	}
	var skipped []string
	for _, ev := range faultEvents(raw) {
		if ev.Skipped != "" {
			skipped = append(skipped, fmt.Sprintf("fault %d (%s): %s", ev.Index, ev.Type, ev.Skipped))
		}
	}
	for _, e := range r.procErrs {
		skipped = append(skipped, "workload.processes: "+e)
	}
	if len(skipped) > 0 {
		out = append(out, check.CheckResult{Name: CheckFaultsInjected, Verdict: check.VerdictUnknown, Message: strings.Join(skipped, "; ")})
	}
	return out
}

// checkErrorIs runs the error-is check for the error name.
func checkErrorIs(name scenarios.ErrorName, raw []history.HistoryEvent, eff check.Effects) check.CheckResult {
	switch name {
	case scenarios.ErrorStaleToken:
		return check.CheckStaleTokenRefused(raw)
	case scenarios.ErrorDiskFull:
		return check.CheckDiskFull(raw, string(scenarios.ErrorDiskFull),
			string(scenarios.FaultDiskFull), string(scenarios.FaultENOSPC), string(scenarios.FaultFsyncError))
	}
	o := check.ErrorIsOptions{Error: string(name), AfterDamage: name == scenarios.ErrorCorrupt}
	for _, t := range errorSteps[name] {
		o.Steps = append(o.Steps, string(t))
	}
	return check.CheckErrorIs(raw, eff, o)
}

// checkNoPlaintext looks for the payload prefix, which every harness
// payload starts with, in every file of the store directory and the
// backups.
func (r *chaosRun) checkNoPlaintext() check.CheckResult {
	if r.p.sc.Workload.ValueSize <= len(plaintextPrefix) {
		return check.CheckResult{Verdict: check.VerdictUnknown, Message: "payloads are too short to carry the plaintext marker"}
	}
	var extra []string
	if _, err := os.Stat(r.p.backupDir()); err == nil {
		extra = append(extra, r.p.backupDir())
	}
	return check.CheckNoPlaintext(r.p.storeDir, extra, [][]byte{[]byte(plaintextPrefix)})
}

// checkAlert: the failed_ops.count alert fired once failed ops exceeded the
// threshold.
func (r *chaosRun) checkAlert(fs *finalState) check.CheckResult {
	if fs.Err != "" {
		return check.CheckResult{Verdict: check.VerdictUnknown, Message: "final state unreadable: " + fs.Err}
	}
	failed, limit := fs.failedOps, r.p.sc.Store.FailedOpsAlert
	if len(fs.alerts) > 0 {
		return check.CheckResult{Verdict: check.VerdictPass, Message: fmt.Sprintf("failed_ops.count %d, alerts: %s", failed, strings.Join(fs.alerts, "; "))}
	}
	if failed > limit || fs.migration > store.MigrationAlert {
		return check.CheckResult{Verdict: check.VerdictFail, Message: fmt.Sprintf("failed_ops.count %d is above the threshold %d, and no alert fired", failed, limit),
			Violations: []check.Violation{{Kind: "no-alert", Severity: check.SeverityViolation, Message: "alert did not fire"}}}
	}
	return check.CheckResult{Verdict: check.VerdictUnknown, Message: fmt.Sprintf("failed_ops.count %d never exceeded the threshold %d: the alert was not exercised", failed, limit)}
}
