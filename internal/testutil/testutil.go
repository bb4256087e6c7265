// Package testutil holds the helpers shared by this repository's tests.
package testutil

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/boxstorm/boxstorm/store"
)

// Key is a fixed master key for tests.
var Key = []byte("0123456789abcdef0123456789abcdef")

// OtherKey is a second master key, for wrong-key tests.
var OtherKey = []byte("fedcba9876543210fedcba9876543210")

// Options returns store options with Key and any overrides applied.
func Options(mod ...func(*store.Options)) store.Options {
	o := store.Options{Key: store.KeyBytes(Key), Logger: slog.New(slog.DiscardHandler)}
	for _, m := range mod {
		m(&o)
	}
	return o
}

// MustOpen opens (or creates) a store in dir and closes it when the test ends.
func MustOpen(tb testing.TB, dir string, mod ...func(*store.Options)) *store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), dir, Options(mod...))
	if err != nil {
		tb.Fatalf("open store %s: %v", dir, err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// HashDir returns the sha256 of every regular file under dir, by relative path.
func HashDir(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		tb.Fatalf("hash %s: %v", dir, err)
	}
	return out
}

// BuildTool builds the command cmd/name of this module into dir with the go
// tool that runs the test, and returns the binary's path.
func BuildTool(tb testing.TB, dir, name string) string {
	tb.Helper()
	out := filepath.Join(dir, name)
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(gobin, "build", "-o", out, "github.com/boxstorm/boxstorm/cmd/"+name)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build cmd/%s: %v\n%s", name, err, b)
	}
	return out
}

// QuietRaceExit has the child processes a test starts from its own binary
// (workers, targets, fake tools) exit at once when the binary is built
// with -race: the race runtime otherwise sleeps a second at every exit
// (GORACE atexit_sleep_ms), which a test that starts hundreds of children
// pays hundreds of times. Call it from TestMain or init; a GORACE the
// caller set is kept.
func QuietRaceExit() {
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
}
