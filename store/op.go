package store

import (
	"encoding/binary"
	"errors"
	"time"
)

// OpState is where an op is in its life.
type OpState string

// Op states.
const (
	OpPending OpState = "pending" // in pending_ops, waiting or claimed
	OpFailed  OpState = "failed"  // in failed_ops, waiting for a retry
	OpDone    OpState = "done"    // acknowledged; only its completion record remains
)

// Op is one queued operation.
type Op struct {
	ID             string    `json:"id"`
	Seq            uint64    `json:"seq"` // position in FIFO order
	EnqueuedAt     time.Time `json:"enqueued_at"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	Subject        string    `json:"subject,omitempty"` // privacy subject, for export and erasure
	Payload        []byte    `json:"payload"`
	Attempts       int       `json:"attempts"`
	LastError      string    `json:"last_error,omitempty"`
	FailedAt       time.Time `json:"failed_at,omitzero"`
	NextRetryAt    time.Time `json:"next_retry_at,omitzero"`
	State          OpState   `json:"state"`
	// Duplicate is set when Enqueue found the idempotency key already used
	// and returned the first op instead of adding one.
	Duplicate bool `json:"duplicate,omitempty"`
	// Gen counts the moves between pending_ops and failed_ops, so Open can
	// tell the newer copy when a crash left an op in both.
	Gen uint32 `json:"gen"`
}

const opCodecVersion = 1

// encodeOp writes the op record (docs/store-format.md, "Op record").
func encodeOp(op *Op) []byte {
	return appendOp(make([]byte, 0, 64+len(op.ID)+len(op.IdempotencyKey)+len(op.Subject)+len(op.LastError)+len(op.Payload)), op)
}

// appendOp appends op's encoding to b.
func appendOp(b []byte, op *Op) []byte {
	b = append(b, opCodecVersion)
	b = binary.AppendUvarint(b, op.Seq)
	b = binary.AppendVarint(b, timeNano(op.EnqueuedAt))
	b = binary.AppendUvarint(b, uint64(op.Gen))
	b = binary.AppendUvarint(b, uint64(op.Attempts))
	b = binary.AppendVarint(b, timeNano(op.FailedAt))
	b = binary.AppendVarint(b, timeNano(op.NextRetryAt))
	for _, s := range []string{op.ID, op.IdempotencyKey, op.Subject, op.LastError} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(op.Payload)))
	return append(b, op.Payload...)
}

var errBadOp = errors.New("malformed op record")

func decodeOp(b []byte) (Op, error) {
	var op Op
	if len(b) == 0 || b[0] != opCodecVersion {
		return op, errBadOp
	}
	d := decoder{b: b[1:]}
	op.Seq = d.uvarint()
	op.EnqueuedAt = nanoTime(d.varint())
	op.Gen = uint32(d.uvarint())
	op.Attempts = int(d.uvarint())
	op.FailedAt = nanoTime(d.varint())
	op.NextRetryAt = nanoTime(d.varint())
	op.ID = string(d.bytes())
	op.IdempotencyKey = string(d.bytes())
	op.Subject = string(d.bytes())
	op.LastError = string(d.bytes())
	op.Payload = d.bytes()
	if d.err || len(d.b) != 0 || op.ID == "" {
		return Op{}, errBadOp
	}
	return op, nil
}

func timeNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nanoTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err || n > uint64(len(d.b)) {
		d.err = true
		d.b = nil
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// idemRecord is pending_ops/idem/<hmac>: which op an idempotency key named,
// and whether that op was completed.
type idemRecord struct {
	OpID   string
	Done   bool
	DoneAt time.Time
}

func encodeIdem(r idemRecord) []byte {
	b := []byte{opCodecVersion}
	if r.Done {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendVarint(b, timeNano(r.DoneAt))
	b = binary.AppendUvarint(b, uint64(len(r.OpID)))
	return append(b, r.OpID...)
}

func decodeIdem(b []byte) (idemRecord, error) {
	if len(b) < 2 || b[0] != opCodecVersion || b[1] > 1 {
		return idemRecord{}, errBadOp
	}
	d := decoder{b: b[2:]}
	r := idemRecord{Done: b[1] == 1}
	r.DoneAt = nanoTime(d.varint())
	r.OpID = string(d.bytes())
	if d.err || len(d.b) != 0 || r.OpID == "" {
		return idemRecord{}, errBadOp
	}
	return r, nil
}
