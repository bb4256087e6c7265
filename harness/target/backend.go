package target

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/boxstorm/boxstorm/store"
)

// Backend is a store as the harness drives it: the reference store in
// process (Local) or any target through the protocol (Remote). Its methods
// have the store's shapes and return the store's sentinel errors
// (store.ErrEmpty, store.ErrStaleToken, *store.CorruptionError...), so
// that the harness records and classes a target's answers as it does the
// store's own. Keys are raw 32-byte master keys.
type Backend interface {
	// The queue, the processing lock and the records: as the store's
	// methods of the same names (a target's enqueue, claim, ack, fail,
	// acquire, heartbeat, release, get and put).
	Enqueue(ctx context.Context, payload []byte, o store.EnqueueOptions) (store.Op, error)
	// EnqueueBatch enqueues payloads: in process in one transaction,
	// through the protocol as that many enqueues in flight at once.
	EnqueueBatch(ctx context.Context, payloads [][]byte) ([]store.Op, error)
	Claim(ctx context.Context, token uint64) (store.Op, error)
	Ack(ctx context.Context, token uint64, id string) error
	Fail(ctx context.Context, token uint64, id, reason string) (store.Op, error)
	AcquireLock(ctx context.Context, req store.LockRequest) (store.Lease, error)
	Heartbeat(ctx context.Context, token uint64, clock store.Clock) error
	ReleaseLock(ctx context.Context, token uint64) error
	Get(ctx context.Context, box, key string) ([]byte, error)
	Put(ctx context.Context, box, key string, value []byte) error

	// BackupFile writes a backup to path.
	BackupFile(ctx context.Context, path string) (store.BackupInfo, error)
	// RestoreFile restores the backup at path, made under backupKey (the
	// store's own key when nil), refusing one whose schema is not
	// expectedSchema (any when 0).
	RestoreFile(ctx context.Context, path string, backupKey []byte, expectedSchema int) (store.RestoreInfo, error)
	RotateKey(ctx context.Context, newKey []byte) (store.RotateReport, error)
	// Migrate runs the store's migrations; in process, with migrations
	// instead of the built-in list when not nil. A Remote cannot carry
	// migrations across the protocol and runs the target's own.
	Migrate(ctx context.Context, migrations []store.Migration) (store.MigrateReport, error)
	Erase(ctx context.Context, subject string) (store.EraseReport, error)
	RebuildIndex(ctx context.Context) (store.IndexReport, error)
	Audit(ctx context.Context, event string, fields map[string]any) error
	Export(ctx context.Context, subject string) ([]Op, error)
	// State reads the queue back, with what the store can tell of its
	// schema, audit log and alerts.
	State(ctx context.Context) (*State, error)
	// Repairs lists what the open repaired.
	Repairs() []Repair
	Close() error
}

// Local is the reference store in process as a Backend.
type Local struct{ *store.Store }

var _ Backend = Local{}

// BackupFile writes a backup straight into path, not through a temporary
// file as store.BackupFile does: a crash mid-backup leaves the torn file
// whose restore the chaos scenarios check is refused.
func (l Local) BackupFile(ctx context.Context, path string) (store.BackupInfo, error) {
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return store.BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	info, err := l.Store.Backup(ctx, fh)
	if serr := fh.Sync(); err == nil {
		err = serr
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return info, err
}

// RestoreFile restores the backup at path.
func (l Local) RestoreFile(ctx context.Context, path string, backupKey []byte, expectedSchema int) (store.RestoreInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return store.RestoreInfo{}, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	o := store.RestoreOptions{ExpectedSchema: expectedSchema}
	if backupKey != nil {
		o.BackupKey = store.KeyBytes(backupKey)
	}
	return l.Store.Restore(ctx, f, o)
}

// RotateKey re-encrypts the store under newKey.
func (l Local) RotateKey(ctx context.Context, newKey []byte) (store.RotateReport, error) {
	return l.Store.RotateKey(ctx, store.KeyBytes(newKey))
}

// Migrate runs migrations, or the built-in ones when nil.
func (l Local) Migrate(ctx context.Context, migrations []store.Migration) (store.MigrateReport, error) {
	if migrations == nil {
		return l.Store.Migrate(ctx)
	}
	return l.Store.MigrateWith(ctx, migrations)
}

// Export returns the subject's ops.
func (l Local) Export(ctx context.Context, subject string) ([]Op, error) {
	exp, err := l.Store.Export(ctx, subject)
	if err != nil {
		return nil, err
	}
	return wireOps(exp.Ops), nil
}

// State reads the queue back.
func (l Local) State(ctx context.Context) (*State, error) { return storeState(ctx, l.Store) }

// Repairs lists what the open repaired.
func (l Local) Repairs() []Repair { return wireRepairs(l.Store.Repairs()) }

// storeState reads st's queue back, as a state request answers.
func storeState(ctx context.Context, st *store.Store) (*State, error) {
	pending, err := st.PendingOps(ctx)
	if err != nil {
		return nil, fmt.Errorf("state: pending ops: %w", err)
	}
	failed, err := st.FailedOps(ctx)
	if err != nil {
		return nil, fmt.Errorf("state: failed ops: %w", err)
	}
	out := &State{Pending: wireOps(pending), Failed: wireOps(failed)}
	if stats, err := st.Stats(ctx); err == nil {
		out.FailedOps, out.Alerts, out.MigrationMS = stats.FailedOps, stats.Alerts, stats.MigrationTime.Milliseconds()
	}
	if audit, err := st.AuditLog(ctx); err == nil {
		for _, a := range audit {
			out.Audit = append(out.Audit, a.Event)
		}
	}
	out.SchemaVersion, _ = st.SchemaVersion()
	return out, nil
}

func wireRepairs(rs []store.Repair) []Repair {
	var out []Repair
	for _, r := range rs {
		out = append(out, Repair{Box: r.Box, Kind: string(r.Kind), Offset: r.Offset, DroppedBytes: r.DroppedBytes, Quarantine: r.Quarantine})
	}
	return out
}

// errorFromWire is a target's refusal as the store would have said it: an
// error that keeps the wire error (its class and message) and wraps the
// store's sentinel for the class, so errors.Is and errors.As work on it as
// on the store's own.
func errorFromWire(e *Error) error {
	var sentinel error
	switch e.Class {
	case ClassWrongKey:
		sentinel = store.ErrWrongKey
	case ClassCorrupt:
		ce := &store.CorruptionError{Box: e.Box, Offset: -1, Reason: e.Message}
		if e.Offset != nil {
			ce.Offset = *e.Offset
		}
		sentinel = ce
	case ClassLocked:
		sentinel = store.ErrLocked
	case ClassStaleToken:
		sentinel = store.ErrStaleToken
	case ClassSchemaMismatch:
		sentinel = store.ErrSchemaMismatch
	case ClassDiskFull:
		sentinel = store.ErrSync
	case ClassBackupInvalid:
		sentinel = store.ErrBackupFormat
	case ClassUnsupported:
		sentinel = ErrUnsupported
	default:
		return &wireErr{e: e}
	}
	return &wireErr{e: e, sentinel: sentinel}
}

// wireErr is a refusal a target sent: errors.As finds the *Error (its
// class), errors.Is the store's sentinel for the class.
type wireErr struct {
	e        *Error
	sentinel error
}

func (w *wireErr) Error() string { return w.e.Message }

func (w *wireErr) Unwrap() []error {
	if w.sentinel == nil {
		return []error{w.e}
	}
	return []error{w.e, w.sentinel}
}

// outcomeError is a reply's outcome as the store's sentinel error.
func outcomeError(o string) error {
	switch o {
	case OutcomeOK:
		return nil
	case OutcomeEmpty:
		return store.ErrEmpty
	case OutcomeNotFound:
		return store.ErrNotFound
	case OutcomeLockHeld:
		return store.ErrLockHeld
	case OutcomeNotClaimed:
		return store.ErrNotClaimed
	}
	return fmt.Errorf("unknown outcome %q: %w", o, ErrProtocol)
}

// IsTransport reports whether err is about the target process rather than
// the request: it exited, broke the protocol or did not answer in time. A
// request that failed so may or may not have taken effect.
func IsTransport(err error) bool {
	return errors.Is(err, ErrExited) || errors.Is(err, ErrProtocol) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrClosed)
}
