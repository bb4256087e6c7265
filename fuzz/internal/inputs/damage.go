package inputs

import (
	"encoding/binary"
	"slices"

	"github.com/boxstorm/boxstorm/store"
)

// DamageKind is one way FuzzBoxFile damages a box file.
type DamageKind uint8

// The damage kinds, after the faults the harness injects. Offsets are taken
// modulo the file's current length (plus one where the end is a place).
const (
	// Truncate cuts the file at Off.
	Truncate DamageKind = iota
	// FlipBit flips bit Bit of the byte at Off.
	FlipBit
	// InsertGarbage inserts Data at Off.
	InsertGarbage
	// NULRun overwrites Len bytes from Off with NUL, growing the file if the
	// run passes its end (as a file system that extended the file but never
	// wrote the data leaves it).
	NULRun
	// CopyRange inserts a copy of Len bytes from Src at Off: a misdirected
	// or replayed write.
	CopyRange

	numDamageKinds
)

// MaxDamages caps the damages of one input, so an exec stays short.
const MaxDamages = 8

// Damage is one change to a box file.
type Damage struct {
	Kind DamageKind
	Off  uint32
	Bit  uint8  // FlipBit
	Data []byte // InsertGarbage, at most 255 bytes
	Len  uint16 // NULRun, CopyRange: 1 to 1024
	Src  uint32 // CopyRange
}

// BoxDamage is FuzzBoxFile's input: the recovery mode to open with and the
// damages to apply, in order.
type BoxDamage struct {
	Mode    store.RecoveryMode
	Damages []Damage
}

// DecodeBoxDamage decodes FuzzBoxFile's input. The layout is one byte of
// recovery mode, then per damage a kind byte, a big-endian uint32 offset
// and the kind's arguments: a bit (FlipBit); a length byte and that many
// bytes (InsertGarbage); a uint16 length (NULRun); a uint32 source and a
// uint16 length (CopyRange).
func DecodeBoxDamage(b []byte) BoxDamage {
	r := &reader{b: b}
	d := BoxDamage{Mode: store.RecoveryMode(r.byte() % 4)}
	for !r.empty() && len(d.Damages) < MaxDamages {
		dm := Damage{Kind: DamageKind(r.byte() % byte(numDamageKinds)), Off: r.uint32()}
		switch dm.Kind {
		case FlipBit:
			dm.Bit = r.byte() % 8
		case InsertGarbage:
			dm.Data = r.bytes(int(r.byte()))
		case NULRun:
			dm.Len = r.uint16()%1024 + 1
		case CopyRange:
			dm.Src = r.uint32()
			dm.Len = r.uint16()%1024 + 1
		}
		d.Damages = append(d.Damages, dm)
	}
	return d
}

// Encode is the inverse of DecodeBoxDamage, for seeds.
func (d BoxDamage) Encode() []byte {
	out := []byte{byte(d.Mode)}
	for _, dm := range d.Damages {
		out = append(out, byte(dm.Kind))
		out = binary.BigEndian.AppendUint32(out, dm.Off)
		switch dm.Kind {
		case FlipBit:
			out = append(out, dm.Bit)
		case InsertGarbage:
			out = append(out, byte(len(dm.Data)))
			out = append(out, dm.Data...)
		case NULRun:
			out = binary.BigEndian.AppendUint16(out, max(dm.Len, 1)-1)
		case CopyRange:
			out = binary.BigEndian.AppendUint32(out, dm.Src)
			out = binary.BigEndian.AppendUint16(out, max(dm.Len, 1)-1)
		}
	}
	return out
}

// Apply returns a damaged copy of file.
func (d BoxDamage) Apply(file []byte) []byte {
	f := slices.Clone(file)
	for _, dm := range d.Damages {
		at := int(dm.Off % uint32(len(f)+1))
		switch dm.Kind {
		case Truncate:
			f = f[:at]
		case FlipBit:
			if len(f) > 0 {
				f[int(dm.Off%uint32(len(f)))] ^= 1 << (dm.Bit % 8)
			}
		case InsertGarbage:
			f = slices.Insert(f, at, dm.Data...)
		case NULRun:
			end := at + int(dm.Len)
			if end > len(f) {
				f = append(f, make([]byte, end-len(f))...)
			}
			clear(f[at:end])
		case CopyRange:
			if len(f) == 0 {
				continue
			}
			src := int(dm.Src % uint32(len(f)))
			chunk := slices.Clone(f[src:min(src+int(dm.Len), len(f))])
			f = slices.Insert(f, at, chunk...)
		}
	}
	return f
}
