package store_test

// Crash states built by hand: what a power loss can leave in the middle of
// a procedure (the fault file system's exploration finds them; these tests
// pin each one down without FUSE).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// migrationStep returns the box files persistence_metadata.db and synth.db
// before and after one migration step (to the version after the built-in
// ones, which appends "t<version>," to synth/marker), and the directory,
// left at the old state without a checkpoint (the swap forgets the
// entries of the boxes it replaces before its first rename).
func migrationStep(t *testing.T) (dir string, old, new map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	list := tagMigrations("t", 1)
	opts := testutil.Options(func(o *store.Options) { o.Migrations = list })
	s, err := store.Open(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.MigrateWith(ctx, store.BuiltinMigrations()); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "synth", "marker", []byte("v,")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := []string{"persistence_metadata.db", "synth.db"}
	old, new = map[string][]byte{}, map[string][]byte{}
	for _, f := range files {
		old[f] = readFile(t, filepath.Join(dir, f))
	}
	if s, err = store.Open(ctx, dir, opts); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Migrate(ctx); err != nil || len(rep.Applied) != 1 {
		t.Fatalf("migrate: %+v, %v", rep, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		new[f] = readFile(t, filepath.Join(dir, f))
		writeFile(t, filepath.Join(dir, f), old[f])
	}
	if err := os.Remove(filepath.Join(dir, "checkpoint.json")); err != nil {
		t.Fatal(err)
	}
	return dir, old, new
}

// swapJournal writes the swap journal of the migration step's swap, as
// swapBoxes does before its first rename (docs/store-format.md).
func swapJournal(t *testing.T, dir string, new map[string][]byte) {
	t.Helper()
	type entry struct {
		Name   string `json:"name"`
		Staged string `json:"staged"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	}
	j := struct {
		Version int     `json:"version"`
		Boxes   []entry `json:"boxes"`
	}{Version: 1}
	for _, f := range []string{"persistence_metadata.db", "synth.db"} {
		sum := sha256.Sum256(new[f])
		j.Boxes = append(j.Boxes, entry{Name: f[:len(f)-3], Staged: ".migrate-1/" + f, Size: int64(len(new[f])), SHA256: hex.EncodeToString(sum[:])})
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "swap-journal.json"), b)
}

// A swap journal names a staged file that is gone. If the live file is the
// staged one, the rename happened and Open finishes the rest. If it is not
// (the staged file's name was lost in a power cut), finishing would leave
// the schema version old and the migrated data new: Open must refuse and
// change nothing. Before the fix, Open swapped in synth.db alone and opened
// at schema version 2 with synth/marker at version 3.
func TestOpen_SwapJournalWithLostStagedFile(t *testing.T) {
	ctx := context.Background()
	opts := testutil.Options(func(o *store.Options) { o.Migrations = tagMigrations("t", 1) })
	want := store.LatestSchemaVersion() + 1

	t.Run("renamed: finished", func(t *testing.T) {
		dir, _, new := migrationStep(t)
		swapJournal(t, dir, new)
		writeFile(t, filepath.Join(dir, "persistence_metadata.db"), new["persistence_metadata.db"])
		writeFile(t, filepath.Join(dir, ".migrate-1", "synth.db"), new["synth.db"])
		s, err := store.Open(ctx, dir, opts)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer s.Close()
		if v, _ := s.SchemaVersion(); v != want {
			t.Errorf("schema version %d, want %d", v, want)
		}
		if b, err := s.Get(ctx, "synth", "marker"); err != nil || string(b) != "v,t3," {
			t.Errorf("synth/marker = %q, %v; want the migrated value", b, err)
		}
	})

	t.Run("lost: refused", func(t *testing.T) {
		dir, _, new := migrationStep(t)
		swapJournal(t, dir, new)
		// persistence_metadata.db is still the old file, and its staged
		// copy is gone; synth.db's staged copy is there.
		writeFile(t, filepath.Join(dir, ".migrate-1", "synth.db"), new["synth.db"])
		before := testutil.HashDir(t, dir)
		s, err := store.Open(ctx, dir, opts)
		if err == nil {
			v, _ := s.SchemaVersion()
			b, _ := s.Get(ctx, "synth", "marker")
			s.Close()
			t.Fatalf("Open finished a swap whose staged file is lost: schema version %d, synth/marker %q", v, b)
		}
		var ce *store.CorruptionError
		if !errors.As(err, &ce) || ce.Box != "persistence_metadata" {
			t.Fatalf("err = %v; want a CorruptionError naming persistence_metadata", err)
		}
		after := testutil.HashDir(t, dir)
		if len(after) != len(before) {
			t.Errorf("the refused Open changed the directory: %d files, then %d", len(before), len(after))
		}
		for name, h := range before {
			if after[name] != h {
				t.Errorf("%s changed although Open refused the store", name)
			}
		}
	})
}

// A crash inside the corrupted-box procedure (SIGKILL of a child at the
// failpoint) leaves a store that Open refuses as corrupt, never one that
// opens with the damaged box emptied; RecoverCorrupted run again with the
// same backup finishes it. Before the fix, a crash right after the damaged
// pending_ops was moved aside opened cleanly with an empty queue.
func TestRecoverCorrupted_CrashThenResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	ctx := context.Background()
	for _, fp := range []string{"recover/after-quarantine", "swap/after-journal", "swap/between-renames@2"} {
		t.Run(strings.ReplaceAll(fp, "/", "_"), func(t *testing.T) {
			dir := t.TempDir()
			s := testutil.MustOpen(t, dir)
			fill(t, s, 12)
			backup, _ := backupTo(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, store.BoxPending+".db")
			data := readFile(t, path)
			data[len(data)/2] ^= 0x10
			writeFile(t, path, data)

			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "BOXSTORM_STORE_HELPER=recover", "BOXSTORM_STORE_DIR="+dir, "BOXSTORM_STORE_BACKUP="+backup, "BOXSTORM_STORE_FAILPOINT="+fp)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed at %s: err %v, output %s", fp, err, out)
			}

			if s, err := store.Open(ctx, dir, testutil.Options()); err == nil {
				n := len(pendingPayloads(t, s))
				s.Close()
				t.Fatalf("after a kill at %s, Open succeeded with %d of 12 ops and no error", fp, n)
			} else if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "recover") {
				t.Fatalf("after a kill at %s: err = %v; want ErrCorrupt that says to rerun recover", fp, err)
			}
			before := testutil.HashDir(t, dir)
			if _, _, err := store.RecoverCorrupted(ctx, dir, backup, testutil.Options(func(o *store.Options) { o.Key = store.KeyBytes(testutil.OtherKey) })); !errors.Is(err, store.ErrWrongKey) {
				t.Fatalf("resume with a wrong key: err = %v, want ErrWrongKey", err)
			}
			for name, h := range testutil.HashDir(t, dir) {
				if name != "LOCK" && before[name] != h {
					t.Errorf("a wrong-key resume changed %s", name)
				}
			}

			s, rep, err := store.RecoverCorrupted(ctx, dir, backup, testutil.Options())
			if err != nil {
				t.Fatalf("resume after a kill at %s: %v", fp, err)
			}
			if len(rep.Damaged) != 1 || rep.Damaged[0] != store.BoxPending || !rep.Restored {
				t.Errorf("report %+v", rep)
			}
			if got := pendingPayloads(t, s); len(got) != 12 {
				t.Errorf("%d ops after the resumed recovery, want the backup's 12", len(got))
			}
			if q := readFile(t, rep.Quarantined[0]); !bytes.Equal(q, data) {
				t.Errorf("the quarantined file does not hold the damaged bytes")
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = testutil.MustOpen(t, dir)
			if vr, err := s.Verify(ctx); err != nil || !vr.OK() {
				t.Errorf("verify after the resumed recovery: %v\n%s", err, vr)
			}
		})
	}
}

// tornWithHoles makes a store whose data box ends with two transactions no
// checkpoint covers (k5 and k6, 1500-byte values, so a transaction spans
// sectors), and returns the intact file, where k5's transaction starts and
// where k6's starts. With keepCheckpoint the checkpoint covers them too.
func tornWithHoles(t *testing.T, keepCheckpoint bool) (dir, path string, orig []byte, k5, k6 int) {
	t.Helper()
	dir = t.TempDir()
	s := testutil.MustOpen(t, dir)
	putN(t, s, 0, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cp := saveCheckpoint(t, dir)
	path = filepath.Join(dir, "d.db")
	k5 = len(readFile(t, path))
	s = testutil.MustOpen(t, dir)
	big := bytes.Repeat([]byte("v"), 1500)
	if err := s.Put(context.Background(), "d", "k5", big); err != nil {
		t.Fatal(err)
	}
	k6 = len(readFile(t, path))
	if err := s.Put(context.Background(), "d", "k6", big); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !keepCheckpoint {
		cp.restore(t, dir)
	}
	return dir, path, readFile(t, path), k5, k6
}

// fill returns d with [lo, hi) set to b.
func fillRange(d []byte, lo, hi int, b byte) []byte {
	out := bytes.Clone(d)
	for i := lo; i < hi; i++ {
		out[i] = b
	}
	return out
}

const sector = 512

func up(n int) int { return (n + sector - 1) / sector * sector }

// After a power cut the writes since the last fsync reach the disk a
// sector at a time, in any order; a sector that never did reads as zeros,
// and later ones may be there. Such a tail holds nothing acknowledged (an
// fsync makes every earlier write durable): Open repairs it as a torn tail,
// back to the last whole transaction before the first hole. Zeros that are
// not such a block, any other bytes, and holes below the checkpoint are
// still refused. Before the fix every hole case was refused as corruption
// ("0x00 where '*' was expected").
func TestOpen_TornTailWithUnwrittenSectorsIsRepaired(t *testing.T) {
	ctx := context.Background()
	_, _, orig0, k50, k60 := tornWithHoles(t, false)
	if up(k50+1) >= k60 || up(k60+1) >= len(orig0) {
		t.Fatalf("transactions too small for the cases: k5 at %d, k6 at %d, end %d", k50, k60, len(orig0))
	}
	for _, c := range []struct {
		name string
		hole func(d []byte, k5, k6 int) []byte
	}{
		{"the first sector of the tail unwritten", func(d []byte, k5, k6 int) []byte { return fillRange(d, k5, up(k5+1), 0) }},
		{"a whole sector inside the transaction unwritten", func(d []byte, k5, k6 int) []byte { return fillRange(d, up(k5+1), up(k5+1)+sector, 0) }},
		{"the transaction's last piece unwritten, the next transaction written", func(d []byte, k5, k6 int) []byte {
			return fillRange(d, up(k6)-sector, k6, 0)
		}},
		{"the whole first transaction unwritten, the second written", func(d []byte, k5, k6 int) []byte { return fillRange(d, k5, k6, 0) }},
		{"a sector of the second transaction unwritten", func(d []byte, k5, k6 int) []byte { return fillRange(d, up(k6+1), up(k6+1)+sector, 0) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, path, orig, k5, k6 := tornWithHoles(t, false)
			d := c.hole(orig, k5, k6)
			writeFile(t, path, d)
			if _, err := store.Open(ctx, dir, testutil.Options(func(o *store.Options) { o.Recovery = store.Strict })); !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "torn") {
				t.Fatalf("strict open: err = %v; want the torn tail refused as one", err)
			}
			s, err := store.Open(ctx, dir, testutil.Options())
			if err != nil {
				t.Fatalf("open: %v; want the torn tail repaired", err)
			}
			defer s.Close()
			goodEnd := k5
			if c.name == "a sector of the second transaction unwritten" {
				goodEnd = k6
			}
			reps := s.Repairs()
			if len(reps) != 1 || reps[0].Kind != "torn-tail" || reps[0].Offset != int64(goodEnd) || reps[0].DroppedBytes != int64(len(d)-goodEnd) || !strings.Contains(reps[0].Reason, "never written") {
				t.Fatalf("repairs = %+v; want one torn-tail at %d dropping %d bytes", reps, goodEnd, len(d)-goodEnd)
			}
			if q := readFile(t, reps[0].Quarantine); !bytes.Equal(q, d) {
				t.Errorf("the quarantine copy does not hold the original bytes")
			}
			for i := range 5 {
				if v, err := s.Get(ctx, "d", "k"+strconv.Itoa(i)); err != nil || string(v) != "value-"+strconv.Itoa(i) {
					t.Errorf("k%d = %q, %v", i, v, err)
				}
			}
			_, err5 := s.Get(ctx, "d", "k5")
			_, err6 := s.Get(ctx, "d", "k6")
			if (goodEnd == k5 && !errors.Is(err5, store.ErrNotFound)) || (goodEnd == k6 && err5 != nil) || !errors.Is(err6, store.ErrNotFound) {
				t.Errorf("k5: %v, k6: %v; want the transactions from the first hole on dropped, and no other", err5, err6)
			}
			log, _ := s.AuditLog(ctx)
			if countEvents(log, store.EventBoxRepaired) != 1 {
				t.Errorf("no box_repaired audit entry")
			}
		})
	}
	for _, c := range []struct {
		name       string
		checkpoint bool
		damage     func(d []byte, k5, k6 int) []byte
	}{
		{"a hole below the checkpoint", true, func(d []byte, k5, k6 int) []byte { return fillRange(d, up(k5+1), up(k5+1)+sector, 0) }},
		{"a sector of 0xff", false, func(d []byte, k5, k6 int) []byte { return fillRange(d, up(k5+1), up(k5+1)+sector, 0xff) }},
		{"zeros in the middle of a sector", false, func(d []byte, k5, k6 int) []byte { return fillRange(d, up(k5+1)+10, up(k5+1)+300, 0) }},
		{"zeros from a sector boundary, then more of the sector", false, func(d []byte, k5, k6 int) []byte {
			hi := up(k5+1) + 100
			for d[hi] == '*' || d[hi] == 0 { // sealed bytes are random: not a record start
				hi++
			}
			return fillRange(d, up(k5+1), hi, 0)
		}},
	} {
		t.Run("refused: "+c.name, func(t *testing.T) {
			dir, path, orig, k5, k6 := tornWithHoles(t, c.checkpoint)
			d := c.damage(orig, k5, k6)
			writeFile(t, path, d)
			s, err := store.Open(ctx, dir, testutil.Options())
			if err == nil {
				reps := s.Repairs()
				s.Close()
				t.Fatalf("Open succeeded with repairs %+v; want corruption", reps)
			}
			var ce *store.CorruptionError
			if !errors.As(err, &ce) || ce.Box != "d" || strings.Contains(err.Error(), "incomplete last transaction") {
				t.Fatalf("err = %v; want a CorruptionError naming box d, not a torn write", err)
			}
			if !bytes.Equal(readFile(t, path), d) {
				t.Errorf("the refused Open changed the file")
			}
		})
	}
}
