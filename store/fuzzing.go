package store

// The record-envelope API for tools and fuzzing: thin exported wrappers over
// the sealer and the backup key, so that code outside the package (the fuzz
// targets in fuzz/, their corpus generator, inspection tools) can make and
// check the exact bytes the store writes without reimplementing them.

import (
	"fmt"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// recordKeyID is the key id SealRecord and OpenRecord give the data key.
const recordKeyID = 1

func recordSealer(dataKey []byte, box string) (*sealer, error) {
	if len(dataKey) != chacha20poly1305.KeySize {
		return nil, fmt.Errorf("data key is %d bytes, want %d: %w", len(dataKey), chacha20poly1305.KeySize, ErrInvalid)
	}
	return newSealer(box, recordKeyID, map[uint32][]byte{recordKeyID: dataKey})
}

// SealRecord seals plaintext as the store seals the value of record key in
// box: the record envelope of docs/store-format.md, under dataKey (32 bytes)
// as key id 1, with a random nonce.
//
// It is part of the record-envelope API for tools and fuzzing; the store
// itself never needs it.
func SealRecord(dataKey []byte, box, key string, plaintext []byte) ([]byte, error) {
	s, err := recordSealer(dataKey, box)
	if err != nil {
		return nil, fmt.Errorf("seal record: %w", err)
	}
	return s.seal(key, plaintext), nil
}

// OpenRecord authenticates and decrypts a sealed value of record key in box,
// as the store does when it reads one, with dataKey (32 bytes) as key id 1.
// Any change to sealed, or a box, key or key id other than the ones it was
// sealed for, fails with a *CorruptionError (errors.Is(err, ErrCorrupt)).
//
// It is part of the record-envelope API for tools and fuzzing.
func OpenRecord(dataKey []byte, box, key string, sealed []byte) ([]byte, error) {
	s, err := recordSealer(dataKey, box)
	if err != nil {
		return nil, fmt.Errorf("open record: %w", err)
	}
	return s.open(key, sealed)
}

// BackupRecipient returns the age recipient the store encrypts its backups
// to. An archive encrypted to it passes Restore's key check, so tools and
// fuzz targets can hand Restore archives they built themselves.
//
// It is part of the record-envelope API for tools and fuzzing.
func (s *Store) BackupRecipient() age.Recipient {
	k, err := s.ownBackupKey()
	if err != nil {
		// backupKey fails only for a key that is not 32 bytes, and Open
		// never accepts one.
		panic("store: backup key: " + err.Error())
	}
	return k.Recipient()
}

// BackupIdentity returns the age identity that decrypts the store's backups,
// for tools that inspect a backup's tar stream. It carries secret key
// material: whoever holds it can read every backup of the store, as whoever
// holds the master key can.
//
// It is part of the record-envelope API for tools and fuzzing.
func (s *Store) BackupIdentity() age.Identity {
	k, err := s.ownBackupKey()
	if err != nil {
		panic("store: backup key: " + err.Error())
	}
	return k.Identity()
}
