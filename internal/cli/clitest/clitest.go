// Package clitest runs boxstorm's command-line tools under testscript: the
// test binary stands in for the tool, leaves each run's exit code where the
// exitcode command finds it, and scripts share a few custom commands.
package clitest

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the cmp files in testdata/script from the actual output")

// A Program is a tool as its scripts run it.
type Program struct {
	// Name is the command scripts run, such as "storectl".
	Name string
	// Main is the tool's main without os.Exit; it returns the exit code.
	Main func() int
	// Untracked, when set, reports whether a run with these arguments
	// (without the program name) leaves the recorded exit code alone, as
	// chaos's worker children do: their parent's code is the one tested.
	Untracked func(args []string) bool
}

// exitFile is where the tool under test leaves its exit code, in the
// script's $WORK: testscript itself only tells zero from non-zero.
func (p Program) exitFile() string { return "." + p.Name + "-exit" }

// Main is TestMain for a tool's script tests: it lets the test binary run
// as p.Name, recording each run's exit code for the exitcode command.
func Main(m *testing.M, p Program) {
	testutil.QuietRaceExit()
	testscript.Main(m, map[string]func(){p.Name: func() {
		code := p.Main()
		if work := os.Getenv("WORK"); work != "" && (p.Untracked == nil || !p.Untracked(os.Args[1:])) {
			_ = os.WriteFile(filepath.Join(work, p.exitFile()), []byte(strconv.Itoa(code)), 0o600)
		}
		os.Exit(code)
	}})
}

// Run runs the scripts in testdata/script with params, to which it adds
// what every tool's scripts share: -update rewrites their cmp files, the
// exitcode command, and a GORACE setting so that under -race a run does not
// sleep a second at exit. params.Setup, if set, runs after that.
func Run(t *testing.T, p Program, params testscript.Params) {
	if params.Dir == "" {
		params.Dir = filepath.Join("testdata", "script")
	}
	params.UpdateScripts = *update
	setup := params.Setup
	params.Setup = func(env *testscript.Env) error {
		env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
		if setup != nil {
			return setup(env)
		}
		return nil
	}
	cmds := map[string]func(ts *testscript.TestScript, neg bool, args []string){"exitcode": p.cmdExitcode}
	for name, fn := range params.Cmds {
		cmds[name] = fn
	}
	params.Cmds = cmds
	testscript.Run(t, params)
}

// cmdExitcode is `exitcode N`: it checks the exit code of the last run of
// the tool (with !, that it was not N).
func (p Program) cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: exitcode N")
	}
	got := strings.TrimSpace(ts.ReadFile(filepath.Join(ts.Getenv("WORK"), p.exitFile())))
	if (got == args[0]) == neg {
		ts.Fatalf("%s exited %s, want %s%s", p.Name, got, map[bool]string{true: "not ", false: ""}[neg], args[0])
	}
}
