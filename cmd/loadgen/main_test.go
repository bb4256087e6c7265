package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/internal/cli/clitest"
	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	clitest.Main(m, tool)
}

var tool = clitest.Program{Name: "loadgen", Main: func() int { return cli.Main(run, true) },
	// The fault file system's server is a child of the run under test.
	Untracked: func(args []string) bool { return len(args) > 0 && args[0] == faultFSCommand }}

func TestScripts(t *testing.T) {
	t.Parallel()
	// storectl, for the scripts that drive `storectl serve` as a target.
	bin := t.TempDir()
	testutil.BuildTool(t, bin, "storectl")
	clitest.Run(t, tool, testscript.Params{
		Setup: func(env *testscript.Env) error {
			// Temporary stores go under $WORK, which testscript removes.
			env.Setenv("TMPDIR", env.WorkDir)
			env.Setenv("PATH", bin+string(os.PathListSeparator)+env.Getenv("PATH"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"sleep":      cmdSleep,
			"noentry":    cmdNoentry,
			"nomount":    cmdNomount,
			"p50atleast": cmdP50AtLeast,
		},
		Condition: func(cond string) (bool, error) {
			if cond == "fuse" {
				return faultfs.Available() == nil, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}

// nomount S fails if a mount point whose path contains S is mounted, such
// as a fault file system a run should have unmounted.
func cmdNomount(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: nomount SUBSTRING")
	}
	b, err := os.ReadFile("/proc/mounts")
	ts.Check(err)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.Contains(f[1], args[0]) {
			ts.Fatalf("still mounted: %s", l)
		}
	}
}

// p50atleast FILE OP D fails unless op OP's uncorrected median in the
// summary.json FILE is at least the Go duration D.
func cmdP50AtLeast(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: p50atleast SUMMARY_JSON OP DURATION")
	}
	var sum struct {
		Ops []struct {
			Name        string `json:"name"`
			Uncorrected struct {
				P50 struct {
					NS int64 `json:"ns"`
				} `json:"p50"`
			} `json:"uncorrected"`
		} `json:"ops"`
	}
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &sum))
	d, err := time.ParseDuration(args[2])
	ts.Check(err)
	for _, op := range sum.Ops {
		if op.Name == args[1] {
			if got := time.Duration(op.Uncorrected.P50.NS); got < d {
				ts.Fatalf("%s p50 %v, want at least %v", args[1], got, d)
			}
			return
		}
	}
	ts.Fatalf("%s: no op %s", args[0], args[1])
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
