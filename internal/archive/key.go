package archive

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"

	"github.com/boxstorm/boxstorm/internal/envelope"
)

// KeySize is the length of a backup key in bytes.
const KeySize = 32

// HKDF info strings. Changing either makes every existing backup unreadable.
const (
	x25519Info = "boxstorm backup x25519 identity v1"
	keyIDInfo  = "boxstorm backup key id v1"
)

// keyIDStanza is the type of the extra header stanza that carries the key id.
// age ignores stanzas it does not recognise, so the age CLI still decrypts
// archives that carry it.
const keyIDStanza = "boxstorm-key-id"

// Key is an age X25519 identity and recipient derived deterministically from
// a 32-byte backup key. The same backup key always gives the same Key, so the
// store only has to keep the backup key.
//
// A Key's recipient also writes a key-id stanza into the age header, and its
// identity reads it back. That lets Read tell a wrong key (ErrWrongKey)
// from a damaged X25519 stanza (ErrTampered), which age alone reports the
// same way.
type Key struct {
	id    *age.X25519Identity
	keyID string // hex, 16 bytes; public: it identifies the key, it does not reveal it
}

// NewKey derives a Key from a 32-byte backup key:
//
//	scalar = HKDF-SHA-256(secret = backupKey, salt = none, info = "boxstorm backup x25519 identity v1", 32 bytes)
//	key id = HKDF-SHA-256(secret = backupKey, salt = none, info = "boxstorm backup key id v1", 16 bytes)
//
// The scalar is an ordinary age X25519 secret key, so an operator who
// re-derives it can decrypt a backup with the age CLI.
func NewKey(backupKey []byte) (*Key, error) {
	if len(backupKey) != KeySize {
		return nil, fmt.Errorf("backup key is %d bytes, want %d", len(backupKey), KeySize)
	}
	scalar, err := hkdf.Key(sha256.New, backupKey, nil, x25519Info, 32)
	if err != nil {
		return nil, fmt.Errorf("deriving backup identity: %w", err)
	}
	// age exposes no constructor from a raw scalar, only its Bech32 text form.
	id, err := age.ParseX25519Identity(strings.ToUpper(bech32Encode("age-secret-key-", scalar)))
	clear(scalar)
	if err != nil {
		return nil, errors.New("deriving backup identity: age rejected the derived key")
	}
	kid, err := hkdf.Key(sha256.New, backupKey, nil, keyIDInfo, 16)
	if err != nil {
		return nil, fmt.Errorf("deriving backup key id: %w", err)
	}
	return &Key{id: id, keyID: hex.EncodeToString(kid)}, nil
}

// ForMaster derives the Key of the backups of a store whose master key is
// master: NewKey(HMAC-SHA256(master, "boxstorm/derive/v1/backup")), the
// derivation of docs/backup-format.md. The store and the fuzz targets both
// call it, so a target can read the backups of a store it made.
func ForMaster(master []byte) (*Key, error) {
	return NewKey(envelope.DeriveKey(master, "backup"))
}

// Recipient returns the age recipient to pass to Write.
func (k *Key) Recipient() age.Recipient { return &keyRecipient{k} }

// Identity returns the age identity to pass to Read.
func (k *Key) Identity() age.Identity { return &keyIdentity{k} }

// String names the key by its public key id and never prints key material.
func (k *Key) String() string { return "archive.Key(" + k.keyID + ")" }

// GoString is String, so %#v cannot print key material either.
func (k *Key) GoString() string { return k.String() }

type keyRecipient struct{ k *Key }

var _ age.Recipient = (*keyRecipient)(nil)

// Wrap wraps the file key for the X25519 recipient and appends the key-id
// stanza, which the header MAC then covers.
func (r *keyRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	s, err := r.k.id.Recipient().Wrap(fileKey)
	if err != nil {
		return nil, err
	}
	return append(s, &age.Stanza{Type: keyIDStanza, Args: []string{r.k.keyID}}), nil
}

type keyIdentity struct{ k *Key }

var _ age.Identity = (*keyIdentity)(nil)

// Unwrap decides between "wrong key" and "damaged header". A single flipped
// byte cannot break both the X25519 stanza and the key-id stanza, and a
// damaged key-id stanza with the right key is caught by the header MAC.
func (i *keyIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	fileKey, err := i.k.id.Unwrap(stanzas)
	if err == nil || !errors.Is(err, age.ErrIncorrectIdentity) {
		return fileKey, err
	}
	for _, s := range stanzas {
		if s.Type == keyIDStanza && len(s.Args) == 1 && s.Args[0] == i.k.keyID {
			// Not ErrIncorrectIdentity, so age returns it as is.
			return nil, tampered("the header names this key but its X25519 stanza does not open")
		}
	}
	return nil, err
}

// bech32Encode encodes data in Bech32 (BIP 173) with the human-readable part
// hrp. age keeps its encoder internal.
func bech32Encode(hrp string, data []byte) string {
	const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	values := make([]byte, 0, (len(data)*8+4)/5+6)
	acc, bits := 0, 0
	for _, b := range data {
		acc = (acc<<8 | int(b)) & 0xfff
		bits += 8
		for bits >= 5 {
			bits -= 5
			values = append(values, byte(acc>>bits)&31)
		}
	}
	if bits > 0 {
		values = append(values, byte(acc<<(5-bits))&31)
	}
	poly := []byte{}
	for i := 0; i < len(hrp); i++ {
		poly = append(poly, hrp[i]>>5)
	}
	poly = append(poly, 0)
	for i := 0; i < len(hrp); i++ {
		poly = append(poly, hrp[i]&31)
	}
	poly = append(poly, values...)
	poly = append(poly, 0, 0, 0, 0, 0, 0)
	mod := bech32Polymod(poly) ^ 1
	for i := range 6 {
		values = append(values, byte(mod>>(5*(5-i)))&31)
	}
	var sb strings.Builder
	sb.WriteString(hrp)
	sb.WriteByte('1')
	for _, v := range values {
		sb.WriteByte(charset[v])
	}
	return sb.String()
}

func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range 5 {
			if (top>>i)&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}
