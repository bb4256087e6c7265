// Package inputs is what the fuzz targets of package fuzz and their corpus
// generator (fuzz/internal/gencorpus) share: the fixed keys of the fixture
// store, and the codecs that turn fuzz bytes into structured inputs (damage
// to a box file, a queue program, a backup archive) and seeds back into
// bytes.
//
// go-fuzz-headers' GenerateStruct cannot fill structs with string fields and
// takes every integer from one byte, so the structured inputs are decoded by
// hand here. Every decoder accepts any input: missing bytes read as zero.
package inputs

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
)

// MasterKey returns the master key of the fixture store in
// fuzz/testdata/store and of every store the fuzz targets create. It is a
// test key, derived from a fixed label: nothing it protects is secret.
func MasterKey() []byte { return testKey("boxstorm fuzz master key") }

// RecordKey returns the data key FuzzRecordOpen's records are sealed under.
func RecordKey() []byte { return testKey("boxstorm fuzz record key") }

func testKey(label string) []byte {
	k := sha256.Sum256([]byte(label))
	return k[:]
}

// reader reads fixed-size fields from fuzz bytes; past the end it reads
// zeros, so every input decodes.
type reader struct {
	b []byte
}

func (r *reader) empty() bool { return len(r.b) == 0 }

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uint16() uint16 {
	var buf [2]byte
	n := copy(buf[:], r.b)
	r.b = r.b[n:]
	return binary.BigEndian.Uint16(buf[:])
}

func (r *reader) uint32() uint32 {
	var buf [4]byte
	n := copy(buf[:], r.b)
	r.b = r.b[n:]
	return binary.BigEndian.Uint32(buf[:])
}

// bytes returns the next n bytes, or fewer at the end.
func (r *reader) bytes(n int) []byte {
	n = min(n, len(r.b))
	out := bytes.Clone(r.b[:n])
	r.b = r.b[n:]
	return out
}

// rest returns what is left.
func (r *reader) rest() []byte {
	out := r.b
	r.b = nil
	return out
}
