package fileio_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/boxstorm/boxstorm/internal/fileio"
)

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteAtomic_Replaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	for _, content := range []string{"first", "second, longer"} {
		if err := fileio.WriteFileAtomic(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != content {
			t.Fatalf("read back %q, %v; want %q", b, err, content)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("mode %v, want %v", got, want)
	}
	if got := dirNames(t, dir); len(got) != 1 {
		t.Errorf("directory holds %v, want only f.json", got)
	}
}

// TestWriteAtomic_FailureLeavesNoTemp: whatever step fails, the old file is
// intact and no temporary file is left in the directory.
func TestWriteAtomic_FailureLeavesNoTemp(t *testing.T) {
	errWrite := errors.New("writer gave up")
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the target path
		write func(io.Writer) error
		want  error
	}{
		{
			name:  "write callback fails",
			setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "target") },
			write: func(w io.Writer) error {
				if _, err := w.Write([]byte("half")); err != nil {
					return err
				}
				return errWrite
			},
			want: errWrite,
		},
		{
			name: "rename onto a directory",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "target")
				if err := os.Mkdir(p, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(p, "inside"), []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			},
			write: func(w io.Writer) error { _, err := w.Write([]byte("new")); return err },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			old := filepath.Join(dir, "old")
			if err := os.WriteFile(old, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			path := tc.setup(t, dir)
			before := dirNames(t, dir)
			err := fileio.WriteAtomic(path, 0o600, tc.write)
			if err == nil {
				t.Fatal("WriteAtomic succeeded, want an error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want it to wrap %v", err, tc.want)
			}
			if got := dirNames(t, dir); len(got) != len(before) {
				t.Errorf("after the failure the directory holds %v, before %v: a temporary file was left", got, before)
			}
			if b, _ := os.ReadFile(old); string(b) != "old" {
				t.Errorf("an unrelated file changed: %q", b)
			}
		})
	}
}

func TestWriteAtomic_ReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only directories")
	}
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(ro, 0o700) })
	err := fileio.WriteFileAtomic(filepath.Join(ro, "f"), []byte("x"), 0o600)
	if !errors.Is(err, os.ErrPermission) {
		t.Fatalf("err = %v, want a permission error", err)
	}
	if got := dirNames(t, ro); len(got) != 0 {
		t.Errorf("read-only directory holds %v", got)
	}
}
