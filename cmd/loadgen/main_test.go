package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the cmp files in testdata/script from the actual output")

// exitFile is where the loadgen under test leaves its exit code, in the
// script's $WORK, for the exitcode command: testscript itself only tells
// zero from non-zero.
const exitFile = ".loadgen-exit"

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"loadgen": loadgenMain})
}

// loadgenMain is main, plus the exit code written to $WORK/.loadgen-exit.
func loadgenMain() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if work := os.Getenv("WORK"); work != "" {
		_ = os.WriteFile(filepath.Join(work, exitFile), []byte(strconv.Itoa(code)), 0o600)
	}
	os.Exit(code)
}

func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:           filepath.Join("testdata", "script"),
		UpdateScripts: *update,
		Setup: func(env *testscript.Env) error {
			// Under -race each loadgen would sleep a second at exit.
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			// Temporary stores go under $WORK, which testscript removes.
			env.Setenv("TMPDIR", env.WorkDir)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitcode,
			"sleep":    cmdSleep,
			"noentry":  cmdNoentry,
		},
	})
}

// exitcode N checks the exit code of the last loadgen.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: exitcode N")
	}
	got := strings.TrimSpace(ts.ReadFile(filepath.Join(ts.Getenv("WORK"), exitFile)))
	if got != args[0] {
		ts.Fatalf("loadgen exited %s, want %s", got, args[0])
	}
}

// sleep D waits for the Go duration D, so a background run can get going.
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// noentry DIR GLOB fails if anything in DIR matches GLOB, such as the
// temporary store a run should have removed.
func cmdNoentry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: noentry DIR GLOB")
	}
	m, err := filepath.Glob(filepath.Join(ts.MkAbs(args[0]), args[1]))
	ts.Check(err)
	if len(m) > 0 {
		ts.Fatalf("%s: unexpected %v", args[0], m)
	}
}
