package fuzz_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/boxstorm/boxstorm/fuzz/internal/inputs"
	"github.com/boxstorm/boxstorm/store"
)

// FuzzRecordOpen opens arbitrary bytes as the sealed value of a record.
// Opening never panics, fails only with ErrCorrupt, and is not malleable,
// after age's FuzzMalleability: a record that opens must be exactly the
// bytes that sealing its plaintext again, with its nonce and under the
// docs/store-format.md envelope rebuilt here independently, gives. So every
// change to a valid record (the seeds are valid records) fails, and a record
// opens for no other box or key than its own.
func FuzzRecordOpen(f *testing.F) {
	key := inputs.RecordKey()
	sealed, err := store.SealRecord(key, store.BoxPending, "op/1", []byte("payload"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(store.BoxPending, "op/1", sealed)
	f.Fuzz(func(t *testing.T, box, rkey string, sealed []byte) {
		pt, err := store.OpenRecord(key, box, rkey, sealed)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("OpenRecord: %v, want an ErrCorrupt", err)
			}
			var ce *store.CorruptionError
			if !errors.As(err, &ce) || ce.Box != box {
				t.Fatalf("OpenRecord: %v does not name box %q", err, box)
			}
			return
		}
		if want := envelope(t, key, box, rkey, sealed, pt); !bytes.Equal(sealed, want) {
			t.Fatalf("record opened but is not the canonical sealing of its plaintext:\n got %x\nwant %x", sealed, want)
		}
		if _, err := store.OpenRecord(key, box+"x", rkey, sealed); err == nil {
			t.Fatalf("record of box %q opens in box %q", box, box+"x")
		}
		if _, err := store.OpenRecord(key, box, rkey+"x", sealed); err == nil {
			t.Fatalf("record of key %q opens under key %q", rkey, rkey+"x")
		}
	})
}

// envelope seals pt as docs/store-format.md specifies, with the key id and
// nonce of sealed.
func envelope(t *testing.T, dataKey []byte, box, key string, sealed, pt []byte) []byte {
	t.Helper()
	if len(sealed) < 29 {
		t.Fatalf("a %d-byte record opened", len(sealed))
	}
	keyID := binary.BigEndian.Uint32(sealed[1:5])
	ad := []byte("boxstorm/rec/v1")
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(box)))
	ad = append(ad, box...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(key)))
	ad = append(ad, key...)
	ad = binary.BigEndian.AppendUint32(ad, keyID)
	ad = append(ad, 1)
	a, err := chacha20poly1305.NewX(dataKey)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte{1}, sealed[1:29]...)
	return a.Seal(out, sealed[5:29], pt, ad)
}

// TestRecordBitFlips checks every single-bit change, truncation and
// extension of a valid record, which the fuzzer only samples.
func TestRecordBitFlips(t *testing.T) {
	key := inputs.RecordKey()
	sealed, err := store.SealRecord(key, store.BoxPending, "op/1", []byte("a short payload"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := store.OpenRecord(key, store.BoxPending, "op/1", sealed); err != nil || string(pt) != "a short payload" {
		t.Fatalf("round trip: %q, %v", pt, err)
	}
	try := func(what string, b []byte) {
		if _, err := store.OpenRecord(key, store.BoxPending, "op/1", b); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("%s: OpenRecord error %v, want ErrCorrupt", what, err)
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
		if _, err := store.OpenRecord(key, other.box, other.key, sealed); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("record moved to %s/%q: error %v, want ErrCorrupt", other.box, other.key, err)
		}
	}
	if _, err := store.SealRecord(key[:31], store.BoxPending, "k", nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SealRecord with a 31-byte key: %v, want ErrInvalid", err)
	}
}
