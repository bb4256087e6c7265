package store

import "fmt"

// Canaries are the known-bad targets of the chaos suite: each switches off
// one protection of the store, so a scenario can prove that its checks see
// the violation that protection prevents. Production code never sets
// Options.Canary; Open refuses an unknown name.
//
// The names are the protections scenario files name.
const (
	CanaryFencing             = "fencing"               // stale fencing tokens are accepted
	CanaryTornTailRepair      = "torn-tail-repair"      // torn tails go to buntdb, which half-applies them
	CanaryCorruptionDetection = "corruption-detection"  // box files go to buntdb unscanned
	CanaryIdempotency         = "idempotency"           // idempotency keys are ignored
	CanaryFIFOOrder           = "fifo-order"            // claims take the newest op
	CanaryDurability          = "durability"            // enqueue returns before the op is written
	CanaryAtomicRestore       = "atomic-restore"        // box swaps run without a journal
	CanaryKeyCheck            = "key-check"             // no key check: a wrong key re-keys and truncates boxes, as Hive does
	CanaryErasureLedger       = "erasure-ledger"        // restore ignores the erasure ledger
	CanaryFailedOpsAlert      = "failed-ops-alert"      // Stats raises no alert
	CanaryBackupVerification  = "backup-verification"   // restore takes whatever an archive yields, unverified
	CanaryDirLock             = "dir-lock"              // no directory lock
	CanaryDiskFullSafety      = "disk-full-safety"      // failed writes are acknowledged
	CanaryIndexRebuild        = "index-rebuild"         // claims follow pending_index as is, never reconciled
	CanaryRotationResume      = "rotation-resume"       // new keys are wrapped under the new master only
	CanaryMigrationAtomicity  = "migration-atomicity"   // the schema version is written before the migrated boxes
	CanaryPowerLossDurability = "power-loss-durability" // commits are acknowledged without an fsync
	CanaryFsyncHonesty        = "fsync-honesty"         // a failed fsync is ignored, as buntdb's Always does
	CanaryStepAtomicity       = "step-atomicity"        // box swaps overwrite the live file in place, no staging rename; the corrupted-box procedure runs without its journal
	// CanaryLockStaleness takes a held lock over after half of StaleAfter.
	CanaryLockStaleness = "lock-staleness"
	// CanaryIdempotencyDurability keeps idempotency keys in memory only, so
	// a reopen forgets them.
	CanaryIdempotencyDurability = "idempotency-durability"
	// CanaryKeyCheckFirst finishes a pending swap and clears staging before
	// the key check, so a wrong-key open changes files before it refuses.
	CanaryKeyCheckFirst = "key-check-first"
)

// Canaries returns every canary name, in a new slice.
func Canaries() []string {
	return []string{
		CanaryFencing, CanaryTornTailRepair, CanaryCorruptionDetection, CanaryIdempotency, CanaryFIFOOrder,
		CanaryDurability, CanaryAtomicRestore, CanaryKeyCheck, CanaryErasureLedger, CanaryFailedOpsAlert,
		CanaryBackupVerification, CanaryDirLock, CanaryDiskFullSafety, CanaryIndexRebuild, CanaryRotationResume,
		CanaryMigrationAtomicity, CanaryLockStaleness, CanaryIdempotencyDurability, CanaryKeyCheckFirst,
		CanaryPowerLossDurability, CanaryFsyncHonesty, CanaryStepAtomicity,
	}
}

func checkCanary(name string) error {
	if name == "" {
		return nil
	}
	for _, c := range Canaries() {
		if c == name {
			return nil
		}
	}
	return fmt.Errorf("canary %q: unknown; want one of %v: %w", name, Canaries(), ErrInvalid)
}

// canary reports whether the store runs as the known-bad target name.
func (s *Store) canary(name string) bool { return s.opts.Canary == name }

// armCanaries switches off, in a box just opened, the protections the
// store's canary names.
func (s *Store) armCanaries(b *box) {
	b.ackFailedWrites = s.canary(CanaryDiskFullSafety)
	b.sync.skipSync = s.canary(CanaryPowerLossDurability)
	b.sync.ignoreErr = s.canary(CanaryFsyncHonesty)
}
