package target

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// ProtocolVersion is the version of the target protocol this package
// speaks. It travels in the open request and the open reply; a target that
// answers another version is refused (see docs/target-protocol.md).
const ProtocolVersion = 1

// Request types. The core types every target answers come first; the
// optional ones are answered by targets that claim them in their open reply.
const (
	TypeOpen      = "open"
	TypeClose     = "close"
	TypeEnqueue   = "enqueue"
	TypeClaim     = "claim"
	TypeAck       = "ack"
	TypeFail      = "fail"
	TypeAcquire   = "acquire"
	TypeHeartbeat = "heartbeat"
	TypeRelease   = "release"
	TypeGet       = "get"
	TypePut       = "put"

	TypeBackup       = "backup"
	TypeRestore      = "restore"
	TypeMigrate      = "migrate"
	TypeRotateKey    = "rotate-key"
	TypeErase        = "erase"
	TypeVerify       = "verify"
	TypeRebuildIndex = "rebuild-index"
	// The harness's reads and marks: state reads the queue back for the
	// checks, export reads a subject's ops, audit writes an audit entry.
	TypeState  = "state"
	TypeExport = "export"
	TypeAudit  = "audit"
	// recover opens the store like open, first rebuilding the boxes that
	// fail their checks from the backup at path (the runbook's corruption
	// recovery).
	TypeRecover = "recover"
)

// CoreTypes are the request types every target answers.
func CoreTypes() []string {
	return []string{TypeOpen, TypeClose, TypeEnqueue, TypeClaim, TypeAck, TypeFail,
		TypeAcquire, TypeHeartbeat, TypeRelease, TypeGet, TypePut}
}

// OptionalTypes are the request types a target answers only when it claims
// them as capabilities in its open reply.
func OptionalTypes() []string {
	return []string{TypeBackup, TypeRestore, TypeMigrate, TypeRotateKey, TypeErase, TypeVerify, TypeRebuildIndex,
		TypeState, TypeExport, TypeAudit, TypeRecover}
}

// Promises a target makes, in its open reply's promises: what the chaos
// checks may hold it to. A target that lists none makes them all; a check
// of a promise a target does not make is unknown, never a pass or a fail.
const (
	PromiseDurable   = "durable"   // an acknowledged write survives a crash, and power loss under its sync mode
	PromiseFenced    = "fenced"    // claim, ack and fail refuse a stale token
	PromiseIntegrity = "integrity" // damage to its files is refused as corrupt or repaired, never served
	PromiseEncrypted = "encrypted" // no plaintext in its files or backups
	PromiseExclusive = "exclusive" // a second open of a directory in use is refused as locked
	PromiseKeyed     = "keyed"     // a wrong master key is refused as wrong-key and changes nothing
)

// Promises returns every promise a target can make.
func Promises() []string {
	return []string{PromiseDurable, PromiseFenced, PromiseIntegrity, PromiseEncrypted, PromiseExclusive, PromiseKeyed}
}

// CheckPromise is the promise the chaos check named check judges, or ""
// for the queue's basic semantics (no-unexpected, duplicates, fifo,
// linearizable...), which every target is held to.
func CheckPromise(check string) string {
	switch check {
	case "no-loss", "idempotency", "error-is(disk-full)":
		return PromiseDurable
	case "fencing", "error-is(stale-token)":
		return PromiseFenced
	case "integrity-reported", "error-is(corrupt)", "error-is(backup-invalid)":
		return PromiseIntegrity
	case "no-plaintext":
		return PromiseEncrypted
	case "error-is(locked)":
		return PromiseExclusive
	case "error-is(wrong-key)":
		return PromiseKeyed
	}
	return ""
}

// Info is what a target's open reply says of it.
type Info struct {
	Name         string   `json:"name"`
	Version      string   `json:"version"`
	Capabilities []string `json:"capabilities,omitempty"`
	Promises     []string `json:"promises,omitempty"` // as listed; none means every promise
}

// Makes reports whether the target makes promise p.
func (i Info) Makes(p string) bool { return len(i.Promises) == 0 || slices.Contains(i.Promises, p) }

// Error classes: the closed set a target's errors fall into.
const (
	ClassWrongKey       = "wrong-key"
	ClassCorrupt        = "corrupt"
	ClassLocked         = "locked"
	ClassStaleToken     = "stale-token"
	ClassSchemaMismatch = "schema-mismatch"
	ClassDiskFull       = "disk-full"
	ClassBackupInvalid  = "backup-invalid"
	ClassUnsupported    = "unsupported"
	ClassOther          = "other"
)

// Classes returns the closed set of error classes.
func Classes() []string {
	return []string{ClassWrongKey, ClassCorrupt, ClassLocked, ClassStaleToken, ClassSchemaMismatch,
		ClassDiskFull, ClassBackupInvalid, ClassUnsupported, ClassOther}
}

// Outcomes of a successful reply that did not do what was asked. They are
// not errors: an empty queue or a held lock is a normal answer.
const (
	OutcomeOK         = ""            // the request did what it asked
	OutcomeEmpty      = "empty"       // claim: nothing to claim now
	OutcomeNotFound   = "not-found"   // get: no such record
	OutcomeLockHeld   = "lock-held"   // acquire: another owner holds a live lease
	OutcomeNotClaimed = "not-claimed" // ack, fail: the op is not claimed by this token
)

// Request is one line the harness writes to a target's stdin. Fields a
// request type does not use are omitted.
type Request struct {
	ID   uint64 `json:"id"`
	Type string `json:"type"`

	// open
	Version   int    `json:"version,omitempty"`
	Dir       string `json:"dir,omitempty"`
	MasterKey string `json:"master_key,omitempty"` // 64 hex digits; overrides the target's own key
	// Settings are the scenario's store settings, applied where the
	// target has them and otherwise ignored.
	Settings *Settings `json:"settings,omitempty"`

	// enqueue, put
	Payload        []byte `json:"payload,omitempty"` // base64 in JSON
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	Subject        string `json:"subject,omitempty"` // enqueue, erase

	// claim, ack, fail, heartbeat, release
	Token  uint64 `json:"token,omitempty"`
	OpID   string `json:"op_id,omitempty"`
	Reason string `json:"reason,omitempty"`

	// acquire, heartbeat, release: the caller's clock
	Owner string    `json:"owner,omitempty"`
	Now   time.Time `json:"now,omitzero"`

	// get, put
	Box string `json:"box,omitempty"`
	Key string `json:"key,omitempty"`

	// backup, restore
	Path string `json:"path,omitempty"`
	// restore: the key the backup was made under (64 hex digits; the
	// store's own when empty) and the schema version it must have (any
	// when 0).
	BackupKey      string `json:"backup_key,omitempty"`
	ExpectedSchema int    `json:"expected_schema,omitempty"`
	// state: a page of the lists, from these positions, at most Limit
	// ops of each (all when 0); the reply's State.More says more follow.
	PendingFrom int `json:"pending_from,omitempty"`
	FailedFrom  int `json:"failed_from,omitempty"`
	Limit       int `json:"limit,omitempty"`
	// audit
	Event  string         `json:"event,omitempty"`
	Fields map[string]any `json:"fields,omitempty"`
	// rotate-key
	NewMasterKey string `json:"new_master_key,omitempty"`
}

// Reply is one line a target writes to its stdout, answering the request
// with the same ID. Error is set when the request failed; otherwise Outcome
// and the result fields say what happened.
type Reply struct {
	ID    uint64 `json:"id"`
	Error *Error `json:"error,omitempty"`

	Outcome string `json:"outcome,omitempty"`

	// open
	Version      int      `json:"version,omitempty"`
	Target       string   `json:"target,omitempty"`
	TargetVer    string   `json:"target_version,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
	Promises     []string `json:"promises,omitempty"` // Promises(); none listed means all

	// enqueue, claim
	Op *Op `json:"op,omitempty"`
	// acquire
	Token uint64 `json:"token,omitempty"`
	// get
	Value []byte `json:"value,omitempty"`
	// open: what the open repaired
	Repairs []Repair `json:"repairs,omitempty"`
	// state
	State *State `json:"state,omitempty"`
	// export: the subject's ops
	Ops []Op `json:"ops,omitempty"`
	// optional requests: a short, target-defined summary
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Op is a queued op as a target reports it.
type Op struct {
	ID             string `json:"id"`
	Seq            uint64 `json:"seq,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	Payload        []byte `json:"payload,omitempty"`
	Attempts       int    `json:"attempts,omitempty"`
	Duplicate      bool   `json:"duplicate,omitempty"`
	Subject        string `json:"subject,omitempty"`
}

// Settings are the store settings a scenario asks for, in an open
// request. A target applies those it has and ignores the rest; zero
// fields mean the target's default.
type Settings struct {
	Sync           string `json:"sync,omitempty"` // always, interval or never
	SyncIntervalMS int64  `json:"sync_interval_ms,omitempty"`
	StaleAfterMS   int64  `json:"stale_after_ms,omitempty"`
	Recovery       string `json:"recovery,omitempty"` // the store's recovery mode
	FailedOpsAlert int    `json:"failed_ops_alert,omitempty"`
	// CheckpointPeriodMS is how often a target that keeps a checkpoint of
	// its durable state writes it.
	CheckpointPeriodMS int64 `json:"checkpoint_period_ms,omitempty"`
}

// State is the queue as a target holds it, read back by the harness's
// checks (the state request): pending ops in FIFO order with their
// payloads, failed ops, and what the target can tell of its schema,
// audit log and alerts.
type State struct {
	Pending       []Op     `json:"pending"`
	Failed        []Op     `json:"failed"`
	SchemaVersion int      `json:"schema_version,omitempty"`
	Audit         []string `json:"audit,omitempty"` // audit event names, oldest first
	FailedOps     int      `json:"failed_ops,omitempty"`
	Alerts        []string `json:"alerts,omitempty"` // alerts that fired
	// MigrationMS is how long the last migration took, in milliseconds.
	MigrationMS int64 `json:"migration_ms,omitempty"`
	// More says the lists were cut at the request's limit: ask again from
	// where they end.
	More bool `json:"more,omitempty"`
}

// Page cuts st's lists to the page req asks for (State's paging fields),
// setting More when ops are left out; a target can answer state with it.
func (st State) Page(req Request) *State {
	cut := func(ops []Op, from int) []Op {
		ops = ops[min(from, len(ops)):]
		if req.Limit > 0 && len(ops) > req.Limit {
			st.More = true
			ops = ops[:req.Limit]
		}
		return ops
	}
	st.More = false
	st.Pending, st.Failed = cut(st.Pending, req.PendingFrom), cut(st.Failed, req.FailedFrom)
	return &st
}

// Repair is one damaged record an open repaired (open reply's repairs).
type Repair struct {
	Box          string `json:"box"`
	Kind         string `json:"kind"`
	Offset       int64  `json:"offset"`
	DroppedBytes int64  `json:"dropped_bytes,omitempty"`
	Quarantine   string `json:"quarantine,omitempty"` // the copy of the damaged file
}

// Error is a failed request's error: a class from Classes and a message
// for people.
type Error struct {
	Class   string `json:"class"`
	Message string `json:"message"`
	// Box and Offset locate a corrupt record, when the target knows
	// where it is (class corrupt).
	Box    string `json:"box,omitempty"`
	Offset *int64 `json:"offset,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Class, e.Message) }

// Errorf returns an *Error of class with a formatted message, for handlers
// to return.
func Errorf(class, format string, args ...any) *Error {
	return &Error{Class: class, Message: fmt.Sprintf(format, args...)}
}
