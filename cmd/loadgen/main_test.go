package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/internal/cli/clitest"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	clitest.Main(m, tool)
}

var tool = clitest.Program{Name: "loadgen", Main: func() int { return cli.Main(run, true) }}

func TestScripts(t *testing.T) {
	t.Parallel()
	clitest.Run(t, tool, testscript.Params{
		Setup: func(env *testscript.Env) error {
			// Temporary stores go under $WORK, which testscript removes.
			env.Setenv("TMPDIR", env.WorkDir)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"sleep":   cmdSleep,
			"noentry": cmdNoentry,
		},
	})
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
