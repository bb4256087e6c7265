package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/internal/cli/clitest"
	"github.com/boxstorm/boxstorm/store"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	clitest.Main(m, tool)
}

var tool = clitest.Program{Name: "storectl", Main: func() int { return cli.Main(run, false) }}

func TestScripts(t *testing.T) {
	t.Parallel()
	clitest.Run(t, tool, testscript.Params{
		Setup: func(env *testscript.Env) error {
			env.Values[heldKey{}] = map[string]*store.Store{}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"hashdir":      cmdHashdir,
			"mode":         cmdMode,
			"capture":      cmdCapture,
			"holdstore":    cmdHoldstore,
			"releasestore": cmdReleasestore,
			"takelock":     cmdTakelock,
			"flipbyte":     cmdFlipbyte,
		},
	})
}

// hashdir DIR prints "sha256 path" for every regular file under DIR, sorted,
// so a script can save the listing and cmp it later.
func cmdHashdir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: hashdir DIR")
	}
	root := ts.MkAbs(args[0])
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		lines = append(lines, fmt.Sprintf("%x %s", sha256.Sum256(b), filepath.ToSlash(rel)))
		return nil
	})
	ts.Check(err)
	slices.Sort(lines)
	fmt.Fprintln(ts.Stdout(), strings.Join(lines, "\n"))
}

// mode FILE PERM checks a file's permission bits, such as 0600.
func cmdMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: mode FILE PERM")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	st, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := st.Mode().Perm(); (got == fs.FileMode(want)) == neg {
		ts.Fatalf("%s has mode %04o; want %s%04o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// capture NAME REGEXP sets $NAME to the first submatch of REGEXP in the last
// command's stdout, such as an op id.
func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: capture NAME REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile("stdout"))
	if len(m) < 2 {
		ts.Fatalf("no match for %q in stdout", args[1])
	}
	ts.Setenv(args[0], m[1])
}

type heldKey struct{}

func openForTest(ts *testscript.TestScript, dir, keyFile string) *store.Store {
	s, err := store.Open(context.Background(), ts.MkAbs(dir), store.Options{
		Key:    store.KeyFile(ts.MkAbs(keyFile)),
		Logger: slog.New(slog.DiscardHandler),
	})
	ts.Check(err)
	return s
}

// holdstore DIR KEYFILE opens the store in the test process, which holds it
// (and its directory lock) until releasestore DIR or the end of the script.
func cmdHoldstore(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: holdstore DIR KEYFILE")
	}
	s := openForTest(ts, args[0], args[1])
	ts.Value(heldKey{}).(map[string]*store.Store)[args[0]] = s
	ts.Defer(func() { _ = s.Close() })
}

// releasestore DIR closes a store opened by holdstore.
func cmdReleasestore(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: releasestore DIR")
	}
	held := ts.Value(heldKey{}).(map[string]*store.Store)
	s, ok := held[args[0]]
	if !ok {
		ts.Fatalf("%s is not held", args[0])
	}
	delete(held, args[0])
	ts.Check(s.Close())
}

// takelock DIR KEYFILE OWNER acquires the processing lock as OWNER and
// closes the store, leaving the lock held as a crashed processor would.
func cmdTakelock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: takelock DIR KEYFILE OWNER")
	}
	s := openForTest(ts, args[0], args[1])
	lease, err := s.AcquireLock(context.Background(), store.LockRequest{Owner: args[2]})
	if err != nil {
		s.Close()
		ts.Fatalf("acquire lock: %v", err)
	}
	ts.Check(s.Close())
	fmt.Fprintf(ts.Stdout(), "token %d\n", lease.Token)
}

// flipbyte FILE flips the lowest bit of the byte in the middle of FILE, as
// bit rot would.
func cmdFlipbyte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: flipbyte FILE")
	}
	p := ts.MkAbs(args[0])
	b, err := os.ReadFile(p)
	ts.Check(err)
	if len(b) == 0 {
		ts.Fatalf("%s is empty", args[0])
	}
	b[len(b)/2] ^= 1
	ts.Check(os.WriteFile(p, b, 0o600))
}
