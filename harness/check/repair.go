package check

// What integrity-reported compares between the repaired store and the
// history: a repair may drop records, but only the ones it reports, and it
// never changes one.

import (
	"fmt"
	"slices"

	"github.com/boxstorm/boxstorm/harness/history"
)

// RepairMatchesHistory compares the final state fs with the history:
// every surviving pending or failed op whose payload hash the harness read
// carries the payload its acknowledged enqueue sent (changed-payload); and
// every acknowledged enqueue whose op was neither acked nor failed nor
// recorded done, and is absent from the final state, is covered by a
// repair of pending_ops (or of the damaged box, a target's file) that an
// audit entry (box_repaired or
// corruption_recovery) reports, or by a restore (silently-dropped). It is
// a pure function; CheckIntegrityReported adds its violations.
func RepairMatchesHistory(events []history.HistoryEvent, eff Effects, fs FinalState) []Violation {
	if fs.Err != "" {
		return nil
	}
	sent := map[string]string{} // op id -> payload hash its enqueue sent
	var acked []string
	gone := map[string]bool{} // acked, failed or done: may be absent
	for _, e := range events {
		if e.Out.Outcome != history.OutcomeOK || e.Out.OpID == "" && e.In.OpID == "" {
			continue
		}
		switch e.Kind {
		case history.KindEnqueue:
			if e.Out.Duplicate {
				continue
			}
			if _, ok := sent[e.Out.OpID]; !ok {
				acked = append(acked, e.Out.OpID)
			}
			sent[e.Out.OpID] = e.In.PayloadHash
		case history.KindAck, history.KindFail:
			gone[e.In.OpID] = true
		}
	}
	for _, id := range fs.State.Done {
		gone[id] = true
	}
	var vs []Violation
	present := map[string]bool{}
	for _, ops := range [][]history.StateOp{fs.State.Pending, fs.State.Failed} {
		for _, op := range ops {
			present[op.ID] = true
			want, ok := sent[op.ID]
			if ok && want != "" && op.PayloadHash != "" && op.PayloadHash != want {
				vs = append(vs, Violation{Kind: "changed-payload", Severity: SeverityViolation,
					Message: fmt.Sprintf("op %s survived the repair with payload %s, but its acknowledged enqueue sent %s", op.ID, short(op.PayloadHash), short(want))})
			}
		}
	}
	// The queue's box: pending_ops, or a target's damaged file (Damage.Box).
	queueBox := func(box string) bool {
		return box == BoxPending || slices.ContainsFunc(eff.Damage, func(d Damage) bool { return d.Box == box })
	}
	reported := len(eff.Restores) > 0 || slices.ContainsFunc(eff.Repairs, func(r Repair) bool { return queueBox(r.Box) && r.QuarantineExists }) &&
		(slices.Contains(fs.Audit, EventBoxRepaired) || slices.Contains(fs.Audit, EventCorruptionRecovery))
	if reported {
		return vs
	}
	for _, id := range acked {
		if !gone[id] && !present[id] {
			vs = append(vs, Violation{Kind: "silently-dropped", Severity: SeverityViolation,
				Message: fmt.Sprintf("op %s was acknowledged, never acked or failed, and is gone, with no repair of %s reported in the audit log", id, BoxPending)})
		}
	}
	return vs
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
