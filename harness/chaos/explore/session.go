package explore

import (
	"context"

	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/store"
)

// Session is what an explore step needs from the run it is part of: the
// run's store session, its keys and its record of fault effects. The chaos
// runner implements it; a test can implement it over a plain directory.
//
// The store is a target.Backend: the reference store in process
// (target.Local) or a target driven through the protocol (*target.Remote);
// the same explorer serves both.
type Session interface {
	// Open opens the run's store, if it is not open, recording the call.
	Open(ctx context.Context) error
	// Backend is the open store, nil if there is none.
	Backend() target.Backend
	// Close closes the store, if open, recording the call.
	Close() error
	// OpenDir opens the store in dir (a crash state) as the run opens its
	// own, with the settings of key generation gen, under the master key
	// key: in process store.Open as a target.Local, with a target the
	// run's target command started on dir. The caller closes it.
	OpenDir(ctx context.Context, dir string, gen int, key []byte) (target.Backend, error)
	// Recover opens the run's store after rebuilding the boxes that fail
	// their checks from the backup at path (store.RecoverCorrupted, or a
	// target's recover request), and makes it the run's store.
	Recover(ctx context.Context, path string) error
	// KeyGen is the key generation the store is at.
	KeyGen() int
	// SetKeyGen moves the run to key generation gen, after a rotation.
	SetKeyGen(gen int)
	// Key is the master key of generation gen.
	Key(gen int) []byte
	// WrongKey is a key that opens nothing the run made.
	WrongKey() []byte // nil: the store does not promise to refuse one; skip the probe
	// Migrations are the migrations a migrate step applies.
	Migrations() []store.Migration
	// AddSyntheticMigration registers one more synthetic migration, which
	// appends its version to the record SchemaMarker names.
	AddSyntheticMigration()
	// SchemaMarker is the box and key of the record synthetic migrations
	// append their versions to.
	SchemaMarker() (box, key string)
	// StoreDir is the store's directory; BackupDir, where backups go.
	StoreDir() string
	BackupDir() string
	// LatestBackup is the run's last backup, if any.
	LatestBackup() (check.Backup, bool)
	// Erased notes that subject was erased.
	Erased(subject string)
	// Payload is the payload of the op with marker, size bytes.
	Payload(marker string, size int) []byte
}

// Recorder is the fault file system under the store: the part of a
// *faultfs.Mount an explore step uses.
type Recorder interface {
	Mark(ctx context.Context) error
	Recording(ctx context.Context) (*faultfs.Recording, error)
}

var _ Recorder = (*faultfs.Mount)(nil)
