package fault

// The store's checkpoint (checkpoint.json, docs/store-format.md) as the
// torn-tail fault must leave it. The checkpoint records, per box, the last
// transaction known durable; the store writes it only after the box's
// fsync, at Close and about once a second under load. A crash that tears
// the last write of a box therefore finds a checkpoint that covers at most
// the transaction before it: the torn transaction was never fsynced, so no
// checkpoint can have named it. Cutting into the last record of a cleanly
// closed store, whose checkpoint covers that very record, is instead a cut
// behind the checkpoint: acknowledged data lost, which the store must call
// corruption. RewindCheckpoint makes the first case honest by setting the
// box's entry back to the previous transaction boundary, which is the
// newest checkpoint a crash during the last transaction can leave.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// txnMarkerKey is the key of the record that closes each transaction.
const txnMarkerKey = "\x00txn"

// CheckpointRewind says what RewindCheckpoint changed.
type CheckpointRewind struct {
	Box       string `json:"box"`
	FromSeq   uint64 `json:"from_seq"`
	FromLen   int64  `json:"from_length"`
	ToSeq     uint64 `json:"to_seq"`
	ToLen     int64  `json:"to_length"`
	Unchanged string `json:"unchanged,omitempty"` // why nothing was changed
}

// RewindCheckpoint sets box's checkpoint entry in dir back to the end of the
// transaction before the file's last one, when it covers the last one. It
// reads the last transaction's marker (bytes 5-12: its sequence number,
// 17-24: its length in the file) from b, the box file before any cut.
func RewindCheckpoint(dir, box string, b []byte) (CheckpointRewind, error) {
	rw := CheckpointRewind{Box: box}
	path := filepath.Join(dir, "checkpoint.json")
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		rw.Unchanged = "no checkpoint"
		return rw, nil
	}
	if err != nil {
		return rw, fmt.Errorf("rewind checkpoint: %w", err)
	}
	var cp map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cp); err != nil {
		return rw, fmt.Errorf("rewind checkpoint: %w", err)
	}
	boxes := map[string]struct {
		Seq    uint64 `json:"seq"`
		Length int64  `json:"length"`
	}{}
	if err := json.Unmarshal(cp["boxes"], &boxes); err != nil {
		return rw, fmt.Errorf("rewind checkpoint: boxes: %w", err)
	}
	e, ok := boxes[box]
	if !ok {
		rw.Unchanged = "no entry for the box"
		return rw, nil
	}
	rw.FromSeq, rw.FromLen = e.Seq, e.Length
	var last []byte
	for _, c := range parseCommands(b) {
		if len(c.args) == 3 && bytes.Equal(c.args[1], []byte(txnMarkerKey)) && len(c.args[2]) >= 25 {
			last = c.args[2]
		}
	}
	if last == nil {
		rw.Unchanged = "no transaction marker in the file"
		return rw, nil
	}
	seq := binary.BigEndian.Uint64(last[5:13])
	n := int64(binary.BigEndian.Uint64(last[17:25]))
	if e.Seq < seq {
		rw.Unchanged = "the checkpoint does not cover the last transaction"
		rw.ToSeq, rw.ToLen = e.Seq, e.Length
		return rw, nil
	}
	e.Seq, e.Length = seq-1, int64(len(b))-n
	if e.Seq == 0 {
		delete(boxes, box)
	} else {
		boxes[box] = e
	}
	rw.ToSeq, rw.ToLen = e.Seq, e.Length
	if cp["boxes"], err = json.Marshal(boxes); err != nil {
		return rw, err
	}
	out, err := json.Marshal(cp)
	if err != nil {
		return rw, err
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return rw, fmt.Errorf("rewind checkpoint: %w", err)
	}
	return rw, nil
}
