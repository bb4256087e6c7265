package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
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

// Concurrent commits share fsyncs, yet none is acknowledged before an
// fsync that started after it was written has succeeded, and once an
// fsync fails every later commit fails too.
func TestSyncer_GroupCommitAcksOnlySynced(t *testing.T) {
	f, err := openTemp(t)
	if err != nil {
		t.Fatal(err)
	}
	s := newSyncer(f, "")
	run := func(check func(ticket uint64, err error)) {
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range 30 {
					ticket := s.written(checkpointEntry{})
					check(ticket, s.waitFor(ticket))
				}
			})
		}
		wg.Wait()
	}
	run(func(ticket uint64, err error) {
		s.mu.Lock()
		synced := s.synced
		s.mu.Unlock()
		if err != nil || synced < ticket {
			t.Errorf("commit %d acknowledged with synced = %d, err = %v", ticket, synced, err)
		}
	})
	if n := s.count.Load(); n == 0 || n > 16*30 {
		t.Errorf("%d fsyncs for %d commits", n, 16*30)
	}
	f.Close() // every later fsync fails, as on a failing disk
	run(func(ticket uint64, err error) {
		if !errors.Is(err, ErrSync) {
			t.Errorf("commit %d after the failure: err = %v, want ErrSync", ticket, err)
		}
	})
}
