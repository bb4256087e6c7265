package fault

// Damage to box files, made while the store is closed: torn tails, cuts in
// the middle, bit flips, garbage lines and NUL runs. Offsets come from the
// fault's seed, scaled to the file's size.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/boxstorm/boxstorm/scenarios"
)

// Damage describes what a damage fault did to a file.
type Damage struct {
	Box    string  `json:"box"`
	File   string  `json:"file"`
	Size   int64   `json:"size_before"`
	After  int64   `json:"size_after"`
	Offset int64   `json:"offset"`
	Bits   []int64 `json:"bits,omitempty"` // bit positions flipped, for bitflip
	Length int64   `json:"length,omitempty"`
	// Checkpoint is what a torn tail did to the box's checkpoint entry.
	Checkpoint *CheckpointRewind `json:"checkpoint,omitempty"`
}

// DamageBox applies a damage fault to dir/<box>.db. In a directory with no
// such file (a target's, in a layout of its own) it damages the largest
// file instead, where a queue keeps its data, and Damage.Box is that
// file's name without its extension: the box a target's corrupt error or
// repair must name (docs/target-protocol.md).
func DamageBox(dir string, f scenarios.Fault, seed uint64) (Damage, error) {
	path, box := filepath.Join(dir, f.Box+".db"), f.Box
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if f.Mode == scenarios.TruncateBehindCheckpoint {
			return Damage{}, fmt.Errorf("damage %s: a cut behind the checkpoint needs the reference store's checkpoint.json: %w", f.Box, ErrUnsupportedFault)
		}
		if path = largestFile(dir); path == "" {
			return Damage{}, fmt.Errorf("damage %s: no file in %s: %w", f.Box, dir, ErrUnsupportedFault)
		}
		box = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Damage{}, fmt.Errorf("damage %s: %w", box, err)
	}
	size := int64(len(b))
	d := Damage{Box: box, File: filepath.Base(path), Size: size}
	if size < 64 {
		return d, fmt.Errorf("damage %s: file has %d bytes, too small to damage: %w", d.File, size, ErrUnsupportedFault)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6461_6d61_6765))
	between := func(lo, hi int64) int64 { return lo + rng.Int64N(hi-lo+1) }
	switch f.Type {
	case scenarios.FaultTruncate:
		if f.Mode == scenarios.TruncateTail || f.Mode == scenarios.TruncateBehindCheckpoint {
			// Into the last record: records are hundreds of bytes, so a cut
			// of at most 24 bytes never reaches the record before. A torn
			// tail is what a crash during that write leaves, checkpoint
			// included (see RewindCheckpoint); behind-checkpoint keeps the
			// checkpoint that covers the cut data.
			if f.Mode == scenarios.TruncateTail {
				rw, err := RewindCheckpoint(dir, box, b)
				d.Checkpoint = &rw
				if err != nil {
					return d, fmt.Errorf("damage %s: %w", d.File, err)
				}
			}
			d.Offset = size - between(1, 24)
			b = b[:d.Offset]
		} else {
			// A cut inside acknowledged data with records after it: bytes
			// go missing from the middle, as a lost page or a bad copy
			// leaves it. (Cutting the file short there would only make a
			// torn tail.)
			d.Offset, d.Length = between(size*3/10, size*6/10), between(1, 64)
			b = append(b[:d.Offset:d.Offset], b[d.Offset+d.Length:]...)
		}
	case scenarios.FaultBitflip:
		n := max(f.Count, 1)
		for range n {
			bit := between(size*8/10, size*8-1)
			b[bit/8] ^= 1 << (bit % 8)
			d.Bits = append(d.Bits, bit)
		}
		d.Offset = size
		for _, bit := range d.Bits {
			d.Offset = min(d.Offset, bit/8)
		}
	case scenarios.FaultGarbage:
		at := between(size/4, size*3/4)
		if i := bytes.Index(b[at:], []byte("\r\n")); i >= 0 {
			at += int64(i) + 2
		}
		line := make([]byte, f.Bytes)
		for i := range line {
			line[i] = byte(rng.UintN(256))
		}
		line = append(line, '\r', '\n')
		d.Offset, d.Length = at, int64(len(line))
		b = append(b[:at:at], append(line, b[at:]...)...)
	case scenarios.FaultNULRun:
		n := min(int64(f.Length), size/2)
		d.Offset, d.Length = between(size/4, size*3/4-n), n
		clear(b[d.Offset : d.Offset+n])
	default:
		return d, fmt.Errorf("damage: %s is not a file damage: %w", f.Type, ErrUnsupportedFault)
	}
	d.After = int64(len(b))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return d, fmt.Errorf("damage %s: %w", box, err)
	}
	return d, nil
}

// largestFile is the largest regular file directly in dir, or "".
func largestFile(dir string) string {
	entries, _ := os.ReadDir(dir)
	var best string
	var size int64 = -1
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Size() > size {
			best, size = filepath.Join(dir, e.Name()), fi.Size()
		}
	}
	return best
}
