package fault

// relocate: a sealed record copied or moved, bytes unchanged, to another box
// file or under another key of its own box, as a careless copy between
// files, or someone with write access and no key, would leave it. The store
// binds each record to its box and key (the AEAD's associated data, each
// box's own data key, and the transaction tag over every record), so the
// record must never be served: the store reports the files as corrupt.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/boxstorm/boxstorm/scenarios"
)

// Relocation says which record a relocate fault moved where.
type Relocation struct {
	From   string `json:"from"`    // the source box
	To     string `json:"to"`      // the target box
	Key    string `json:"key"`     // the record's key in the source box
	NewKey string `json:"new_key"` // its key in the target box
	Mode   string `json:"mode"`    // copy or move
	// At is the offset in the target file where the record was put; the
	// source record's offset is Source when moved.
	At     int64 `json:"at"`
	Source int64 `json:"source"`
}

// RelocateRecord copies (or moves) one op record of dir/<f.Box>.db into
// dir/<f.To>.db, between two of its commands in the file's first half,
// under the same key in another box or under another op key in the same
// box. The store must be closed.
func RelocateRecord(dir string, f scenarios.Fault, seed uint64) (Relocation, Damage, error) {
	rel := Relocation{From: f.Box, To: f.To, Mode: f.Mode}
	srcPath := filepath.Join(dir, f.Box+".db")
	src, err := os.ReadFile(srcPath)
	if errors.Is(err, fs.ErrNotExist) {
		// A target's own layout: the records to move are the reference store's.
		return rel, Damage{}, fmt.Errorf("relocate: no %s.db: %w", f.Box, ErrUnsupportedFault)
	}
	if err != nil {
		return rel, Damage{}, fmt.Errorf("relocate: %w", err)
	}
	rng := rand.New(rand.NewPCG(seed, 0x72656c6f63617465))
	var records []command
	for _, c := range parseCommands(src) {
		if len(c.args) == 3 && bytes.EqualFold(c.args[0], []byte("set")) && bytes.HasPrefix(c.args[1], []byte("op/")) {
			records = append(records, c)
		}
	}
	if len(records) == 0 {
		return rel, Damage{Box: f.To}, fmt.Errorf("relocate: %s holds no op record: %w", f.Box, ErrUnsupportedFault)
	}
	rec := records[rng.IntN(len(records))]
	rel.Key, rel.Source = string(rec.args[1]), rec.start
	newKey := append([]byte(nil), rec.args[1]...)
	if f.To == f.Box {
		// Another op's key: the same id with its last hex digit changed.
		last := len(newKey) - 1
		newKey[last] = "0123456789abcdef"[(hexVal(newKey[last])+1+rng.IntN(15))%16]
	}
	rel.NewKey = string(newKey)
	moved := encodeCommand([]byte("set"), newKey, rec.args[2])

	dstPath := filepath.Join(dir, f.To+".db")
	dst := src
	if f.To != f.Box {
		if dst, err = os.ReadFile(dstPath); err != nil {
			return rel, Damage{Box: f.To}, fmt.Errorf("relocate: %w", err)
		}
	}
	cmds := parseCommands(dst)
	if len(cmds) < 2 {
		return rel, Damage{Box: f.To}, fmt.Errorf("relocate: %s has %d records, too few to put one between: %w", f.To, len(cmds), ErrUnsupportedFault)
	}
	// After a command in the first half: inside the file, never at its
	// end, where it would read as a torn write.
	at := cmds[rng.IntN(max(len(cmds)/2, 1))].end
	rel.At = at
	d := Damage{Box: f.To, File: filepath.Base(dstPath), Size: int64(len(dst)), Offset: at, Length: int64(len(moved))}
	out := make([]byte, 0, len(dst)+len(moved))
	out = append(append(append(out, dst[:at]...), moved...), dst[at:]...)
	if f.Mode == scenarios.RelocateMove {
		if f.To == f.Box {
			// Remove the original from the same buffer, past or before the
			// insertion.
			s, e := rec.start, rec.end
			if s >= at {
				s, e = s+int64(len(moved)), e+int64(len(moved))
			}
			out = append(out[:s:s], out[e:]...)
		} else {
			srcOut := append(src[:rec.start:rec.start], src[rec.end:]...)
			if err := os.WriteFile(srcPath, srcOut, 0o600); err != nil {
				return rel, d, fmt.Errorf("relocate: %w", err)
			}
		}
	}
	d.After = int64(len(out))
	if err := os.WriteFile(dstPath, out, 0o600); err != nil {
		return rel, d, fmt.Errorf("relocate: %w", err)
	}
	return rel, d, nil
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return 0
}
