// Package opname is the one list of operation names boxstorm uses: the
// store calls the harness makes and times, as they appear in histories
// (history.OpKind), latency reports and .hgrm file names (load and
// chaos), and scenario thresholds (scenarios.OpName). Each of those
// packages uses the subset it needs, by these constants.
//
// The package imports nothing, so that scenarios, which must import
// neither the store nor the harness, can share the list with them.
package opname

// The operation names. Each satisfies reports.ValidateOpName: lower case,
// no spaces or commas.
const (
	// Queue calls.
	Enqueue = "enqueue"
	Claim   = "claim"
	Ack     = "ack"
	Fail    = "fail"
	Retry   = "retry"
	Pending = "pending" // reading the pending queue (Store.Pending)

	// The processing lock.
	Acquire   = "acquire"
	Heartbeat = "heartbeat"
	Release   = "release"

	// Key-value calls of the YCSB-style load workloads.
	Get    = "get"
	Update = "update"

	// Runbook procedures.
	Open       = "open"
	SecondOpen = "second-open" // a second open of a store already open
	Backup     = "backup"
	Restore    = "restore"
	RotateKey  = "rotate-key"
	Migrate    = "migrate"
	Erase      = "erase"
	Recover    = "recover" // corruption recovery: quarantine, restore, migrate
	Close      = "close"
	// RebuildIndex rebuilds pending_index from pending_ops.
	RebuildIndex = "rebuild-index"

	// Cycle is one enqueue, claim and ack, timed as a whole.
	Cycle = "cycle"
)

// All returns every operation name, in the order above.
func All() []string {
	return []string{
		Enqueue, Claim, Ack, Fail, Retry, Pending,
		Acquire, Heartbeat, Release,
		Get, Update,
		Open, SecondOpen, Backup, Restore, RotateKey, Migrate, Erase, Recover, Close, RebuildIndex,
		Cycle,
	}
}
