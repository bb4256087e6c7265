// Package envelope is the store's record envelope (docs/store-format.md):
// how one value of a box is sealed with XChaCha20-Poly1305 under a data key,
// bound to its box, record key, key id, type id and format version. The
// store seals and opens every record through it, and the fuzz targets check
// the exact bytes the store writes with it; it is internal so that neither
// needs an exported test hook in the store's API.
//
// # Versions
//
// Version 2, which Seal writes, carries the record's type id (the store's
// TypeID registry) in its header and its associated data. Version 1, which
// stores written before type ids still hold, has no type id; Open reads it
// as type id 0, "untyped". Nothing else differs, so a store holds both
// until its records are sealed again (any rewrite, rotation or migration
// reseals under version 2).
package envelope

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Envelope layouts:
//
//	version 1: [0] 1 | [1:5] key id | [5:29] nonce | ciphertext || tag
//	version 2: [0] 2 | [1:5] key id | [5:7] type id | [7:31] nonce | ciphertext || tag
const (
	Version1 = 1
	Version2 = 2
	// Version is the version Seal writes.
	Version = Version2

	headerV1 = 1 + 4 + chacha20poly1305.NonceSizeX
	headerV2 = 1 + 4 + 2 + chacha20poly1305.NonceSizeX

	// MinSize is the size of the smallest envelope that can open: a
	// version 1 envelope of an empty plaintext.
	MinSize = headerV1 + chacha20poly1305.Overhead
	// Overhead is what Seal adds to a plaintext.
	Overhead = headerV2 + chacha20poly1305.Overhead

	// KeySize is the size of a data key.
	KeySize = chacha20poly1305.KeySize

	adPrefix = "boxstorm/rec/v1"
)

// ErrCorrupt means an envelope did not open: too short, an unknown version
// or key id, or it failed authentication. The store reports it as a
// CorruptionError naming the box and the record key.
var ErrCorrupt = errors.New("record envelope does not open")

// Error is why an envelope did not open. It wraps ErrCorrupt.
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

// Unwrap returns ErrCorrupt.
func (e *Error) Unwrap() error { return ErrCorrupt }

// A Sealer holds the data keys of one box, by key id, and seals under the
// current one.
type Sealer struct {
	box     string
	current uint32
	aeads   map[uint32]cipher.AEAD
}

// New returns a Sealer for box with the data keys keys (each KeySize bytes),
// sealing under key id current, which must be among them.
func New(box string, current uint32, keys map[uint32][]byte) (*Sealer, error) {
	s := &Sealer{box: box, current: current, aeads: make(map[uint32]cipher.AEAD, len(keys))}
	for id, k := range keys {
		a, err := chacha20poly1305.NewX(k)
		if err != nil {
			return nil, fmt.Errorf("box %s: data key %d: %w", box, id, err)
		}
		s.aeads[id] = a
	}
	if _, ok := s.aeads[current]; !ok {
		return nil, &Error{Reason: fmt.Sprintf("box %s: no data key for current key id %d", box, current)}
	}
	return s, nil
}

// Box is the box the Sealer seals for.
func (s *Sealer) Box() string { return s.box }

// Current is the key id Seal uses.
func (s *Sealer) Current() uint32 { return s.current }

// appendAD appends the associated data of a record to dst. A version 1
// envelope has no type id in it.
func appendAD(dst []byte, box, key string, keyID uint32, typeID uint16, version byte) []byte {
	dst = append(dst, adPrefix...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(box)))
	dst = append(dst, box...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(key)))
	dst = append(dst, key...)
	dst = binary.BigEndian.AppendUint32(dst, keyID)
	if version >= Version2 {
		dst = binary.BigEndian.AppendUint16(dst, typeID)
	}
	return append(dst, version)
}

// Seal seals plaintext as the value of record key, of type typeID, under
// the current data key with a random nonce, as a version 2 envelope.
func (s *Sealer) Seal(key string, typeID uint16, plaintext []byte) []byte {
	out := make([]byte, headerV2, Overhead+len(plaintext))
	out[0] = Version2
	binary.BigEndian.PutUint32(out[1:5], s.current)
	binary.BigEndian.PutUint16(out[5:7], typeID)
	nonce := out[7:headerV2]
	if _, err := rand.Read(nonce); err != nil {
		panic("crypto/rand failed: " + err.Error()) // crypto/rand never fails on Linux
	}
	var adBuf [128]byte
	ad := appendAD(adBuf[:0], s.box, key, s.current, typeID, Version2)
	return s.aeads[s.current].Seal(out, nonce, plaintext, ad)
}

// Open authenticates and decrypts the sealed value of record key, appending
// the plaintext to dst, and returns the record's type id (0 for a version 1
// envelope). Any change to sealed, or a box, key or key id other than the
// ones it was sealed for, fails with an *Error.
func (s *Sealer) Open(dst []byte, key string, sealed []byte) ([]byte, uint16, error) {
	if len(sealed) < MinSize {
		return nil, 0, &Error{Reason: fmt.Sprintf("sealed value is %d bytes, shorter than the %d-byte envelope", len(sealed), MinSize)}
	}
	var header int
	var typeID uint16
	switch sealed[0] {
	case Version1:
		header = headerV1
	case Version2:
		if len(sealed) < headerV2+chacha20poly1305.Overhead {
			return nil, 0, &Error{Reason: fmt.Sprintf("sealed value is %d bytes, shorter than the %d-byte version 2 envelope", len(sealed), headerV2+chacha20poly1305.Overhead)}
		}
		header = headerV2
		typeID = binary.BigEndian.Uint16(sealed[5:7])
	default:
		return nil, 0, &Error{Reason: fmt.Sprintf("unknown envelope version %d", sealed[0])}
	}
	id := binary.BigEndian.Uint32(sealed[1:5])
	a, ok := s.aeads[id]
	if !ok {
		return nil, 0, &Error{Reason: fmt.Sprintf("record names unknown key id %d", id)}
	}
	var adBuf [128]byte
	ad := appendAD(adBuf[:0], s.box, key, id, typeID, sealed[0])
	pt, err := a.Open(dst, sealed[header-chacha20poly1305.NonceSizeX:header], sealed[header:], ad)
	if err != nil {
		return nil, 0, &Error{Reason: "authentication failed (record altered, moved or renamed)"}
	}
	return pt, typeID, nil
}

// DeriveKey derives the subkey named label from a 32-byte key:
// HMAC-SHA256(key, "boxstorm/derive/v1/" + label). The store derives its
// transaction-marker MAC keys ("txn-mac"), its keyed hashes ("idempotency",
// "subject") and its backup key ("backup") this way.
func DeriveKey(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("boxstorm/derive/v1/" + label))
	return m.Sum(nil)
}
