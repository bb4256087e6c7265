package store

import (
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// SyncMode says when a committed write reaches stable storage.
type SyncMode int

const (
	// SyncAlways: a call that returns success has been fsynced. Concurrent
	// commits to one box share an fsync (group commit). The default.
	SyncAlways SyncMode = iota
	// SyncInterval: a background fsync runs every Options.SyncPeriod. A
	// crash can lose the writes of the last interval. For load experiments.
	SyncInterval
	// SyncNever: the store never fsyncs while open (Close still does). A
	// crash of the machine can lose anything. For load experiments.
	SyncNever
)

// String returns the mode's name as flags and reports spell it.
func (m SyncMode) String() string {
	switch m {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	case SyncNever:
		return "never"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// ParseSyncMode parses "always", "interval" or "never".
func ParseSyncMode(s string) (SyncMode, error) {
	for _, m := range []SyncMode{SyncAlways, SyncInterval, SyncNever} {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("sync mode %q: want always, interval or never: %w", s, ErrInvalid)
}

// RecoveryMode says what Open does with a damaged box file. The modes follow
// RocksDB's WAL recovery modes. Whatever the mode, bytes that are not loaded
// are first copied to a quarantine file, and an audit entry records it.
type RecoveryMode int

const (
	// TolerateTornTail repairs an incomplete last transaction (a torn
	// write) and refuses any other damage. The default.
	TolerateTornTail RecoveryMode = iota
	// Strict refuses any damage, a torn tail included.
	Strict
	// PointInTime keeps every whole transaction before the first damage and
	// drops the rest of the file.
	PointInTime
	// SkipDamaged drops damaged transactions and keeps the whole ones after
	// them that can still be framed.
	SkipDamaged
)

// String returns the mode's name as flags and reports spell it.
func (m RecoveryMode) String() string {
	switch m {
	case TolerateTornTail:
		return "tolerate-torn-tail"
	case Strict:
		return "strict"
	case PointInTime:
		return "point-in-time"
	case SkipDamaged:
		return "skip-damaged"
	}
	return fmt.Sprintf("RecoveryMode(%d)", int(m))
}

// ParseRecoveryMode parses a recovery mode name.
func ParseRecoveryMode(s string) (RecoveryMode, error) {
	for _, m := range []RecoveryMode{TolerateTornTail, Strict, PointInTime, SkipDamaged} {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("recovery mode %q: want strict, tolerate-torn-tail, point-in-time or skip-damaged: %w", s, ErrInvalid)
}

// A Clock tells the time. Every timestamp the store writes comes from one,
// so tests and the harness can skew each processor's clock.
type Clock interface {
	Now() time.Time
}

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }

// SystemClock returns the real clock.
func SystemClock() Clock { return ClockFunc(time.Now) }

// Defaults for Options.
const (
	DefaultStaleAfter     = 2 * time.Minute
	DefaultSyncPeriod     = 100 * time.Millisecond
	DefaultFailedOpsAlert = 20
	DefaultRetryBase      = time.Second
	DefaultRetryMax       = time.Hour
	DefaultLazySync       = time.Second
	// DefaultCheckpointPeriod is the default Options.CheckpointPeriod.
	DefaultCheckpointPeriod = time.Second
)

// The bounds Open accepts for Options.CheckpointPeriod.
const (
	MinCheckpointPeriod = time.Millisecond
	MaxCheckpointPeriod = time.Hour
)

// Options configure Open. Only Key is required.
type Options struct {
	// Key yields the master key: KeyFile, KeyEnv, KeyBytes or Passphrase.
	Key KeySource
	// Sync is the durability mode; SyncAlways by default.
	Sync SyncMode
	// SyncPeriod is the period of the background fsync under SyncInterval;
	// DefaultSyncPeriod by default. (Scenario files have their own default,
	// scenarios.DefaultSyncInterval.)
	SyncPeriod time.Duration
	// CheckpointPeriod is the most time between two writes of the
	// checkpoint (checkpoint.json, see Integrity in the package
	// documentation) while boxes are being synced; DefaultCheckpointPeriod
	// when zero, and between MinCheckpointPeriod and MaxCheckpointPeriod
	// otherwise. Transactions made durable since the last checkpoint are
	// the window a truncation can cut without being told from a torn tail:
	// a shorter period narrows that window, at the cost of one more small
	// atomic write (a temp file, two fsyncs and a rename) per period while
	// the store is written. A longer one saves those writes and widens the
	// window. Close always writes a final checkpoint.
	CheckpointPeriod time.Duration
	// Recovery is what Open does with damaged box files.
	Recovery RecoveryMode
	// Clock is the store's clock; SystemClock by default.
	Clock Clock
	// StaleAfter is how long the processing lock lives without a heartbeat.
	StaleAfter time.Duration
	// FailedOpsAlert is the failed_ops.count above which Stats raises an alert.
	FailedOpsAlert int
	// RetryBase and RetryMax bound the exponential backoff of failed ops.
	RetryBase, RetryMax time.Duration
	// Logger receives operational messages; slog.Default() when nil.
	Logger *slog.Logger
	// Migrations are the schema migrations Migrate and RecoverCorrupted
	// apply, in order; nil means BuiltinMigrations(). Open copies the
	// slice, so each store has its own list and stores with different
	// lists can run side by side in one process.
	Migrations []Migration
	// Types is the registry of record types the store stamps each record's
	// type id from; nil means the store's own types. Build it once at
	// start-up with NewRegistry, which refuses a duplicate type id.
	Types *Registry
	// Canary switches one protection off to make the chaos suite's
	// known-bad target (see Canaries). Never set it outside tests.
	Canary string
}

// validate refuses options that are out of range rather than defaulted.
func (o Options) validate() error {
	if p := o.CheckpointPeriod; p != 0 && (p < MinCheckpointPeriod || p > MaxCheckpointPeriod) {
		return fmt.Errorf("checkpoint period %v: want %v to %v, or 0 for the default %v: %w", p, MinCheckpointPeriod, MaxCheckpointPeriod, DefaultCheckpointPeriod, ErrInvalid)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.CheckpointPeriod == 0 {
		o.CheckpointPeriod = DefaultCheckpointPeriod
	}
	if o.SyncPeriod <= 0 {
		o.SyncPeriod = DefaultSyncPeriod
	}
	if o.Clock == nil {
		o.Clock = SystemClock()
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	if o.FailedOpsAlert <= 0 {
		o.FailedOpsAlert = DefaultFailedOpsAlert
	}
	if o.RetryBase <= 0 {
		o.RetryBase = DefaultRetryBase
	}
	if o.RetryMax <= 0 {
		o.RetryMax = DefaultRetryMax
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Types == nil {
		o.Types = builtinTypes()
	}
	if o.Migrations == nil {
		o.Migrations = BuiltinMigrations()
	} else {
		o.Migrations = slices.Clone(o.Migrations)
	}
	return o
}
