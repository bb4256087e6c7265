package archive_test

// Helpers shared by this package's tests. They stay here rather than in
// internal/testutil because nothing outside archive needs them.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/boxstorm/boxstorm/internal/archive"
)

// rec is one record.
type rec struct{ K, V string }

// recordsOf returns a Records over recs, which must be sorted.
func recordsOf(recs []rec) archive.Records {
	return func(yield func(k, v string) bool) error {
		for _, r := range recs {
			if !yield(r.K, r.V) {
				return nil
			}
		}
		return nil
	}
}

// genRecords returns n sorted records with random values of 0 to maxVal
// bytes, every byte value included.
func genRecords(rng *rand.Rand, n, maxVal int) []rec {
	recs := make([]rec, n)
	for i := range recs {
		v := make([]byte, rng.IntN(maxVal+1))
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		recs[i] = rec{K: fmt.Sprintf("op:%08d", i), V: string(v)}
	}
	return recs
}

var seedFlag = flag.Uint64("seed", 0, "replay the randomized tests with this seed")

// newRand returns a seeded generator and logs the seed; -seed replays it.
func newRand(t testing.TB) *rand.Rand {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed %[1]d)", seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// testKey derives a Key from a backup key filled with b.
func testKey(t testing.TB, b byte) *archive.Key {
	t.Helper()
	k, err := archive.NewKey(bytes.Repeat([]byte{b}, archive.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var testCreatedAt = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

func testMeta(schema int) archive.Meta {
	return archive.Meta{SchemaVersion: schema, CreatedAt: testCreatedAt, StoreID: "store-test", ToolVersion: "boxstorm-test"}
}

// mustWrite writes an archive of boxes to a byte slice.
func mustWrite(t testing.TB, r age.Recipient, meta archive.Meta, boxes ...archive.Box) ([]byte, archive.Meta) {
	t.Helper()
	var buf bytes.Buffer
	m, err := archive.Write(context.Background(), &buf, r, meta, boxes)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), m
}

// extractDir is where a test extracts: dir inside its own parent, so that
// checkContained can see anything written beside it.
type extractDir struct {
	parent, dir string
}

func newExtractDir(t testing.TB) extractDir {
	t.Helper()
	parent := t.TempDir()
	dir := filepath.Join(parent, "extract")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return extractDir{parent, dir}
}

func (d extractDir) extract(data []byte, id age.Identity, expect archive.Expect) (archive.Meta, error) {
	return archive.Extract(context.Background(), bytes.NewReader(data), id, d.dir, expect)
}

// checkContained fails t if anything exists in parent other than dir, or, when
// empty is set, anything inside dir.
func (d extractDir) checkContained(t testing.TB, empty bool) {
	t.Helper()
	err := filepath.WalkDir(d.parent, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case path == d.parent || path == d.dir:
		case !strings.HasPrefix(path, d.dir+string(filepath.Separator)):
			t.Errorf("written outside the extract directory: %s", path)
		case empty:
			t.Errorf("left behind after a failed extract: %s", path)
		case e.Type()&fs.ModeType != 0 && !e.IsDir():
			t.Errorf("non-regular file extracted: %s (%v)", path, e.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readBox reads a whole box back with ReadBox.
func readBox(t testing.TB, dir, name string) []rec {
	t.Helper()
	var got []rec
	err := archive.ReadBox(context.Background(), dir, name, func(k, v string) error {
		got = append(got, rec{k, v})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// dumpOf renders records as a dump, the way Write does; tests use it to
// craft archives by hand.
func dumpOf(recs []rec) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		k := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(r.K)
		fmt.Fprintf(&b, `{"k":"%s","v":"%s"}`+"\n", k, base64.StdEncoding.EncodeToString([]byte(r.V)))
	}
	return b.Bytes()
}

// boxMetaOf is the honest BoxMeta of a dump.
func boxMetaOf(name string, dump []byte) archive.BoxMeta {
	sum := sha256.Sum256(dump)
	return archive.BoxMeta{Name: name, Records: int64(bytes.Count(dump, []byte("\n"))), Bytes: int64(len(dump)), SHA256: hex.EncodeToString(sum[:])}
}

func metaJSON(t testing.TB, m archive.Meta) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// entry is one tar entry of a hand-built archive.
type entry struct {
	hdr  tar.Header
	body []byte
}

func file(name string, body []byte) entry {
	return entry{tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(body)), Mode: 0o600}, body}
}

// buildTar builds a tar stream; the header's Size is taken as given, so a
// test can make it lie.
func buildTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		hdr := e.hdr
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// encrypt encrypts plaintext with age.
func encrypt(t testing.TB, r age.Recipient, plaintext []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := age.Encrypt(&b, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plaintext); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
