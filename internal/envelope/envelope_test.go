package envelope_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/boxstorm/boxstorm/internal/envelope"
)

var dataKey = bytes.Repeat([]byte{7}, envelope.KeySize)

func sealer(t *testing.T, box string) *envelope.Sealer {
	t.Helper()
	s, err := envelope.New(box, 1, map[uint32][]byte{1: dataKey})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sealV1 builds a version 1 envelope by hand, as stores written before type
// ids hold them (docs/store-format.md).
func sealV1(t *testing.T, box, key string, pt []byte) []byte {
	t.Helper()
	ad := []byte("boxstorm/rec/v1")
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(box)))
	ad = append(ad, box...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(key)))
	ad = append(ad, key...)
	ad = binary.BigEndian.AppendUint32(ad, 1)
	ad = append(ad, 1)
	a, err := chacha20poly1305.NewX(dataKey)
	if err != nil {
		t.Fatal(err)
	}
	out := []byte{1, 0, 0, 0, 1}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(nonce)
	out = append(out, nonce...)
	return a.Seal(out, nonce, pt, ad)
}

func TestOpen_Version1HasTypeZero(t *testing.T) {
	sealed := sealV1(t, "pending_ops", "op/1", []byte("old"))
	pt, typeID, err := sealer(t, "pending_ops").Open(nil, "op/1", sealed)
	if err != nil || string(pt) != "old" || typeID != 0 {
		t.Fatalf("version 1 record: %q, type id %d, %v; want \"old\", 0, nil", pt, typeID, err)
	}
}

func TestSeal_Version2CarriesAndBindsTypeID(t *testing.T) {
	s := sealer(t, "pending_ops")
	sealed := s.Seal("op/1", 11, []byte("new"))
	if sealed[0] != envelope.Version2 || binary.BigEndian.Uint16(sealed[5:7]) != 11 {
		t.Fatalf("header %x: want version 2 and type id 11", sealed[:7])
	}
	if got, want := len(sealed), envelope.Overhead+3; got != want {
		t.Errorf("sealed %d bytes, want %d", got, want)
	}
	pt, typeID, err := s.Open(nil, "op/1", sealed)
	if err != nil || string(pt) != "new" || typeID != 11 {
		t.Fatalf("open: %q, %d, %v", pt, typeID, err)
	}
	for name, b := range map[string][]byte{
		"type id changed":     append(append(bytes.Clone(sealed[:5]), 0, 12), sealed[7:]...),
		"version 1 reading":   append([]byte{1}, sealed[1:]...),
		"unknown version":     append([]byte{3}, sealed[1:]...),
		"cut to the v1 floor": sealed[:envelope.MinSize],
	} {
		if _, _, err := s.Open(nil, "op/1", b); !errors.Is(err, envelope.ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
	if _, _, err := sealer(t, "failed_ops").Open(nil, "op/1", sealed); !errors.Is(err, envelope.ErrCorrupt) {
		t.Errorf("moved to another box: %v", err)
	}
}

func TestDeriveKey(t *testing.T) {
	a, b := envelope.DeriveKey(dataKey, "backup"), envelope.DeriveKey(dataKey, "txn-mac")
	if len(a) != 32 || bytes.Equal(a, b) || !bytes.Equal(a, envelope.DeriveKey(dataKey, "backup")) {
		t.Fatalf("DeriveKey is not a deterministic per-label 32-byte key")
	}
}
