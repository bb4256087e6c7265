package store

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// Record envelope, version 1 (docs/store-format.md):
//
//	[0]      format version (1)
//	[1:5]    key id, big endian
//	[5:29]   XChaCha20-Poly1305 nonce
//	[29:]    ciphertext || 16-byte tag
//
// The associated data binds the box, the record key, the key id and the
// format version, so a record copied to another key or box fails to open.
const (
	envelopeVersion  = 1
	envelopeHeader   = 1 + 4 + chacha20poly1305.NonceSizeX
	envelopeOverhead = envelopeHeader + chacha20poly1305.Overhead
	adPrefix         = "boxstorm/rec/v1"
)

// sealer holds the data keys of one box, by key id.
type sealer struct {
	box     string
	current uint32
	aeads   map[uint32]cipher.AEAD
	macKeys map[uint32][]byte // transaction-marker MAC keys, derived from the data keys
}

func newSealer(box string, current uint32, keys map[uint32][]byte) (*sealer, error) {
	s := &sealer{box: box, current: current, aeads: make(map[uint32]cipher.AEAD, len(keys)), macKeys: make(map[uint32][]byte, len(keys))}
	for id, k := range keys {
		s.macKeys[id] = deriveKey(k, "txn-mac")
		a, err := chacha20poly1305.NewX(k)
		if err != nil {
			return nil, fmt.Errorf("box %s: data key %d: %w", box, id, err)
		}
		s.aeads[id] = a
	}
	if _, ok := s.aeads[current]; !ok {
		return nil, fmt.Errorf("box %s: no data key for current key id %d: %w", box, current, ErrCorrupt)
	}
	return s, nil
}

// newMAC returns a fresh HMAC for the marker key of key id, nil if unknown.
func (s *sealer) newMAC(id uint32) hash.Hash {
	k, ok := s.macKeys[id]
	if !ok {
		return nil
	}
	return hmac.New(sha256.New, k)
}

// appendAD appends the associated data for (box, key, keyID) to dst.
func appendAD(dst []byte, box, key string, keyID uint32) []byte {
	dst = append(dst, adPrefix...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(box)))
	dst = append(dst, box...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(key)))
	dst = append(dst, key...)
	dst = binary.BigEndian.AppendUint32(dst, keyID)
	return append(dst, envelopeVersion)
}

// seal encrypts plaintext for the record key under the current data key.
func (s *sealer) seal(key string, plaintext []byte) []byte {
	out := make([]byte, envelopeHeader, envelopeOverhead+len(plaintext))
	out[0] = envelopeVersion
	binary.BigEndian.PutUint32(out[1:5], s.current)
	nonce := out[5:envelopeHeader]
	if _, err := rand.Read(nonce); err != nil {
		panic("crypto/rand failed: " + err.Error()) // crypto/rand never fails on Linux
	}
	var adBuf [128]byte
	ad := appendAD(adBuf[:0], s.box, key, s.current)
	return s.aeads[s.current].Seal(out, nonce, plaintext, ad)
}

// open authenticates and decrypts a sealed value stored under key.
func (s *sealer) open(key string, sealed []byte) ([]byte, error) {
	return s.openTo(nil, key, sealed)
}

// openTo is open, appending the plaintext to dst.
func (s *sealer) openTo(dst []byte, key string, sealed []byte) ([]byte, error) {
	if len(sealed) < envelopeOverhead {
		return nil, &CorruptionError{Box: s.box, Offset: -1, Key: printableKey(key), Reason: fmt.Sprintf("sealed value is %d bytes, shorter than the %d-byte envelope", len(sealed), envelopeOverhead)}
	}
	if sealed[0] != envelopeVersion {
		return nil, &CorruptionError{Box: s.box, Offset: -1, Key: printableKey(key), Reason: fmt.Sprintf("unknown envelope version %d", sealed[0])}
	}
	id := binary.BigEndian.Uint32(sealed[1:5])
	a, ok := s.aeads[id]
	if !ok {
		return nil, &CorruptionError{Box: s.box, Offset: -1, Key: printableKey(key), Reason: fmt.Sprintf("record names unknown key id %d", id)}
	}
	var adBuf [128]byte
	ad := appendAD(adBuf[:0], s.box, key, id)
	pt, err := a.Open(dst, sealed[5:envelopeHeader], sealed[envelopeHeader:], ad)
	if err != nil {
		return nil, &CorruptionError{Box: s.box, Offset: -1, Key: printableKey(key), Reason: "authentication failed (record altered, moved or renamed)"}
	}
	return pt, nil
}

// printableKey renders a record key for an error message. Record keys carry
// no personal data by construction, but internal keys may hold control bytes.
func printableKey(k string) string {
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return fmt.Sprintf("%x", k)
		}
	}
	return k
}
