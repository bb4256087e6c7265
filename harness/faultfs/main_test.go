package faultfs_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/internal/testutil"
)

// TestMain doubles as the server: Start re-executes this test binary with
// the __faultfs subcommand, as the chaos runner re-executes itself.
func TestMain(m *testing.M) {
	testutil.QuietRaceExit()
	if len(os.Args) > 1 && os.Args[1] == "__faultfs" {
		os.Exit(faultfs.ServeMain(context.Background(), os.Args[2:], os.Stderr))
	}
	os.Exit(m.Run())
}

// serverCmd is the argv that runs the server.
func serverCmd() []string { return []string{os.Args[0], "__faultfs"} }

// mount starts a fault file system over an empty backing directory. It
// skips (never passes) where FUSE cannot mount, and bounds the test's
// context at one minute.
func mount(t testing.TB) (*faultfs.Mount, context.Context) {
	t.Helper()
	if err := faultfs.Available(); err != nil {
		t.Skipf("skipped, FUSE cannot mount here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()
	m, err := faultfs.Start(ctx, serverCmd(), filepath.Join(dir, "backing"), filepath.Join(dir, "mnt"), faultfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if b, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(b, []byte(" "+m.Dir+" ")) {
			t.Errorf("%s still mounted after Close", m.Dir)
		}
	})
	return m, ctx
}

// writeFile creates name on the mount with data, fsyncs the file if
// syncFile and its directory if syncDir.
func writeFile(t testing.TB, dir, name, data string, syncFile, syncDir bool) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if syncFile {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if syncDir {
		syncDirectory(t, filepath.Dir(filepath.Join(dir, name)))
	}
}

func syncDirectory(t testing.TB, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}

// content returns the file's content, or "<absent>".
func content(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return "<absent>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// listing returns "name=content" for every file under dir, sorted.
func listing(t testing.TB, dir string) string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out = append(out, rel+"/")
			return nil
		}
		b, err := os.ReadFile(p)
		out = append(out, rel+"="+string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, " ")
}
