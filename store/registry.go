package store

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
)

// A TypeID names a record type, as the runbook's Hive typeId does. Ids are
// allocated in ranges, so two teams never pick the same one:
//
//	10-19   queue records (pending_ops, failed_ops, pending_index)
//	20-29   audit and privacy records
//	30-39   metadata and transaction records (persistence_metadata, markers)
//	100-999 application records in data boxes
//
// docs/runbook.md lists every allocated id; TestTypeIDs fails when two
// registrations anywhere in the repository share one.
type TypeID uint16

// Codec describes how one record type is stored.
type Codec struct {
	TypeID TypeID
	Name   string
	Box    string // the box its records live in ("" for data boxes)
	Prefix string // the record key prefix, if any
	// Decode turns a stored plaintext into a value that encodes to JSON,
	// for inspection tools.
	Decode func([]byte) (any, error)
}

// Registry maps type ids to codecs.
type Registry struct {
	mu   sync.Mutex
	byID map[TypeID]Codec
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{byID: map[TypeID]Codec{}} }

// Register adds a codec. A second codec for the same id fails with
// "already a codec for typeId X", the store's form of Hive's
// "There is already a TypeAdapter for typeId X".
func (r *Registry) Register(c Codec) error {
	if c.Name == "" || c.Decode == nil {
		return fmt.Errorf("register typeId %d: a codec needs a name and a Decode func: %w", c.TypeID, ErrInvalid)
	}
	if !validTypeID(c.TypeID) {
		return fmt.Errorf("register %s: typeId %d is outside the allocated ranges (10-19, 20-29, 30-39, 100-999): %w", c.Name, c.TypeID, ErrInvalid)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.byID[c.TypeID]; ok {
		return fmt.Errorf("already a codec for typeId %d (%s); hint: pick a free id in the range of %s and record it in docs/runbook.md: %w", c.TypeID, old.Name, c.Name, ErrInvalid)
	}
	r.byID[c.TypeID] = c
	return nil
}

func validTypeID(id TypeID) bool {
	return (id >= 10 && id <= 39) || (id >= 100 && id <= 999)
}

// Lookup returns the codec registered under id.
func (r *Registry) Lookup(id TypeID) (Codec, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.byID[id]
	return c, ok
}

// Codecs lists the registered codecs by id.
func (r *Registry) Codecs() []Codec {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Codec, 0, len(r.byID))
	for _, c := range r.byID {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TypeID < out[j].TypeID })
	return out
}

// Types holds the store's own record types. Applications register theirs
// (100-999) with Types.Register at init.
var Types = NewRegistry()

func decodeJSON[T any](b []byte) (any, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

func init() {
	for _, c := range []Codec{
		{TypeID: 11, Name: "PendingOp", Box: BoxPending, Prefix: opPrefix, Decode: func(b []byte) (any, error) { return decodeOp(b) }},
		{TypeID: 12, Name: "FailedOp", Box: BoxFailed, Prefix: opPrefix, Decode: func(b []byte) (any, error) { return decodeOp(b) }},
		{TypeID: 13, Name: "IdempotencyRecord", Box: BoxPending, Prefix: idemPrefix, Decode: func(b []byte) (any, error) { return decodeIdem(b) }},
		{TypeID: 14, Name: "IndexEntry", Box: BoxIndex, Decode: func(b []byte) (any, error) { return string(b), nil }},
		{TypeID: 20, Name: "AuditEntry", Box: BoxAudit, Decode: decodeJSON[AuditEntry]},
		{TypeID: 21, Name: "SubjectKey", Box: BoxSubjectKeys, Prefix: subjectPrefix, Decode: func([]byte) (any, error) { return map[string]bool{"redacted": true}, nil }},
		{TypeID: 30, Name: "SchemaRecord", Box: BoxMetadata, Prefix: metaSchemaKey, Decode: decodeJSON[schemaRecord]},
		{TypeID: 32, Name: "LockRecord", Box: BoxMetadata, Prefix: metaLockKey, Decode: decodeJSON[lockRecord]},
	} {
		if err := Types.Register(c); err != nil {
			panic(err) // a collision among the store's own types is a build defect
		}
	}
}
