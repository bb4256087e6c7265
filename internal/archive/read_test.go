package archive_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/boxstorm/boxstorm/internal/archive"
)

// TestRead_RecordFunc checks what Read promises its callers: records in
// order per box, none after a callback's error, that error returned only
// for an archive that verified, and a nil RecordFunc skipping a box.
func TestRead_RecordFunc(t *testing.T) {
	t.Parallel()
	key := testKey(t, 1)
	a := []rec{{K: "a1", V: "x"}, {K: "a2", V: "y"}}
	b := []rec{{K: "b1", V: "z"}}
	data, _ := mustWrite(t, key.Recipient(), testMeta(1),
		archive.Box{Name: "a", Records: recordsOf(a)}, archive.Box{Name: "b", Records: recordsOf(b)})
	read := func(data []byte, open func(archive.BoxMeta) (archive.RecordFunc, error)) error {
		_, err := archive.Read(context.Background(), bytes.NewReader(data), key.Identity(), archive.Expect{}, open)
		return err
	}

	got := map[string][]rec{}
	collect := func(bm archive.BoxMeta) (archive.RecordFunc, error) {
		return func(k, v []byte) error {
			got[bm.Name] = append(got[bm.Name], rec{string(k), string(v)})
			return nil
		}, nil
	}
	if err := read(data, collect); err != nil {
		t.Fatal(err)
	}
	if len(got["a"]) != 2 || got["a"][1] != a[1] || len(got["b"]) != 1 || got["b"][0] != b[0] {
		t.Fatalf("records = %v", got)
	}

	errStop := errors.New("stop")
	calls := 0
	failFirst := func(archive.BoxMeta) (archive.RecordFunc, error) {
		return func(k, v []byte) error { calls++; return errStop }, nil
	}
	if err := read(data, failFirst); err != errStop || calls != 1 {
		t.Errorf("Read = %v after %d calls, want the callback's error after 1", err, calls)
	}
	opened := 0
	failOpen := func(archive.BoxMeta) (archive.RecordFunc, error) { opened++; return nil, errStop }
	if err := read(data, failOpen); err != errStop || opened != 1 {
		t.Errorf("Read = %v after %d opens, want open's error after 1", err, opened)
	}

	// The archive's own damage wins over the callback's error.
	cut := data[:len(data)-1]
	if err := read(cut, failFirst); !errors.Is(err, archive.ErrTruncated) {
		t.Errorf("Read of a cut archive with a failing callback = %v, want ErrTruncated", err)
	}

	// A nil RecordFunc skips a box; the archive is still verified.
	skipA := func(bm archive.BoxMeta) (archive.RecordFunc, error) {
		if bm.Name == "a" {
			return nil, nil
		}
		return collect(bm)
	}
	got = map[string][]rec{}
	if err := read(data, skipA); err != nil || len(got["a"]) != 0 || len(got["b"]) != 1 {
		t.Errorf("Read skipping a = %v, records %v", err, got)
	}
	if err := read(cut, nil); !errors.Is(err, archive.ErrTruncated) {
		t.Errorf("Read of a cut archive with no callback = %v, want ErrTruncated", err)
	}
}
