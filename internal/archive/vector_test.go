package archive_test

// Format vectors. testdata/v1/ok.age was written by this package at format
// version 1; every later build must still read it. Regenerate only on a
// deliberate format change, with
//
//	go test ./internal/archive/ -run TestExtract_Vector -update

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/boxstorm/boxstorm/internal/archive"
)

var update = flag.Bool("update", false, "rewrite the testdata vectors")

// vectorBoxes is the content of testdata/v1/ok.age.
var vectorBoxes = map[string][]rec{
	"audit_logs":  nil,
	"failed_ops":  {{K: "op-7", V: `{"attempts":3,"last_error":"timeout"}`}},
	"pending_ops": {{K: "op-1", V: "\x00\x01\x02"}, {K: "op-2", V: ""}, {K: `op-3"q\\`, V: "payload"}},
}

func TestExtract_Vector(t *testing.T) {
	dir := filepath.Join("testdata", "v1")
	key, err := archive.NewKey([]byte("boxstorm test vector backup key!"))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		var boxes []archive.Box
		for name, recs := range vectorBoxes {
			boxes = append(boxes, archive.Box{Name: name, Records: recordsOf(recs)})
		}
		data, _ := mustWrite(t, key.Recipient(), testMeta(2), boxes...)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ok.age"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		d := newExtractDir(t)
		if _, err := d.extract(data, key.Identity(), archive.Expect{}); err != nil {
			t.Fatal(err)
		}
		meta, err := os.ReadFile(filepath.Join(d.dir, "backup_meta.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ok.backup_meta.json"), meta, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	data, err := os.ReadFile(filepath.Join(dir, "ok.age"))
	if err != nil {
		t.Fatal(err)
	}
	wantMeta, err := os.ReadFile(filepath.Join(dir, "ok.backup_meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	d := newExtractDir(t)
	m, err := d.extract(data, key.Identity(), archive.Expect{SchemaVersion: 2})
	if err != nil {
		t.Fatal(err)
	}
	gotMeta, err := os.ReadFile(filepath.Join(d.dir, "backup_meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotMeta, wantMeta) {
		t.Errorf("backup_meta.json =\n%s\nwant\n%s", gotMeta, wantMeta)
	}
	if got, want := len(m.Boxes), len(vectorBoxes); got != want {
		t.Fatalf("%d boxes, want %d", got, want)
	}
	for _, bm := range m.Boxes {
		if got, want := readBox(t, d.dir, bm.Name), vectorBoxes[bm.Name]; !slices.Equal(got, want) {
			t.Errorf("box %s = %q, want %q", bm.Name, got, want)
		}
	}
}
