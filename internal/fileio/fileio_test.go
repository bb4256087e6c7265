package fileio_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/boxstorm/boxstorm/internal/fileio"
)

func TestReadFile_SameAsOS(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 4095, 4096, 4097, 1 << 20} {
		path := filepath.Join(dir, strconv.Itoa(size))
		want := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		if err := os.WriteFile(path, want, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := fileio.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%d bytes: read %d bytes, err %v", size, len(got), err)
		}
	}
}

func TestReadFile_Errors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	_, err := fileio.ReadFile(missing)
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Path != missing {
		t.Errorf("missing file: err = %v, want a *fs.PathError for %s matching fs.ErrNotExist", err, missing)
	}
	if _, err := fileio.ReadFile(dir); err == nil {
		t.Errorf("reading a directory: no error")
	}
}
