package explore

import (
	"context"

	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/store"
)

// Session is what an explore step needs from the run it is part of: the
// run's store session, its keys and its record of fault effects. The chaos
// runner implements it; a test can implement it over a plain directory.
type Session interface {
	// Open opens the run's store, if it is not open, recording the call.
	Open(ctx context.Context) error
	// Store is the open store, nil if there is none.
	Store() *store.Store
	// Close closes the store, if open, recording the call.
	Close() error
	// Adopt makes st, opened by a recovery, the run's store.
	Adopt(st *store.Store)
	// Options are the options an open with key generation gen uses.
	Options(gen int) store.Options
	// KeyGen is the key generation the store is at.
	KeyGen() int
	// SetKeyGen moves the run to key generation gen, after a rotation.
	SetKeyGen(gen int)
	// Key is the master key of generation gen.
	Key(gen int) []byte
	// WrongKey is a key that opens nothing the run made.
	WrongKey() []byte
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
