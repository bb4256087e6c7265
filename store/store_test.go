package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

// TestMain lets the test binary act as a child process for the crash and
// second-process tests (see helperMain).
func TestMain(m *testing.M) {
	testutil.QuietRaceExit()
	if mode := os.Getenv("BOXSTORM_STORE_HELPER"); mode != "" {
		os.Exit(helperMain(mode))
	}
	os.Exit(m.Run())
}

func TestOpen_CreatesBoxes(t *testing.T) {
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	for _, b := range store.SystemBoxes() {
		if _, err := os.Stat(filepath.Join(dir, b+".db")); err != nil {
			t.Errorf("box file %s: %v", b, err)
		}
	}
	if got, err := s.SchemaVersion(); err != nil || got != store.InitialSchemaVersion {
		t.Errorf("schema version = %d, %v; want %d", got, err, store.InitialSchemaVersion)
	}
}

func TestOpen_WrongKeyChangesNoByte(t *testing.T) {
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	ctx := context.Background()
	if _, err := s.Enqueue(ctx, []byte("hello"), store.EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "notes", "k1", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before := testutil.HashDir(t, dir)
	_, err := store.Open(ctx, dir, store.Options{Key: store.KeyBytes(testutil.OtherKey)})
	if !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("open with wrong key: err = %v, want ErrWrongKey", err)
	}
	if errors.Is(err, store.ErrCorrupt) {
		t.Errorf("wrong key reported as corruption: %v", err)
	}
	if strings.Contains(err.Error(), string(testutil.OtherKey)) || strings.Contains(err.Error(), string(testutil.Key)) {
		t.Errorf("error shows key bytes: %v", err)
	}
	after := testutil.HashDir(t, dir)
	if len(before) != len(after) {
		t.Fatalf("files before %v, after %v", before, after)
	}
	for name, h := range before {
		if after[name] != h {
			t.Errorf("%s changed after a wrong-key open", name)
		}
	}
	// The right key still opens it, with the data intact.
	s2 := testutil.MustOpen(t, dir)
	if v, err := s2.Get(ctx, "notes", "k1"); err != nil || string(v) != "v1" {
		t.Errorf("Get after wrong-key attempt = %q, %v", v, err)
	}
}

func TestKeySources(t *testing.T) {
	ctx := context.Background()
	keyHex := strings.TrimSpace(string(store.FormatKey(testutil.Key)))

	t.Run("key file 0600", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "k")
		if err := store.WriteKeyFile(p, testutil.Key); err != nil {
			t.Fatal(err)
		}
		s, err := store.Open(ctx, t.TempDir(), store.Options{Key: store.KeyFile(p)})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	})
	t.Run("key file 0644 refused", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "k")
		if err := os.WriteFile(p, []byte(keyHex+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		_, err := store.Open(ctx, dir, store.Options{Key: store.KeyFile(p)})
		if !errors.Is(err, store.ErrBadKey) {
			t.Fatalf("err = %v, want ErrBadKey", err)
		}
		if !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), keyHex) {
			t.Errorf("error should give the fix and hide the key: %v", err)
		}
	})
	t.Run("key file never overwritten", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "k")
		if err := store.WriteKeyFile(p, testutil.Key); err != nil {
			t.Fatal(err)
		}
		if err := store.WriteKeyFile(p, testutil.OtherKey); err == nil {
			t.Fatal("second WriteKeyFile succeeded")
		}
	})
	t.Run("bad key file contents", func(t *testing.T) {
		for name, content := range map[string]string{"short": "abcd", "not hex": strings.Repeat("zz", 32), "empty": ""} {
			p := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := store.ReadKeyFile(p); !errors.Is(err, store.ErrBadKey) {
				t.Errorf("%s: err = %v, want ErrBadKey", name, err)
			}
		}
	})
	t.Run("environment variable", func(t *testing.T) {
		t.Setenv("BOXSTORM_TEST_KEY", keyHex)
		dir := t.TempDir()
		s, err := store.Open(ctx, dir, store.Options{Key: store.KeyEnv("BOXSTORM_TEST_KEY")})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		// The same key given as bytes opens the same store.
		s = testutil.MustOpen(t, dir)
		s.Close()
		t.Setenv("BOXSTORM_TEST_KEY", "")
		if _, err := store.Open(ctx, dir, store.Options{Key: store.KeyEnv("BOXSTORM_TEST_KEY")}); !errors.Is(err, store.ErrBadKey) {
			t.Errorf("unset variable: err = %v, want ErrBadKey", err)
		}
	})
	t.Run("passphrase", func(t *testing.T) {
		dir := t.TempDir()
		s, err := store.Open(ctx, dir, store.Options{Key: store.Passphrase("correct horse battery")})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		s, err = store.Open(ctx, dir, store.Options{Key: store.Passphrase("correct horse battery")})
		if err != nil {
			t.Fatalf("reopen with the same passphrase: %v", err)
		}
		s.Close()
		if _, err := store.Open(ctx, dir, store.Options{Key: store.Passphrase("wrong horse battery")}); !errors.Is(err, store.ErrWrongKey) {
			t.Errorf("wrong passphrase: err = %v, want ErrWrongKey", err)
		}
	})
}

func TestOpen_SecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	testutil.MustOpen(t, dir)
	_, err := store.Open(context.Background(), dir, testutil.Options())
	var le *store.LockedError
	if !errors.As(err, &le) || !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second open in the same process: err = %v, want LockedError", err)
	}
	if le.PID != os.Getpid() {
		t.Errorf("holder pid = %d, want %d", le.PID, os.Getpid())
	}
	if !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("error does not name the pid: %v", err)
	}

	// And from another process.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BOXSTORM_STORE_HELPER=open", "BOXSTORM_STORE_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "locked by pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("second open from another process: err = %v, output %q", err, out)
	}
}

func TestNoPlaintextOnDisk(t *testing.T) {
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	ctx := context.Background()
	marker := []byte("PLAINTEXT-MARKER-7f3a9c")
	if _, err := s.Enqueue(ctx, marker, store.EnqueueOptions{IdempotencyKey: "idem-PLAINTEXT-MARKER-7f3a9c", Subject: "subject-PLAINTEXT-MARKER-7f3a9c"}); err != nil {
		t.Fatal(err)
	}
	lease, err := s.AcquireLock(ctx, store.LockRequest{Owner: "p"})
	if err != nil {
		t.Fatal(err)
	}
	op, err := s.Claim(ctx, lease.Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fail(ctx, lease.Token, op.ID, "handler said PLAINTEXT-MARKER-7f3a9c"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "notes", "k", marker); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	err = filepathWalkFiles(dir, func(path string, data []byte) {
		if bytes.Contains(data, []byte("PLAINTEXT-MARKER")) {
			t.Errorf("%s contains the plaintext marker", path)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func filepathWalkFiles(dir string, fn func(path string, data []byte)) error {
	return filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || !info.Mode().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fn(p, b)
		return nil
	})
}

func TestDataBoxes(t *testing.T) {
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	ctx := context.Background()
	if err := s.Put(ctx, "users", "u1", []byte("alice")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "users", "u1"); err != nil || string(got) != "alice" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if err := s.Delete(ctx, "users", "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "users", "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	for _, c := range []struct{ name, box, key string }{
		{"reserved box", store.BoxPending, "k"},
		{"bad box name", "Users!", "k"},
		{"empty key", "users", ""},
		{"NUL key", "users", "\x00txn"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := s.Put(ctx, c.box, c.key, []byte("v")); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Put(%q, %q): err = %v, want ErrInvalid", c.box, c.key, err)
			}
		})
	}
	// Data boxes reopen with the store.
	if err := s.Put(ctx, "users", "u2", []byte("bob")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = testutil.MustOpen(t, dir)
	if got, err := s.Get(ctx, "users", "u2"); err != nil || string(got) != "bob" {
		t.Errorf("Get after reopen = %q, %v", got, err)
	}
}

func TestRecordsAreBoundToBoxAndKey(t *testing.T) {
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	ctx := context.Background()
	if err := s.Put(ctx, "users", "alice", []byte("secret-a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "users", "bob", []byte("secret-b")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Swap the two sealed values in the file: lengths stay equal, so the
	// buntdb framing still parses and only the AEAD binding can tell.
	path := filepath.Join(dir, "users.db")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	swapped := swapValues(t, data, "alice", "bob")
	if err := os.WriteFile(path, swapped, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(ctx, dir, testutil.Options())
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("open after swapping two records: err = %v, want ErrCorrupt", err)
	}
}
