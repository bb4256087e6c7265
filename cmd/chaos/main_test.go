package main

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/boxstorm/boxstorm/harness/chaos"
	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/internal/cli/clitest"
	"github.com/boxstorm/boxstorm/internal/testutil"
)

func TestMain(m *testing.M) {
	clitest.Main(m, tool)
}

// tool is chaos as its scripts run it. Worker children leave the recorded
// exit code alone: their parent's code is the one tested.
var tool = clitest.Program{
	Name:      "chaos",
	Main:      func() int { return cli.Main(run, false) },
	Untracked: func(args []string) bool { return len(args) > 0 && args[0] == chaos.WorkerCommand },
}

func TestScripts(t *testing.T) {
	t.Parallel()
	py, err := filepath.Abs(filepath.Join("..", "..", "examples", "targets", "python", "target.py"))
	if err != nil {
		t.Fatal(err)
	}
	// STORECTL_SERVE is the reference store as a target.
	serve := testutil.BuildTool(t, t.TempDir(), "storectl") + " serve"
	clitest.Run(t, tool, testscript.Params{
		Setup: func(env *testscript.Env) error {
			// PYTARGET is the Python example target; scripts guard it
			// with [exec:python3].
			env.Setenv("PYTARGET", py)
			env.Setenv("STORECTL_SERVE", serve)
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "python3" {
				_, err := exec.LookPath("python3")
				return err == nil, nil
			}
			return false, nil
		},
	})
}
