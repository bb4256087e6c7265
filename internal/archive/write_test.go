package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/boxstorm/boxstorm/internal/archive"
)

func TestWriteExtract_RoundTrip(t *testing.T) {
	t.Parallel()
	rng := newRand(t)
	key := testKey(t, 1)
	boxes := map[string][]rec{
		"pending_ops": genRecords(rng, 10_000, 300),
		"empty":       nil,
		"odd_keys": {
			{K: ` space first`, V: ""},
			{K: `a"quote`, V: "\x00\xff binary"},
			{K: `back\slash`, V: "\n\r\t"},
			{K: `~tilde`, V: strings.Repeat("x", 5000)},
		},
	}
	var in []archive.Box
	for name, recs := range boxes {
		in = append(in, archive.Box{Name: name, Records: recordsOf(recs)})
	}
	data, wrote := mustWrite(t, key.Recipient(), testMeta(3), in...)

	d := newExtractDir(t)
	got, err := d.extract(data, key.Identity(), archive.Expect{SchemaVersion: 3})
	if err != nil {
		t.Fatal(err)
	}
	d.checkContained(t, false)
	if !reflect.DeepEqual(got, wrote) {
		t.Errorf("Extract meta = %+v, Write meta = %+v", got, wrote)
	}
	if got, want := got.FormatVersion, archive.FormatVersion; got != want {
		t.Errorf("FormatVersion = %d, want %d", got, want)
	}
	if got, want := got.CreatedAt, testCreatedAt; !got.Equal(want) {
		t.Errorf("CreatedAt = %v, want %v", got, want)
	}
	var names []string
	for _, bm := range got.Boxes {
		names = append(names, bm.Name)
		dump, err := os.ReadFile(filepath.Join(d.dir, "boxes", bm.Name+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if want := boxMetaOf(bm.Name, dump); bm != want {
			t.Errorf("box %s: meta %+v, file gives %+v", bm.Name, bm, want)
		}
		if want := dumpOf(boxes[bm.Name]); !bytes.Equal(dump, want) {
			t.Errorf("box %s: dump differs from the documented encoding", bm.Name)
		}
		if got, want := readBox(t, d.dir, bm.Name), boxes[bm.Name]; !slices.Equal(got, want) {
			t.Errorf("box %s: ReadBox gave %d records, want %d (or different content)", bm.Name, len(got), len(want))
		}
	}
	if got, want := names, []string{"empty", "odd_keys", "pending_ops"}; !slices.Equal(got, want) {
		t.Errorf("boxes = %v, want %v", got, want)
	}
	metaFile, err := os.ReadFile(filepath.Join(d.dir, "backup_meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(metaFile, []byte(`"created_at": "2026-03-14T15:09:26.535897932Z"`)) {
		t.Errorf("backup_meta.json lacks an RFC 3339 created_at:\n%s", metaFile)
	}
}

// TestWrite_Layout decrypts with plain age and reads the tar, to pin the
// layout independently of Extract.
func TestWrite_Layout(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := mustWrite(t, id.Recipient(), testMeta(1),
		archive.Box{Name: "b", Records: recordsOf([]rec{{"k1", "v"}})},
		archive.Box{Name: "a", Records: recordsOf(nil)},
	)
	r, err := age.Decrypt(bytes.NewReader(data), id)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(r)
	var names []string
	var bodies []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			t.Errorf("%s: type %q, want regular", hdr.Name, hdr.Typeflag)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		bodies = append(bodies, string(body))
	}
	if got, want := names, []string{"backup_meta.json", "boxes/a.jsonl", "boxes/b.jsonl"}; !slices.Equal(got, want) {
		t.Fatalf("entries = %v, want %v", got, want)
	}
	if got, want := bodies[2], `{"k":"k1","v":"dg=="}`+"\n"; got != want {
		t.Errorf("dump = %q, want %q", got, want)
	}
	if !strings.HasPrefix(bodies[0], "{\n  \"format_version\": 1,") {
		t.Errorf("backup_meta.json does not start with format_version:\n%s", bodies[0])
	}
}

func TestWrite_InvalidInput(t *testing.T) {
	key := testKey(t, 1)
	// unstable yields n records on its first run and m on its second.
	unstable := func(first, second []rec) archive.Records {
		run := 0
		return func(yield func(k, v string) bool) error {
			run++
			if run == 1 {
				return recordsOf(first)(yield)
			}
			return recordsOf(second)(yield)
		}
	}
	ab := []rec{{"a", "1"}, {"b", "2"}}
	tests := []struct {
		name  string
		meta  archive.Meta
		boxes []archive.Box
	}{
		{"unsorted keys", testMeta(1), []archive.Box{{Name: "x", Records: recordsOf([]rec{{"b", ""}, {"a", ""}})}}},
		{"duplicate key", testMeta(1), []archive.Box{{Name: "x", Records: recordsOf([]rec{{"a", ""}, {"a", ""}})}}},
		{"empty key", testMeta(1), []archive.Box{{Name: "x", Records: recordsOf([]rec{{"", "v"}})}}},
		{"newline in key", testMeta(1), []archive.Box{{Name: "x", Records: recordsOf([]rec{{"a\nb", ""}})}}},
		{"non-ASCII key", testMeta(1), []archive.Box{{Name: "x", Records: recordsOf([]rec{{"café", ""}})}}},
		{"bad box name", testMeta(1), []archive.Box{{Name: "Pending-Ops", Records: recordsOf(nil)}}},
		{"dot-dot box name", testMeta(1), []archive.Box{{Name: "..", Records: recordsOf(nil)}}},
		{"duplicate box", testMeta(1), []archive.Box{{Name: "x", Records: recordsOf(nil)}, {Name: "x", Records: recordsOf(nil)}}},
		{"nil records", testMeta(1), []archive.Box{{Name: "x"}}},
		{"no created_at", archive.Meta{SchemaVersion: 1}, nil},
		{"second run longer", testMeta(1), []archive.Box{{Name: "x", Records: unstable(ab[:1], ab)}}},
		{"second run shorter", testMeta(1), []archive.Box{{Name: "x", Records: unstable(ab, ab[:1])}}},
		{"second run differs", testMeta(1), []archive.Box{{Name: "x", Records: unstable(ab, []rec{{"a", "1"}, {"b", "3"}})}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := archive.Write(context.Background(), &buf, key.Recipient(), tt.meta, tt.boxes)
			if !errors.Is(err, archive.ErrInvalidInput) {
				t.Fatalf("Write error = %v, want ErrInvalidInput", err)
			}
			if buf.Len() == 0 {
				return
			}
			// What was written must not pass for an archive.
			d := newExtractDir(t)
			if _, err := d.extract(buf.Bytes(), key.Identity(), archive.Expect{}); !errors.Is(err, archive.ErrTruncated) {
				t.Errorf("Extract of a failed Write: %v, want ErrTruncated", err)
			}
			d.checkContained(t, true)
		})
	}
}

func TestWrite_RecordsError(t *testing.T) {
	boom := errors.New("boom")
	_, err := archive.Write(context.Background(), io.Discard, testKey(t, 1).Recipient(), testMeta(1), []archive.Box{{
		Name:    "x",
		Records: func(func(k, v string) bool) error { return boom },
	}})
	if !errors.Is(err, boom) {
		t.Errorf("Write error = %v, want it to wrap %v", err, boom)
	}
}

func TestWriteExtract_Canceled(t *testing.T) {
	key := testKey(t, 1)
	recs := genRecords(newRand(t), 5000, 10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := archive.Write(ctx, io.Discard, key.Recipient(), testMeta(1), []archive.Box{{Name: "x", Records: recordsOf(recs)}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Write error = %v, want context.Canceled", err)
	}
	data, _ := mustWrite(t, key.Recipient(), testMeta(1), archive.Box{Name: "x", Records: recordsOf(recs)})
	d := newExtractDir(t)
	if _, err := archive.Extract(ctx, bytes.NewReader(data), key.Identity(), d.dir, archive.Expect{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Extract error = %v, want context.Canceled", err)
	}
	d.checkContained(t, true)
	if _, err := d.extract(data, key.Identity(), archive.Expect{}); err != nil {
		t.Fatal(err)
	}
	if err := archive.ReadBox(ctx, d.dir, "x", func(k, v string) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadBox error = %v, want context.Canceled", err)
	}
}

func TestKey(t *testing.T) {
	t.Run("wrong size", func(t *testing.T) {
		for _, n := range []int{0, 16, 31, 33, 64} {
			if _, err := archive.NewKey(make([]byte, n)); err == nil {
				t.Errorf("NewKey(%d bytes) succeeded", n)
			}
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		data, _ := mustWrite(t, testKey(t, 7).Recipient(), testMeta(1), archive.Box{Name: "x", Records: recordsOf([]rec{{"k", "v"}})})
		d := newExtractDir(t)
		if _, err := d.extract(data, testKey(t, 7).Identity(), archive.Expect{}); err != nil {
			t.Fatalf("a Key derived again from the same backup key: %v", err)
		}
	})
	t.Run("no key material in text", func(t *testing.T) {
		secret := bytes.Repeat([]byte{0xab}, archive.KeySize)
		k, err := archive.NewKey(secret)
		if err != nil {
			t.Fatal(err)
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			s := fmt.Sprintf(verb, k)
			if strings.Contains(s, hex.EncodeToString(secret)) || strings.Contains(s, string(secret)) || strings.Contains(strings.ToUpper(s), "AGE-SECRET-KEY") {
				t.Errorf("%s prints key material: %s", verb, s)
			}
			if !strings.HasPrefix(s, "archive.Key(") {
				t.Errorf("%s = %q, want archive.Key(<id>)", verb, s)
			}
		}
	})
}

func TestExtract_WrongKey(t *testing.T) {
	recs := []rec{{"k", "v"}}
	box := archive.Box{Name: "x", Records: recordsOf(recs)}
	scryptRecipient := func(pass string) age.Recipient {
		r, err := age.NewScryptRecipient(pass)
		if err != nil {
			t.Fatal(err)
		}
		r.SetWorkFactor(10)
		return r
	}
	scryptIdentity := func(pass string) age.Identity {
		id, err := age.NewScryptIdentity(pass)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		r    age.Recipient
		id   age.Identity
	}{
		{"other backup key", testKey(t, 1).Recipient(), testKey(t, 2).Identity()},
		{"plain X25519 identity", testKey(t, 1).Recipient(), other},
		{"scrypt identity on an X25519 archive", testKey(t, 1).Recipient(), scryptIdentity("pass")},
		{"wrong passphrase", scryptRecipient("right"), scryptIdentity("wrong")},
		{"backup key on a passphrase archive", scryptRecipient("right"), testKey(t, 1).Identity()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, _ := mustWrite(t, tt.r, testMeta(1), box)
			d := newExtractDir(t)
			_, err := d.extract(data, tt.id, archive.Expect{})
			if !errors.Is(err, archive.ErrWrongKey) || errors.Is(err, archive.ErrTampered) || errors.Is(err, archive.ErrTruncated) {
				t.Fatalf("Extract error = %v, want ErrWrongKey alone", err)
			}
			d.checkContained(t, true)
		})
	}
	t.Run("passphrase round trip", func(t *testing.T) {
		data, _ := mustWrite(t, scryptRecipient("right"), testMeta(1), box)
		d := newExtractDir(t)
		if _, err := d.extract(data, scryptIdentity("right"), archive.Expect{}); err != nil {
			t.Fatal(err)
		}
		if got := readBox(t, d.dir, "x"); !slices.Equal(got, recs) {
			t.Errorf("records = %v, want %v", got, recs)
		}
	})
}

func TestExtract_SchemaMismatch(t *testing.T) {
	key := testKey(t, 1)
	data, _ := mustWrite(t, key.Recipient(), testMeta(3), archive.Box{Name: "x", Records: recordsOf([]rec{{"k", "v"}})})

	d := newExtractDir(t)
	_, err := d.extract(data, key.Identity(), archive.Expect{SchemaVersion: 4})
	var sm *archive.SchemaMismatchError
	if !errors.As(err, &sm) || !errors.Is(err, archive.ErrSchemaMismatch) {
		t.Fatalf("Extract error = %v, want *SchemaMismatchError", err)
	}
	if got, want := *sm, (archive.SchemaMismatchError{Want: 4, Got: 3}); got != want {
		t.Errorf("error = %+v, want %+v", got, want)
	}
	if !strings.Contains(err.Error(), "hint: run the migrations") {
		t.Errorf("error %q has no hint", err)
	}
	d.checkContained(t, true)

	// Zero means any version.
	if _, err := d.extract(data, key.Identity(), archive.Expect{}); err != nil {
		t.Fatal(err)
	}
}

func TestExtract_DirNotEmpty(t *testing.T) {
	key := testKey(t, 1)
	data, _ := mustWrite(t, key.Recipient(), testMeta(1))
	d := newExtractDir(t)
	stray := filepath.Join(d.dir, "backup_meta.json")
	if err := os.WriteFile(stray, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.extract(data, key.Identity(), archive.Expect{}); err == nil {
		t.Fatal("Extract into a non-empty directory succeeded")
	}
	if b, err := os.ReadFile(stray); err != nil || string(b) != "keep me" {
		t.Errorf("existing file changed: %q, %v", b, err)
	}
}

func TestReadBox(t *testing.T) {
	key := testKey(t, 1)
	recs := []rec{{"a", "1"}, {"b", "2"}, {"c", "3"}}
	data, _ := mustWrite(t, key.Recipient(), testMeta(1), archive.Box{Name: "x", Records: recordsOf(recs)})
	d := newExtractDir(t)
	if _, err := d.extract(data, key.Identity(), archive.Expect{}); err != nil {
		t.Fatal(err)
	}

	t.Run("stops at fn error", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := archive.ReadBox(context.Background(), d.dir, "x", func(k, v string) error {
			n++
			return stop
		})
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("ReadBox = %v after %d records, want %v after 1", err, n, stop)
		}
	})
	t.Run("bad name", func(t *testing.T) {
		if err := archive.ReadBox(context.Background(), d.dir, "../x", func(k, v string) error { return nil }); err == nil {
			t.Error("ReadBox accepted ../x")
		}
	})
	t.Run("changed file", func(t *testing.T) {
		for name, dump := range map[string]string{
			"unsorted":  string(dumpOf([]rec{{"b", ""}, {"a", ""}})),
			"malformed": `{"k": "a", "v": ""}` + "\n",
			"bad b64":   `{"k":"a","v":"!!"}` + "\n",
		} {
			path := filepath.Join(d.dir, "boxes", "x.jsonl")
			if err := os.WriteFile(path, []byte(dump), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := archive.ReadBox(context.Background(), d.dir, "x", func(k, v string) error { return nil }); !errors.Is(err, archive.ErrTampered) {
				t.Errorf("%s: ReadBox = %v, want ErrTampered", name, err)
			}
		}
	})
}

// TestErrors_Distinct checks that each sentinel matches only itself and
// carries a hint.
func TestErrors_Distinct(t *testing.T) {
	all := []error{archive.ErrTruncated, archive.ErrTampered, archive.ErrWrongKey, archive.ErrSchemaMismatch,
		archive.ErrCountMismatch, archive.ErrHashMismatch, archive.ErrUnsafeEntry, archive.ErrUnsupportedFormat, archive.ErrInvalidInput}
	for i, a := range all {
		if !strings.Contains(a.Error(), "(hint: ") {
			t.Errorf("%q has no hint", a)
		}
		for j, b := range all {
			if got, want := errors.Is(a, b), i == j; got != want {
				t.Errorf("errors.Is(%q, %q) = %v", a, b, got)
			}
		}
	}
}
