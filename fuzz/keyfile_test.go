package fuzz_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/store"
)

// Kinds of FuzzKeyFile input (kind modulo keyKinds).
const (
	keyRegular    = iota // a regular file with the content and mode
	keySymlink           // a symlink to such a file
	keyDirectory         // a directory with the mode
	keyMissing           // no file
	keyPassphrase        // the content as a passphrase, not a file
	keyKinds
)

// FuzzKeyFile parses arbitrary content as a master key: with ParseKey, and
// with ReadKeyFile from a file of any mode (or a symlink to one, a
// directory, no file). Nothing panics; every refusal of a key wraps ErrBadKey
// and never quotes the content; a key file is refused when its mode lets
// group or others in, and otherwise reads exactly as ParseKey reads its
// content. A passphrase shorter than 8 bytes is refused with ErrBadKey before
// argon2id runs, by an error that depends only on its length (longer ones
// are not opened here: argon2id takes 64 MiB and a tenth of a second).
func FuzzKeyFile(f *testing.F) {
	f.Add(store.FormatKey(make([]byte, 32)), uint16(0o600), uint8(keyRegular))
	f.Fuzz(func(t *testing.T, content []byte, mode uint16, kind uint8) {
		key, perr := store.ParseKey(content)
		if perr != nil {
			checkKeyError(t, "ParseKey", perr, content, "")
		} else if k2, err := store.ParseKey(store.FormatKey(key)); err != nil || !bytes.Equal(k2, key) {
			t.Fatalf("FormatKey/ParseKey round trip: %x, %v; want %x", k2, err, key)
		}

		dir := t.TempDir()
		path := filepath.Join(dir, "key")
		perm := fs.FileMode(mode) & fs.ModePerm
		switch kind % keyKinds {
		case keyRegular, keySymlink:
			target := path
			if kind%keyKinds == keySymlink {
				target = filepath.Join(dir, "target")
				if err := os.Symlink(target, path); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(target, content, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(target, perm); err != nil {
				t.Fatal(err)
			}
			got, err := store.ReadKeyFile(path)
			switch {
			case err != nil && errors.Is(err, fs.ErrPermission):
				// Not root: the file is unreadable.
			case perm&0o077 != 0:
				if !errors.Is(err, store.ErrBadKey) || !strings.Contains(err.Error(), "mode") {
					t.Fatalf("key file of mode %04o: error %v, want ErrBadKey naming the mode", perm, err)
				}
			case (err == nil) != (perr == nil) || !bytes.Equal(got, key):
				t.Fatalf("ReadKeyFile of a %d-byte file: key %x, error %v; ParseKey of its content: key %x, error %v", len(content), got, err, key, perr)
			}
			if err != nil {
				checkKeyError(t, "ReadKeyFile", err, content, path)
			}
		case keyDirectory:
			if err := os.Mkdir(path, perm|0o700); err != nil {
				t.Fatal(err)
			}
			if _, err := store.ReadKeyFile(path); !errors.Is(err, store.ErrBadKey) {
				t.Fatalf("ReadKeyFile of a directory: %v, want ErrBadKey", err)
			}
		case keyMissing:
			if _, err := store.ReadKeyFile(path); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "hint") {
				t.Fatalf("ReadKeyFile of a missing file: %v, want ErrNotExist with a hint", err)
			}
		case keyPassphrase:
			if len(content) >= 8 {
				return
			}
			_, err := store.Open(context.Background(), dir, store.Options{Key: store.Passphrase(string(content)), Logger: quiet})
			if !errors.Is(err, store.ErrBadKey) {
				t.Fatalf("Open with a %d-byte passphrase: %v, want ErrBadKey", len(content), err)
			}
			_, ref := store.Open(context.Background(), t.TempDir(), store.Options{Key: store.Passphrase(strings.Repeat("\x01", len(content))), Logger: quiet})
			if ref == nil || !sameShape(err.Error(), ref.Error()) {
				t.Fatalf("the error for a short passphrase depends on its content: %q vs %q", err, ref)
			}
		}
	})
}

// checkKeyError checks a refused key: the error wraps ErrBadKey (or is an
// I/O error of the file) and quotes no run of 8 hexadecimal digits of the
// content, once the file's path is taken out.
func checkKeyError(t *testing.T, what string, err error, content []byte, path string) {
	t.Helper()
	if !errors.Is(err, store.ErrBadKey) && !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("%s: error %v does not wrap ErrBadKey", what, err)
	}
	msg := err.Error()
	if path != "" {
		msg = strings.ReplaceAll(msg, path, "")
		msg = strings.ReplaceAll(msg, filepath.Dir(path), "")
	}
	for i := 0; i+8 <= len(content); i++ {
		run := content[i : i+8]
		if isHex(run) && strings.Contains(msg, string(run)) {
			t.Fatalf("%s: error %q quotes the key material %q", what, msg, run)
		}
	}
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// sameShape compares two errors with their directories taken out.
func sameShape(a, b string) bool {
	strip := func(s string) string {
		var out []string
		for _, w := range strings.Fields(s) {
			if !strings.Contains(w, string(filepath.Separator)) {
				out = append(out, w)
			}
		}
		return strings.Join(out, " ")
	}
	return strip(a) == strip(b)
}

// TestKeyFileFIFO checks that a FIFO at the key path is refused as not a
// regular file, rather than blocking until someone writes to it.
func TestKeyFileFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := store.ReadKeyFile(path)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, store.ErrBadKey) {
			t.Fatalf("ReadKeyFile of a FIFO: %v, want ErrBadKey", err)
		}
		return
	case <-time.After(time.Second):
	}
	// Unblock the reader: open the FIFO for writing and close it.
	if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		w.Close()
	}
	<-done
	t.Fatal("ReadKeyFile of a FIFO blocked until a writer opened it")
}
