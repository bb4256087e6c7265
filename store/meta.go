package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tidwall/buntdb"
)

// Keys in persistence_metadata.
const (
	metaSchemaKey = "schema"
	metaLockKey   = "processing_lock"
)

// InitialSchemaVersion is the schema version of a new store.
const InitialSchemaVersion = 1

// schemaRecord is persistence_metadata/schema.
type schemaRecord struct {
	Version         int           `json:"schema_version"`
	CreatedAt       time.Time     `json:"created_at"`
	UpdatedAt       time.Time     `json:"updated_at"`
	LastMigration   string        `json:"last_migration,omitempty"`
	LastMigrationIn time.Duration `json:"last_migration_ns,omitempty"`
}

func (s *Store) readJSON(b *box, key string, v any) error {
	pt, err := b.get(key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(pt, v); err != nil {
		return &CorruptionError{Box: b.name, Offset: -1, Key: key, Reason: "record is not valid JSON"}
	}
	return nil
}

func putJSON(t *txn, key string, v any) error {
	b, err := jsonBytes(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return t.put(key, b)
}

func jsonBytes(v any) ([]byte, error) { return json.Marshal(v) }

func (s *Store) initMeta() error {
	var rec schemaRecord
	err := s.readJSON(s.meta, metaSchemaKey, &rec)
	if errors.Is(err, ErrNotFound) {
		now := s.opts.Clock.Now().UTC()
		rec = schemaRecord{Version: InitialSchemaVersion, CreatedAt: now, UpdatedAt: now}
		return s.meta.update(func(t *txn) error { return putJSON(t, metaSchemaKey, rec) })
	}
	return err
}

// schema reads the schema record. A sealed value equal to the last one
// decoded is not decrypted and decoded again: the value is authenticated,
// so equal bytes are the same record.
func (s *Store) schema() (schemaRecord, error) {
	var raw string
	err := s.meta.view(func(tx *buntdb.Tx) error {
		v, err := tx.Get(metaSchemaKey)
		if errors.Is(err, buntdb.ErrNotFound) {
			return ErrNotFound
		}
		raw = v
		return err
	})
	if err != nil {
		return schemaRecord{}, err
	}
	s.schemaCache.Lock()
	defer s.schemaCache.Unlock()
	if raw == s.schemaCache.raw {
		return s.schemaCache.rec, nil
	}
	pt, err := s.meta.seal.open(metaSchemaKey, []byte(raw))
	if err != nil {
		return schemaRecord{}, err
	}
	var rec schemaRecord
	if err := json.Unmarshal(pt, &rec); err != nil {
		return schemaRecord{}, &CorruptionError{Box: s.meta.name, Offset: -1, Key: metaSchemaKey, Reason: "record is not valid JSON"}
	}
	s.schemaCache.raw, s.schemaCache.rec = raw, rec
	return rec, nil
}

// SchemaVersion returns the schema version recorded in persistence_metadata.
func (s *Store) SchemaVersion() (int, error) {
	rec, err := s.schema()
	return rec.Version, err
}

// Stats is a snapshot of the runbook's monitoring figures.
type Stats struct {
	PendingOps    int           `json:"pending_ops.count"`
	FailedOps     int           `json:"failed_ops.count"`
	Claimed       int           `json:"claimed"`
	Lock          LockInfo      `json:"lock"`
	SchemaVersion int           `json:"schema_version"`
	LastMigration string        `json:"last_migration,omitempty"`
	MigrationTime time.Duration `json:"last_migration_ns,omitempty"`
	SyncMode      string        `json:"sync_mode"`
	// Fsyncs counts the fsyncs of the box files open now, since they were
	// opened; divided into the commits of a run it gives records per fsync.
	Fsyncs uint64   `json:"fsyncs"`
	Alerts []string `json:"alerts,omitempty"`
}

// MigrationAlert is the migration duration above which Stats raises an alert.
const MigrationAlert = 10 * time.Second

// Stats reports pending_ops.count, failed_ops.count, the lock holder, the
// schema version and the last migration's duration, with the runbook's alerts.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	if err := s.enter(ctx); err != nil {
		return Stats{}, err
	}
	defer s.exit()
	rec, err := s.schema()
	if err != nil {
		return Stats{}, err
	}
	s.qmu.Lock()
	st := Stats{
		PendingOps: s.q.pending, FailedOps: s.q.failed, Claimed: len(s.q.claims),
		Lock: s.lockInfoLocked(s.opts.Clock), SchemaVersion: rec.Version, LastMigration: rec.LastMigration,
		MigrationTime: rec.LastMigrationIn, SyncMode: s.opts.Sync.String(),
	}
	s.qmu.Unlock()
	s.mu.Lock()
	for _, b := range s.boxes {
		st.Fsyncs += b.sync.count.Load()
	}
	s.mu.Unlock()
	if st.FailedOps > s.opts.FailedOpsAlert && !s.canary(CanaryFailedOpsAlert) {
		st.Alerts = append(st.Alerts, fmt.Sprintf("failed_ops.count %d is above the threshold %d", st.FailedOps, s.opts.FailedOpsAlert))
	}
	if st.MigrationTime > MigrationAlert {
		st.Alerts = append(st.Alerts, fmt.Sprintf("migration %s took %s, above %s", st.LastMigration, st.MigrationTime, MigrationAlert))
	}
	return st, nil
}
