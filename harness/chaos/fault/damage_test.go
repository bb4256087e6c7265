package fault_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/scenarios"
)

func write(t *testing.T, path string, n int) []byte {
	t.Helper()
	b := bytes.Repeat([]byte("0123456789abcdef"), n/16)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

// The reference store's box file is damaged when it exists; a target's
// directory, in a layout of its own, has its largest file damaged, and the
// damage names that file's stem as the box a report must name.
func TestDamageBox_FindsTheFile(t *testing.T) {
	f := scenarios.Fault{Type: scenarios.FaultNULRun, Box: "pending_ops", Length: 32}
	t.Run("reference store", func(t *testing.T) {
		dir := t.TempDir()
		box := write(t, filepath.Join(dir, "pending_ops.db"), 1024)
		write(t, filepath.Join(dir, "bigger.jsonl"), 4096)
		d, err := fault.DamageBox(dir, f, 1)
		if err != nil || d.Box != "pending_ops" || d.File != "pending_ops.db" {
			t.Fatalf("damage %+v, %v: want pending_ops.db", d, err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, "pending_ops.db"))
		if bytes.Equal(got, box) {
			t.Error("pending_ops.db is unchanged")
		}
	})
	t.Run("a target's layout", func(t *testing.T) {
		dir := t.TempDir()
		journal := write(t, filepath.Join(dir, "journal.jsonl"), 4096)
		write(t, filepath.Join(dir, "lock"), 16)
		d, err := fault.DamageBox(dir, f, 1)
		if err != nil || d.Box != "journal" || d.File != "journal.jsonl" {
			t.Fatalf("damage %+v, %v: want journal.jsonl, box journal", d, err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, "journal.jsonl"))
		if bytes.Equal(got, journal) {
			t.Error("journal.jsonl is unchanged")
		}
	})
	t.Run("nothing to damage", func(t *testing.T) {
		if _, err := fault.DamageBox(t.TempDir(), f, 1); !errors.Is(err, fault.ErrUnsupportedFault) {
			t.Errorf("empty directory: %v, want ErrUnsupportedFault", err)
		}
	})
}
