package store

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testKey() KeySource { return KeyBytes(bytes.Repeat([]byte{0x5c}, 32)) }

// quiet is a logger for stores whose warnings (a t.TempDir's mode) are noise.
var quiet = slog.New(slog.DiscardHandler)

// copyStoreFiles copies dir's regular files but the directory lock into a
// new directory: what a machine holds of the store at this instant, once
// each box file is cut where the caller says.
func copyStoreFiles(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || e.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// A checkpoint written between a commit's write and its fsync must not
// record that commit: a power loss then keeps the box only up to its last
// fsync, and a checkpoint beyond that would turn an ordinary power loss into
// a refused open ("acknowledged transactions were cut off"). The commit is
// held between its write and its fsync by not waiting for it yet, as a
// SyncAlways caller is between commit and wait.
func TestCheckpoint_RecordsOnlyFsyncedCommits(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := Options{Key: testKey(), Sync: SyncAlways, Logger: quiet,
		CheckpointPeriod: MaxCheckpointPeriod} // no background checkpoint: the test writes them
	s, err := Open(ctx, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	if err := s.Put(ctx, "ckpt", "k0", []byte("durable")); err != nil {
		t.Fatal(err)
	}
	b, err := s.dataBox("ckpt")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cp.update(s.boxList()); err != nil {
		t.Fatal(err)
	}
	synced := s.cp.entry("ckpt")
	if synced == nil || synced.Seq == 0 {
		t.Fatalf("checkpoint after an fsynced Put: entry %+v, want the Put's transaction", synced)
	}
	fi, err := os.Stat(b.path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != synced.Length {
		t.Fatalf("checkpointed length %d, file %d bytes after the fsync", synced.Length, fi.Size())
	}

	wait, err := b.commit(func(t *txn) error { return t.put("k1", []byte("written, not yet fsynced")) })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cp.update(s.boxList()); err != nil {
		t.Fatal(err)
	}
	if got := s.cp.entry("ckpt"); got == nil || *got != *synced {
		t.Fatalf("checkpoint written before the commit's fsync: entry %+v, want %+v (the last fsynced commit)", got, *synced)
	}
	// What a power loss now leaves: the box as its last fsync left it, the
	// checkpoint as written. It must open.
	lost := copyStoreFiles(t, dir)
	if err := os.Truncate(filepath.Join(lost, "ckpt.db"), synced.Length); err != nil {
		t.Fatal(err)
	}
	if ls, err := Open(ctx, lost, o); err != nil {
		t.Fatalf("open after a power loss before the commit's fsync: %v", err)
	} else {
		if v, err := ls.Get(ctx, "ckpt", "k0"); err != nil || string(v) != "durable" {
			t.Errorf("k0 after the power loss: %q, %v", v, err)
		}
		ls.Close()
	}

	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if err := s.cp.update(s.boxList()); err != nil {
		t.Fatal(err)
	}
	got := s.cp.entry("ckpt")
	if got == nil || got.Seq != synced.Seq+1 {
		t.Fatalf("checkpoint after the commit's fsync: entry %+v, want transaction %d", got, synced.Seq+1)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = nil
	// And the checkpoint on disk is the one the store kept.
	c, err := loadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if e := c.entry("ckpt"); e == nil || *e != *got {
		t.Fatalf("checkpoint.json after Close: %+v, want %+v", e, *got)
	}
}

func TestOpen_RefusesCheckpointPeriodOutOfRange(t *testing.T) {
	for _, p := range []time.Duration{-time.Second, MinCheckpointPeriod - 1, MaxCheckpointPeriod + 1} {
		dir := t.TempDir()
		_, err := Open(context.Background(), dir, Options{Key: testKey(), Logger: quiet, CheckpointPeriod: p})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "checkpoint period") {
			t.Errorf("CheckpointPeriod %v: err %v, want ErrInvalid naming the checkpoint period", p, err)
		}
		// Refused before anything is created.
		if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
			t.Errorf("CheckpointPeriod %v: the refused open left %d files (%v)", p, len(ents), err)
		}
	}
	for _, p := range []time.Duration{0, MinCheckpointPeriod, MaxCheckpointPeriod} {
		s, err := Open(context.Background(), t.TempDir(), Options{Key: testKey(), Logger: quiet, CheckpointPeriod: p})
		if err != nil {
			t.Errorf("CheckpointPeriod %v: %v", p, err)
			continue
		}
		s.Close()
	}
}
