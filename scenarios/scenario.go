package scenarios

import (
	"fmt"
	"github.com/boxstorm/boxstorm/opname"
	"slices"
	"time"
)

// CurrentVersion is the only scenario format version this package reads.
// A file must say so with a top-level "version: 1".
const CurrentVersion = 1

// Defaults for the optional fields of a scenario. docs/scenarios.md lists
// them beside each field.
const (
	// DefaultSync is the store's sync mode when store.sync is absent.
	DefaultSync = SyncAlways
	// DefaultSyncInterval is the fsync period for sync: interval when
	// store.sync_interval is absent. It matches buntdb's EverySecond, and
	// differs on purpose from the library's store.DefaultSyncPeriod.
	DefaultSyncInterval = time.Second
	// DefaultRecovery is the store's recovery mode when store.recovery is
	// absent.
	DefaultRecovery = RecoveryTolerateTornTail
	// DefaultStaleAfter is how long a processing lock may go without a
	// heartbeat before another processor may take it over.
	DefaultStaleAfter = 2 * time.Minute
	// DefaultFailedOpsAlert is the failed_ops.count above which the store's
	// alert fires.
	DefaultFailedOpsAlert = 20
	// DefaultCheckpointPeriod is the most time between two checkpoint
	// writes when store.checkpoint_period is absent; it matches the
	// library's store.DefaultCheckpointPeriod.
	DefaultCheckpointPeriod = time.Second
	// DefaultQuickOps caps the op count of a --quick run when
	// workload.quick_ops is absent.
	DefaultQuickOps = 1000
	// DefaultValueSize is the payload size in bytes of each enqueued op.
	DefaultValueSize = 256
	// DefaultSubjects is the number of data subjects the workload's ops are
	// spread over.
	DefaultSubjects = 16
)

// Limits on values, so that a typo cannot ask the harness for a week-long
// run or a terabyte of payload.
const (
	// MaxSize is the largest scenario file Load accepts, in bytes.
	MaxSize = 32 << 10
	// MaxOps is the largest workload.ops.
	MaxOps = 100_000_000
	// MaxWorkers is the largest producers or processors count.
	MaxWorkers = 1024
	// MaxProcesses is the largest workload.processes.
	MaxProcesses = 64
	// MaxValueSize is the largest workload.value_size, in bytes.
	MaxValueSize = 1 << 20
)

// Scenario is one chaos scenario: a store configuration, a workload, an
// ordered fault schedule and the checks that must hold afterwards. Load
// returns it with every default filled in and every field validated.
type Scenario struct {
	// File is the name the scenario was loaded from, as given to Load.
	File string
	// Version is the format version; always CurrentVersion.
	Version int
	// Name equals the file's base name without its extension.
	Name string
	// Description is one line saying what the scenario does.
	Description string
	// Protection is the store protection the scenario exercises. The
	// harness's known-bad target for the scenario is the store with this
	// protection switched off.
	Protection Protection
	// Store is how the harness opens the store.
	Store StoreOptions
	// Workload is the load the harness drives while faults are injected.
	Workload Workload
	// Faults is the fault schedule, in the order it runs.
	Faults []Fault
	// Checks are the checkers that must report no violation.
	Checks []Check
	// Thresholds are latency limits, sorted by op and then percentile.
	Thresholds []Threshold
}

// Quick returns a copy of s scaled for a --quick run: Workload.Ops becomes
// Workload.QuickOps and every op position is scaled by the same ratio,
// rounding down, so the faults land at the same fraction of the run.
func (s *Scenario) Quick() *Scenario {
	q := *s
	q.Faults = slices.Clone(s.Faults)
	q.Checks = slices.Clone(s.Checks)
	q.Thresholds = slices.Clone(s.Thresholds)
	ops, quick := s.Workload.Ops, s.Workload.QuickOps
	if ops == 0 || quick >= ops {
		q.quickStates()
		return &q
	}
	q.Workload.Ops = quick
	scale := func(n int64) int64 { return n * quick / ops }
	for i := range q.Faults {
		at := &q.Faults[i].At
		if at.Kind != AtStep {
			at.Op, at.OpMax = scale(at.Op), scale(at.OpMax)
		}
	}
	q.quickStates()
	return &q
}

// Protection names a store protection that a scenario exercises.
type Protection string

// The protections a scenario can name. Each has a known-bad target in the
// harness.
const (
	ProtectionFencing             Protection = "fencing"
	ProtectionTornTailRepair      Protection = "torn-tail-repair"
	ProtectionCorruptionDetection Protection = "corruption-detection"
	ProtectionIdempotency         Protection = "idempotency"
	ProtectionFIFOOrder           Protection = "fifo-order"
	ProtectionDurability          Protection = "durability"
	ProtectionAtomicRestore       Protection = "atomic-restore"
	ProtectionKeyCheck            Protection = "key-check"
	ProtectionErasureLedger       Protection = "erasure-ledger"
	ProtectionFailedOpsAlert      Protection = "failed-ops-alert"
	ProtectionBackupVerification  Protection = "backup-verification"
	ProtectionDirLock             Protection = "dir-lock"
	ProtectionDiskFullSafety      Protection = "disk-full-safety"
	ProtectionIndexRebuild        Protection = "index-rebuild"
	ProtectionRotationResume      Protection = "rotation-resume"
	ProtectionMigrationAtomicity  Protection = "migration-atomicity"
	// ProtectionLockStaleness: no lease is taken over before stale_after.
	ProtectionLockStaleness Protection = "lock-staleness"
	// ProtectionIdempotencyDurability: idempotency keys outlive a restart.
	ProtectionIdempotencyDurability Protection = "idempotency-durability"
	// ProtectionKeyCheckFirst: a wrong key is refused before a pending swap
	// or staging is touched.
	ProtectionKeyCheckFirst Protection = "key-check-first"
	// ProtectionPowerLossDurability: a commit is acknowledged only once an
	// fsync that began after its write returned, and new files' names are
	// made durable by an fsync of their directory.
	ProtectionPowerLossDurability Protection = "power-loss-durability"
	// ProtectionFsyncHonesty: a failed fsync is reported, and nothing it
	// did not make durable is acknowledged then or later.
	ProtectionFsyncHonesty Protection = "fsync-honesty"
	// ProtectionStepAtomicity: every step of a procedure (a restore, a
	// migration step, a rotation, an erasure) leaves the store wholly old or
	// wholly new at any crash point.
	ProtectionStepAtomicity Protection = "step-atomicity"
)

// Protections returns every protection a scenario can name, so that the
// harness can prove it has a known-bad target for each.
func Protections() []Protection {
	return []Protection{
		ProtectionFencing, ProtectionTornTailRepair, ProtectionCorruptionDetection,
		ProtectionIdempotency, ProtectionFIFOOrder, ProtectionDurability,
		ProtectionAtomicRestore, ProtectionKeyCheck, ProtectionErasureLedger,
		ProtectionFailedOpsAlert, ProtectionBackupVerification, ProtectionDirLock,
		ProtectionDiskFullSafety, ProtectionIndexRebuild, ProtectionRotationResume,
		ProtectionMigrationAtomicity, ProtectionLockStaleness, ProtectionIdempotencyDurability,
		ProtectionKeyCheckFirst, ProtectionPowerLossDurability, ProtectionFsyncHonesty,
		ProtectionStepAtomicity,
	}
}

// Sync is the store's fsync policy.
type Sync string

// The store's sync modes.
const (
	// SyncAlways fsyncs before every operation returns: an acknowledged
	// op survives a kill or a power loss.
	SyncAlways Sync = "always"
	// SyncInterval fsyncs every StoreOptions.SyncInterval.
	SyncInterval Sync = "interval"
	// SyncNever leaves flushing to the operating system.
	SyncNever Sync = "never"
)

// Recovery is what the store does at open when a box file is damaged. The
// modes follow RocksDB's WAL recovery modes.
type Recovery string

// The store's recovery modes.
const (
	// RecoveryStrict refuses to open a damaged box.
	RecoveryStrict Recovery = "strict"
	// RecoveryTolerateTornTail repairs an incomplete last write and
	// refuses any other damage.
	RecoveryTolerateTornTail Recovery = "tolerate-torn-tail"
	// RecoveryPointInTime keeps the prefix before the first damage.
	RecoveryPointInTime Recovery = "point-in-time"
	// RecoverySkipDamaged skips damaged records and keeps the rest.
	RecoverySkipDamaged Recovery = "skip-damaged"
)

// StoreOptions is how the harness opens the store under test.
type StoreOptions struct {
	// Sync is the fsync policy; DefaultSync when absent.
	Sync Sync
	// SyncInterval is the fsync period when Sync is SyncInterval, and zero
	// otherwise.
	SyncInterval time.Duration
	// Recovery is the recovery mode at open; DefaultRecovery when absent.
	Recovery Recovery
	// StaleAfter is how long the processing lock may go without a
	// heartbeat before it is stale; DefaultStaleAfter when absent.
	StaleAfter time.Duration
	// FailedOpsAlert is the failed_ops.count above which the alert fires;
	// DefaultFailedOpsAlert when absent.
	FailedOpsAlert int
	// CheckpointPeriod is the store's checkpoint period (how often it
	// records what is durable, outside the box files);
	// DefaultCheckpointPeriod when absent.
	CheckpointPeriod time.Duration
}

// WorkloadKind says what the workload's workers do.
type WorkloadKind string

// The workload kinds.
const (
	// WorkloadEnqueue: producers enqueue ops; nothing claims them.
	WorkloadEnqueue WorkloadKind = "enqueue"
	// WorkloadCycle: each processor enqueues an op, claims it and acks it.
	WorkloadCycle WorkloadKind = "cycle"
	// WorkloadMixed: producers enqueue while processors claim and ack.
	WorkloadMixed WorkloadKind = "mixed"
	// WorkloadClaim: the harness first fills the queue with Ops ops,
	// untimed, then processors claim and ack them. Op positions count
	// claims.
	WorkloadClaim WorkloadKind = "claim"
	// WorkloadNone runs no workload; only step positions are allowed.
	WorkloadNone WorkloadKind = "none"
)

// Workload is the load the harness drives.
type Workload struct {
	// Kind says what the workers do.
	Kind WorkloadKind
	// Producers is the number of producer goroutines.
	Producers int
	// Processors is the number of processor goroutines in the harness.
	Processors int
	// Processes is the number of extra OS processes, each running one
	// processor against the same store directory.
	Processes int
	// Ops is the number of ops in a full run: enqueues for enqueue, claims
	// for claim, completed cycles for cycle and enqueues for mixed.
	Ops int64
	// QuickOps is the number of ops in a --quick run.
	QuickOps int64
	// ValueSize is each payload's size in bytes.
	ValueSize int
	// Idempotency is the fraction, from 0 to 1, of enqueues that repeat an
	// earlier op's idempotency key.
	Idempotency float64
	// Rate is the open-loop arrival rate in ops per second across all
	// workers; zero means a closed loop.
	Rate float64
	// Subjects is the number of data subjects, named subject-0 to
	// subject-(Subjects-1), that the ops' payloads belong to.
	Subjects int
}

// OpCount returns the number of ops in a full run, or in a --quick run
// when quick is set.
func (w Workload) OpCount(quick bool) int64 {
	if quick {
		return w.QuickOps
	}
	return w.Ops
}

// FaultType names a fault step.
type FaultType string

// The fault types. Damage steps change box files while the store is closed;
// the harness closes it first and opens it again for the next step that
// needs it.
const (
	// FaultTruncate cuts a box file: Box, Mode.
	FaultTruncate FaultType = "truncate"
	// FaultBitflip flips Count random bits in a box file: Box, Count.
	FaultBitflip FaultType = "bitflip"
	// FaultGarbage writes a line of Bytes random bytes into a box file:
	// Box, Bytes.
	FaultGarbage FaultType = "garbage"
	// FaultNULRun overwrites Length bytes of a box file with NUL: Box,
	// Length.
	FaultNULRun FaultType = "nul-run"
	// FaultClockSkew shifts one processor's clock: Processor, Offset.
	FaultClockSkew FaultType = "clock-skew"
	// FaultStall pauses one processor, heartbeats included: Processor,
	// Duration.
	FaultStall FaultType = "stall"
	// FaultHandlerFailure makes a fraction of handler calls fail from then
	// on: Rate.
	FaultHandlerFailure FaultType = "handler-failure"
	// FaultKill arms a SIGKILL of the worker process: at the position
	// itself, or at the first hit of Failpoint from then on.
	FaultKill FaultType = "kill"
	// FaultWrongKey opens the store, or restores the latest backup, with
	// a wrong master key: During.
	FaultWrongKey FaultType = "wrong-key"
	// FaultSchemaMismatch restores the latest backup expecting a schema
	// version that differs from the backup's by Delta.
	FaultSchemaMismatch FaultType = "schema-mismatch"
	// FaultDiskFull limits the bytes the store's files may grow by: Limit.
	FaultDiskFull FaultType = "disk-full"
	// FaultSecondOpen opens the store directory again while it is open:
	// From.
	FaultSecondOpen FaultType = "second-open"
	// FaultBackup takes an encrypted backup.
	FaultBackup FaultType = "backup"
	// FaultRestore restores the latest backup taken in the run.
	FaultRestore FaultType = "restore"
	// FaultRotateKey rotates the master key: Batch.
	FaultRotateKey FaultType = "rotate-key"
	// FaultMigrate applies Count synthetic migrations.
	FaultMigrate FaultType = "migrate"
	// FaultErase erases one data subject: Subject.
	FaultErase FaultType = "erase"
	// FaultCorruptIndex damages pending_index: Mode, Count.
	FaultCorruptIndex FaultType = "corrupt-index"
	// FaultMalformedTimestamps rewrites the enqueue time of Count pending
	// ops to an unparsable value.
	FaultMalformedTimestamps FaultType = "malformed-timestamps"
	// FaultReopen closes and opens the store, optionally with another
	// Recovery mode.
	FaultReopen FaultType = "reopen"
	// FaultRecover runs the runbook's corrupted-box procedure: quarantine,
	// restore the latest backup, re-run migrations, audit.
	FaultRecover FaultType = "recover"
	// FaultRebuildIndex rebuilds pending_index from pending_ops.
	FaultRebuildIndex FaultType = "rebuild-index"
	// FaultRelocate copies or moves one sealed record of a box file to
	// another box file, or under another key of the same box: Box, To,
	// Mode.
	FaultRelocate FaultType = "relocate"
	// FaultPowerLoss SIGKILLs the store's process and cuts the power of
	// the fault file system under it: Mode (PowerLossUnsynced or
	// PowerLossTorn), seeded by the fault's own seed. The store is
	// reopened on what a disk would hold. Every and Count make it repeat,
	// as for a kill, each power loss seeded anew from the fault's seed.
	FaultPowerLoss FaultType = "power-loss"
	// FaultFsyncError makes the Nth fsync from then on fail with EIO, and
	// with Sticky every fsync after it.
	FaultFsyncError FaultType = "fsync-error"
	// FaultENOSPC lets the store write Budget more bytes; writes beyond
	// fail with ENOSPC.
	FaultENOSPC FaultType = "enospc"
	// FaultSlowIO delays every write and fsync by a seeded draw with the
	// given Median and P99.
	FaultSlowIO FaultType = "slow-io"
	// FaultExplore runs Procedure once on the fault file system, recording
	// it, then opens and checks the store on up to States crash states the
	// recording allows.
	FaultExplore FaultType = "explore"
)

// Values of Fault.Mode for power-loss.
const (
	// PowerLossUnsynced loses everything no fsync made durable.
	PowerLossUnsynced = "lose-unsynced"
	// PowerLossTorn keeps a seeded subset of the unsynced writes, cut at
	// 512-byte sectors, and a prefix of the unsynced names.
	PowerLossTorn = "torn"
)

// The procedures an explore step records. Each is the fault step of the
// same name, except enqueue and claim-ack, which run their own small
// concurrent load.
const (
	ProcedureEnqueue      = "enqueue"
	ProcedureClaimAck     = "claim-ack"
	ProcedureBackup       = "backup"
	ProcedureRestore      = "restore"
	ProcedureMigrate      = "migrate"
	ProcedureRotateKey    = "rotate-key"
	ProcedureErase        = "erase"
	ProcedureRecover      = "recover"
	ProcedureRebuildIndex = "rebuild-index"
	ProcedurePurge        = "purge"
)

// Procedures returns every procedure an explore step can record.
func Procedures() []string {
	return []string{
		ProcedureEnqueue, ProcedureClaimAck, ProcedureBackup, ProcedureRestore, ProcedureMigrate,
		ProcedureRotateKey, ProcedureErase, ProcedureRecover, ProcedureRebuildIndex, ProcedurePurge,
	}
}

// Limits and defaults of crash-state exploration.
const (
	// DefaultExploreStates bounds an explore step's crash states when
	// states is absent.
	DefaultExploreStates = 400
	// MaxExploreStates is the largest states.
	MaxExploreStates = 100_000
	// QuickExploreStates caps the crash states of an explore step in a
	// --quick run.
	QuickExploreStates = 150
)

// Repeats reports whether a fault of type t may repeat (Fault.Every and
// Fault.Count): a kill, and a power loss, which kills the store's process
// too. The workload resumes after each.
func (t FaultType) Repeats() bool { return t == FaultKill || t == FaultPowerLoss }

// NeedsFaultFS reports whether t runs on the fault file system: the
// scenario's store directory is then a faultfs mount.
func (t FaultType) NeedsFaultFS() bool {
	switch t {
	case FaultPowerLoss, FaultFsyncError, FaultENOSPC, FaultSlowIO, FaultExplore:
		return true
	}
	return false
}

// NeedsFaultFS reports whether any of s's faults needs the fault file
// system.
func (s *Scenario) NeedsFaultFS() bool {
	return slices.ContainsFunc(s.Faults, func(f Fault) bool { return f.Type.NeedsFaultFS() })
}

// FaultTypes returns every fault type, so that the harness can prove it
// has an injector for each.
func FaultTypes() []FaultType {
	return []FaultType{
		FaultTruncate, FaultBitflip, FaultGarbage, FaultNULRun, FaultClockSkew,
		FaultStall, FaultHandlerFailure, FaultKill, FaultWrongKey,
		FaultSchemaMismatch, FaultDiskFull, FaultSecondOpen, FaultBackup,
		FaultRestore, FaultRotateKey, FaultMigrate, FaultErase,
		FaultCorruptIndex, FaultMalformedTimestamps, FaultReopen, FaultRecover,
		FaultRebuildIndex, FaultRelocate, FaultPowerLoss, FaultFsyncError, FaultENOSPC, FaultSlowIO,
		FaultExplore,
	}
}

// IsDamage reports whether t changes box files behind the store's back.
func (t FaultType) IsDamage() bool {
	switch t {
	case FaultTruncate, FaultBitflip, FaultGarbage, FaultNULRun,
		FaultCorruptIndex, FaultMalformedTimestamps, FaultRelocate:
		return true
	}
	return false
}

// Values of Fault.Mode.
const (
	// TruncateTail cuts into the last record, as a crash mid-write would,
	// and rewinds the box's checkpoint entry to the transaction before, as
	// such a crash leaves it (the checkpoint is written only after an
	// fsync, so it never covers a write the crash tore). The harness
	// counts that record's op as unacknowledged.
	TruncateTail = "tail"
	// TruncateBehindCheckpoint cuts into the last record and leaves the
	// checkpoint as it is: the cut removes data the checkpoint says is
	// durable, which the store must report as corruption.
	TruncateBehindCheckpoint = "behind-checkpoint"
	// TruncateMidFile cuts into acknowledged data that has records after
	// it; the store must report corruption.
	TruncateMidFile = "mid-file"
	// IndexMissingIDs deletes index entries whose ops still exist.
	IndexMissingIDs = "missing-ids"
	// IndexDanglingIDs adds index entries that point at no op.
	IndexDanglingIDs = "dangling-ids"
	// RelocateCopy copies the record and leaves the original.
	RelocateCopy = "copy"
	// RelocateMove copies the record and deletes the original.
	RelocateMove = "move"
)

// Values of Fault.During.
const (
	// DuringOpen opens the store with the wrong key.
	DuringOpen = "open"
	// DuringRestore restores the latest backup with the wrong key.
	DuringRestore = "restore"
)

// Values of Fault.From.
const (
	// FromOtherProcess opens the store from a child process.
	FromOtherProcess = "other-process"
	// FromSameProcess opens the store a second time in the harness.
	FromSameProcess = "same-process"
)

// Fault is one step of the fault schedule. Which fields apply depends on
// Type (see the FaultType constants); the others are zero.
type Fault struct {
	// Type is what the step does.
	Type FaultType
	// At is when the step runs, as a logical position.
	At Position
	// Box is the box file a damage step changes.
	Box string
	// To is the box file a relocate puts the record in; Box itself means
	// under another key of the same box.
	To string
	// Mode is TruncateTail, TruncateBehindCheckpoint or TruncateMidFile for
	// truncate, IndexMissingIDs or IndexDanglingIDs for corrupt-index, and
	// RelocateCopy or RelocateMove for relocate.
	Mode string
	// Count is the number of bits for bitflip, of migrations for migrate,
	// of records for corrupt-index and malformed-timestamps, and the most
	// kills a repeated kill or power loss fires (zero: as many as the ops
	// allow).
	Count int
	// Bytes is the length of a garbage line.
	Bytes int
	// Length is the length of a NUL run.
	Length int
	// Processor is the index, from 0, of the processor goroutine that
	// clock-skew or stall targets.
	Processor int
	// Offset is a clock-skew's shift, positive or negative.
	Offset time.Duration
	// Duration is how long a stall lasts.
	Duration time.Duration
	// Rate is the fraction, above 0 and at most 1, of handler calls that
	// fail after a handler-failure step.
	Rate float64
	// Failpoint is the named store failpoint at which a kill fires, such
	// as "enqueue/after-write-before-sync"; empty kills at the position.
	Failpoint string
	// Every makes a kill or a power loss repeat: after each restart the
	// workload resumes and the next one comes Every ops later, until Count
	// have fired or the workload's ops are done. Zero means one.
	Every int64
	// During is DuringOpen or DuringRestore for wrong-key.
	During string
	// Delta is how far a schema-mismatch restore's expected schema
	// version is from the backup's; never zero.
	Delta int
	// Limit is the number of bytes the store's files may still grow by
	// after a disk-full step.
	Limit int64
	// From is FromOtherProcess or FromSameProcess for second-open.
	From string
	// Batch is the records per batch of a rotate-key; zero means the
	// store's default.
	Batch int
	// Subject is the data subject an erase removes.
	Subject string
	// Recovery is the recovery mode a reopen uses; empty means the
	// scenario's Store.Recovery.
	Recovery Recovery
	// Nth is which fsync, from 1, an fsync-error fails.
	Nth int
	// Sticky makes an fsync-error fail every fsync after the Nth too.
	Sticky bool
	// Budget is the bytes an enospc lets the store write.
	Budget int64
	// Median and P99 are a slow-io's delay distribution; a zero P99 is a
	// fixed delay.
	Median, P99 time.Duration
	// Procedure is what an explore step records: one of Procedures.
	Procedure string
	// States bounds an explore step's crash states (per run; a --quick
	// run takes at most QuickExploreStates).
	States int
}

// PositionKind says how a Position is expressed.
type PositionKind string

// The kinds of logical position.
const (
	// AtOp fires once the workload has completed Op ops.
	AtOp PositionKind = "op"
	// AtOpBetween fires at an op count drawn from the run's seed between
	// Op and OpMax, inclusive.
	AtOpBetween PositionKind = "op_between"
	// AtStep fires after the workload has finished, as step Step.
	AtStep PositionKind = "step"
)

// Position is when a fault step runs. It is logical, never a wall time,
// so that one seed always gives the same schedule.
type Position struct {
	// Kind says which of the fields below apply.
	Kind PositionKind
	// Op is the op count for AtOp and the lower bound for AtOpBetween.
	Op int64
	// OpMax is the upper bound for AtOpBetween, and equals Op for AtOp.
	OpMax int64
	// Step is the step number for AtStep, from 1.
	Step int
}

// String returns the position as "op 5000", "op 100..900" or "step 2".
func (p Position) String() string {
	switch p.Kind {
	case AtOp:
		return fmt.Sprintf("op %d", p.Op)
	case AtOpBetween:
		return fmt.Sprintf("op %d..%d", p.Op, p.OpMax)
	case AtStep:
		return fmt.Sprintf("step %d", p.Step)
	}
	return "unset"
}

// CheckName names a checker.
type CheckName string

// The checkers a scenario can expect to hold.
const (
	// CheckLinearizable: porcupine finds the queue and lock histories
	// linearizable within its timeout.
	CheckLinearizable CheckName = "linearizable"
	// CheckNoLoss: no acknowledged op is lost, within the sync mode's
	// promise.
	CheckNoLoss CheckName = "no-loss"
	// CheckNoUnexpected: no op appears that was never enqueued, and no
	// read returns a value that was never written.
	CheckNoUnexpected CheckName = "no-unexpected"
	// CheckDuplicates: duplicates are redeliveries, never double
	// completions.
	CheckDuplicates CheckName = "duplicates"
	// CheckFIFO: claims follow enqueue order.
	CheckFIFO CheckName = "fifo"
	// CheckFencing: only the current fencing token's writes are accepted.
	CheckFencing CheckName = "fencing"
	// CheckNoPlaintext: no payload bytes appear in plaintext in any file
	// or backup.
	CheckNoPlaintext CheckName = "no-plaintext"
	// CheckNoResurrection: an erased subject's data never comes back.
	CheckNoResurrection CheckName = "no-resurrection"
	// CheckIntegrityReported: every damage is reported, naming the box,
	// with a quarantine copy and an audit entry.
	CheckIntegrityReported CheckName = "integrity-reported"
	// CheckAlertFired: the failed_ops.count or migration alert fired.
	CheckAlertFired CheckName = "alert-fired"
	// CheckLockTakeover: no lease is granted while another holder's last
	// heartbeat is younger than stale_after by the asker's clock.
	CheckLockTakeover CheckName = "lock-takeover"
	// CheckIdempotency: a repeated idempotency key returns the key's first
	// op, across restarts too.
	CheckIdempotency CheckName = "idempotency"
	// CheckErrorIs: the steps that provoke an error return the error
	// named by Check.Error, and leave the store unchanged. Written
	// error-is(<name>).
	CheckErrorIs CheckName = "error-is"
)

// CheckNames returns every checker name, so that the harness can prove it
// implements each.
func CheckNames() []CheckName {
	return []CheckName{
		CheckLinearizable, CheckNoLoss, CheckNoUnexpected, CheckDuplicates,
		CheckFIFO, CheckFencing, CheckNoPlaintext, CheckNoResurrection,
		CheckIntegrityReported, CheckAlertFired, CheckErrorIs,
		CheckLockTakeover, CheckIdempotency,
	}
}

// ErrorName names a class of store error for an error-is check. The harness
// maps each to the store's sentinel errors.
type ErrorName string

// The error names an error-is check can expect.
const (
	ErrorWrongKey       ErrorName = "wrong-key"
	ErrorCorrupt        ErrorName = "corrupt"
	ErrorLocked         ErrorName = "locked"
	ErrorStaleToken     ErrorName = "stale-token"
	ErrorSchemaMismatch ErrorName = "schema-mismatch"
	ErrorDiskFull       ErrorName = "disk-full"
	ErrorBackupInvalid  ErrorName = "backup-invalid"
)

// ErrorNames returns every error name an error-is check can expect.
func ErrorNames() []ErrorName {
	return []ErrorName{
		ErrorWrongKey, ErrorCorrupt, ErrorLocked, ErrorStaleToken,
		ErrorSchemaMismatch, ErrorDiskFull, ErrorBackupInvalid,
	}
}

// Check is one checker a scenario expects to hold.
type Check struct {
	// Name is the checker.
	Name CheckName
	// Error is the expected error for CheckErrorIs, and empty otherwise.
	Error ErrorName
}

// String returns the check as written in a scenario file.
func (c Check) String() string {
	if c.Name == CheckErrorIs {
		return fmt.Sprintf("%s(%s)", c.Name, c.Error)
	}
	return string(c.Name)
}

// OpName names an operation whose latency a threshold limits: one of the
// names in package opname, which the harness records under.
type OpName string

// The operations thresholds can name.
const (
	OpEnqueue   OpName = opname.Enqueue
	OpClaim     OpName = opname.Claim
	OpAck       OpName = opname.Ack
	OpFail      OpName = opname.Fail
	OpCycle     OpName = opname.Cycle
	OpOpen      OpName = opname.Open
	OpBackup    OpName = opname.Backup
	OpRestore   OpName = opname.Restore
	OpRotateKey OpName = opname.RotateKey
	OpMigrate   OpName = opname.Migrate
)

// OpNames returns every operation a threshold can name.
func OpNames() []OpName {
	return []OpName{
		OpEnqueue, OpClaim, OpAck, OpFail, OpCycle, OpOpen, OpBackup,
		OpRestore, OpRotateKey, OpMigrate,
	}
}

// Percentile names a point of a latency distribution.
type Percentile string

// The percentiles a threshold can name.
const (
	P50   Percentile = "p50"
	P90   Percentile = "p90"
	P99   Percentile = "p99"
	P999  Percentile = "p99.9"
	P9999 Percentile = "p99.99"
	PMax  Percentile = "max"
)

// Percentiles returns every percentile a threshold can name, lowest first.
func Percentiles() []Percentile {
	return []Percentile{P50, P90, P99, P999, P9999, PMax}
}

// Percent returns p as a percent, 99.9 for p99.9 and 100 for max: the form
// reports.ValueAtPercentile takes.
func (p Percentile) Percent() float64 {
	switch p {
	case P50:
		return 50
	case P90:
		return 90
	case P99:
		return 99
	case P999:
		return 99.9
	case P9999:
		return 99.99
	case PMax:
		return 100
	}
	return 0
}

// Threshold is a latency limit: the op's latency at the percentile must
// not exceed Limit.
type Threshold struct {
	// Op is the operation measured.
	Op OpName
	// Percentile is the point of the distribution compared.
	Percentile Percentile
	// Limit is the largest latency allowed.
	Limit time.Duration
}

// quickStates caps every explore step's States for a --quick run.
func (s *Scenario) quickStates() {
	for i := range s.Faults {
		if s.Faults[i].Type == FaultExplore {
			s.Faults[i].States = min(s.Faults[i].States, QuickExploreStates)
		}
	}
}
