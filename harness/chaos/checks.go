package chaos

// The chaos runner's checks: each scenario check name mapped to a checker.
// History checks (no-loss, no-unexpected, duplicates, fifo, fencing,
// linearizable) run the history checkers over the run's ops converted to
// HistoryEvents; the others judge the final store state, the files and the
// fault events.

import (
	"context"
	"errors"
	"fmt"
	"github.com/boxstorm/boxstorm/opname"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
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
	CheckMigrationAtomicity = "migration-atomicity"
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
	if r.sc.Protection != scenarios.Protection(store.CanaryFIFOOrder) || r.sc.Workload.Kind != scenarios.WorkloadEnqueue {
		return
	}
	if err := r.open(ctx, nil); err != nil {
		return
	}
	r.probed = true
	const client = "fifo-probe"
	var n int64
	lease, err := r.acquire(ctx, client, &n, store.LockRequest{Owner: client})
	if err != nil {
		return
	}
	for range fifoProbeClaims {
		if _, err := r.call(client, &n, opname.Claim, lease.Token, "", func(s queueStore) (store.Op, error) { return s.Claim(ctx, lease.Token) }); err != nil {
			break
		}
	}
	_, _ = r.call(client, &n, opname.Release, lease.Token, "", func(s queueStore) (store.Op, error) {
		return store.Op{}, s.ReleaseLock(ctx, lease.Token)
	})
}

// finalState is what the harness found in the store after the run.
type finalState struct {
	err       error // the store could not be opened or read
	inspected bool  // opened in point-in-time mode for inspection only
	pending   []store.Op
	failed    []store.Op
	stats     store.Stats
	audit     []store.AuditEntry
	schema    int
	synth     string
	subjects  map[string]int
}

// stateAt is a store-state observation for the history.
type stateAt struct {
	at      int64
	restart history.RestartKind
	fs      *finalState
	crashAt int64 // when the machine crashed, for a RestartMachine
}

// finalState opens the store if needed and reads everything the checks
// need. A store that refuses to open as corrupt is opened once more in
// point-in-time mode, which keeps a quarantine copy, so the checks can
// still see what survived.
func (r *chaosRun) finalState(ctx context.Context) *finalState {
	fs := &finalState{}
	if r.st == nil {
		if err := r.open(ctx, nil); err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				fs.err = err
				return fs
			}
			if err := r.open(ctx, func(o *store.Options) { o.Recovery = store.PointInTime }); err != nil {
				fs.err = err
				return fs
			}
			fs.inspected = true
			r.note("final state read after a point-in-time open (the normal open refused: corrupt)")
		}
	}
	s := r.st
	var err error
	if fs.pending, err = s.PendingOps(ctx); err != nil {
		fs.err = fmt.Errorf("read pending ops: %w", err)
	}
	if fs.failed, err = s.FailedOps(ctx); err != nil && fs.err == nil {
		fs.err = fmt.Errorf("read failed ops: %w", err)
	}
	fs.stats, _ = s.Stats(ctx)
	fs.audit, _ = s.AuditLog(ctx)
	fs.schema, _ = s.SchemaVersion()
	if r.synth > 0 {
		b, err := s.Get(ctx, synthBox, synthKey)
		if err != nil {
			fs.synth = "error: " + err.Error()
		} else {
			fs.synth = string(b)
		}
	}
	if len(r.erased) > 0 {
		fs.subjects = map[string]int{}
		for _, subj := range r.erased {
			exp, err := s.Export(ctx, subj)
			if err == nil {
				fs.subjects[subj] = len(exp.Ops)
			}
		}
	}
	return fs
}

func (fs *finalState) storeState(restart history.RestartKind) history.StoreState {
	st := history.StoreState{Restart: restart, Subjects: fs.subjects}
	conv := func(ops []store.Op) []history.StateOp {
		out := make([]history.StateOp, 0, len(ops))
		for _, op := range ops {
			out = append(out, history.StateOp{ID: op.ID, Seq: op.Seq, PayloadHash: history.HashPayload(op.Payload), Subject: op.Subject})
		}
		return out
	}
	st.Pending, st.Failed = conv(fs.pending), conv(fs.failed)
	if st.Pending == nil {
		st.Pending = []history.StateOp{}
	}
	return st
}

// historyEvents converts the run's ops into the checkers' history, with a
// store-state event per observation.
func (r *chaosRun) historyEvents(ops []*ChaosOp, states []stateAt) []history.HistoryEvent {
	size := r.sc.Workload.ValueSize
	tornTail := r.tornTailOps(ops)
	var evs []history.HistoryEvent
	for _, o := range ops {
		e := history.HistoryEvent{Client: o.Client, Call: o.Call, Return: o.Return}
		if o.Proc != "" {
			e.Client = o.Proc + "/" + o.Client
		}
		switch o.Op {
		case opname.Enqueue:
			e.Kind = history.KindEnqueue
			e.In = history.OpInput{PayloadHash: history.HashPayload(payloadFor(o.Marker, size)), IdempotencyKey: o.Key, Subject: o.Subject}
			e.Out = history.OpOutput{OpID: o.ID, Seq: o.Seq, Duplicate: o.Dup}
		case opname.Claim:
			e.Kind = history.KindClaim
			e.In = history.OpInput{Token: o.Token}
			e.Out = history.OpOutput{OpID: o.ID, Seq: o.Seq, PayloadHash: o.Hash, Subject: o.Subject}
		case opname.Ack:
			e.Kind = history.KindAck
			e.In = history.OpInput{Token: o.Token, OpID: o.ID}
		case opname.Fail:
			e.Kind = history.KindFail
			e.In = history.OpInput{Token: o.Token, OpID: o.ID}
		case opname.Acquire:
			e.Kind = history.KindAcquire
			e.In = history.OpInput{Owner: o.Client}
			e.Out = history.OpOutput{Token: o.Token}
		case opname.Heartbeat:
			e.Kind = history.KindHeartbeat
			e.In = history.OpInput{Token: o.Token}
		case opname.Release:
			e.Kind = history.KindRelease
			e.In = history.OpInput{Token: o.Token}
		case opname.Erase:
			e.Kind = history.KindErase
			e.In = history.OpInput{Subject: o.Subject}
		default:
			continue
		}
		e.Out.Outcome, e.Out.Err = o.Outcome, o.Err
		if !o.Returned() || tornTail[o] {
			e.Return, e.Out = history.ReturnUnknown, history.OpOutput{Outcome: history.OutcomeUnknown}
		}
		if e.Out.Outcome == "" {
			e.Out.Outcome = history.OutcomeUnknown
		}
		if e.Out.Outcome != history.OutcomeOK && e.Kind != history.KindAcquire {
			e.Out.OpID, e.Out.Seq, e.Out.Token = "", 0, 0
		}
		evs = append(evs, e)
	}
	for _, s := range states {
		if s.fs.err != nil {
			continue
		}
		st := s.fs.storeState(s.restart)
		st.CrashAt = s.crashAt
		evs = append(evs, history.HistoryEvent{Client: "harness", Kind: history.KindStoreState, Call: s.at, Return: s.at, State: &st})
	}
	return history.MergeHistories(evs)
}

// tornTailOps are the enqueues a torn-tail cut may take back: the last one
// acknowledged before each truncate-tail fault. The scenario format counts
// that record's op as unacknowledged.
func (r *chaosRun) tornTailOps(ops []*ChaosOp) map[*ChaosOp]bool {
	out := map[*ChaosOp]bool{}
	for _, d := range r.damage {
		if d.Kind != scenarios.FaultTruncate || d.Mode != scenarios.TruncateTail {
			continue
		}
		var last *ChaosOp
		for _, o := range ops {
			if o.Op == opname.Enqueue && o.OK() && o.Return < d.At && (last == nil || o.Seq > last.Seq) {
				last = o
			}
		}
		if last != nil {
			out[last] = true
		}
	}
	return out
}

// runChecks evaluates every check of the scenario, and the runner's own.
func (r *chaosRun) runChecks(ctx context.Context, fs *finalState, states []stateAt) []check.CheckResult {
	ops, faults := r.rec.snapshot()
	events := r.historyEvents(ops, states)
	r.events = events
	opts := check.CheckOptions{Durability: check.Durability(r.sc.Store.Sync), SyncInterval: r.sc.Store.SyncInterval, VisualizeDir: r.dir}
	if opts.Durability == "" {
		opts.Durability = check.DurabilityAlways
	}
	var out []check.CheckResult
	for _, c := range r.sc.Checks {
		var res check.CheckResult
		switch c.Name {
		case scenarios.CheckNoLoss:
			switch {
			case fs.err != nil && len(r.damage) == 0:
				// Nothing damaged the files behind the store's back, yet
				// it does not open or read: every acknowledged op is
				// out of reach.
				res = check.CheckResult{Verdict: check.VerdictFail, Message: "the store cannot be opened or read after the run, and the scenario damaged no file: " + fs.err.Error(),
					Violations: []check.Violation{{Kind: "unreadable", Severity: check.SeverityViolation, Message: fs.err.Error()}}}
			case len(r.restores) > 0:
				res = r.checkRestoreWhole(ops, fs)
			default:
				res = check.CheckNoLoss(events, opts)
			}
		case scenarios.CheckNoUnexpected:
			res = check.CheckNoUnexpected(events)
		case scenarios.CheckDuplicates:
			res = check.CheckDuplicates(events, opts)
		case scenarios.CheckFIFO:
			res = check.CheckFIFO(events)
		case scenarios.CheckFencing:
			res = check.CheckFencing(events)
		case scenarios.CheckLinearizable:
			res = check.CheckLinearizable(events, opts)
		case scenarios.CheckNoPlaintext:
			res = r.checkNoPlaintext()
		case scenarios.CheckNoResurrection:
			res = check.CheckNoResurrection(events, opts)
		case scenarios.CheckIntegrityReported:
			res = r.checkIntegrity(ops, fs)
		case scenarios.CheckAlertFired:
			res = r.checkAlert(fs)
		case scenarios.CheckErrorIs:
			res = r.checkErrorIs(c.Error, ops, faults)
		default:
			res = check.CheckResult{Verdict: check.VerdictUnknown, Message: "the harness has no checker for it"}
		}
		res.Name = c.String()
		if fs.err != nil && res.Verdict == check.VerdictPass && c.Name != scenarios.CheckErrorIs && c.Name != scenarios.CheckNoPlaintext {
			res.Verdict = check.VerdictUnknown
			res.Message += "; the final state could not be read: " + fs.err.Error()
		}
		out = append(out, res)
	}
	if r.synth > 0 {
		out = append(out, r.checkMigration(fs))
	}
	if r.probed {
		res := check.CheckFIFO(events)
		res.Name = CheckFIFOProbe
		out = append(out, res)
	}
	var skipped []string
	for _, ev := range faults {
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

// checkRestoreWhole is no-loss for a run with a restore: every op
// acknowledged before the restored backup was started survives, and the ops
// acknowledged after it are wholly there (the restore did not happen) or
// wholly gone (it did).
func (r *chaosRun) checkRestoreWhole(ops []*ChaosOp, fs *finalState) check.CheckResult {
	if fs.err != nil {
		return check.CheckResult{Verdict: check.VerdictFail, Message: "the final state cannot be read: " + fs.err.Error()}
	}
	rs := r.restores[len(r.restores)-1]
	present := map[string]bool{}
	for _, op := range append(slices.Clone(fs.pending), fs.failed...) {
		present[op.ID] = true
	}
	var before, after []string
	var beforeMissing []string
	for _, o := range ops {
		if o.Op != opname.Enqueue || !o.OK() || slices.Contains(r.erased, o.Subject) {
			continue
		}
		switch {
		case o.Return < rs.Backup.Before:
			before = append(before, o.ID)
			if !present[o.ID] {
				beforeMissing = append(beforeMissing, o.ID)
			}
		case rs.Backup.After >= 0 && o.Call > rs.Backup.After:
			after = append(after, o.ID)
		}
	}
	afterPresent := 0
	for _, id := range after {
		if present[id] {
			afterPresent++
		}
	}
	msg := fmt.Sprintf("%d ops acknowledged before the backup, %d after it (%d of them present)", len(before), len(after), afterPresent)
	if len(beforeMissing) > 0 {
		return check.CheckResult{Verdict: check.VerdictFail, Message: fmt.Sprintf("%d ops acknowledged before the backup are lost; %s", len(beforeMissing), msg),
			Violations: []check.Violation{{Kind: "lost", Severity: check.SeverityViolation, OpID: beforeMissing[0], Message: "acknowledged before the backup, missing after the restore"}}}
	}
	if afterPresent != 0 && afterPresent != len(after) {
		return check.CheckResult{Verdict: check.VerdictFail, Message: "the restore is half applied: " + msg,
			Violations: []check.Violation{{Kind: "half-restored", Severity: check.SeverityViolation, Message: msg}}}
	}
	if r.markers[rs.Backup.Index] && len(after) > 0 {
		marker := slices.ContainsFunc(fs.audit, func(a store.AuditEntry) bool { return a.Event == backupMarkerEvent })
		if opsOld := afterPresent == len(after); opsOld != marker {
			m := fmt.Sprintf("the queue is %s but the audit log is %s: boxes come from different states; %s",
				map[bool]string{true: "old", false: "restored"}[opsOld], map[bool]string{true: "old", false: "restored"}[marker], msg)
			return check.CheckResult{Verdict: check.VerdictFail, Message: "the restore is half applied: " + m,
				Violations: []check.Violation{{Kind: "half-restored", Severity: check.SeverityViolation, Message: m}}}
		}
	}
	if rs.Done && !rs.OK && afterPresent != len(after) {
		return check.CheckResult{Verdict: check.VerdictFail, Message: "a restore that failed changed the store: " + msg,
			Violations: []check.Violation{{Kind: "lost", Severity: check.SeverityViolation, Message: msg}}}
	}
	state := "wholly old"
	if afterPresent == 0 && len(after) > 0 {
		state = "wholly restored"
	}
	return check.CheckResult{Verdict: check.VerdictPass, Message: state + ": " + msg}
}

// checkNoPlaintext looks for the payload prefix, which every harness
// payload starts with, in every file of the store directory and the
// backups.
func (r *chaosRun) checkNoPlaintext() check.CheckResult {
	if r.sc.Workload.ValueSize <= len(plaintextPrefix) {
		return check.CheckResult{Verdict: check.VerdictUnknown, Message: "payloads are too short to carry the plaintext marker"}
	}
	var extra []string
	if _, err := os.Stat(r.backupDir()); err == nil {
		extra = append(extra, r.backupDir())
	}
	return check.CheckNoPlaintext(r.storeDir, extra, [][]byte{[]byte(plaintextPrefix)})
}

// checkIntegrity: every damage was reported, naming the box (and an
// offset), with a quarantine copy and an audit entry when bytes were cut.
func (r *chaosRun) checkIntegrity(ops []*ChaosOp, fs *finalState) check.CheckResult {
	if len(r.damage) == 0 && len(r.indexDamage) == 0 {
		return check.CheckResult{Verdict: check.VerdictUnknown, Message: "no damage was injected"}
	}
	_, faults := r.rec.snapshot()
	vs, notes := r.checkIndexReported(faults)
	for _, d := range r.damage {
		// Refused at open: a corruption error naming the box and the
		// offset.
		refused := false
		for _, c := range r.corruptions {
			if c.at < d.At || c.box != d.Box {
				continue
			}
			if c.offset < 0 {
				vs = append(vs, check.Violation{Kind: "no-offset", Severity: check.SeverityViolation,
					Message: fmt.Sprintf("%s: damage at offset %d reported without a file offset: %s", d.Box, d.Damage.Offset, c.err)})
				continue
			}
			refused = true
			notes = append(notes, fmt.Sprintf("%s: open refused at offset %d", d.Box, c.offset))
			break
		}
		// Repaired: a quarantine copy and an audit entry.
		repaired := false
		for _, rp := range r.repairs {
			if rp.Box != d.Box {
				continue
			}
			if _, err := os.Stat(rp.Quarantine); err != nil {
				vs = append(vs, check.Violation{Kind: "no-quarantine", Severity: check.SeverityViolation, Message: fmt.Sprintf("%s: repair %s names quarantine %q, which does not exist", d.Box, rp.Kind, rp.Quarantine)})
				continue
			}
			repaired = true
			notes = append(notes, fmt.Sprintf("%s: %s repair at offset %d, %d bytes dropped, quarantine %s", d.Box, rp.Kind, rp.Offset, rp.DroppedBytes, filepath.Base(rp.Quarantine)))
		}
		if repaired && !slices.ContainsFunc(fs.audit, func(a store.AuditEntry) bool {
			return a.Event == store.EventBoxRepaired || a.Event == "corruption_recovery"
		}) && fs.err == nil {
			vs = append(vs, check.Violation{Kind: "no-audit", Severity: check.SeverityViolation, Message: d.Box + ": repaired without an audit entry"})
		}
		if !refused && !repaired && !slices.ContainsFunc(vs, func(v check.Violation) bool { return v.Kind == "no-offset" }) {
			vs = append(vs, check.Violation{Kind: "unreported-damage", Severity: check.SeverityViolation,
				Message: fmt.Sprintf("%s %s at offset %d of %s was neither refused nor repaired by any open", d.Kind, d.Mode, d.Damage.Offset, d.Box)})
		}
	}
	if slices.ContainsFunc(r.plan, func(p fault.PlannedFault) bool { return p.Type == scenarios.FaultRecover }) && fs.err == nil {
		matches, _ := filepath.Glob(filepath.Join(r.storeDir, "*_corrupted_*.bak"))
		if len(matches) == 0 {
			vs = append(vs, check.Violation{Kind: "no-quarantine", Severity: check.SeverityViolation, Message: "recover ran, but no <box>_corrupted_YYYYMMDD.bak exists"})
		}
		if !slices.ContainsFunc(fs.audit, func(a store.AuditEntry) bool { return a.Event == "corruption_recovery" }) {
			vs = append(vs, check.Violation{Kind: "no-audit", Severity: check.SeverityViolation, Message: "recover ran, but the audit log has no corruption_recovery entry"})
		}
	}
	if len(vs) > 0 {
		return check.CheckResult{Verdict: check.VerdictFail, Message: fmt.Sprintf("%d damage not reported properly", len(vs)), Violations: vs}
	}
	return check.CheckResult{Verdict: check.VerdictPass, Message: strings.Join(notes, "; ")}
}

// checkAlert: the failed_ops.count alert fired once failed ops exceeded the
// threshold.
func (r *chaosRun) checkAlert(fs *finalState) check.CheckResult {
	if fs.err != nil {
		return check.CheckResult{Verdict: check.VerdictUnknown, Message: "final state unreadable: " + fs.err.Error()}
	}
	st := fs.stats
	if len(st.Alerts) > 0 {
		return check.CheckResult{Verdict: check.VerdictPass, Message: fmt.Sprintf("failed_ops.count %d, alerts: %s", st.FailedOps, strings.Join(st.Alerts, "; "))}
	}
	if st.FailedOps > r.sc.Store.FailedOpsAlert || st.MigrationTime > store.MigrationAlert {
		return check.CheckResult{Verdict: check.VerdictFail, Message: fmt.Sprintf("failed_ops.count %d is above the threshold %d, and no alert fired", st.FailedOps, r.sc.Store.FailedOpsAlert),
			Violations: []check.Violation{{Kind: "no-alert", Severity: check.SeverityViolation, Message: "alert did not fire"}}}
	}
	return check.CheckResult{Verdict: check.VerdictUnknown, Message: fmt.Sprintf("failed_ops.count %d never exceeded the threshold %d: the alert was not exercised", st.FailedOps, r.sc.Store.FailedOpsAlert)}
}

// checkMigration: the synthetic migrations' record lists exactly the
// versions from the first synthetic one to the schema version.
func (r *chaosRun) checkMigration(fs *finalState) check.CheckResult {
	res := check.CheckResult{Name: CheckMigrationAtomicity}
	if fs.err != nil {
		res.Verdict, res.Message = check.VerdictUnknown, "final state unreadable: "+fs.err.Error()
		return res
	}
	parts := strings.Split(fs.synth, ",")
	if len(parts) == 0 || !strings.HasPrefix(parts[0], "v") {
		res.Verdict, res.Message = check.VerdictFail, fmt.Sprintf("synthetic migration record is %q", fs.synth)
		return res
	}
	var base int
	_, _ = fmt.Sscanf(parts[0], "v%d", &base)
	want := []string{parts[0]}
	for v := base + 1; v <= fs.schema; v++ {
		want = append(want, fmt.Sprintf("v%d", v))
	}
	if strings.Join(want, ",") != fs.synth {
		res.Verdict = check.VerdictFail
		res.Message = fmt.Sprintf("schema version %d, but the migrated record reads %q (want %q): a migration is half applied", fs.schema, fs.synth, strings.Join(want, ","))
		res.Violations = []check.Violation{{Kind: "half-migrated", Severity: check.SeverityViolation, Message: res.Message}}
		return res
	}
	res.Verdict, res.Message = check.VerdictPass, fmt.Sprintf("schema version %d, record %q", fs.schema, fs.synth)
	return res
}

// checkErrorIs: every step that provokes the named error returned it, and
// left the live files as they were where that applies.
func (r *chaosRun) checkErrorIs(name scenarios.ErrorName, ops []*ChaosOp, faults []FaultEvent) check.CheckResult {
	type obs struct {
		what, class, err string
		unchanged        *bool
	}
	var seen []obs
	done := func(t scenarios.FaultType) []FaultEvent {
		var out []FaultEvent
		for _, ev := range faults {
			if ev.Type == t && ev.Phase == "done" && ev.Skipped == "" {
				out = append(out, ev)
			}
		}
		return out
	}
	fromFaults := func(t scenarios.FaultType) {
		for _, ev := range done(t) {
			o := obs{what: fmt.Sprintf("fault %d (%s)", ev.Index, t), class: ev.Class, err: ev.Err}
			if u, ok := ev.Detail["unchanged"].(bool); ok {
				o.unchanged = &u
			}
			seen = append(seen, o)
		}
	}
	switch name {
	case scenarios.ErrorWrongKey:
		fromFaults(scenarios.FaultWrongKey)
	case scenarios.ErrorSchemaMismatch:
		fromFaults(scenarios.FaultSchemaMismatch)
	case scenarios.ErrorLocked:
		fromFaults(scenarios.FaultSecondOpen)
	case scenarios.ErrorBackupInvalid:
		fromFaults(scenarios.FaultRestore)
		fromFaults(scenarios.FaultRecover)
	case scenarios.ErrorCorrupt:
		for _, d := range r.damage {
			for _, o := range ops {
				if o.Op == opname.Open && o.Call >= d.At && o.Returned() {
					seen = append(seen, obs{what: fmt.Sprintf("first open after %s of %s", d.Kind, d.Box), class: o.Class, err: o.Err})
					break
				}
			}
		}
	case scenarios.ErrorStaleToken:
		return r.checkStaleToken(ops)
	case scenarios.ErrorDiskFull:
		return r.checkDiskFull(ops, faults)
	}
	if len(seen) == 0 {
		return check.CheckResult{Verdict: check.VerdictUnknown, Message: "no step that provokes " + string(name) + " ran"}
	}
	var vs []check.Violation
	var msgs []string
	for _, o := range seen {
		switch {
		case o.class != string(name):
			got := o.class
			if got == "" {
				got = "success"
			}
			vs = append(vs, check.Violation{Kind: "wrong-error", Severity: check.SeverityViolation, Message: fmt.Sprintf("%s: want %s, got %s %s", o.what, name, got, o.err)})
		case o.unchanged != nil && !*o.unchanged:
			vs = append(vs, check.Violation{Kind: "changed", Severity: check.SeverityViolation, Message: o.what + ": returned " + string(name) + " but changed live files"})
		default:
			msgs = append(msgs, fmt.Sprintf("%s: %s", o.what, o.err))
		}
	}
	if len(vs) > 0 {
		return check.CheckResult{Verdict: check.VerdictFail, Message: fmt.Sprintf("%d of %d steps did not fail as %s", len(vs), len(seen), name), Violations: vs}
	}
	return check.CheckResult{Verdict: check.VerdictPass, Message: strings.Join(msgs, "; ")}
}

// checkStaleToken: a processor that lost the lock (another acquired it
// after its own acquire) and then called with its old token was refused.
func (r *chaosRun) checkStaleToken(ops []*ChaosOp) check.CheckResult {
	var acquires []*ChaosOp
	for _, o := range ops {
		if o.Op == opname.Acquire && o.OK() {
			acquires = append(acquires, o)
		}
	}
	refused, accepted := 0, 0
	var vs []check.Violation
	for _, o := range ops {
		if o.Token == 0 || !o.Returned() || (o.Op != opname.Claim && o.Op != opname.Ack && o.Op != opname.Fail && o.Op != opname.Heartbeat) {
			continue
		}
		stale := false
		for _, a := range acquires {
			if a.Return < o.Call && a.Token > o.Token {
				stale = true
				break
			}
		}
		if !stale {
			continue
		}
		switch {
		case o.Outcome == history.OutcomeStaleToken:
			refused++
		default:
			accepted++
			if len(vs) < 20 {
				vs = append(vs, check.Violation{Kind: "stale-not-refused", Severity: check.SeverityViolation, OpID: o.ID,
					Message: fmt.Sprintf("%s %s with stale token %d returned %s, not stale-token", o.Client, o.Op, o.Token, o.Outcome)})
			}
		}
	}
	switch {
	case accepted > 0:
		return check.CheckResult{Verdict: check.VerdictFail, Message: fmt.Sprintf("%d calls with a stale token were not refused as stale-token, %d were", accepted, refused), Violations: vs}
	case refused == 0:
		return check.CheckResult{Verdict: check.VerdictUnknown, Message: "no processor called with a stale token: the lock never changed hands under a live holder"}
	}
	return check.CheckResult{Verdict: check.VerdictPass, Message: fmt.Sprintf("%d calls with a stale token refused as stale-token", refused)}
}

// checkDiskFull: once the file size limit is hit, writes fail as disk-full.
func (r *chaosRun) checkDiskFull(ops []*ChaosOp, faults []FaultEvent) check.CheckResult {
	var at int64 = -1
	for _, ev := range faults {
		if (ev.Type == scenarios.FaultDiskFull || ev.Type == scenarios.FaultENOSPC || ev.Type == scenarios.FaultFsyncError) && ev.Phase == "done" && ev.Skipped == "" {
			at = ev.Time
			if ev.Err != "" {
				return check.CheckResult{Verdict: check.VerdictUnknown, Message: "disk-full fault failed: " + ev.Err}
			}
		}
	}
	if at < 0 {
		return check.CheckResult{Verdict: check.VerdictUnknown, Message: "the disk-full fault did not run"}
	}
	full, other, ok := 0, 0, 0
	var firstOther string
	for _, o := range ops {
		if o.Op != opname.Enqueue || o.Call < at || !o.Returned() {
			continue
		}
		switch {
		case o.OK():
			ok++
		case o.Class == string(scenarios.ErrorDiskFull):
			full++
		default:
			other++
			if firstOther == "" {
				firstOther = o.Err
			}
		}
	}
	msg := fmt.Sprintf("after the limit: %d enqueues ok, %d failed as disk-full, %d failed otherwise", ok, full, other)
	if firstOther != "" {
		msg += " (first: " + firstOther + ")"
	}
	if full == 0 {
		return check.CheckResult{Verdict: check.VerdictFail, Message: "no write failed as disk-full: " + msg,
			Violations: []check.Violation{{Kind: "no-disk-full", Severity: check.SeverityViolation, Message: msg}}}
	}
	return check.CheckResult{Verdict: check.VerdictPass, Message: msg}
}
