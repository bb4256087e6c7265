package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/boxstorm/boxstorm/internal/failpoint"
)

// A Migration moves the store from schema version Version-1 to Version.
type Migration struct {
	Version int
	Name    string
	// Apply changes records through the MigrationTx. It runs on staged
	// copies: if it fails, nothing live changes. It must be deterministic.
	Apply func(ctx context.Context, m *MigrationTx) error
}

// BuiltinMigrations returns the store's built-in schema migrations, in
// order, in a new slice: the list Migrate applies when Options.Migrations is
// nil. A program with migrations of its own appends them to this list (their
// versions following on) and passes the result as Options.Migrations.
func BuiltinMigrations() []Migration {
	return []Migration{reseal}
}

var reseal = Migration{Version: 2, Name: "reseal-under-current-keys", Apply: func(ctx context.Context, m *MigrationTx) error {
	// Every record is opened and sealed again under its box's current
	// data key: after a key rotation no record depends on an old key.
	for _, name := range m.Boxes() {
		if err := m.Rewrite(ctx, name, func(_ string, v []byte) ([]byte, bool, error) { return v, true, nil }); err != nil {
			return err
		}
	}
	return nil
}}

// LatestSchemaVersion is the schema version after every built-in migration.
func LatestSchemaVersion() int {
	v := InitialSchemaVersion
	for _, m := range BuiltinMigrations() {
		v = max(v, m.Version)
	}
	return v
}

// MigrationTx is a migration's view of the store: it rewrites whole boxes
// into staged files that the runner swaps in together with the new schema
// version, atomically.
type MigrationTx struct {
	s       *Store
	staging string
	staged  map[string]stagedBox
}

// Boxes lists every box a migration may rewrite: all but
// persistence_metadata, which the runner rewrites itself.
func (m *MigrationTx) Boxes() []string {
	var names []string
	for _, n := range SystemBoxes() {
		if n != BoxMetadata {
			names = append(names, n)
		}
	}
	return append(names, m.s.dataBoxNames()...)
}

// Rewrite passes every record of box through fn, which returns the new
// value and whether to keep the record.
func (m *MigrationTx) Rewrite(ctx context.Context, name string, fn func(key string, value []byte) ([]byte, bool, error)) error {
	if name == BoxMetadata {
		return fmt.Errorf("migration: %s is written by the runner: %w", name, ErrInvalid)
	}
	b, ok := m.s.boxes[name]
	if !ok {
		return fmt.Errorf("migration: box %s: %w", name, ErrNotFound)
	}
	path := filepath.Join(m.staging, name+".db")
	bw, err := newBoxWriter(path, name, b.seal, b.high)
	if err != nil {
		return err
	}
	if name == BoxPending {
		bw.high = max(bw.high, m.s.q.seq)
	}
	err = b.eachRecord(ctx, func(k string, v []byte) error {
		nv, keep, err := fn(k, v)
		if err != nil || !keep {
			return err
		}
		return bw.add(k, nv)
	})
	if err == nil {
		err = bw.finish()
	} else {
		bw.abort()
	}
	if err != nil {
		return fmt.Errorf("migration: box %s: %w", name, err)
	}
	m.staged[name] = stagedBox{name: name, path: path}
	return nil
}

// MigrateReport lists the migrations a run applied.
type MigrateReport struct {
	From, To int
	Backup   string             `json:"backup,omitempty"` // backup taken first
	Applied  []AppliedMigration `json:"applied"`
}

// AppliedMigration is one applied migration and how long it took.
type AppliedMigration struct {
	Version  int           `json:"version"`
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
	Alert    bool          `json:"alert"` // took longer than MigrationAlert
}

// Migrate takes a backup, then applies every pending migration of
// Options.Migrations (the built-in ones by default) in order. Each one is
// staged, then swapped in together with the new schema version and
// timestamps, and recorded with the audit entry migration_applied and its
// duration. A migration that fails leaves the store at the last good
// version.
func (s *Store) Migrate(ctx context.Context) (MigrateReport, error) {
	return s.migrate(ctx, s.opts.Migrations)
}

// MigrateWith is Migrate with the list migrations instead of
// Options.Migrations, for a program whose list grows while the store is
// open (the chaos harness adds synthetic migrations at a migrate step).
// The list is read, never kept or changed.
func (s *Store) MigrateWith(ctx context.Context, migrations []Migration) (MigrateReport, error) {
	return s.migrate(ctx, migrations)
}

func (s *Store) migrate(ctx context.Context, migrations []Migration) (MigrateReport, error) {
	var rep MigrateReport
	if err := s.enter(ctx); err != nil {
		return rep, err
	}
	rec, err := s.schema()
	s.exit()
	if err != nil {
		return rep, err
	}
	rep.From, rep.To = rec.Version, rec.Version
	var pending []Migration
	for _, m := range migrations {
		if m.Version > rec.Version {
			pending = append(pending, m)
		}
	}
	if len(pending) == 0 {
		return rep, nil
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "backups"), 0o700); err != nil {
		return rep, err
	}
	rep.Backup = filepath.Join(s.dir, "backups", fmt.Sprintf("pre-migration-v%d-%s.tar.age", rec.Version, s.opts.Clock.Now().UTC().Format("20060102T150405Z")))
	if _, err := s.BackupFile(ctx, rep.Backup); err != nil {
		return rep, fmt.Errorf("migrate: backup first: %w", err)
	}
	failpoint.Hit("migrate/after-backup")
	for i, m := range pending {
		if i > 0 {
			failpoint.Hit("migrate/between-steps")
		}
		if m.Version != rep.To+1 {
			return rep, fmt.Errorf("migrate: migration %q goes to version %d, the store is at %d: %w", m.Name, m.Version, rep.To, ErrInvalid)
		}
		applied, err := s.applyMigration(ctx, m)
		if err != nil {
			return rep, fmt.Errorf("migrate: %s (to version %d): %w; the store stays at version %d", m.Name, m.Version, err, rep.To)
		}
		rep.To = m.Version
		rep.Applied = append(rep.Applied, applied)
	}
	return rep, nil
}

func (s *Store) applyMigration(ctx context.Context, m Migration) (AppliedMigration, error) {
	if err := s.exclusive(); err != nil {
		return AppliedMigration{}, err
	}
	defer s.swap.Unlock()
	start := time.Now()
	staging, err := os.MkdirTemp(s.dir, ".migrate-")
	if err != nil {
		return AppliedMigration{}, err
	}
	defer os.RemoveAll(staging)
	s.qmu.Lock()
	err = s.flushIndexLocked()
	s.qmu.Unlock()
	if err != nil {
		return AppliedMigration{}, err
	}
	tx := &MigrationTx{s: s, staging: staging, staged: map[string]stagedBox{}}
	if err := m.Apply(ctx, tx); err != nil {
		return AppliedMigration{}, err
	}
	// The schema record rides in the same swap as the migrated boxes.
	rec, err := s.schema()
	if err != nil {
		return AppliedMigration{}, err
	}
	now := s.opts.Clock.Now().UTC()
	took := time.Since(start)
	rec.Version, rec.UpdatedAt, rec.LastMigration, rec.LastMigrationIn = m.Version, now, m.Name, took
	metaPath := filepath.Join(staging, BoxMetadata+".db")
	bw, err := newBoxWriter(metaPath, BoxMetadata, s.meta.seal, 0)
	if err != nil {
		return AppliedMigration{}, err
	}
	err = s.meta.eachRecord(ctx, func(k string, v []byte) error {
		if k == metaSchemaKey {
			return nil
		}
		return bw.add(k, v)
	})
	if err == nil {
		var b []byte
		if b, err = jsonBytes(rec); err == nil {
			err = bw.add(metaSchemaKey, b)
		}
	}
	if err == nil {
		err = bw.finish()
	} else {
		bw.abort()
	}
	if err != nil {
		return AppliedMigration{}, err
	}
	if s.canary(CanaryMigrationAtomicity) {
		// Known-bad: the new version goes live before the migrated boxes.
		if err := s.swapBoxes([]stagedBox{{name: BoxMetadata, path: metaPath}}); err != nil {
			return AppliedMigration{}, err
		}
		failpoint.Hit("migrate/between-steps")
		metaPath = ""
	}
	staged := []stagedBox{}
	if metaPath != "" {
		staged = append(staged, stagedBox{name: BoxMetadata, path: metaPath})
	}
	for _, st := range tx.staged {
		staged = append(staged, st)
	}
	if err := s.swapBoxes(staged); err != nil {
		return AppliedMigration{}, err
	}
	applied := AppliedMigration{Version: m.Version, Name: m.Name, Duration: took, Alert: took > MigrationAlert}
	if applied.Alert {
		s.opts.Logger.Warn("migration took longer than the alert threshold", "migration", m.Name, "duration", took, "threshold", MigrationAlert)
	}
	if err := s.Audit(ctx, "migration_applied", map[string]any{"version": m.Version, "name": m.Name, "duration_ms": took.Milliseconds()}); err != nil {
		return applied, err
	}
	return applied, nil
}
