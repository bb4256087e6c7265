package check

// The state checks: pure functions over a chaos run's history, the record
// of its fault effects (Effects) and the store's final state (FinalState).
// Unlike the history checkers they judge what the runner's own steps did
// (damage, backups, restores, migrations) and what the store said about
// it.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/boxstorm/boxstorm/harness/history"
)

// Check names of the state checks the chaos runner adds to a scenario's
// own.
const (
	CheckerIntegrityReported  = "integrity-reported"
	CheckerErrorIs            = "error-is"
	CheckerMigrationAtomicity = "migration-atomicity"
)

// faultsDone returns the payloads of the fault events of any of the types
// that finished (phase done) and were not skipped, with their times.
func faultsDone(events []history.HistoryEvent, types ...string) []history.HistoryEvent {
	var out []history.HistoryEvent
	for _, e := range events {
		if e.Kind == history.KindFault && e.Fault != nil && slices.Contains(types, e.Fault.Type) && e.Fault.Phase == history.FaultDone && e.Fault.Skipped == "" {
			out = append(out, e)
		}
	}
	return out
}

// CheckRestoreWhole is no-loss for a run with a restore: every op
// acknowledged before the last restored backup was started survives, and
// the ops acknowledged after it are wholly there (the restore did not
// happen) or wholly gone (it did), together with the audit marker written
// after the backup. A restore that failed must change nothing. Ops of
// erased subjects are exempt.
//
// Violations: lost, half-restored.
func CheckRestoreWhole(events []history.HistoryEvent, eff Effects, fs FinalState) CheckResult {
	if fs.Err != "" {
		return CheckResult{Verdict: VerdictFail, Message: "the final state cannot be read: " + fs.Err}
	}
	if len(eff.Restores) == 0 {
		return CheckResult{Verdict: VerdictUnknown, Message: "no restore ran"}
	}
	rs := eff.Restores[len(eff.Restores)-1]
	present := map[string]bool{}
	for _, op := range append(slices.Clone(fs.State.Pending), fs.State.Failed...) {
		present[op.ID] = true
	}
	var before, after, beforeMissing []string
	for _, e := range events {
		if e.Kind != history.KindEnqueue || e.Out.Outcome != history.OutcomeOK || slices.Contains(eff.Erased, e.In.Subject) {
			continue
		}
		switch {
		case e.Return < rs.Backup.Before:
			before = append(before, e.Out.OpID)
			if !present[e.Out.OpID] {
				beforeMissing = append(beforeMissing, e.Out.OpID)
			}
		case rs.Backup.After >= 0 && e.Call > rs.Backup.After:
			after = append(after, e.Out.OpID)
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
		return CheckResult{Verdict: VerdictFail, Message: fmt.Sprintf("%d ops acknowledged before the backup are lost; %s", len(beforeMissing), msg),
			Violations: []Violation{{Kind: "lost", Severity: SeverityViolation, OpID: beforeMissing[0], Message: "acknowledged before the backup, missing after the restore"}}}
	}
	if afterPresent != 0 && afterPresent != len(after) {
		return CheckResult{Verdict: VerdictFail, Message: "the restore is half applied: " + msg,
			Violations: []Violation{{Kind: "half-restored", Severity: SeverityViolation, Message: msg}}}
	}
	if rs.Backup.Marker && len(after) > 0 {
		marker := slices.Contains(fs.Audit, BackupMarkerEvent)
		if opsOld := afterPresent == len(after); opsOld != marker {
			m := fmt.Sprintf("the queue is %s but the audit log is %s: boxes come from different states; %s",
				map[bool]string{true: "old", false: "restored"}[opsOld], map[bool]string{true: "old", false: "restored"}[marker], msg)
			return CheckResult{Verdict: VerdictFail, Message: "the restore is half applied: " + m,
				Violations: []Violation{{Kind: "half-restored", Severity: SeverityViolation, Message: m}}}
		}
	}
	if rs.Done && !rs.OK && afterPresent != len(after) {
		return CheckResult{Verdict: VerdictFail, Message: "a restore that failed changed the store: " + msg,
			Violations: []Violation{{Kind: "lost", Severity: SeverityViolation, Message: msg}}}
	}
	state := "wholly old"
	if afterPresent == 0 && len(after) > 0 {
		state = "wholly restored"
	}
	return CheckResult{Verdict: VerdictPass, Message: state + ": " + msg}
}

// CheckIntegrityReported checks that every damage was reported: refused by
// an open with a corruption error naming the box and an offset, or
// repaired with a quarantine copy that exists and an audit entry; that
// every index fault was detected by the next open (its log); and, when the
// scenario recovers, that a <box>_corrupted_*.bak and a
// corruption_recovery audit entry exist.
//
// A record a relocate fault put into another box or under another key
// (eff.Relocations) must never be served there: no claim in events that
// returned after the relocation returns it, and the final state lists it
// neither as a pending op under its new key nor as a failed op.
//
// The repaired store must match the history (RepairMatchesHistory): every
// surviving op has its acknowledged payload, and every acknowledged op
// that is gone was dropped by a repair the audit log reports.
//
// Violations: no-offset, no-quarantine, no-audit, unreported-damage,
// unreported-index-damage, relocated-served, changed-payload,
// silently-dropped.
func CheckIntegrityReported(events []history.HistoryEvent, eff Effects, fs FinalState) CheckResult {
	if len(eff.Damage) == 0 && len(eff.IndexDamage) == 0 && len(eff.Relocations) == 0 {
		return CheckResult{Verdict: VerdictUnknown, Message: "no damage was injected"}
	}
	var vs []Violation
	var notes []string
	for _, d := range eff.IndexDamage {
		detected := false
		for _, l := range eff.IndexLogs {
			if l.At < d.At || d.MissingIDs && l.Missing == 0 {
				continue
			}
			detected = true
			notes = append(notes, fmt.Sprintf("%s: open reported %s", d.Type, l.Text))
			break
		}
		for _, rb := range eff.Rebuilds {
			if rb.At >= d.At {
				notes = append(notes, fmt.Sprintf("rebuild-index found %d missing, %d malformed timestamps", rb.Missing, rb.Malformed))
			}
		}
		if !detected {
			vs = append(vs, Violation{Kind: "unreported-index-damage", Severity: SeverityViolation,
				Message: fmt.Sprintf("%s of %d ops: the next open did not detect it (the store logged no index reconciliation)", d.Type, d.Count)})
		}
	}
	for _, d := range eff.Damage {
		// Refused at open: a corruption error naming the box and the
		// offset.
		refused := false
		for _, c := range eff.Corruptions {
			if c.At < d.At || c.Box != d.Box {
				continue
			}
			if c.Offset < 0 {
				vs = append(vs, Violation{Kind: "no-offset", Severity: SeverityViolation,
					Message: fmt.Sprintf("%s: damage at offset %d reported without a file offset: %s", d.Box, d.Offset, c.Err)})
				continue
			}
			refused = true
			notes = append(notes, fmt.Sprintf("%s: open refused at offset %d", d.Box, c.Offset))
			break
		}
		// Repaired: a quarantine copy and an audit entry.
		repaired := false
		for _, rp := range eff.Repairs {
			if rp.Box != d.Box {
				continue
			}
			if !rp.QuarantineExists {
				vs = append(vs, Violation{Kind: "no-quarantine", Severity: SeverityViolation, Message: fmt.Sprintf("%s: repair %s names quarantine %q, which does not exist", d.Box, rp.Kind, rp.Quarantine)})
				continue
			}
			repaired = true
			notes = append(notes, fmt.Sprintf("%s: %s repair at offset %d, %d bytes dropped, quarantine %s", d.Box, rp.Kind, rp.Offset, rp.DroppedBytes, baseName(rp.Quarantine)))
		}
		if repaired && fs.Err == "" && !slices.Contains(fs.Audit, EventBoxRepaired) && !slices.Contains(fs.Audit, EventCorruptionRecovery) {
			vs = append(vs, Violation{Kind: "no-audit", Severity: SeverityViolation, Message: d.Box + ": repaired without an audit entry"})
		}
		if !refused && !repaired && !slices.ContainsFunc(vs, func(v Violation) bool { return v.Kind == "no-offset" }) {
			vs = append(vs, Violation{Kind: "unreported-damage", Severity: SeverityViolation,
				Message: fmt.Sprintf("%s %s at offset %d of %s was neither refused nor repaired by any open", d.Type, d.Mode, d.Offset, d.Box)})
		}
	}
	vs = append(vs, RepairMatchesHistory(events, eff, fs)...)
	vs = append(vs, relocationsServed(events, eff, fs)...)
	if eff.RecoverScheduled && fs.Err == "" {
		if len(eff.Quarantines) == 0 {
			vs = append(vs, Violation{Kind: "no-quarantine", Severity: SeverityViolation, Message: "recover ran, but no <box>_corrupted_YYYYMMDD.bak exists"})
		}
		if !slices.Contains(fs.Audit, EventCorruptionRecovery) {
			vs = append(vs, Violation{Kind: "no-audit", Severity: SeverityViolation, Message: "recover ran, but the audit log has no corruption_recovery entry"})
		}
	}
	if len(vs) > 0 {
		return CheckResult{Verdict: VerdictFail, Message: fmt.Sprintf("%d damage not reported properly", len(vs)), Violations: vs}
	}
	return CheckResult{Verdict: VerdictPass, Message: strings.Join(notes, "; ")}
}

// relocationsServed: no relocated op record was served under its new key
// or box: no claim in events that returned after the relocation returned
// it, and the final state does not list it as pending (under a new key)
// or as failed.
func relocationsServed(events []history.HistoryEvent, eff Effects, fs FinalState) []Violation {
	var vs []Violation
	for _, rel := range eff.Relocations {
		id, ok := strings.CutPrefix(rel.NewKey, "op/")
		if !ok {
			continue
		}
		served := ""
		// A copy under the same key into another box than pending_ops
		// leaves the original op claimable: its claims say nothing.
		if rel.To == BoxPending || rel.NewKey != rel.Key {
			for _, e := range events {
				if e.Kind == history.KindClaim && e.Out.Outcome == history.OutcomeOK && e.Out.OpID == id && e.Return >= rel.At {
					served = fmt.Sprintf("claim by %s returned it", e.Client)
					break
				}
			}
		}
		listed := func(ops []history.StateOp) bool {
			return slices.ContainsFunc(ops, func(op history.StateOp) bool { return op.ID == id })
		}
		if fs.Err == "" && served == "" {
			switch {
			case rel.To == BoxPending && rel.NewKey != rel.Key && listed(fs.State.Pending):
				served = "the final state lists it as pending"
			case rel.To == BoxFailed && listed(fs.State.Failed):
				served = "the final state lists it as failed"
			}
		}
		if served != "" {
			vs = append(vs, Violation{Kind: "relocated-served", Severity: SeverityViolation, OpID: id,
				Message: fmt.Sprintf("the record %s of %s, put under %s in %s, was served: %s", rel.Key, rel.From, rel.NewKey, rel.To, served)})
		}
	}
	return vs
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// CheckMigrationAtomicity checks the record the run's synthetic
// migrations append their versions to: it lists exactly the versions from
// the first synthetic one to the final schema version, so no migration is
// half applied.
//
// Violations: half-migrated.
func CheckMigrationAtomicity(fs FinalState) CheckResult {
	res := CheckResult{Name: CheckerMigrationAtomicity}
	if fs.Err != "" {
		res.Verdict, res.Message = VerdictUnknown, "final state unreadable: "+fs.Err
		return res
	}
	parts := strings.Split(fs.Synthetic, ",")
	if !strings.HasPrefix(parts[0], "v") {
		res.Verdict, res.Message = VerdictFail, fmt.Sprintf("synthetic migration record is %q", fs.Synthetic)
		res.Violations = []Violation{{Kind: "half-migrated", Severity: SeverityViolation, Message: res.Message}}
		return res
	}
	var base int
	_, _ = fmt.Sscanf(parts[0], "v%d", &base)
	want := []string{parts[0]}
	for v := base + 1; v <= fs.Schema; v++ {
		want = append(want, fmt.Sprintf("v%d", v))
	}
	if strings.Join(want, ",") != fs.Synthetic {
		res.Verdict = VerdictFail
		res.Message = fmt.Sprintf("schema version %d, but the migrated record reads %q (want %q): a migration is half applied", fs.Schema, fs.Synthetic, strings.Join(want, ","))
		res.Violations = []Violation{{Kind: "half-migrated", Severity: SeverityViolation, Message: res.Message}}
		return res
	}
	res.Verdict, res.Message = VerdictPass, fmt.Sprintf("schema version %d, record %q", fs.Schema, fs.Synthetic)
	return res
}

// ErrorIsOptions say which steps must fail, and how, for CheckErrorIs.
type ErrorIsOptions struct {
	// Error is the error class each step must return (history.OpOutput's
	// ErrClass, history.Fault's Class).
	Error string
	// Steps are the fault types whose finished fault events must carry
	// Error. A fault whose detail says "unchanged": false changed live
	// files, which fails too.
	Steps []string
	// AfterDamage: the first open after each damage in Effects must
	// return Error.
	AfterDamage bool
}

// CheckErrorIs checks that every step that provokes an error returned it,
// and left the live files as they were where the step says.
//
// Violations: wrong-error, changed.
func CheckErrorIs(events []history.HistoryEvent, eff Effects, o ErrorIsOptions) CheckResult {
	type obs struct {
		what, class, err string
		unchanged        *bool
	}
	var seen []obs
	for _, typ := range o.Steps {
		for _, e := range faultsDone(events, typ) {
			f := e.Fault
			ob := obs{what: fmt.Sprintf("fault %d (%s)", f.Index, typ), class: f.Class, err: f.Err}
			if u, ok := f.Detail["unchanged"].(bool); ok {
				ob.unchanged = &u
			}
			seen = append(seen, ob)
		}
	}
	if o.AfterDamage {
		for _, d := range eff.Damage {
			for _, e := range events {
				if e.Kind == history.KindOpen && e.Call >= d.At && !e.Crashed() {
					seen = append(seen, obs{what: fmt.Sprintf("first open after %s of %s", d.Type, d.Box), class: e.Out.ErrClass, err: e.Out.Err})
					break
				}
			}
		}
	}
	if len(seen) == 0 {
		return CheckResult{Verdict: VerdictUnknown, Message: "no step that provokes " + o.Error + " ran"}
	}
	var vs []Violation
	var msgs []string
	for _, ob := range seen {
		switch {
		case ob.class != o.Error:
			got := ob.class
			if got == "" {
				got = "success"
			}
			vs = append(vs, Violation{Kind: "wrong-error", Severity: SeverityViolation, Message: fmt.Sprintf("%s: want %s, got %s %s", ob.what, o.Error, got, ob.err)})
		case ob.unchanged != nil && !*ob.unchanged:
			vs = append(vs, Violation{Kind: "changed", Severity: SeverityViolation, Message: ob.what + ": returned " + o.Error + " but changed live files"})
		default:
			msgs = append(msgs, fmt.Sprintf("%s: %s", ob.what, ob.err))
		}
	}
	if len(vs) > 0 {
		return CheckResult{Verdict: VerdictFail, Message: fmt.Sprintf("%d of %d steps did not fail as %s", len(vs), len(seen), o.Error), Violations: vs}
	}
	return CheckResult{Verdict: VerdictPass, Message: strings.Join(msgs, "; ")}
}

// CheckStaleTokenRefused checks that a processor that lost the lock
// (another acquire returned a newer token before its call, or a release of
// its token returned) and then called with its old token was refused with
// stale-token. It is unknown when no call used a stale token.
//
// Violations: stale-not-refused.
func CheckStaleTokenRefused(events []history.HistoryEvent) CheckResult {
	var ends []history.HistoryEvent // acquires and releases that ended a token
	for _, e := range events {
		if (e.Kind == history.KindAcquire || e.Kind == history.KindRelease) && e.Out.Outcome == history.OutcomeOK {
			ends = append(ends, e)
		}
	}
	refused, accepted := 0, 0
	var vs []Violation
	for _, e := range events {
		switch e.Kind {
		case history.KindClaim, history.KindAck, history.KindFail, history.KindHeartbeat:
		default:
			continue
		}
		if e.In.Token == 0 || e.Crashed() {
			continue
		}
		if !slices.ContainsFunc(ends, func(a history.HistoryEvent) bool {
			return a.Return < e.Call && (a.Kind == history.KindAcquire && a.Out.Token > e.In.Token || a.Kind == history.KindRelease && a.In.Token == e.In.Token)
		}) {
			continue
		}
		if e.Out.Outcome == history.OutcomeStaleToken {
			refused++
			continue
		}
		accepted++
		if len(vs) < 20 {
			vs = append(vs, Violation{Kind: "stale-not-refused", Severity: SeverityViolation, OpID: cmpOr(e.In.OpID, e.Out.OpID),
				Message: fmt.Sprintf("%s %s with stale token %d returned %s, not stale-token", e.Client, e.Kind, e.In.Token, e.Out.Outcome)})
		}
	}
	switch {
	case accepted > 0:
		return CheckResult{Verdict: VerdictFail, Message: fmt.Sprintf("%d calls with a stale token were not refused as stale-token, %d were", accepted, refused), Violations: vs}
	case refused == 0:
		return CheckResult{Verdict: VerdictUnknown, Message: "no processor called with a stale token: the lock never changed hands under a live holder"}
	}
	return CheckResult{Verdict: VerdictPass, Message: fmt.Sprintf("%d calls with a stale token refused as stale-token", refused)}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// CheckDiskFull checks that once the last fault of one of the types faults
// finished (a file size limit set, a space budget or fsync errors armed),
// enqueues fail with class: at least one must.
//
// Violations: no-disk-full.
func CheckDiskFull(events []history.HistoryEvent, class string, faults ...string) CheckResult {
	fault := strings.Join(faults, "/")
	var at int64 = -1
	for _, e := range faultsDone(events, faults...) {
		at = e.Call
		if e.Fault.Err != "" {
			return CheckResult{Verdict: VerdictUnknown, Message: fault + " fault failed: " + e.Fault.Err}
		}
	}
	if at < 0 {
		return CheckResult{Verdict: VerdictUnknown, Message: "the " + fault + " fault did not run"}
	}
	full, other, ok := 0, 0, 0
	var firstOther string
	for _, e := range events {
		if e.Kind != history.KindEnqueue || e.Call < at || e.Crashed() {
			continue
		}
		switch {
		case e.Out.Outcome == history.OutcomeOK:
			ok++
		case e.Out.ErrClass == class:
			full++
		default:
			other++
			if firstOther == "" {
				firstOther = e.Out.Err
			}
		}
	}
	msg := fmt.Sprintf("after the limit: %d enqueues ok, %d failed as %s, %d failed otherwise", ok, full, class, other)
	if firstOther != "" {
		msg += " (first: " + firstOther + ")"
	}
	if full == 0 {
		return CheckResult{Verdict: VerdictFail, Message: "no write failed as " + class + ": " + msg,
			Violations: []Violation{{Kind: "no-disk-full", Severity: SeverityViolation, Message: msg}}}
	}
	return CheckResult{Verdict: VerdictPass, Message: msg}
}
