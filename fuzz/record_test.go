package fuzz_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/boxstorm/boxstorm/fuzz/internal/inputs"
	"github.com/boxstorm/boxstorm/internal/envelope"
	"github.com/boxstorm/boxstorm/store"
)

// FuzzRecordOpen opens arbitrary bytes as the sealed value of a record,
// through the store's record envelope (internal/envelope). Opening never
// panics, fails only with envelope.ErrCorrupt, and is not malleable, after
// age's FuzzMalleability: a record that opens must be exactly the bytes that
// sealing its plaintext again, with its nonce, key id and type id and under
// the docs/store-format.md envelope rebuilt here independently, gives. So
// every change to a valid record (the seeds are valid records) fails, and a
// record opens for no other box or key than its own. The corpus holds
// version 1 records, which stores written before type ids hold, and the
// seed below is version 2.
func FuzzRecordOpen(f *testing.F) {
	key := inputs.RecordKey()
	f.Add(store.BoxPending, "op/1", sealRecord(f, key, store.BoxPending, "op/1", []byte("payload")))
	f.Fuzz(func(t *testing.T, box, rkey string, sealed []byte) {
		pt, typeID, err := recordSealer(t, key, box).Open(nil, rkey, sealed)
		if err != nil {
			if !errors.Is(err, envelope.ErrCorrupt) {
				t.Fatalf("Open: %v, want an ErrCorrupt", err)
			}
			return
		}
		if want := canonicalEnvelope(t, key, box, rkey, sealed, pt); !bytes.Equal(sealed, want) {
			t.Fatalf("record opened but is not the canonical sealing of its plaintext:\n got %x\nwant %x", sealed, want)
		}
		if sealed[0] == envelope.Version1 && typeID != 0 {
			t.Fatalf("a version 1 record has type id %d", typeID)
		}
		if _, _, err := recordSealer(t, key, box+"x").Open(nil, rkey, sealed); err == nil {
			t.Fatalf("record of box %q opens in box %q", box, box+"x")
		}
		if _, _, err := recordSealer(t, key, box).Open(nil, rkey+"x", sealed); err == nil {
			t.Fatalf("record of key %q opens under key %q", rkey, rkey+"x")
		}
	})
}

// recordSealer is the envelope sealer of box with dataKey as key id 1.
func recordSealer(tb testing.TB, dataKey []byte, box string) *envelope.Sealer {
	tb.Helper()
	s, err := envelope.New(box, 1, map[uint32][]byte{1: dataKey})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// sealRecord seals pt as the store seals the value of record key in box:
// with the type id the store's registry gives it.
func sealRecord(tb testing.TB, dataKey []byte, box, key string, pt []byte) []byte {
	tb.Helper()
	types, err := store.NewRegistry()
	if err != nil {
		tb.Fatal(err)
	}
	return recordSealer(tb, dataKey, box).Seal(key, uint16(types.TypeOf(box, key)), pt)
}

// canonicalEnvelope seals pt as docs/store-format.md specifies, in the
// version of sealed and with its key id, type id and nonce.
func canonicalEnvelope(t *testing.T, dataKey []byte, box, key string, sealed, pt []byte) []byte {
	t.Helper()
	header := 29
	if sealed[0] == 2 {
		header = 31
	}
	if len(sealed) < header {
		t.Fatalf("a %d-byte record of version %d opened", len(sealed), sealed[0])
	}
	keyID := binary.BigEndian.Uint32(sealed[1:5])
	ad := []byte("boxstorm/rec/v1")
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(box)))
	ad = append(ad, box...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(key)))
	ad = append(ad, key...)
	ad = binary.BigEndian.AppendUint32(ad, keyID)
	if sealed[0] == 2 {
		ad = append(ad, sealed[5:7]...) // the type id
	}
	ad = append(ad, sealed[0])
	a, err := chacha20poly1305.NewX(dataKey)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte{}, sealed[:header]...)
	return a.Seal(out, sealed[header-24:header], pt, ad)
}

// TestRecordBitFlips checks every single-bit change, truncation and
// extension of a valid record, which the fuzzer only samples.
func TestRecordBitFlips(t *testing.T) {
	key := inputs.RecordKey()
	sealed := sealRecord(t, key, store.BoxPending, "op/1", []byte("a short payload"))
	pending := recordSealer(t, key, store.BoxPending)
	if pt, typeID, err := pending.Open(nil, "op/1", sealed); err != nil || string(pt) != "a short payload" || typeID != 11 {
		t.Fatalf("round trip: %q, type id %d, %v; want type id 11 (PendingOp)", pt, typeID, err)
	}
	try := func(what string, b []byte) {
		if _, _, err := pending.Open(nil, "op/1", b); !errors.Is(err, envelope.ErrCorrupt) {
			t.Errorf("%s: Open error %v, want ErrCorrupt", what, err)
		}
	}
	for i := range sealed {
		for bit := range 8 {
			b := bytes.Clone(sealed)
			b[i] ^= 1 << bit
			try("flip", b)
		}
	}
	for n := range sealed {
		try("cut", sealed[:n])
	}
	try("extended", append(bytes.Clone(sealed), 0))
	for _, other := range []struct{ box, key string }{{store.BoxFailed, "op/1"}, {store.BoxPending, "op/2"}, {store.BoxPending, "op/1\x00"}} {
		if _, _, err := recordSealer(t, key, other.box).Open(nil, other.key, sealed); !errors.Is(err, envelope.ErrCorrupt) {
			t.Errorf("record moved to %s/%q: error %v, want ErrCorrupt", other.box, other.key, err)
		}
	}
	if _, err := envelope.New(store.BoxPending, 1, map[uint32][]byte{1: key[:31]}); err == nil {
		t.Errorf("a sealer with a 31-byte key: no error")
	}
}
