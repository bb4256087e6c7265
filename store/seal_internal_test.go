package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func openTemp(t *testing.T) (*os.File, error) {
	return os.Create(filepath.Join(t.TempDir(), "f"))
}

func TestSealer_BindsBoxKeyAndKeyID(t *testing.T) {
	keys := map[uint32][]byte{1: bytes.Repeat([]byte{1}, 32), 2: bytes.Repeat([]byte{2}, 32)}
	users, err := newSealer(builtinTypes(), "users", 1, keys)
	if err != nil {
		t.Fatal(err)
	}
	other, err := newSealer(builtinTypes(), "other", 1, keys)
	if err != nil {
		t.Fatal(err)
	}
	sealed := users.seal("alice", []byte("secret"))
	if pt, err := users.open("alice", sealed); err != nil || string(pt) != "secret" {
		t.Fatalf("open = %q, %v", pt, err)
	}
	cases := map[string]func() ([]byte, error){
		"other key":  func() ([]byte, error) { return users.open("bob", sealed) },
		"other box":  func() ([]byte, error) { return other.open("alice", sealed) },
		"key id":     func() ([]byte, error) { b := bytes.Clone(sealed); b[4] = 2; return users.open("alice", b) },
		"flipped":    func() ([]byte, error) { b := bytes.Clone(sealed); b[len(b)-1] ^= 1; return users.open("alice", b) },
		"version":    func() ([]byte, error) { b := bytes.Clone(sealed); b[0] = 9; return users.open("alice", b) },
		"truncated":  func() ([]byte, error) { return users.open("alice", sealed[:10]) },
		"unknown id": func() ([]byte, error) { b := bytes.Clone(sealed); b[4] = 7; return users.open("alice", b) },
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := fn(); !errors.Is(err, ErrCorrupt) {
				t.Errorf("err = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestSyncer_ErrorIsSticky(t *testing.T) {
	f, err := openTemp(t)
	if err != nil {
		t.Fatal(err)
	}
	s := newSyncer(f, "")
	ticket := s.written(checkpointEntry{})
	if err := s.waitFor(ticket); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	f.Close() // every later fsync fails, as on a failing disk
	ticket = s.written(checkpointEntry{})
	if err := s.waitFor(ticket); !errors.Is(err, ErrSync) {
		t.Fatalf("sync on a closed file: err = %v, want ErrSync", err)
	}
	if err := s.syncNow(); !errors.Is(err, ErrSync) {
		t.Errorf("the error did not stick: %v", err)
	}
}
