package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// A TypeID names a record type, as the runbook's Hive typeId does. Every
// record the store seals carries the type id of its key in its envelope
// (docs/store-format.md, envelope version 2), and inspection tools
// ([Store.Records], `storectl inspect`) decode it through a [Registry].
// Ids are allocated in ranges, so two teams never pick the same one:
//
//	0       untyped: a record sealed before type ids (envelope version 1),
//	        or a data-box value no registered codec claims
//	10-19   queue records (pending_ops, failed_ops, pending_index)
//	20-29   audit and privacy records
//	30-39   metadata and transaction records (persistence_metadata, markers)
//	100-999 application records in data boxes
//
// docs/runbook.md lists every allocated id; TestTypeIDs fails when two
// declarations anywhere in the repository share one.
type TypeID uint16

// Codec describes how one record type is stored.
type Codec struct {
	TypeID TypeID
	Name   string
	// Box is the box its records live in. For an application codec it is
	// a data box's name, or "" for every data box.
	Box string
	// Prefix is the record key prefix, if any. A record's type is the
	// codec of its box with the longest prefix of its key.
	Prefix string
	// Decode turns a stored plaintext into a value that encodes to JSON,
	// for inspection tools.
	Decode func([]byte) (any, error)
}

// A Registry maps type ids to codecs: the store's own record types and any
// an application adds. It does not change after NewRegistry, so one
// registry may serve any number of stores and goroutines.
type Registry struct {
	byID map[TypeID]Codec
	all  []Codec // by descending prefix length, so the first match is the longest
}

// NewRegistry returns a registry of the store's own record types and the
// application codecs, which must use ids in 100-999. A codec whose id is
// taken, by the store or by another codec, fails with "already a codec for
// typeId X", the store's form of Hive's "There is already a TypeAdapter for
// typeId X": a program builds its registry once at start-up and stops on
// that error, before it opens a store.
func NewRegistry(codecs ...Codec) (*Registry, error) {
	r := &Registry{byID: map[TypeID]Codec{}}
	for _, c := range builtinCodecs() {
		if err := r.add(c); err != nil {
			return nil, err
		}
	}
	for _, c := range codecs {
		if c.TypeID < 100 || c.TypeID > 999 {
			if _, taken := r.byID[c.TypeID]; !taken {
				return nil, fmt.Errorf("register %s: typeId %d is outside the application range 100-999: %w", c.Name, c.TypeID, ErrInvalid)
			}
		}
		if slices.Contains(SystemBoxes(), c.Box) {
			return nil, fmt.Errorf("register %s: box %s is one of the store's own: %w", c.Name, c.Box, ErrInvalid)
		}
		if err := r.add(c); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(r.all, func(i, j int) bool { return len(r.all[i].Prefix) > len(r.all[j].Prefix) })
	return r, nil
}

func (r *Registry) add(c Codec) error {
	if c.Name == "" || c.Decode == nil {
		return fmt.Errorf("register typeId %d: a codec needs a name and a Decode func: %w", c.TypeID, ErrInvalid)
	}
	if !validTypeID(c.TypeID) {
		return fmt.Errorf("register %s: typeId %d is outside the allocated ranges (10-19, 20-29, 30-39, 100-999): %w", c.Name, c.TypeID, ErrInvalid)
	}
	if old, ok := r.byID[c.TypeID]; ok {
		return fmt.Errorf("already a codec for typeId %d (%s); hint: pick a free id in the range of %s and record it in docs/runbook.md: %w", c.TypeID, old.Name, c.Name, ErrInvalid)
	}
	r.byID[c.TypeID] = c
	r.all = append(r.all, c)
	return nil
}

func validTypeID(id TypeID) bool {
	return (id >= 10 && id <= 39) || (id >= 100 && id <= 999)
}

// Lookup returns the codec registered under id.
func (r *Registry) Lookup(id TypeID) (Codec, bool) {
	c, ok := r.byID[id]
	return c, ok
}

// Codecs lists the registered codecs by id.
func (r *Registry) Codecs() []Codec {
	out := make([]Codec, 0, len(r.byID))
	for _, c := range r.byID {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TypeID < out[j].TypeID })
	return out
}

// TypeOf returns the type id of the record key in box: the id of the codec
// for the box with the longest prefix of key, or 0 when none claims it.
func (r *Registry) TypeOf(box, key string) TypeID {
	return r.typeResolver(box)(key)
}

// typeResolver returns TypeOf for one box, with the box's codecs picked once.
func (r *Registry) typeResolver(box string) func(key string) TypeID {
	system := slices.Contains(SystemBoxes(), box)
	var mine []Codec
	for _, c := range r.all {
		if c.Box == box || (c.Box == "" && !system) {
			mine = append(mine, c)
		}
	}
	return func(key string) TypeID {
		for _, c := range mine {
			if strings.HasPrefix(key, c.Prefix) {
				return c.TypeID
			}
		}
		return 0
	}
}

// Decode decodes a record read with [Store.Records] through the codec of
// its type id. A record of type id 0 (sealed before type ids) is decoded by
// the codec its box and key would get now; a record no codec claims comes
// back as its bytes. The codec is the zero Codec then.
func (r *Registry) Decode(rec Record) (Codec, any, error) {
	id := rec.TypeID
	if id == 0 {
		id = r.TypeOf(rec.Box, rec.Key)
	}
	c, ok := r.byID[id]
	if !ok {
		if rec.TypeID != 0 {
			return Codec{}, nil, fmt.Errorf("box %s: record %s: no codec for typeId %d: %w", rec.Box, printableKey(rec.Key), rec.TypeID, ErrNotFound)
		}
		return Codec{}, rec.Value, nil
	}
	v, err := c.Decode(rec.Value)
	if err != nil {
		return c, nil, fmt.Errorf("box %s: record %s: decode as %s (typeId %d): %w", rec.Box, printableKey(rec.Key), c.Name, c.TypeID, err)
	}
	return c, v, nil
}

func decodeJSON[T any](b []byte) (any, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

// builtinCodecs are the store's own record types.
func builtinCodecs() []Codec {
	return []Codec{
		{TypeID: 11, Name: "PendingOp", Box: BoxPending, Prefix: opPrefix, Decode: func(b []byte) (any, error) { return decodeOp(b) }},
		{TypeID: 12, Name: "FailedOp", Box: BoxFailed, Prefix: opPrefix, Decode: func(b []byte) (any, error) { return decodeOp(b) }},
		{TypeID: 13, Name: "IdempotencyRecord", Box: BoxPending, Prefix: idemPrefix, Decode: func(b []byte) (any, error) { return decodeIdem(b) }},
		{TypeID: 14, Name: "IndexEntry", Box: BoxIndex, Decode: func(b []byte) (any, error) { return string(b), nil }},
		{TypeID: 20, Name: "AuditEntry", Box: BoxAudit, Decode: decodeJSON[AuditEntry]},
		{TypeID: 21, Name: "SubjectKey", Box: BoxSubjectKeys, Prefix: subjectPrefix, Decode: func([]byte) (any, error) { return map[string]bool{"redacted": true}, nil }},
		{TypeID: 30, Name: "SchemaRecord", Box: BoxMetadata, Prefix: metaSchemaKey, Decode: decodeJSON[schemaRecord]},
		{TypeID: 32, Name: "LockRecord", Box: BoxMetadata, Prefix: metaLockKey, Decode: decodeJSON[lockRecord]},
	}
}

// builtinTypes is the registry of the store's own types, built once: the
// registry of every store whose Options.Types is nil. A collision among
// the store's own types is a build defect, so it panics at the first Open.
var builtinTypes = sync.OnceValue(func() *Registry {
	r, err := NewRegistry()
	if err != nil {
		panic("store: built-in record types: " + err.Error())
	}
	return r
})
