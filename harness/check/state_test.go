package check_test

import (
	"testing"

	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/store"
)

// Fixtures for the state checks: hand-made effects records, histories and
// final states. Every good case must pass and every bad one must fail
// with its named violation.

var ok = history.OpOutput{Outcome: history.OutcomeOK}

func enq(id string, call, ret int64) history.HistoryEvent {
	return history.HistoryEvent{Client: "producer-0", Kind: history.KindEnqueue, Call: call, Return: ret, Out: history.OpOutput{Outcome: history.OutcomeOK, OpID: id, Seq: uint64(call)}}
}

func faultEv(at int64, typ, phase string, f history.Fault) history.HistoryEvent {
	f.Type, f.Phase = typ, phase
	return history.HistoryEvent{Client: "harness", Kind: history.KindFault, Call: at, Return: at, Fault: &f}
}

func pending(ids ...string) history.StoreState {
	st := history.StoreState{Pending: []history.StateOp{}}
	for _, id := range ids {
		st.Pending = append(st.Pending, history.StateOp{ID: id})
	}
	return st
}

type stateCase struct {
	name string
	res  check.CheckResult
	want check.Verdict
	kind string // the violation a failing case must report
}

func judgeStateCases(t *testing.T, cases []stateCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.res.Verdict; got != tc.want {
				t.Fatalf("verdict %s, want %s: %s", got, tc.want, tc.res.Message)
			}
			if tc.kind == "" {
				return
			}
			for _, v := range tc.res.Violations {
				if v.Kind == tc.kind && v.Severity == check.SeverityViolation {
					return
				}
			}
			t.Errorf("no %s violation in %+v", tc.kind, tc.res.Violations)
		})
	}
}

func TestCheckRestoreWhole(t *testing.T) {
	// a and b were acknowledged before the backup started at 100; c and d
	// were called after it returned at 110.
	events := []history.HistoryEvent{enq("a", 10, 20), enq("b", 30, 40), enq("c", 200, 210), enq("d", 220, 230)}
	b := check.Backup{Index: 1, Before: 100, After: 110, Marker: true}
	restored := check.Effects{Restores: []check.Restore{{Backup: b, OK: true, Done: true, At: 300}}}
	failed := check.Effects{Restores: []check.Restore{{Backup: b, OK: false, Done: true, At: 300}}}
	fs := func(audit []string, ids ...string) check.FinalState {
		return check.FinalState{State: pending(ids...), Audit: audit}
	}
	judgeStateCases(t, []stateCase{
		{"wholly restored", check.CheckRestoreWhole(events, restored, fs(nil, "a", "b")), check.VerdictPass, ""},
		{"wholly old", check.CheckRestoreWhole(events, restored, fs([]string{check.BackupMarkerEvent}, "a", "b", "c", "d")), check.VerdictPass, ""},
		{"lost before the backup", check.CheckRestoreWhole(events, restored, fs(nil, "a")), check.VerdictFail, "lost"},
		{"half the ops after it", check.CheckRestoreWhole(events, restored, fs(nil, "a", "b", "c")), check.VerdictFail, "half-restored"},
		{"old queue, restored audit log", check.CheckRestoreWhole(events, restored, fs(nil, "a", "b", "c", "d")), check.VerdictFail, "half-restored"},
		{"failed restore changed the store", check.CheckRestoreWhole(events, failed, fs(nil, "a", "b")), check.VerdictFail, "lost"},
		{"erased subjects are exempt", check.CheckRestoreWhole(append(events, history.HistoryEvent{Kind: history.KindEnqueue, Call: 1, Return: 2, In: history.OpInput{Subject: "s"}, Out: history.OpOutput{Outcome: history.OutcomeOK, OpID: "e"}}),
			check.Effects{Restores: restored.Restores, Erased: []string{"s"}}, fs(nil, "a", "b")), check.VerdictPass, ""},
		{"unreadable final state", check.CheckRestoreWhole(events, restored, check.FinalState{Err: "corrupt"}), check.VerdictFail, ""},
	})
}

func TestCheckIntegrityReported(t *testing.T) {
	dmg := check.Effects{Damage: []check.Damage{{Index: 0, Box: "pending_ops", Type: "bitflip", Offset: 40, At: 100}}}
	with := func(f func(*check.Effects)) check.Effects {
		e := dmg
		f(&e)
		return e
	}
	refused := with(func(e *check.Effects) {
		e.Corruptions = []check.Corruption{{At: 150, Box: "pending_ops", Offset: 40, Err: "corrupt at 40"}}
	})
	repaired := with(func(e *check.Effects) {
		e.Repairs = []check.Repair{{Box: "pending_ops", Kind: "damage", Offset: 40, Quarantine: "/s/pending_ops.q", QuarantineExists: true}}
	})
	audited := check.FinalState{Audit: []string{check.EventBoxRepaired}}
	index := check.Effects{IndexDamage: []check.IndexDamage{{Type: "corrupt-index", Count: 3, MissingIDs: true, At: 100}}}
	judgeStateCases(t, []stateCase{
		{"refused with an offset", check.CheckIntegrityReported(nil, refused, check.FinalState{}), check.VerdictPass, ""},
		{"repaired, quarantined, audited", check.CheckIntegrityReported(nil, repaired, audited), check.VerdictPass, ""},
		{"no damage", check.CheckIntegrityReported(nil, check.Effects{}, check.FinalState{}), check.VerdictUnknown, ""},
		{"unreported", check.CheckIntegrityReported(nil, dmg, check.FinalState{}), check.VerdictFail, "unreported-damage"},
		{"refused before the damage only", check.CheckIntegrityReported(nil, with(func(e *check.Effects) {
			e.Corruptions = []check.Corruption{{At: 50, Box: "pending_ops", Offset: 40}}
		}), check.FinalState{}), check.VerdictFail, "unreported-damage"},
		{"refused without an offset", check.CheckIntegrityReported(nil, with(func(e *check.Effects) {
			e.Corruptions = []check.Corruption{{At: 150, Box: "pending_ops", Offset: -1}}
		}), check.FinalState{}), check.VerdictFail, "no-offset"},
		{"quarantine missing", check.CheckIntegrityReported(nil, with(func(e *check.Effects) {
			e.Repairs = []check.Repair{{Box: "pending_ops", Quarantine: "/s/gone"}}
		}), audited), check.VerdictFail, "no-quarantine"},
		{"repaired without audit", check.CheckIntegrityReported(nil, repaired, check.FinalState{}), check.VerdictFail, "no-audit"},
		{"recover without quarantine", check.CheckIntegrityReported(nil, with(func(e *check.Effects) {
			e.Corruptions, e.RecoverScheduled = refused.Corruptions, true
		}), check.FinalState{Audit: []string{check.EventCorruptionRecovery}}), check.VerdictFail, "no-quarantine"},
		{"recover without audit", check.CheckIntegrityReported(nil, with(func(e *check.Effects) {
			e.Corruptions, e.RecoverScheduled, e.Quarantines = refused.Corruptions, true, []string{"pending_ops_corrupted_20260101.bak"}
		}), check.FinalState{}), check.VerdictFail, "no-audit"},
		{"index damage detected", check.CheckIntegrityReported(nil, check.Effects{IndexDamage: index.IndexDamage, IndexLogs: []check.IndexLog{{At: 120, Missing: 3}}}, check.FinalState{}), check.VerdictPass, ""},
		{"index damage undetected", check.CheckIntegrityReported(nil, index, check.FinalState{}), check.VerdictFail, "unreported-index-damage"},
		{"index log names no missing ids", check.CheckIntegrityReported(nil, check.Effects{IndexDamage: index.IndexDamage, IndexLogs: []check.IndexLog{{At: 120}}}, check.FinalState{}), check.VerdictFail, "unreported-index-damage"},
	})
}

// The audit event names the check looks for are the store's.
func TestAuditEventNames(t *testing.T) {
	if check.EventBoxRepaired != store.EventBoxRepaired {
		t.Errorf("check.EventBoxRepaired %q, store writes %q", check.EventBoxRepaired, store.EventBoxRepaired)
	}
}

func TestCheckMigrationAtomicity(t *testing.T) {
	judgeStateCases(t, []stateCase{
		{"whole", check.CheckMigrationAtomicity(check.FinalState{Schema: 5, Synthetic: "v3,v4,v5"}), check.VerdictPass, ""},
		{"half applied", check.CheckMigrationAtomicity(check.FinalState{Schema: 5, Synthetic: "v3,v4"}), check.VerdictFail, "half-migrated"},
		{"applied twice", check.CheckMigrationAtomicity(check.FinalState{Schema: 4, Synthetic: "v3,v4,v4"}), check.VerdictFail, "half-migrated"},
		{"record unreadable", check.CheckMigrationAtomicity(check.FinalState{Schema: 4, Synthetic: "error: corrupt"}), check.VerdictFail, "half-migrated"},
		{"final state unreadable", check.CheckMigrationAtomicity(check.FinalState{Err: "corrupt"}), check.VerdictUnknown, ""},
	})
}

func TestCheckErrorIs(t *testing.T) {
	wrongKey := check.ErrorIsOptions{Error: "wrong-key", Steps: []string{"wrong-key"}}
	unchanged, changed := map[string]any{"unchanged": true}, map[string]any{"unchanged": false}
	corrupt := check.ErrorIsOptions{Error: "corrupt", AfterDamage: true}
	dmg := check.Effects{Damage: []check.Damage{{Box: "pending_ops", Type: "bitflip", At: 100}}}
	open := func(at int64, class string) history.HistoryEvent {
		out := ok
		if class != "" {
			out = history.OpOutput{Outcome: history.OutcomeError, Err: class + " error", ErrClass: class}
		}
		return history.HistoryEvent{Client: "harness", Kind: history.KindOpen, Call: at, Return: at + 5, Out: out}
	}
	judgeStateCases(t, []stateCase{
		{"refused, unchanged", check.CheckErrorIs([]history.HistoryEvent{faultEv(10, "wrong-key", "done", history.Fault{Class: "wrong-key", Err: "wrong key", Detail: unchanged})}, check.Effects{}, wrongKey), check.VerdictPass, ""},
		{"succeeded", check.CheckErrorIs([]history.HistoryEvent{faultEv(10, "wrong-key", "done", history.Fault{})}, check.Effects{}, wrongKey), check.VerdictFail, "wrong-error"},
		{"other error", check.CheckErrorIs([]history.HistoryEvent{faultEv(10, "wrong-key", "done", history.Fault{Class: "corrupt"})}, check.Effects{}, wrongKey), check.VerdictFail, "wrong-error"},
		{"refused but changed files", check.CheckErrorIs([]history.HistoryEvent{faultEv(10, "wrong-key", "done", history.Fault{Class: "wrong-key", Detail: changed})}, check.Effects{}, wrongKey), check.VerdictFail, "changed"},
		{"skipped step", check.CheckErrorIs([]history.HistoryEvent{faultEv(10, "wrong-key", "done", history.Fault{Skipped: "no backup"})}, check.Effects{}, wrongKey), check.VerdictUnknown, ""},
		{"corrupt at the next open", check.CheckErrorIs([]history.HistoryEvent{open(50, ""), open(150, "corrupt")}, dmg, corrupt), check.VerdictPass, ""},
		{"next open succeeds", check.CheckErrorIs([]history.HistoryEvent{open(50, "corrupt"), open(150, "")}, dmg, corrupt), check.VerdictFail, "wrong-error"},
	})
}

func TestCheckStaleTokenRefused(t *testing.T) {
	acquire := func(at int64, token uint64) history.HistoryEvent {
		return history.HistoryEvent{Client: "p1", Kind: history.KindAcquire, Call: at, Return: at + 1, Out: history.OpOutput{Outcome: history.OutcomeOK, Token: token}}
	}
	claim := func(at int64, token uint64, o history.Outcome) history.HistoryEvent {
		return history.HistoryEvent{Client: "p0", Kind: history.KindClaim, Call: at, Return: at + 1, In: history.OpInput{Token: token}, Out: history.OpOutput{Outcome: o}}
	}
	release := func(at int64, token uint64) history.HistoryEvent {
		return history.HistoryEvent{Client: "p0", Kind: history.KindRelease, Call: at, Return: at + 1, In: history.OpInput{Token: token}, Out: history.OpOutput{Outcome: history.OutcomeOK}}
	}
	judgeStateCases(t, []stateCase{
		{"refused", check.CheckStaleTokenRefused([]history.HistoryEvent{acquire(0, 1), acquire(10, 2), claim(20, 1, history.OutcomeStaleToken)}), check.VerdictPass, ""},
		{"accepted", check.CheckStaleTokenRefused([]history.HistoryEvent{acquire(0, 1), acquire(10, 2), claim(20, 1, history.OutcomeOK)}), check.VerdictFail, "stale-not-refused"},
		{"overlapping acquire is not newer yet", check.CheckStaleTokenRefused([]history.HistoryEvent{acquire(0, 1), acquire(20, 2), claim(20, 1, history.OutcomeOK)}), check.VerdictUnknown, ""},
		{"released token accepted", check.CheckStaleTokenRefused([]history.HistoryEvent{acquire(0, 1), release(10, 1), claim(20, 1, history.OutcomeOK)}), check.VerdictFail, "stale-not-refused"},
		{"released token refused", check.CheckStaleTokenRefused([]history.HistoryEvent{acquire(0, 1), release(10, 1), claim(20, 1, history.OutcomeStaleToken)}), check.VerdictPass, ""},
		{"another token's release", check.CheckStaleTokenRefused([]history.HistoryEvent{acquire(0, 2), release(10, 1), claim(20, 2, history.OutcomeOK)}), check.VerdictUnknown, ""},
	})
}

func TestCheckDiskFull(t *testing.T) {
	failed := func(at int64, class string) history.HistoryEvent {
		return history.HistoryEvent{Kind: history.KindEnqueue, Call: at, Return: at + 1, Out: history.OpOutput{Outcome: history.OutcomeError, Err: class, ErrClass: class}}
	}
	limit := faultEv(100, "disk-full", "done", history.Fault{})
	judgeStateCases(t, []stateCase{
		{"writes fail as disk-full", check.CheckDiskFull([]history.HistoryEvent{limit, enq("a", 110, 111), failed(120, "disk-full")}, "disk-full", "disk-full"), check.VerdictPass, ""},
		{"writes fail otherwise", check.CheckDiskFull([]history.HistoryEvent{limit, failed(120, "other")}, "disk-full", "disk-full"), check.VerdictFail, "no-disk-full"},
		{"only before the limit", check.CheckDiskFull([]history.HistoryEvent{failed(50, "disk-full"), limit}, "disk-full", "disk-full"), check.VerdictFail, "no-disk-full"},
		{"no limit set", check.CheckDiskFull([]history.HistoryEvent{failed(50, "disk-full")}, "disk-full", "disk-full"), check.VerdictUnknown, ""},
	})
}

func TestForgiveTornTails(t *testing.T) {
	events := []history.HistoryEvent{enq("a", 10, 20), enq("b", 30, 40), enq("c", 200, 210)}
	eff := check.Effects{Damage: []check.Damage{{Box: "pending_ops", Type: "truncate", Mode: "tail", TornTail: true, At: 100}}}
	got := check.ForgiveTornTails(events, eff)
	for i, want := range []bool{false, true, false} {
		if got[i].Crashed() != want {
			t.Errorf("%s: never returned %t, want %t", got[i].Out.OpID, got[i].Crashed(), want)
		}
	}
	if events[1].Crashed() {
		t.Error("the input was changed")
	}
	if got := check.ForgiveTornTails(events, check.Effects{Damage: []check.Damage{{Box: "pending_ops", Type: "bitflip", At: 100}}}); got[1].Crashed() {
		t.Error("damage that is not a torn tail forgave an op")
	}
}

// TestCheckIntegrityReportedRelocations: a relocated record served by a
// claim after the relocation, or listed in the final state, is a
// violation; one refused at open, or claimed only before it moved, is not.
func TestCheckIntegrityReportedRelocations(t *testing.T) {
	refused := []check.Corruption{{At: 150, Box: "failed_ops", Offset: 80, Err: "corrupt at 80"}}
	// A failed op's record copied, under a new key, into pending_ops.
	intoPending := check.Effects{
		Damage:      []check.Damage{{Index: 2, Box: "pending_ops", Type: "relocate", Mode: "copy", Offset: 80, At: 100}},
		Corruptions: []check.Corruption{{At: 150, Box: "pending_ops", Offset: 80, Err: "corrupt at 80"}},
		Relocations: []check.Relocation{{Index: 2, From: "failed_ops", To: "pending_ops", Key: "op/0001", NewKey: "op/0002", Mode: "copy", At: 100}},
	}
	// A pending op's record moved, under its own key, into failed_ops.
	intoFailed := check.Effects{
		Damage:      []check.Damage{{Index: 2, Box: "failed_ops", Type: "relocate", Mode: "move", Offset: 80, At: 100}},
		Corruptions: refused,
		Relocations: []check.Relocation{{Index: 2, From: "pending_ops", To: "failed_ops", Key: "op/0001", NewKey: "op/0001", Mode: "move", At: 100}},
	}
	claim := func(id string, at int64) history.HistoryEvent {
		return history.HistoryEvent{Client: "processor-0", Kind: history.KindClaim, Call: at, Return: at + 5, Out: history.OpOutput{Outcome: history.OutcomeOK, OpID: id}}
	}
	listed := func(pending, failed string) check.FinalState {
		st := history.StoreState{}
		if pending != "" {
			st.Pending = []history.StateOp{{ID: pending}}
		}
		if failed != "" {
			st.Failed = []history.StateOp{{ID: failed}}
		}
		return check.FinalState{State: st}
	}
	judgeStateCases(t, []stateCase{
		{"refused, never served", check.CheckIntegrityReported([]history.HistoryEvent{claim("0001", 300)}, intoPending, check.FinalState{}), check.VerdictPass, ""},
		{"claimed under its new key", check.CheckIntegrityReported([]history.HistoryEvent{claim("0002", 300)}, intoPending, check.FinalState{}), check.VerdictFail, "relocated-served"},
		{"pending under its new key at the end", check.CheckIntegrityReported(nil, intoPending, listed("0002", "")), check.VerdictFail, "relocated-served"},
		{"claimed before it moved", check.CheckIntegrityReported([]history.HistoryEvent{claim("0001", 20)}, intoFailed, check.FinalState{}), check.VerdictPass, ""},
		{"failed at the end", check.CheckIntegrityReported(nil, intoFailed, listed("", "0001")), check.VerdictFail, "relocated-served"},
		{"unreadable final state lists nothing", check.CheckIntegrityReported(nil, intoFailed, check.FinalState{Err: "corrupt", State: listed("", "0001").State}), check.VerdictPass, ""},
	})
}
