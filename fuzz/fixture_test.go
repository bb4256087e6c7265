package fuzz_test

// The fixture store in testdata/store, written by `go generate ./fuzz/`, and
// what the targets that open stores share.

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/fuzz/internal/inputs"
	"github.com/boxstorm/boxstorm/internal/fileio"
	"github.com/boxstorm/boxstorm/store"
)

const fixtureDir = "testdata/store"

// fixture is the fixture store read into memory.
type fixture struct {
	files   map[string][]byte // name -> content, every file but manifest.json
	pending []byte            // files["pending_ops.db"]
	// history[k] is the pending ops of pending_ops.db cut after its k-th
	// transaction; failed is failed_ops (see manifest.json).
	history [][]manifestOp
	failed  []manifestOp
}

type manifestOp struct {
	ID      string `json:"id"`
	Payload []byte `json:"payload"`
}

var (
	fixtureOnce sync.Once
	fixtureData *fixture
	fixtureErr  error
)

// loadFixture reads the fixture store once per process.
func loadFixture(tb testing.TB) *fixture {
	tb.Helper()
	fixtureOnce.Do(func() { fixtureData, fixtureErr = readFixture() })
	if fixtureErr != nil {
		tb.Fatalf("fixture store: %v; hint: run go generate ./fuzz/", fixtureErr)
	}
	return fixtureData
}

func readFixture() (*fixture, error) {
	fx := &fixture{files: map[string][]byte{}}
	ents, err := os.ReadDir(fixtureDir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(fixtureDir, e.Name()))
		if err != nil {
			return nil, err
		}
		if e.Name() == "manifest.json" {
			var m struct {
				History [][]manifestOp `json:"history"`
				Failed  []manifestOp   `json:"failed"`
			}
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, err
			}
			fx.history, fx.failed = m.History, m.Failed
			continue
		}
		fx.files[e.Name()] = b
	}
	fx.pending = fx.files[store.BoxPending+".db"]
	if fx.pending == nil || len(fx.history) < 2 {
		return nil, fs.ErrNotExist
	}
	return fx, nil
}

// withPending returns the fixture's files with pending_ops.db replaced by
// pending when it is not nil.
func (fx *fixture) withPending(pending []byte) map[string][]byte {
	if pending == nil {
		return fx.files
	}
	files := make(map[string][]byte, len(fx.files))
	for name, b := range fx.files {
		files[name] = b
	}
	files[store.BoxPending+".db"] = pending
	return files
}

// quiet drops the store's log lines: a fuzzing run would print millions.
var quiet = slog.New(slog.DiscardHandler)

// options opens stores under the fixture's master key, without fsyncs.
func options(mode store.RecoveryMode) store.Options {
	return store.Options{Key: store.KeyBytes(inputs.MasterKey()), Sync: store.SyncNever, Recovery: mode, Logger: quiet}
}

// workerGCPercent is the GOGC of a fuzzing worker of the targets that run a
// store per input: each input allocates a few hundred kilobytes (buntdb's
// load buffers, the box scans, Restore's staging buffers) on a small live
// heap, so at the default of 100 the collector runs every few inputs.
const workerGCPercent = 400

// tuneStoreWorker sets up a fuzzing worker process of the targets that run
// a store per input, for the rest of the target; replaying the corpus (go
// test ./fuzz/) is left alone. Besides workerGCPercent, it runs the worker
// on one P: go test -fuzz starts a worker per core already, so Open's
// concurrent box loads only made the workers' threads compete; on one P a
// worker spends about a fifth less CPU per input, and its coverage no
// longer depends on how the box loads were scheduled (which the fuzzer took
// for new coverage, to be minimized). What an input reaches is unchanged.
func tuneStoreWorker(f *testing.F) {
	if fl := flag.Lookup("test.fuzzworker"); fl == nil || fl.Value.String() != "true" {
		return
	}
	prevGC := debug.SetGCPercent(workerGCPercent)
	prevProcs := runtime.GOMAXPROCS(1)
	f.Cleanup(func() {
		debug.SetGCPercent(prevGC)
		runtime.GOMAXPROCS(prevProcs)
	})
}

// hashTree returns path -> sha256 of every file under dir, and "path/" for
// every directory, skipping LOCK.
func hashTree(tb testing.TB, dir string) map[string][32]byte {
	tb.Helper()
	dir = filepath.Clean(dir)
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(path, dir), string(filepath.Separator))
		if rel == "" {
			rel = "."
		}
		switch {
		case rel == "." || rel == "LOCK":
		case d.IsDir():
			out[rel+"/"] = [32]byte{}
		case d.Type().IsRegular():
			b, err := fileio.ReadFile(path)
			if err != nil {
				return err
			}
			out[rel] = sha256.Sum256(b)
		default:
			out[rel+"@"+d.Type().String()] = [32]byte{}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// diffTrees lists the paths that differ between two hashTree results.
func diffTrees(a, b map[string][32]byte) []string {
	var diff []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			diff = append(diff, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			diff = append(diff, k)
		}
	}
	sort.Strings(diff)
	return diff
}

// listDir returns the names in dir.
func listDir(tb testing.TB, dir string) string {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return strings.Join(names, " ")
}

// scratch hands out store directories that one fuzz process reuses from
// one input to the next: making and removing a directory tree per input
// costs about as many system calls as the store's Open it serves. Each
// directory is refilled with exactly the files an input starts from (a
// LOCK left by the last Open aside), so inputs stay independent.
type scratch struct {
	root    string
	written map[string]writtenFile // path -> what fill last wrote there
}

// writtenFile is a file fill wrote, as it found it on disk afterwards. A
// file that still has the same inode, size and modification time, and
// should get the same content, is not written again: the store only
// appends to box files and replaces keyring.json by rename.
type writtenFile struct {
	content []byte
	stamp   fileStamp
}

type fileStamp struct {
	ino   uint64
	size  int64
	mtime time.Time
}

func newScratch(tb testing.TB) *scratch {
	return &scratch{root: tb.TempDir(), written: map[string]writtenFile{}}
}

// fill returns directory slot, holding exactly files.
func (s *scratch) fill(tb testing.TB, slot int, files map[string][]byte) string {
	tb.Helper()
	dir := filepath.Join(s.root, strconv.Itoa(slot))
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		err = os.Mkdir(dir, 0o700)
	}
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range ents {
		if _, keep := files[e.Name()]; keep || e.Name() == "LOCK" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			tb.Fatal(err)
		}
	}
	for name, b := range files {
		path := filepath.Join(dir, name)
		if w, ok := s.written[path]; ok && bytes.Equal(w.content, b) {
			if st, err := os.Lstat(path); err == nil && stampOf(st) == w.stamp {
				continue
			}
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			tb.Fatal(err)
		}
		st, err := os.Lstat(path)
		if err != nil {
			tb.Fatal(err)
		}
		s.written[path] = writtenFile{content: b, stamp: stampOf(st)}
	}
	return dir
}

func stampOf(st fs.FileInfo) fileStamp {
	s := fileStamp{size: st.Size(), mtime: st.ModTime()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		s.ino = sys.Ino
	}
	return s
}
