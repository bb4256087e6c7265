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

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the cmp files in testdata/script from the actual output")

// exitFile is where the chaos under test leaves its exit code, in the
// script's $WORK, for the exitcode command: testscript itself only tells
// zero from non-zero.
const exitFile = ".chaos-exit"

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"chaos": chaosMain})
}

// chaosMain is main, plus the exit code written to $WORK/.chaos-exit
// (worker children leave it alone: their parent's code is the one tested).
func chaosMain() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if work := os.Getenv("WORK"); work != "" && (len(os.Args) < 2 || os.Args[1] != "__worker") {
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
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitcode,
		},
	})
}

// cmdExitcode checks the exit code of the last chaos run: exitcode N.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: exitcode N")
	}
	got := strings.TrimSpace(ts.ReadFile(exitFile))
	if (got == args[0]) == neg {
		ts.Fatalf("exit code %s, want %s%s", got, map[bool]string{true: "not ", false: ""}[neg], args[0])
	}
}
