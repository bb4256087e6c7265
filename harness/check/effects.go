package check

import "github.com/boxstorm/boxstorm/harness/history"

// Effects is what a chaos run's faults did, as the runner saw it: the
// damage it did to files behind the store's back, the backups it took and
// restored, the subjects it erased, and what the store reported back
// (corruption errors, repairs, index reconciliations). It is plain data:
// the state checks (CheckIntegrityReported, CheckErrorIs,
// CheckRestoreWhole, CheckMigrationAtomicity) judge it with the history
// and the final state, and the tests build it by hand. Times are on the
// history's clock.
type Effects struct {
	Damage      []Damage      // file damage, in the order done
	IndexDamage []IndexDamage // index faults, in the order done
	Backups     []Backup      // in the order taken
	Restores    []Restore     // restores and corruption recoveries, in the order started
	Erased      []string      // subjects erased
	// Corruptions are the corruption errors opens returned.
	Corruptions []Corruption
	// Repairs are the repairs opens made (a torn tail cut, records
	// skipped).
	Repairs []Repair
	// IndexLogs are the store's log records saying an open reconciled the
	// pending index with the ops.
	IndexLogs []IndexLog
	// Rebuilds are the rebuild-index steps that ran.
	Rebuilds []Rebuild
	// RecoverScheduled: the scenario has a recover step.
	RecoverScheduled bool
	// Quarantines are the <box>_corrupted_*.bak files in the store
	// directory at the end of the run.
	Quarantines []string
	// Relocations are the sealed records relocate faults copied or moved
	// to another box or key; each also has a Damage per file it changed.
	Relocations []Relocation
}

// Relocation is one sealed record a relocate fault put, bytes unchanged,
// into another box or under another key: the store must never serve it
// there.
type Relocation struct {
	Index  int    `json:"index"`   // the fault's index in the schedule
	From   string `json:"from"`    // the source box
	To     string `json:"to"`      // the target box
	Key    string `json:"key"`     // the record's key in the source box
	NewKey string `json:"new_key"` // its key in the target box
	Mode   string `json:"mode"`    // copy or move
	At     int64  `json:"at"`      // when
}

// Damage is one damage to a box file.
type Damage struct {
	Index  int    `json:"index"` // the fault's index in the schedule
	Box    string `json:"box"`
	Type   string `json:"type"` // the fault type: truncate, bitflip, garbage, nul-run
	Mode   string `json:"mode,omitempty"`
	Offset int64  `json:"offset"` // where the damage starts in the file
	At     int64  `json:"at"`     // when: an enqueue that returned before it was acknowledged
	// TornTail: the damage cut the file's tail, which the scenario format
	// counts as an incomplete last write: the last acknowledged enqueue
	// before it may be taken back (see ForgiveTornTails).
	TornTail bool `json:"torn_tail,omitempty"`
}

// IndexDamage is one index fault: ops whose index entries are missing, or
// ops with enqueue times no clock could have produced.
type IndexDamage struct {
	Index      int    `json:"index"`
	Type       string `json:"type"`
	Count      int    `json:"count"`
	MissingIDs bool   `json:"missing_ids,omitempty"` // index entries missing (rather than malformed timestamps)
	At         int64  `json:"at"`
}

// IndexLog is a store log record saying an open reconciled the index.
type IndexLog struct {
	At      int64  `json:"at"`
	Missing int64  `json:"missing"` // index entries the open found missing
	Text    string `json:"text"`    // the record, for messages
}

// Rebuild is a rebuild-index step that ran.
type Rebuild struct {
	At        int64 `json:"at"`
	Missing   int   `json:"missing"`
	Malformed int   `json:"malformed"`
}

// Backup is one backup the run took.
type Backup struct {
	Index  int    `json:"index"` // the fault's index in the schedule
	Path   string `json:"path"`
	Schema int    `json:"schema"`  // the schema version the store had
	KeyGen int    `json:"key_gen"` // the run's key generation when it was taken
	// Before is when the backup call started: ops that returned before it
	// are in the backup. After is when it returned, or -1 when unknown.
	Before int64 `json:"before"`
	After  int64 `json:"after"`
	// Marker: the run wrote BackupMarkerEvent to the audit log right after
	// it, so a restore must take that entry away with the ops enqueued
	// since, or neither.
	Marker bool `json:"marker,omitempty"`
}

// Restore is one restore (or corruption recovery) of a backup.
type Restore struct {
	Backup Backup `json:"backup"`
	OK     bool   `json:"ok"`   // it returned success
	Done   bool   `json:"done"` // it returned at all (its process was not killed)
	At     int64  `json:"at"`
}

// Corruption is a corruption error an open returned.
type Corruption struct {
	At     int64  `json:"at"`
	Box    string `json:"box"`
	Offset int64  `json:"offset"` // -1 when the error named none
	Err    string `json:"err"`
}

// Repair is one repair an open made, with whether its quarantine copy
// exists.
type Repair struct {
	Box          string `json:"box"`
	Kind         string `json:"kind"`
	Offset       int64  `json:"offset"`
	DroppedBytes int64  `json:"dropped_bytes"`
	Quarantine   string `json:"quarantine"`
	// QuarantineExists: the quarantine file was there when the run looked.
	QuarantineExists bool `json:"quarantine_exists"`
}

// FinalState is what the harness read from the store at the end of a run,
// beyond the history's last store-state event.
type FinalState struct {
	// Err says why the store could not be opened or read; "" when it was.
	Err string `json:"err,omitempty"`
	// State holds the pending and failed ops.
	State history.StoreState `json:"state"`
	// Audit lists the audit log's event names, in order.
	Audit []string `json:"audit,omitempty"`
	// Schema is the schema version.
	Schema int `json:"schema"`
	// Synthetic is the record the run's synthetic migrations append their
	// versions to ("v3,v4,v5"); "" when the run registered none.
	Synthetic string `json:"synthetic,omitempty"`
}

// Audit events the state checks look for, as the store and the chaos
// runner write them.
const (
	// BoxPending and BoxFailed are the store's queue boxes, by the names
	// the store contract gives them: a relocation into one must not show
	// up as a pending or failed op.
	BoxPending = "pending_ops"
	BoxFailed  = "failed_ops"
	// EventBoxRepaired is the store's audit entry for a box an open
	// repaired (store.EventBoxRepaired).
	EventBoxRepaired = "box_repaired"
	// EventCorruptionRecovery is the store's audit entry for a corruption
	// recovery.
	EventCorruptionRecovery = "corruption_recovery"
	// BackupMarkerEvent is the audit entry a chaos run writes right after
	// each backup (Backup.Marker).
	BackupMarkerEvent = "chaos_after_backup"
)

// ForgiveTornTails returns events with, for each torn-tail damage in eff,
// the last enqueue acknowledged before it (by sequence number) made
// never-returned: a torn tail is an incomplete last write, which the
// scenario format counts as unacknowledged, so the cut may take that op
// back. The other events are unchanged.
func ForgiveTornTails(events []history.HistoryEvent, eff Effects) []history.HistoryEvent {
	var forgive []int
	for _, d := range eff.Damage {
		if !d.TornTail {
			continue
		}
		last := -1
		for i, e := range events {
			if e.Kind == history.KindEnqueue && e.Out.Outcome == history.OutcomeOK && e.Return < d.At && (last < 0 || e.Out.Seq > events[last].Out.Seq) {
				last = i
			}
		}
		if last >= 0 {
			forgive = append(forgive, last)
		}
	}
	out := make([]history.HistoryEvent, len(events))
	copy(out, events)
	for _, i := range forgive {
		out[i].Return, out[i].Out = history.ReturnUnknown, history.OpOutput{Outcome: history.OutcomeUnknown}
	}
	return out
}
