package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/boxstorm/boxstorm/internal/fileio"
)

// MasterKeySize is the length of a master key in bytes.
const MasterKeySize = 32

// A KeySource yields the 32-byte master key. Its String method names the
// source (a file path, a variable name) for error messages and never shows
// key material.
type KeySource interface {
	String() string
	masterKey(kr *keyringFile) ([]byte, error)
}

type keyFile string

// KeyFile reads the master key from a key file: 64 hexadecimal digits and an
// optional trailing newline (see docs/store-format.md). The file is refused
// unless its mode is 0600 or stricter, because a key readable by others is
// no longer secret.
func KeyFile(path string) KeySource { return keyFile(path) }

func (k keyFile) String() string { return fmt.Sprintf("key file %s", string(k)) }

func (k keyFile) masterKey(*keyringFile) ([]byte, error) {
	key, err := ReadKeyFile(string(k))
	if err != nil {
		return nil, err
	}
	return key, nil
}

// ReadKeyFile reads and checks a key file. See KeyFile.
func ReadKeyFile(path string) ([]byte, error) {
	// Check the type before opening: opening a FIFO would block.
	if st, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("key file %s: %w; hint: create one with `storectl keygen %s`", path, err, path)
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file: %w", path, ErrBadKey)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file: %w", path, ErrBadKey)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o, which lets other users read it: %w; hint: chmod 600 %s", path, perm, ErrBadKey, path)
	}
	// A key file is 65 bytes; read a little more so a longer file is refused
	// whole rather than judged by its start.
	buf, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if len(buf) == 0 {
		return nil, fmt.Errorf("key file %s is empty: %w; hint: create one with `storectl keygen`", path, ErrBadKey)
	}
	key, err := ParseKey(buf)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}

// ParseKey decodes a master key written as 64 hexadecimal digits, with
// surrounding whitespace allowed. The error never contains the input.
func ParseKey(text []byte) ([]byte, error) {
	t := bytes.TrimSpace(text)
	if len(t) != 2*MasterKeySize {
		return nil, fmt.Errorf("want %d hexadecimal digits, got %d characters: %w; hint: generate a key with `storectl keygen FILE`", 2*MasterKeySize, len(t), ErrBadKey)
	}
	key := make([]byte, MasterKeySize)
	if _, err := hex.Decode(key, t); err != nil {
		return nil, fmt.Errorf("not hexadecimal: %w; hint: generate a key with `storectl keygen FILE`", ErrBadKey)
	}
	return key, nil
}

// FormatKey renders a master key as it is stored in a key file.
func FormatKey(key []byte) []byte {
	out := make([]byte, hex.EncodedLen(len(key))+1)
	hex.Encode(out, key)
	out[len(out)-1] = '\n'
	return out
}

// WriteKeyFile creates a new key file with mode 0600. It refuses to
// overwrite an existing file, so a key is never lost by mistake.
func WriteKeyFile(path string, key []byte) error {
	if len(key) != MasterKeySize {
		return fmt.Errorf("key is %d bytes, want %d: %w", len(key), MasterKeySize, ErrBadKey)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("key file %s already exists; hint: pick a new path, old keys are never overwritten: %w", path, err)
		}
		return fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.Write(FormatKey(key)); err != nil {
		f.Close()
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close key file %s: %w", path, err)
	}
	return fileio.SyncDir(filepath.Dir(path))
}

// NewKey returns a fresh random master key.
func NewKey() []byte {
	k := make([]byte, MasterKeySize)
	if _, err := rand.Read(k); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return k
}

type keyEnv string

// KeyEnv reads the master key, as 64 hexadecimal digits, from the named
// environment variable.
func KeyEnv(name string) KeySource { return keyEnv(name) }

func (k keyEnv) String() string { return fmt.Sprintf("environment variable %s", string(k)) }

func (k keyEnv) masterKey(*keyringFile) ([]byte, error) {
	v, ok := os.LookupEnv(string(k))
	if !ok || v == "" {
		return nil, fmt.Errorf("environment variable %s is not set: %w", string(k), ErrBadKey)
	}
	key, err := ParseKey([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("environment variable %s: %w", string(k), err)
	}
	return key, nil
}

type keyBytes []byte

// KeyBytes uses the given 32 bytes as the master key. It is meant for
// programs that fetch the key from their own secure storage.
func KeyBytes(b []byte) KeySource { return keyBytes(bytes.Clone(b)) }

func (k keyBytes) String() string { return "key given by the caller" }

func (k keyBytes) masterKey(*keyringFile) ([]byte, error) {
	if len(k) != MasterKeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d: %w", len(k), MasterKeySize, ErrBadKey)
	}
	return bytes.Clone(k), nil
}

type passphrase string

// Passphrase stretches a passphrase into the master key with argon2id, using
// the salt and parameters recorded in the store's keyring.
func Passphrase(p string) KeySource { return passphrase(p) }

func (p passphrase) String() string { return "passphrase" }

func (p passphrase) masterKey(kr *keyringFile) ([]byte, error) {
	if len(p) < 8 {
		return nil, fmt.Errorf("passphrase is %d characters, want at least 8: %w", len(p), ErrBadKey)
	}
	return kr.KDF.derive(string(p))
}

// kdfParams are the argon2id parameters for Passphrase.
type kdfParams struct {
	Name    string `json:"name"`
	Salt    string `json:"salt"`
	Time    uint32 `json:"time"`
	Memory  uint32 `json:"memory_kib"`
	Threads uint8  `json:"threads"`
}

func newKDFParams() kdfParams {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	// RFC 9106's second recommended option, with threads matched to small machines.
	return kdfParams{Name: "argon2id", Salt: base64.StdEncoding.EncodeToString(salt), Time: 3, Memory: 64 * 1024, Threads: 2}
}

func (p kdfParams) derive(pass string) ([]byte, error) {
	salt, err := base64.StdEncoding.DecodeString(p.Salt)
	if p.Name != "argon2id" || err != nil || len(salt) < 16 || p.Time == 0 || p.Memory < 8*1024 || p.Threads == 0 {
		return nil, fmt.Errorf("keyring: unusable argon2id parameters: %w", ErrCorrupt)
	}
	return argon2.IDKey([]byte(pass), salt, p.Time, p.Memory, p.Threads, MasterKeySize), nil
}

// keyringFile is keyring.json: the key-check value and the wrapped data keys.
type keyringFile struct {
	Version  int       `json:"version"`
	StoreID  string    `json:"store_id"`
	Cipher   string    `json:"cipher"`
	KDF      kdfParams `json:"kdf"`
	KeyCheck string    `json:"key_check"`
	// HashKey keys the hashes that stand for idempotency keys and privacy
	// subjects. It is wrapped under the master key and survives rotations,
	// so those hashes never change.
	HashKey  string                 `json:"hash_key"`
	Boxes    map[string]*wrappedBox `json:"boxes"`
	Rotation *rotationState         `json:"rotation,omitempty"`
}

const hashKeyBox = "#hash" // the name HashKey is wrapped under

type wrappedBox struct {
	Current uint32            `json:"current"`
	Keys    map[string]string `json:"keys"` // key id (decimal) -> base64 wrapped data key
}

const (
	keyringName    = "keyring.json"
	keyringVersion = 1
	cipherName     = "xchacha20poly1305"
)

// keyCheck is HMAC-SHA256(master, label): it identifies the key without
// revealing anything usable about it.
func keyCheck(master []byte) string {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("boxstorm/key-check/v1"))
	return base64.StdEncoding.EncodeToString(m.Sum(nil)[:16])
}

func wrapAD(box string, id uint32) []byte {
	return []byte("boxstorm/wrap/v1\x00" + box + "\x00" + strconv.FormatUint(uint64(id), 10))
}

func wrapKey(master []byte, box string, id uint32, dataKey []byte) string {
	a, _ := chacha20poly1305.NewX(master)
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(a.Seal(nonce, nonce, dataKey, wrapAD(box, id)))
}

func unwrapKey(master []byte, box string, id uint32, wrapped string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(wrapped)
	a, _ := chacha20poly1305.NewX(master)
	if err != nil || len(raw) < a.NonceSize()+a.Overhead() {
		return nil, fmt.Errorf("keyring: data key %d of box %s is malformed: %w", id, box, ErrCorrupt)
	}
	dk, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], wrapAD(box, id))
	if err != nil {
		return nil, fmt.Errorf("keyring: data key %d of box %s fails authentication: %w", id, box, ErrCorrupt)
	}
	return dk, nil
}

// keyringCache keeps the last keyring.json decoded, by its exact bytes
// (the decode depends on nothing else); readKeyring hands out deep copies.
// It holds no secret: data keys in the keyring are wrapped.
var keyringCache struct {
	sync.Mutex
	raw []byte
	kr  keyringFile
}

// clone returns a deep copy of kr.
func (kr *keyringFile) clone() *keyringFile {
	c := *kr
	c.Boxes = make(map[string]*wrappedBox, len(kr.Boxes))
	for n, wb := range kr.Boxes {
		w := *wb
		w.Keys = maps.Clone(wb.Keys)
		c.Boxes[n] = &w
	}
	if kr.Rotation != nil {
		r := *kr.Rotation
		r.Boxes = maps.Clone(kr.Rotation.Boxes)
		c.Rotation = &r
	}
	return &c
}

func readKeyring(dir string) (*keyringFile, error) {
	path := filepath.Join(dir, keyringName)
	b, err := fileio.ReadFile(path)
	if err != nil {
		return nil, err
	}
	keyringCache.Lock()
	if keyringCache.raw != nil && bytes.Equal(keyringCache.raw, b) {
		kr := keyringCache.kr.clone()
		keyringCache.Unlock()
		return kr, nil
	}
	keyringCache.Unlock()
	var kr keyringFile
	if err := json.Unmarshal(b, &kr); err != nil {
		return nil, fmt.Errorf("%s: %v: %w", path, err, ErrCorrupt)
	}
	if kr.Version != keyringVersion {
		return nil, fmt.Errorf("%s: version %d, this build reads version %d: %w", path, kr.Version, keyringVersion, ErrCorrupt)
	}
	if kr.Cipher != cipherName || kr.KeyCheck == "" || kr.StoreID == "" {
		return nil, fmt.Errorf("%s: missing cipher, key check or store id: %w", path, ErrCorrupt)
	}
	if kr.Boxes == nil {
		kr.Boxes = map[string]*wrappedBox{}
	}
	keyringCache.Lock()
	keyringCache.raw, keyringCache.kr = b, *kr.clone()
	keyringCache.Unlock()
	return &kr, nil
}

func (kr *keyringFile) write(dir string) error {
	b, err := json.MarshalIndent(kr, "", "  ")
	if err != nil {
		return fmt.Errorf("encode keyring: %w", err)
	}
	return fileio.WriteFileAtomic(filepath.Join(dir, keyringName), append(b, '\n'), 0o600)
}

// checkMaster compares a candidate master key with the key-check value in
// constant time.
func (kr *keyringFile) checkMaster(master []byte) bool {
	return subtle.ConstantTimeCompare([]byte(keyCheck(master)), []byte(kr.KeyCheck)) == 1
}

// boxKeys unwraps every data key of box, creating the first one if the box
// is new (and reporting that the keyring must be written).
func (kr *keyringFile) boxKeys(master []byte, box string) (current uint32, keys map[uint32][]byte, created bool, err error) {
	wb, ok := kr.Boxes[box]
	if !ok {
		dk := NewKey()
		wb = &wrappedBox{Current: 1, Keys: map[string]string{"1": wrapKey(master, box, 1, dk)}}
		kr.Boxes[box] = wb
		return 1, map[uint32][]byte{1: dk}, true, nil
	}
	keys = make(map[uint32][]byte, len(wb.Keys))
	for s, w := range wb.Keys {
		id, perr := strconv.ParseUint(s, 10, 32)
		if perr != nil {
			return 0, nil, false, fmt.Errorf("keyring: box %s has key id %q: %w", box, s, ErrCorrupt)
		}
		dk, uerr := unwrapKey(master, box, uint32(id), w)
		if uerr != nil {
			return 0, nil, false, uerr
		}
		keys[uint32(id)] = dk
	}
	return wb.Current, keys, false, nil
}
