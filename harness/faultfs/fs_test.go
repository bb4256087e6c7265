package faultfs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/faultfs"
)

func TestPowerLoss_LosesUnsyncedWrite(t *testing.T) {
	m, ctx := mount(t)
	p := filepath.Join(m.Dir, "f")
	writeFile(t, m.Dir, "f", "durable", true, true)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("+lost"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	writeFile(t, m.Dir, "new", "never synced", false, false)
	// Read and stat so the kernel caches the unsynced bytes, the size and
	// the new name: none of it may outlive the power loss.
	if got, want := content(t, p), "durable+lost"; got != want {
		t.Fatalf("before power loss: %q, want %q", got, want)
	}
	for _, name := range []string{"f", "new"} {
		if _, err := os.Stat(filepath.Join(m.Dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.PowerLoss(ctx, faultfs.LoseUnsynced, 0); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Size() != int64(len("durable")) {
		t.Fatalf("stat after power loss: %v, %v; want size %d (a cached attribute?)", fi, err, len("durable"))
	}
	if _, err := os.Stat(filepath.Join(m.Dir, "new")); !os.IsNotExist(err) {
		t.Fatalf("stat of an unsynced new file after power loss: %v, want not exist (a cached entry?)", err)
	}
	if got, want := content(t, p), "durable"; got != want {
		t.Fatalf("after power loss: %q, want %q (a cached page served dropped data?)", got, want)
	}
	if got, want := content(t, filepath.Join(m.Backing, "f")), "durable"; got != want {
		t.Fatalf("backing after power loss: %q, want %q", got, want)
	}
}

func TestPowerLoss_SyncedFileAndDirSurvive(t *testing.T) {
	m, ctx := mount(t)
	if err := os.Mkdir(filepath.Join(m.Dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	syncDirectory(t, m.Dir)
	writeFile(t, m.Dir, "d/kept", "both synced", true, true)
	// Synced data, but the directory was never synced: strict POSIX loses
	// the name, and with it the file.
	writeFile(t, m.Dir, "d/nameless", "file synced only", true, false)
	writeFile(t, m.Dir, "d/unsynced", "nothing synced", false, false)
	if err := m.PowerLoss(ctx, faultfs.LoseUnsynced, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := listing(t, m.Dir), "d/ d/kept=both synced"; got != want {
		t.Fatalf("after power loss: %q, want %q", got, want)
	}
}

func TestPowerLoss_UndoesRenameNotCoveredByDirFsync(t *testing.T) {
	m, ctx := mount(t)
	writeFile(t, m.Dir, "a", "old", true, true)
	writeFile(t, m.Dir, "tmp", "new", true, false)
	if err := os.Rename(filepath.Join(m.Dir, "tmp"), filepath.Join(m.Dir, "a")); err != nil {
		t.Fatal(err)
	}
	if got, want := listing(t, m.Dir), "a=new"; got != want {
		t.Fatalf("live: %q, want %q", got, want)
	}
	if err := m.PowerLoss(ctx, faultfs.LoseUnsynced, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := listing(t, m.Dir), "a=old"; got != want {
		t.Fatalf("rename without dir fsync: %q, want %q", got, want)
	}

	writeFile(t, m.Dir, "tmp", "new", true, false)
	if err := os.Rename(filepath.Join(m.Dir, "tmp"), filepath.Join(m.Dir, "a")); err != nil {
		t.Fatal(err)
	}
	syncDirectory(t, m.Dir)
	if err := m.PowerLoss(ctx, faultfs.LoseUnsynced, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := listing(t, m.Dir), "a=new"; got != want {
		t.Fatalf("rename with dir fsync: %q, want %q", got, want)
	}
}

// tornRun writes 8 sectors of distinct bytes without fsync to a durable
// empty file, loses power in torn mode, and returns what survived.
func tornRun(t *testing.T, m *faultfs.Mount, seed uint64) []byte {
	t.Helper()
	writeFile(t, m.Dir, "f", "", true, true)
	data := bytes.Repeat([]byte{0}, 8*faultfs.SectorSize)
	for i := range data {
		data[i] = byte('A' + i/faultfs.SectorSize)
	}
	f, err := os.OpenFile(filepath.Join(m.Dir, "f"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := m.PowerLoss(t.Context(), faultfs.Torn, seed); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(m.Dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got)%faultfs.SectorSize != 0 || len(got) > len(data) {
		t.Fatalf("seed %d: torn length %d is not whole sectors of at most %d", seed, len(got), len(data))
	}
	for s := 0; s < len(got); s += faultfs.SectorSize {
		sec := got[s : s+faultfs.SectorSize]
		if !bytes.Equal(sec, data[s:s+faultfs.SectorSize]) && !bytes.Equal(sec, make([]byte, faultfs.SectorSize)) {
			t.Fatalf("seed %d: sector %d is neither written nor zero: %q", seed, s/faultfs.SectorSize, sec[:8])
		}
	}
	return got
}

func TestPowerLoss_TornKeepsSectorSubsetDeterministically(t *testing.T) {
	m, _ := mount(t)
	first := tornRun(t, m, 1)
	if again := tornRun(t, m, 1); !bytes.Equal(first, again) {
		t.Fatalf("seed 1 gave two different torn states:\n%q\n%q", summary(first), summary(again))
	}
	differs, partial := false, false
	for seed := uint64(2); seed < 10; seed++ {
		got := tornRun(t, m, seed)
		differs = differs || !bytes.Equal(got, first)
		n := bytes.Count(got, []byte{0})
		partial = partial || (len(got) > 0 && n > 0)
	}
	if !differs {
		t.Errorf("seeds 1..9 all gave %q: the seed changes nothing", summary(first))
	}
	if !partial {
		t.Errorf("no seed in 2..9 left a partly written file: torn writes never tear")
	}
}

// summary renders a torn file one letter per sector, '.' for zeros.
func summary(b []byte) string {
	var s []byte
	for i := 0; i < len(b); i += faultfs.SectorSize {
		if b[i] == 0 {
			s = append(s, '.')
		} else {
			s = append(s, b[i])
		}
	}
	return string(s)
}

func TestFsyncError_ReturnsEIOAndDataIsNotDurable(t *testing.T) {
	m, ctx := mount(t)
	writeFile(t, m.Dir, "f", "old", true, true)
	if err := m.FsyncError(ctx, 1, false); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(m.Dir, "f"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("new"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync: %v, want EIO", err)
	}
	// Not sticky: the next fsync succeeds, and must not save the dropped data.
	if err := f.Sync(); err != nil {
		t.Fatalf("second fsync: %v, want success", err)
	}
	if got, want := content(t, filepath.Join(m.Dir, "f")), "new"; got != want {
		t.Fatalf("live after failed fsync: %q, want %q (pages stay cached)", got, want)
	}
	st, err := m.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.FsyncErrors != 1 {
		t.Errorf("FsyncErrors = %d, want 1", st.FsyncErrors)
	}
	f.Close()
	if err := m.PowerLoss(ctx, faultfs.LoseUnsynced, 0); err != nil {
		t.Fatal(err)
	}
	// The truncate was dropped with the write: the old content is what the disk holds.
	if got, want := content(t, filepath.Join(m.Dir, "f")), "old"; got != want {
		t.Fatalf("after power loss: %q, want %q", got, want)
	}
}

func TestFsyncError_Sticky(t *testing.T) {
	m, ctx := mount(t)
	writeFile(t, m.Dir, "f", "x", true, true)
	if err := m.FsyncError(ctx, 2, true); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(m.Dir, "f"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var errs []error
	for range 4 {
		errs = append(errs, f.Sync())
	}
	if errs[0] != nil || !errors.Is(errs[1], syscall.EIO) || !errors.Is(errs[2], syscall.EIO) || !errors.Is(errs[3], syscall.EIO) {
		t.Fatalf("fsyncs returned %v, want nil then EIO, EIO, EIO", errs)
	}
	if err := m.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("fsync after Reset: %v", err)
	}
}

func TestENOSPC_AtBudget(t *testing.T) {
	m, ctx := mount(t)
	f, err := os.Create(filepath.Join(m.Dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := m.ENOSPC(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 600)); err != nil {
		t.Fatalf("first 600 bytes: %v", err)
	}
	if _, err := f.Write(make([]byte, 600)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write past the budget: %v, want ENOSPC", err)
	}
	if _, err := f.Write(make([]byte, 400)); err != nil {
		t.Fatalf("write up to the budget: %v", err)
	}
	if _, err := os.Create(filepath.Join(m.Dir, "g")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("create with the budget spent: %v, want ENOSPC", err)
	}
	if err := m.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 600)); err != nil {
		t.Fatalf("write after Reset: %v", err)
	}
	st, err := m.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ENOSPCErrors != 2 || st.BytesWritten != 1600 {
		t.Errorf("stats: ENOSPCErrors %d BytesWritten %d, want 2 and 1600", st.ENOSPCErrors, st.BytesWritten)
	}
}

func TestSlowIO_DelaysWritesAndFsyncs(t *testing.T) {
	m, ctx := mount(t)
	if err := m.SlowIO(ctx, 42, faultfs.Delay{Median: 100 * time.Microsecond, P99: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, m.Dir, "f", "abc", true, true)
	st, err := m.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// one write, one fsync, one directory fsync
	if st.DelayedOps != 3 {
		t.Errorf("DelayedOps = %d, want 3", st.DelayedOps)
	}
	if err := m.SlowIO(ctx, 1, faultfs.Delay{Median: time.Second, P99: time.Millisecond}); err == nil {
		t.Error("SlowIO accepted a p99 below the median")
	}
}

func TestStats_CountsUnsynced(t *testing.T) {
	m, ctx := mount(t)
	writeFile(t, m.Dir, "f", "12345", false, false)
	st, err := m.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.UnsyncedBytes != 5 || st.UnsyncedOps != 2 || st.Writes != 1 {
		t.Errorf("stats %+v: want 5 unsynced bytes in 2 ops (create, write), 1 write", st)
	}
	syncDirectory(t, m.Dir)
	writeFile(t, m.Dir, "f", "12345", true, false)
	if st, err = m.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	if st.UnsyncedBytes != 0 || st.UnsyncedOps != 0 || st.Fsyncs != 2 {
		t.Errorf("stats %+v: want nothing unsynced after both fsyncs, 2 fsyncs", st)
	}
}

// A descriptor that outlives a power loss must not write into the new state.
func TestPowerLoss_OpenDescriptorFails(t *testing.T) {
	m, ctx := mount(t)
	writeFile(t, m.Dir, "f", "durable", true, true)
	f, err := os.OpenFile(filepath.Join(m.Dir, "f"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := m.PowerLoss(ctx, faultfs.LoseUnsynced, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("stale"), 0); err == nil {
		t.Fatal("a write through a descriptor from before the power loss succeeded")
	}
	if got, want := content(t, filepath.Join(m.Dir, "f")), "durable"; got != want {
		t.Fatalf("after stale write: %q, want %q", got, want)
	}
}

func TestStart_CleansStaleMount(t *testing.T) {
	m, ctx := mount(t)
	writeFile(t, m.Dir, "f", "x", true, true)
	// Kill the server behind the client's back: the mount goes stale.
	if err := faultfs.KillServerForTest(m); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(m.Dir, "f")); err == nil {
		t.Fatal("stat on a mount whose server was killed succeeded")
	}
	m2, err := faultfs.Start(ctx, serverCmd(), m.Backing, m.Dir, faultfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if got, want := content(t, filepath.Join(m2.Dir, "f")), "x"; got != want {
		t.Fatalf("after restart: %q, want %q", got, want)
	}
}

func TestStart_ServerThatFailsToMount(t *testing.T) {
	if err := faultfs.Available(); err != nil {
		t.Skipf("skipped, FUSE cannot mount here: %v", err)
	}
	dir := t.TempDir()
	// A backing directory holding a symlink: the model refuses it, so the
	// server exits before mounting, and Start must say why.
	backing := filepath.Join(dir, "backing")
	if err := os.MkdirAll(backing, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("x", filepath.Join(backing, "link")); err != nil {
		t.Fatal(err)
	}
	_, err := faultfs.Start(t.Context(), serverCmd(), backing, filepath.Join(dir, "mnt"), faultfs.Options{Timeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Fatalf("Start over a symlink: %v, want an error naming the unsupported file", err)
	}
}

func TestStart_RefusesNestedDirectories(t *testing.T) {
	if err := faultfs.Available(); err != nil {
		t.Skipf("skipped, FUSE cannot mount here: %v", err)
	}
	dir := t.TempDir()
	for _, tc := range []struct{ name, backing, mnt string }{
		{"mount inside backing", dir, filepath.Join(dir, "mnt")},
		{"backing inside mount", filepath.Join(dir, "mnt", "b"), filepath.Join(dir, "mnt")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if m, err := faultfs.Start(t.Context(), serverCmd(), tc.backing, tc.mnt, faultfs.Options{}); err == nil {
				m.Close()
				t.Fatal("Start accepted nested directories")
			}
		})
	}
}
