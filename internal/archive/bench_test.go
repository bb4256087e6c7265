package archive_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"

	"github.com/boxstorm/boxstorm/internal/archive"
)

// benchRecords is the size of the benchmark's box: the store's target of a
// million records.
const benchRecords = 1_000_000

// BenchmarkArchive measures a backup of one box of a million records and its
// restore, each beside its baseline, age alone over the same number of
// bytes, so the ratio means something on a noisy machine. Run it with
//
//	go test ./internal/archive/ -run '^$' -bench Archive -benchtime 1x
//
// MB/s counts dump bytes: the archive's plaintext less the tar framing.
func BenchmarkArchive(b *testing.B) {
	keys := make([]string, benchRecords)
	for i := range keys {
		keys[i] = fmt.Sprintf("op:%010d", i)
	}
	key := testKey(b, 1)
	for _, size := range []int{256, 350} {
		rng := rand.New(rand.NewPCG(uint64(size), 1))
		var values [64]string
		for i := range values {
			v := make([]byte, size)
			for j := range v {
				v[j] = byte(rng.Uint32())
			}
			values[i] = string(v)
		}
		box := archive.Box{Name: "pending_ops", Records: func(yield func(k, v string) bool) error {
			for i, k := range keys {
				if !yield(k, values[i%len(values)]) {
					return nil
				}
			}
			return nil
		}}
		dir := b.TempDir()
		path := filepath.Join(dir, "backup.age")
		var dumpBytes int64
		write := func(b *testing.B) {
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			m, err := archive.Write(context.Background(), f, key.Recipient(), testMeta(1), []archive.Box{box})
			if err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			dumpBytes = m.Boxes[0].Bytes
		}
		// Sub-benchmarks may be selected alone; the later ones need an archive.
		if ok := b.Run(fmt.Sprintf("write/1Mx%dB", size), func(b *testing.B) {
			for b.Loop() {
				write(b)
			}
			b.SetBytes(dumpBytes)
		}); !ok {
			return
		}
		if dumpBytes == 0 {
			write(b)
		}
		b.Run(fmt.Sprintf("baseline-age-encrypt/%dMB", dumpBytes>>20), func(b *testing.B) {
			chunk := bytes.Repeat([]byte{0x5a}, 256<<10)
			for b.Loop() {
				f, err := os.Create(filepath.Join(dir, "raw.age"))
				if err != nil {
					b.Fatal(err)
				}
				w, err := age.Encrypt(f, key.Recipient())
				if err != nil {
					b.Fatal(err)
				}
				for n := int64(0); n < dumpBytes; n += int64(len(chunk)) {
					if _, err := w.Write(chunk[:min(int64(len(chunk)), dumpBytes-n)]); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(dumpBytes)
		})
		b.Run(fmt.Sprintf("read/1Mx%dB", size), func(b *testing.B) {
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				count := func(archive.BoxMeta) (archive.RecordFunc, error) {
					return func(k, v []byte) error { n++; return nil }, nil
				}
				if _, err := archive.Read(context.Background(), f, key.Identity(), archive.Expect{SchemaVersion: 1}, count); err != nil {
					b.Fatal(err)
				}
				f.Close()
				if n != benchRecords {
					b.Fatalf("read %d records, want %d", n, benchRecords)
				}
			}
			b.SetBytes(dumpBytes)
		})
		b.Run(fmt.Sprintf("baseline-age-decrypt/%dMB", dumpBytes>>20), func(b *testing.B) {
			for b.Loop() {
				f, err := os.Open(filepath.Join(dir, "raw.age"))
				if err != nil {
					b.Fatal(err)
				}
				r, err := age.Decrypt(f, key.Identity())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
			b.SetBytes(dumpBytes)
		})
	}
}
