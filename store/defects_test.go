package store_test

// Regression tests for the four defects found by sweeping damage over real
// box files (issue 13): a damaged last marker read as a torn tail, box files
// created 0644, a torn tail followed by zeros refused, and a truncation
// anywhere read as a torn tail.

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

const checkpointName = "checkpoint.json"

// fileRec is one record of a box file, located by offsets.
type fileRec struct {
	off, end       int
	keyOff, keyLen int
	lenOff, lenEnd int // the digits of the value's length prefix (sets only)
	key            string
}

// fileRecords parses a well-formed box file into its records.
func fileRecords(t *testing.T, d []byte) []fileRec {
	t.Helper()
	var out []fileRec
	for pos := 0; pos < len(d); {
		r := fileRec{off: pos}
		line := func() string {
			i := bytes.Index(d[pos:], []byte("\r\n"))
			if i < 0 {
				t.Fatalf("unterminated header at %d", pos)
			}
			s := string(d[pos : pos+i])
			pos += i + 2
			return s
		}
		n, _ := strconv.Atoi(line()[1:])
		for i := range n {
			digits := pos + 1
			l, _ := strconv.Atoi(line()[1:])
			if i == 1 {
				r.keyOff, r.keyLen, r.key = pos, l, string(d[pos:pos+l])
			}
			if i == 2 {
				r.lenOff, r.lenEnd = digits, pos-2
			}
			pos += l + 2
		}
		r.end = pos
		out = append(out, r)
	}
	return out
}

// checkpointState is the checkpoint file as it was at one moment (absent
// when nil), so a test can put it back: a torn write only ever hits a
// transaction no checkpoint has covered yet.
type checkpointState []byte

func saveCheckpoint(t *testing.T, dir string) checkpointState {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, checkpointName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (c checkpointState) restore(t *testing.T, dir string) {
	t.Helper()
	p := filepath.Join(dir, checkpointName)
	if c == nil {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		return
	}
	if err := os.WriteFile(p, c, 0o600); err != nil {
		t.Fatal(err)
	}
}

// putN writes n records to data box "d", one transaction each.
func putN(t *testing.T, s *store.Store, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := s.Put(context.Background(), "d", "k"+strconv.Itoa(i), []byte("value-"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
}

// A bit flipped in the last transaction's marker key, or in the marker's
// length digits when it is the file's last record, is damage to a complete
// transaction: Open must refuse it in the default mode (never drop the
// transaction as a torn tail), and strict mode must not call it a torn write.
func TestOpen_DamagedLastMarkerIsCorruption(t *testing.T) {
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	path := filepath.Join(dir, "d.db")
	var recs []fileRec
	var orig []byte
	// Records of a transaction are written in random order: write until the
	// file ends with a marker, so the length-digit case is reached.
	for i := 0; ; i++ {
		putN(t, s, i, 1)
		orig, _ = os.ReadFile(path)
		recs = fileRecords(t, orig)
		if recs[len(recs)-1].key == "\x00txn" && i >= 2 {
			break
		}
		if i > 200 {
			t.Fatal("no transaction ended with its marker")
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	type flip struct {
		what string
		bit  int // bit offset in the file
	}
	var flips []flip
	for b := last.keyOff * 8; b < (last.keyOff+last.keyLen)*8; b++ {
		flips = append(flips, flip{"marker key", b})
	}
	for b := last.lenOff * 8; b < last.lenEnd*8; b++ {
		flips = append(flips, flip{"marker length digit", b})
	}
	for _, f := range flips {
		d := bytes.Clone(orig)
		d[f.bit/8] ^= 1 << (f.bit % 8)
		for _, mode := range []store.RecoveryMode{store.TolerateTornTail, store.Strict} {
			if err := os.WriteFile(path, d, 0o600); err != nil {
				t.Fatal(err)
			}
			// Without a checkpoint, as a store of an older version: the scan
			// alone must tell the damage from a torn write.
			checkpointState(nil).restore(t, dir)
			s, err := store.Open(context.Background(), dir, testutil.Options(func(o *store.Options) { o.Recovery = mode }))
			if err == nil {
				reps := s.Repairs()
				s.Close()
				t.Errorf("%s bit %d, %s: Open succeeded with repairs %+v; want a corruption error", f.what, f.bit-last.off*8, mode, reps)
				continue
			}
			if !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("%s bit %d, %s: err = %v, want ErrCorrupt", f.what, f.bit-last.off*8, mode, err)
			}
			if strings.Contains(err.Error(), "torn") {
				t.Errorf("%s bit %d, %s: err calls damage a torn write: %v", f.what, f.bit-last.off*8, mode, err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, d) {
				t.Errorf("%s bit %d, %s: the refused Open changed the box file", f.what, f.bit-last.off*8, mode)
			}
		}
	}
}

// Box files hold record keys in the clear: they are created 0600 whatever
// the umask, and a store directory open to group or others is refused.
func TestOpen_FilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "store")
	s := testutil.MustOpen(t, dir)
	putN(t, s, 0, 2)
	if _, err := s.Enqueue(context.Background(), []byte("p"), store.EnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().IsRegular() {
			n++
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Errorf("%s has mode %o, want 600", e.Name(), perm)
			}
		}
	}
	if n < 7 {
		t.Errorf("only %d files checked", n)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("store directory has mode %o", fi.Mode().Perm())
	}

	// A directory the operator opened to others (an existing store whose
	// files an older version left 0644, or a fresh mkdir) is tightened to
	// 0700, with a warning naming it, and its box files to 0600.
	for name, mk := range map[string]func(string){
		"existing store": func(p string) {
			os.Rename(dir, p)
			paths, _ := filepath.Glob(filepath.Join(p, "*.db"))
			for _, f := range paths {
				os.Chmod(f, 0o644)
			}
		},
		"new directory": func(p string) { os.Mkdir(p, 0o755) },
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "open")
			mk(p)
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
			var logged bytes.Buffer
			s, err := store.Open(context.Background(), p, testutil.Options(func(o *store.Options) {
				o.Logger = slog.New(slog.NewTextHandler(&logged, nil))
			}))
			if err != nil {
				t.Fatal(err)
			}
			putN(t, s, 5, 1)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o700 {
				t.Errorf("directory mode after Open = %o, want 700", fi.Mode().Perm())
			}
			if !strings.Contains(logged.String(), "tightened") || !strings.Contains(logged.String(), p) {
				t.Errorf("no warning naming %s: %s", p, logged.String())
			}
			paths, _ := filepath.Glob(filepath.Join(p, "*"))
			for _, f := range paths {
				if fi, _ := os.Stat(f); fi.Mode().IsRegular() && fi.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %o after Open, want 600", filepath.Base(f), fi.Mode().Perm())
				}
			}
		})
	}
}

// tornWithZeros makes a store whose data box's last transaction was torn and
// whose file then got zeros (the size advanced, the blocks did not): the
// state XFS or ext4 data=writeback can leave after a power cut. It returns
// the store dir and the intact file.
func tornWithZeros(t *testing.T) (dir, path string, orig []byte, lastOff int) {
	t.Helper()
	dir = t.TempDir()
	s := testutil.MustOpen(t, dir)
	putN(t, s, 0, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cp := saveCheckpoint(t, dir)
	path = filepath.Join(dir, "d.db")
	st, _ := os.Stat(path)
	lastOff = int(st.Size())
	s = testutil.MustOpen(t, dir)
	if err := s.PutBatch(context.Background(), "d", map[string][]byte{"k5": []byte("value-5"), "k6": []byte("value-6"), "k7": []byte("value-7")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cp.restore(t, dir) // the torn transaction was never checkpointed
	orig, _ = os.ReadFile(path)
	return dir, path, orig, lastOff
}

func TestOpen_TornTailFollowedByZerosIsRepaired(t *testing.T) {
	_, _, orig0, last0 := tornWithZeros(t)
	txn := len(orig0) - last0
	for _, c := range []struct {
		name  string
		cut   int // bytes of the last transaction kept
		zeros int
	}{
		{"one zero", txn / 2, 1},
		{"zeros to the full size", txn / 3, txn - txn/3},
		{"4 KiB of zeros", txn / 2, 4096},
		{"zeros after the marker's start", txn - 10, 600},
		{"nothing written, only zeros", 0, txn},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, path, orig, lastOff := tornWithZeros(t)
			d := append(bytes.Clone(orig[:lastOff+c.cut]), make([]byte, c.zeros)...)
			if err := os.WriteFile(path, d, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := store.Open(context.Background(), dir, testutil.Options())
			if err != nil {
				t.Fatalf("open: %v; want the torn tail and its zeros repaired", err)
			}
			defer s.Close()
			reps := s.Repairs()
			if len(reps) != 1 || reps[0].Kind != "torn-tail" || reps[0].Offset != int64(lastOff) || reps[0].DroppedBytes != int64(len(d)-lastOff) {
				t.Fatalf("repairs = %+v; want one torn-tail at %d dropping %d bytes", reps, lastOff, len(d)-lastOff)
			}
			for i := range 5 {
				if v, err := s.Get(context.Background(), "d", "k"+strconv.Itoa(i)); err != nil || string(v) != "value-"+strconv.Itoa(i) {
					t.Errorf("k%d = %q, %v", i, v, err)
				}
			}
			if _, err := s.Get(context.Background(), "d", "k5"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("k5 of the torn transaction: err = %v, want ErrNotFound", err)
			}
		})
	}
	// Non-zero bytes after the zeros are damage, not a torn write.
	for _, tail := range [][]byte{[]byte("x"), []byte("*2\r\n$3\r\ndel\r\n$2\r\nk1\r\n")} {
		dir, path, orig, lastOff := tornWithZeros(t)
		d := append(bytes.Clone(orig[:lastOff+txn/2]), make([]byte, 100)...)
		d = append(d, tail...)
		if err := os.WriteFile(path, d, 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := store.Open(context.Background(), dir, testutil.Options()); !errors.Is(err, store.ErrCorrupt) {
			if err == nil {
				s.Close()
			}
			t.Errorf("zeros then %q: err = %v, want ErrCorrupt", tail, err)
		}
	}
}

// A box cut short of the length its checkpoint recorded lost acknowledged
// transactions: that is corruption naming the box, whatever the cut looks
// like. A cut in the window after the checkpoint is still a torn tail.
func TestOpen_TruncationBehindCheckpointIsCorruption(t *testing.T) {
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	putN(t, s, 0, 20)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "d.db")
	orig, _ := os.ReadFile(path)
	recs := fileRecords(t, orig)
	// Cut inside a record in the middle of the file: the scan alone sees an
	// incomplete last transaction.
	mid := recs[len(recs)*2/5]
	for _, cut := range []int{mid.off + (mid.end-mid.off)/2, len(orig) - 3} {
		if err := os.WriteFile(path, orig[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := store.Open(context.Background(), dir, testutil.Options())
		if err == nil {
			reps := s.Repairs()
			s.Close()
			t.Fatalf("cut at %d of %d: Open succeeded with repairs %+v; want corruption", cut, len(orig), reps)
		}
		var ce *store.CorruptionError
		if !errors.As(err, &ce) || ce.Box != "d" || !strings.Contains(err.Error(), "checkpoint") {
			t.Fatalf("cut at %d: err = %v; want a CorruptionError naming box d and the checkpoint", cut, err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, orig[:cut]) {
			t.Fatalf("cut at %d: the refused Open changed the file", cut)
		}
	}

	// The uncovered window: a transaction written after the last checkpoint.
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	cp := saveCheckpoint(t, dir)
	if len(cp) == 0 {
		t.Fatal("Close wrote no checkpoint")
	}
	s = testutil.MustOpen(t, dir)
	putN(t, s, 20, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cp.restore(t, dir)
	full, _ := os.ReadFile(path)
	if err := os.WriteFile(path, full[:len(full)-5], 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(context.Background(), dir, testutil.Options())
	if err != nil {
		t.Fatalf("cut in the window after the checkpoint: %v; want a torn-tail repair", err)
	}
	defer s.Close()
	if reps := s.Repairs(); len(reps) != 1 || reps[0].Kind != "torn-tail" || reps[0].Offset != int64(len(orig)) {
		t.Fatalf("repairs = %+v; want one torn-tail at %d", reps, len(orig))
	}
}

// A store from before the checkpoint existed opens, and gets one at Close.
func TestOpen_StoreWithoutCheckpointOpens(t *testing.T) {
	dir := t.TempDir()
	s := testutil.MustOpen(t, dir)
	putN(t, s, 0, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkpointState(nil).restore(t, dir)
	s = testutil.MustOpen(t, dir)
	if v, err := s.Get(context.Background(), "d", "k2"); err != nil || string(v) != "value-2" {
		t.Fatalf("k2 = %q, %v", v, err)
	}
	putN(t, s, 3, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(saveCheckpoint(t, dir)) == 0 {
		t.Fatal("Close wrote no checkpoint")
	}
}
