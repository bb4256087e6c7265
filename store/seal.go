package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"

	"github.com/boxstorm/boxstorm/internal/envelope"
)

// sealer seals the records of one box through the record envelope
// (internal/envelope, docs/store-format.md), stamping each with the type id
// the registry gives its key, and holds the box's transaction-marker MAC
// keys, derived from the data keys.
type sealer struct {
	env     *envelope.Sealer
	box     string
	current uint32
	macKeys map[uint32][]byte
	typeOf  func(key string) TypeID
}

func newSealer(types *Registry, box string, current uint32, keys map[uint32][]byte) (*sealer, error) {
	env, err := envelope.New(box, current, keys)
	if err != nil {
		if errors.Is(err, envelope.ErrCorrupt) {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return nil, err
	}
	s := &sealer{env: env, box: box, current: current, macKeys: make(map[uint32][]byte, len(keys)), typeOf: types.typeResolver(box)}
	for id, k := range keys {
		s.macKeys[id] = envelope.DeriveKey(k, "txn-mac")
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

// seal encrypts plaintext for the record key under the current data key.
func (s *sealer) seal(key string, plaintext []byte) []byte {
	return s.env.Seal(key, uint16(s.typeOf(key)), plaintext)
}

// open authenticates and decrypts a sealed value stored under key.
func (s *sealer) open(key string, sealed []byte) ([]byte, error) {
	return s.openTo(nil, key, sealed)
}

// openTo is open, appending the plaintext to dst.
func (s *sealer) openTo(dst []byte, key string, sealed []byte) ([]byte, error) {
	pt, _, err := s.openTyped(dst, key, sealed)
	return pt, err
}

// openTyped is openTo that also returns the record's type id (0 for a record
// sealed before type ids, envelope version 1).
func (s *sealer) openTyped(dst []byte, key string, sealed []byte) ([]byte, TypeID, error) {
	pt, id, err := s.env.Open(dst, key, sealed)
	if err != nil {
		return nil, 0, &CorruptionError{Box: s.box, Offset: -1, Key: printableKey(key), Reason: err.Error()}
	}
	return pt, TypeID(id), nil
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
