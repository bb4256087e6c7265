package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/boxstorm/boxstorm/internal/fileio"
)

// Sentinel errors. Every error the store returns either is one of these or
// wraps one, so callers can branch with errors.Is.
var (
	// ErrWrongKey means the master key does not match the store's key-check
	// value. Nothing was read or written.
	ErrWrongKey = errors.New("wrong master key")

	// ErrCorrupt means bytes on disk failed a structural or authentication
	// check. It is distinct from ErrWrongKey: the key is right, the data is not.
	ErrCorrupt = errors.New("corrupted data")

	// ErrBadKey means a key source produced something that is not a usable
	// 32-byte master key (bad length, bad encoding, unsafe file mode).
	ErrBadKey = errors.New("unusable master key")

	// ErrLocked means another Open holds the store directory.
	ErrLocked = errors.New("store directory is locked")

	// ErrClosed is returned by every call on a closed Store.
	ErrClosed = errors.New("store is closed")

	// ErrNotFound means the requested key, op or box does not exist.
	ErrNotFound = errors.New("not found")

	// ErrEmpty means the queue has no op that can be claimed now.
	ErrEmpty = errors.New("queue is empty")

	// ErrLockHeld means the processing lock is held by another owner and is
	// not stale yet.
	ErrLockHeld = errors.New("processing lock is held")

	// ErrStaleToken means a fencing token is not the current one: the caller
	// lost the processing lock and must stop.
	ErrStaleToken = errors.New("stale fencing token")

	// ErrNotClaimed means an Ack or Fail named an op that the caller's token
	// has not claimed.
	ErrNotClaimed = errors.New("op is not claimed by this token")

	// ErrSync means an fsync failed. The box is unusable until the store is
	// reopened, because the kernel may have dropped the dirty pages (see
	// "Failure model" in the package documentation). It is the error the
	// store's atomic file writes wrap too (keyring, ledger, backups).
	ErrSync = fileio.ErrSync

	// ErrInvalid means an argument is malformed (a box name, a key, an option).
	ErrInvalid = errors.New("invalid argument")
)

// CorruptionError reports damage found in a box file or a record.
type CorruptionError struct {
	Box    string // box name, e.g. "pending_ops"
	Offset int64  // byte offset in <box>.db where the damage starts, -1 if unknown
	Key    string // record key when the damage is in one record, else ""
	Reason string // what was wrong
}

func (e *CorruptionError) Error() string {
	msg := fmt.Sprintf("box %s: corrupted data", e.Box)
	if e.Offset >= 0 {
		msg += fmt.Sprintf(" at offset %d", e.Offset)
	}
	if e.Key != "" {
		msg += fmt.Sprintf(" in record %q", e.Key)
	}
	return msg + ": " + e.Reason + "; hint: run `storectl verify`, then restore the box from the last good backup"
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptionError) Unwrap() error { return ErrCorrupt }

// LockedError reports who holds the store directory.
type LockedError struct {
	Dir string
	PID int // 0 when the holder's pid could not be read
}

func (e *LockedError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = fmt.Sprintf("pid %d", e.PID)
	}
	return fmt.Sprintf("store %s is locked by %s; hint: stop that process, or open another directory", e.Dir, holder)
}

// Unwrap makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Unwrap() error { return ErrLocked }

// LockHeldError reports the holder of a processing lock that is not stale.
type LockHeldError struct {
	Owner       string
	Token       uint64
	HeartbeatAt time.Time
	StaleAt     time.Time // when the lock becomes stale by the caller's clock
}

func (e *LockHeldError) Error() string {
	return fmt.Sprintf("processing lock is held by %q (token %d, last heartbeat %s); it goes stale at %s; hint: wait, or release it with `storectl lock release --force` after a backup",
		e.Owner, e.Token, e.HeartbeatAt.UTC().Format(time.RFC3339), e.StaleAt.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrLockHeld) true.
func (e *LockHeldError) Unwrap() error { return ErrLockHeld }
