package archive_test

// Damaged and hostile archives: cuts, flipped bytes, and tar streams built by
// hand with a lying meta or unsafe entries.

import (
	"archive/tar"
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/boxstorm/boxstorm/internal/archive"
)

// ageChunk is the size of a full encrypted age payload chunk.
const ageChunk = 64<<10 + 16

// payloadStart returns the offset of the first payload chunk: after the
// header's closing "--- <mac>" line and the 16-byte nonce.
func payloadStart(t testing.TB, data []byte) int {
	t.Helper()
	i := bytes.Index(data, []byte("\n--- "))
	if i < 0 {
		t.Fatal("no age header footer")
	}
	j := bytes.IndexByte(data[i+1:], '\n')
	return i + 1 + j + 1 + 16
}

func TestExtract_Truncated(t *testing.T) {
	t.Parallel()
	rng := newRand(t)
	key := testKey(t, 1)
	data, _ := mustWrite(t, key.Recipient(), testMeta(1),
		archive.Box{Name: "a", Records: recordsOf(genRecords(rng, 1500, 200))},
		archive.Box{Name: "b", Records: recordsOf(genRecords(rng, 10, 20))},
	)
	start := payloadStart(t, data)
	if len(data) < start+2*ageChunk {
		t.Fatalf("archive of %d bytes is too small to span chunks", len(data))
	}

	// clean cuts are those age can always recognise: inside the header, and
	// on a chunk boundary.
	clean := map[int]bool{}
	for cut := 0; cut <= start; cut++ {
		clean[cut] = true
	}
	for c := start; c < len(data); c += ageChunk {
		clean[c] = true
	}
	cuts := slices.Collect(func(yield func(int) bool) {
		for c := range clean {
			yield(c)
		}
	})
	for c := start; c < len(data); c += ageChunk {
		cuts = append(cuts, c-2, c-1, c+1, c+2, c+16, c+17)
	}
	for range 30 {
		cuts = append(cuts, start+rng.IntN(len(data)-start))
	}
	cuts = append(cuts, len(data)-1)

	ambiguous := 0
	// One directory serves every attempt: each failure must leave it empty.
	d := newExtractDir(t)
	for _, cut := range cuts {
		if cut < 0 || cut >= len(data) {
			continue
		}
		_, err := d.extract(data[:cut], key.Identity(), archive.Expect{})
		switch {
		case !errors.Is(err, archive.ErrTruncated) || errors.Is(err, archive.ErrWrongKey):
			t.Errorf("cut at %d of %d: %v, want ErrTruncated", cut, len(data), err)
		case clean[cut] && errors.Is(err, archive.ErrTampered):
			t.Errorf("cut at %d of %d (header or chunk boundary): %v, want ErrTruncated alone", cut, len(data), err)
		case errors.Is(err, archive.ErrTampered):
			ambiguous++
		}
		d.checkContained(t, true)
	}
	t.Logf("%d cuts, %d inside a chunk (truncated or damaged)", len(cuts), ambiguous)
}

func TestExtract_FlippedByte(t *testing.T) {
	t.Parallel()
	key := testKey(t, 1)
	rng := newRand(t)
	// One directory serves every attempt: each failure must leave it empty.
	d := newExtractDir(t)
	check := func(t *testing.T, data []byte, pos int, bit byte) error {
		t.Helper()
		bad := bytes.Clone(data)
		bad[pos] ^= bit
		_, err := d.extract(bad, key.Identity(), archive.Expect{})
		if err == nil || errors.Is(err, archive.ErrWrongKey) || !errors.Is(err, archive.ErrTampered) && !errors.Is(err, archive.ErrTruncated) {
			t.Errorf("byte %d ^ %#x: %v, want ErrTampered or ErrTruncated", pos, bit, err)
		}
		d.checkContained(t, true)
		return err
	}

	t.Run("small archive", func(t *testing.T) {
		data, _ := mustWrite(t, key.Recipient(), testMeta(1), archive.Box{Name: "x", Records: recordsOf([]rec{{"k", "v"}})})
		// Four bits of every byte of the header and nonce (a sweep of all
		// eight found nothing more); one bit of every byte of the chunk's tag
		// and of a sample of the rest, where every byte is alike to age.
		start := payloadStart(t, data)
		for pos := range data {
			switch {
			case pos < start:
				for _, bit := range []byte{0x01, 0x02, 0x10, 0x80} {
					check(t, data, pos, bit)
				}
			case pos >= len(data)-16 || rng.IntN(10) == 0:
				check(t, data, pos, 0x01)
			}
		}
	})
	t.Run("inner chunks", func(t *testing.T) {
		data, _ := mustWrite(t, key.Recipient(), testMeta(1), archive.Box{Name: "x", Records: recordsOf(genRecords(rng, 1500, 200))})
		start := payloadStart(t, data)
		for c := start; c+ageChunk < len(data); c += ageChunk {
			for _, pos := range []int{c, c + rng.IntN(ageChunk), c + ageChunk - 1} {
				// Damage before the last chunk is never mistaken for a cut.
				if err := check(t, data, pos, 0x04); errors.Is(err, archive.ErrTruncated) {
					t.Errorf("byte %d in an inner chunk: %v, want ErrTampered alone", pos, err)
				}
			}
		}
	})
}

// TestExtract_Crafted feeds Extract tar streams built by hand, properly
// encrypted, so every check past authentication is reached.
func TestExtract_Crafted(t *testing.T) {
	t.Parallel()
	key := testKey(t, 1)
	a := dumpOf([]rec{{"a1", strings.Repeat("x", 40)}, {"a2", "y"}})
	b := dumpOf([]rec{{"b1", "z"}})
	meta := func(boxes ...archive.BoxMeta) []byte {
		m := testMeta(1)
		m.FormatVersion = 1
		m.Boxes = boxes
		return metaJSON(t, m)
	}
	good := meta(boxMetaOf("a", a), boxMetaOf("b", b))
	withMeta := func(edit func(*archive.BoxMeta)) []byte {
		bm := boxMetaOf("a", a)
		edit(&bm)
		return meta(bm, boxMetaOf("b", b))
	}
	withDump := func(dump []byte) []entry {
		return []entry{file("backup_meta.json", meta(boxMetaOf("a", dump), boxMetaOf("b", b))), file("boxes/a.jsonl", dump), file("boxes/b.jsonl", b)}
	}
	special := func(typ byte, name, link string) entry {
		return entry{hdr: tar.Header{Typeflag: typ, Name: name, Linkname: link, Mode: 0o600}}
	}
	ok := []entry{file("backup_meta.json", good), file("boxes/a.jsonl", a), file("boxes/b.jsonl", b)}
	// prefix returns the good entries with extra ones inserted at i.
	insert := func(i int, extra ...entry) []entry {
		return slices.Insert(slices.Clone(ok), i, extra...)
	}
	outside := "" // set per test to an absolute path beside the extract dir

	tests := []struct {
		name    string
		entries func() []entry
		trailer []byte // appended to the tar stream
		want    error  // nil means success
	}{
		{name: "honest", entries: func() []entry { return ok }},
		{name: "boxes dir entry", entries: func() []entry { return insert(1, special(tar.TypeDir, "boxes/", "")) }},

		{name: "count lies", want: archive.ErrCountMismatch, entries: func() []entry {
			return []entry{file("backup_meta.json", withMeta(func(bm *archive.BoxMeta) { bm.Records++ })), ok[1], ok[2]}
		}},
		{name: "bytes lie", want: archive.ErrCountMismatch, entries: func() []entry {
			return []entry{file("backup_meta.json", withMeta(func(bm *archive.BoxMeta) { bm.Bytes += 10 })), ok[1], ok[2]}
		}},
		{name: "hash lies", want: archive.ErrHashMismatch, entries: func() []entry {
			return []entry{file("backup_meta.json", withMeta(func(bm *archive.BoxMeta) { bm.SHA256 = strings.Repeat("0", 64) })), ok[1], ok[2]}
		}},
		{name: "lines unsorted", want: archive.ErrTampered, entries: func() []entry { return withDump(dumpOf([]rec{{"a2", ""}, {"a1", ""}})) }},
		{name: "duplicate key", want: archive.ErrTampered, entries: func() []entry { return withDump(dumpOf([]rec{{"a1", ""}, {"a1", ""}})) }},
		{name: "non-canonical line", want: archive.ErrTampered, entries: func() []entry { return withDump([]byte(`{"k": "a1", "v": ""}` + "\n")) }},
		{name: "non-canonical base64", want: archive.ErrTampered, entries: func() []entry { return withDump([]byte(`{"k":"a1","v":"dh=="}` + "\n")) }},
		{name: "carriage return in base64", want: archive.ErrTampered, entries: func() []entry { return withDump([]byte("{\"k\":\"a1\",\"v\":\"d\rg==\"}\n")) }},
		{name: "no final newline", want: archive.ErrTampered, entries: func() []entry { return withDump([]byte(`{"k":"a1","v":""}`)) }},

		{name: "dot-dot", want: archive.ErrUnsafeEntry, entries: func() []entry { return insert(1, file("../x", []byte("evil"))) }},
		{name: "dot-dot inside boxes", want: archive.ErrUnsafeEntry, entries: func() []entry { return insert(1, file("boxes/../../x.jsonl", []byte("evil"))) }},
		{name: "absolute", want: archive.ErrUnsafeEntry, entries: func() []entry { return insert(1, file(outside, []byte("evil"))) }},
		{name: "symlink", want: archive.ErrUnsafeEntry, entries: func() []entry {
			return []entry{ok[0], special(tar.TypeSymlink, "boxes/a.jsonl", outside), ok[2]}
		}},
		{name: "symlink for boxes dir", want: archive.ErrUnsafeEntry, entries: func() []entry { return insert(1, special(tar.TypeSymlink, "boxes", filepath.Dir(outside))) }},
		{name: "hardlink", want: archive.ErrUnsafeEntry, entries: func() []entry {
			return []entry{ok[0], special(tar.TypeLink, "boxes/a.jsonl", outside), ok[2]}
		}},
		{name: "device", want: archive.ErrUnsafeEntry, entries: func() []entry { return insert(1, special(tar.TypeChar, "boxes/a.jsonl", "")) }},
		{name: "fifo", want: archive.ErrUnsafeEntry, entries: func() []entry { return insert(1, special(tar.TypeFifo, "boxes/a.jsonl", "")) }},
		{name: "other directory", want: archive.ErrUnsafeEntry, entries: func() []entry { return insert(1, special(tar.TypeDir, "other/", "")) }},
		{name: "unknown entry", want: archive.ErrUnsafeEntry, entries: func() []entry { return insert(3, file("notes.txt", []byte("hi"))) }},
		{name: "bad box file name", want: archive.ErrUnsafeEntry, entries: func() []entry { return insert(1, file("boxes/A.jsonl", nil)) }},
		{name: "long pax name", want: archive.ErrUnsafeEntry, entries: func() []entry {
			return insert(1, file("boxes/"+strings.Repeat("a", 200)+".jsonl", nil))
		}},

		{name: "box not in meta", want: archive.ErrTampered, entries: func() []entry { return insert(1, file("boxes/zzz.jsonl", nil)) }},
		{name: "duplicate box", want: archive.ErrTampered, entries: func() []entry { return insert(2, ok[1]) }},
		{name: "duplicate box at end", want: archive.ErrTampered, entries: func() []entry { return insert(3, ok[2]) }},
		{name: "meta twice", want: archive.ErrTampered, entries: func() []entry { return insert(1, ok[0]) }},
		{name: "meta not first", want: archive.ErrTampered, entries: func() []entry { return []entry{ok[1], ok[0], ok[2]} }},
		{name: "boxes out of order", want: archive.ErrTampered, entries: func() []entry { return []entry{ok[0], ok[2], ok[1]} }},
		{name: "missing box", want: archive.ErrTampered, entries: func() []entry { return ok[:2] }},
		{name: "empty tar", want: archive.ErrTampered, entries: func() []entry { return nil }},
		{name: "data after tar", want: archive.ErrTampered, entries: func() []entry { return ok }, trailer: []byte("trailing")},

		{name: "oversize meta", want: archive.ErrTampered, entries: func() []entry {
			big := append(bytes.Clone(good[:len(good)-1]), []byte(`,"pad":"`+strings.Repeat("x", archive.MaxMetaSize)+`"}`)...)
			return []entry{file("backup_meta.json", big), ok[1], ok[2]}
		}},
		{name: "meta not JSON", want: archive.ErrTampered, entries: func() []entry { return []entry{file("backup_meta.json", []byte("{")), ok[1], ok[2]} }},
		{name: "meta unknown field", want: archive.ErrTampered, entries: func() []entry {
			return []entry{file("backup_meta.json", bytes.Replace(good, []byte(`{`), []byte(`{"extra":1,`), 1)), ok[1], ok[2]}
		}},
		{name: "meta from the future", want: archive.ErrUnsupportedFormat, entries: func() []entry {
			return []entry{file("backup_meta.json", bytes.Replace(good, []byte(`"format_version":1`), []byte(`"format_version":2`), 1)), ok[1], ok[2]}
		}},
		{name: "meta box name escapes", want: archive.ErrUnsafeEntry, entries: func() []entry {
			return []entry{file("backup_meta.json", withMeta(func(bm *archive.BoxMeta) { bm.Name = "../evil" })), ok[1], ok[2]}
		}},
		{name: "meta boxes unsorted", want: archive.ErrTampered, entries: func() []entry {
			return []entry{file("backup_meta.json", meta(boxMetaOf("b", b), boxMetaOf("a", a))), ok[1], ok[2]}
		}},
		{name: "meta impossible size", want: archive.ErrTampered, entries: func() []entry {
			return []entry{file("backup_meta.json", withMeta(func(bm *archive.BoxMeta) { bm.Records = bm.Bytes })), ok[1], ok[2]}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newExtractDir(t)
			outside = filepath.Join(d.parent, "outside")
			plain := append(buildTar(t, tt.entries()...), tt.trailer...)
			_, err := d.extract(encrypt(t, key.Recipient(), plain), key.Identity(), archive.Expect{})
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				d.checkContained(t, false)
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Extract error = %v, want %v", err, tt.want)
			}
			if errors.Is(err, archive.ErrUnsafeEntry) {
				var ue *archive.UnsafeEntryError
				if !errors.As(err, &ue) || ue.Name == "" {
					t.Errorf("error %v does not name the entry", err)
				}
			}
			d.checkContained(t, true)
		})
	}
}
