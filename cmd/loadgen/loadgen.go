// This file holds run, the whole CLI behind main: the command table and
// dispatch.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/internal/cli"
)

// commands returns the command table. It is built afresh for every run, so
// each invocation gets new flag sets (tests call run many times).
func commands() map[string]command {
	return map[string]command{
		"run":       runCmd(),
		"report":    reportCmd(),
		"compare":   compareCmd(),
		"merge":     mergeCmd(),
		"workloads": workloadsCmd(),
		"help":      helpCmd(),
	}
}

// commandOrder is the order of `loadgen --help`: the workflow, not the
// alphabet.
var commandOrder = []string{"run", "report", "compare", "merge", "workloads", "help"}

// run is loadgen: it parses args (without the program name), runs one
// command and returns the exit code. main only adds signals and os.Exit, so
// tests drive the whole CLI through run.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, log: slog.New(slog.NewTextHandler(stderr, nil))}
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage())
		return prog.Report(stderr, cli.UsageErrorf("run `loadgen run` for a 20-second baseline, or `loadgen help COMMAND`", "no command given"))
	}
	switch args[0] {
	case faultFSCommand:
		// The fault file system's server, for a run with --faultfs.
		return faultfs.ServeMain(ctx, args[1:], stderr)
	case "-h", "--help":
		fmt.Fprint(stdout, mainUsage())
		return cli.ExitOK
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		return prog.Report(stderr, unknownCommand(args[0]))
	}
	return prog.Report(stderr, prog.Run(ctx, e, stdout, args[0], cmd, args[1:]))
}

// unknownCommand is the usage error for a command name not in the table,
// suggesting the names that share its first letters. A flag before the
// command name gets a word on where flags go.
func unknownCommand(name string) error {
	err := prog.UnknownCommand("", name, commands())
	var ue *cli.UsageError
	if strings.HasPrefix(name, "-") && errors.As(err, &ue) {
		ue.Hint = "flags follow the command name, as in `loadgen run --rate 1000`; " + ue.Hint
	}
	return err
}

func mainUsage() string {
	var b strings.Builder
	b.WriteString(`loadgen measures the latency of boxstorm's reference store under load, corrected
for coordinated omission, and writes HDR histogram reports.

Usage: loadgen COMMAND [flags] [args]

Commands:
`)
	table := commands()
	for _, n := range commandOrder {
		fmt.Fprintf(&b, "  %-10s %s\n", n, table[n].Summary)
	}
	b.WriteString(`
With no flags, "loadgen run" runs the cycle workload at 500 ops/s for 20 s
(after a 2 s warm-up) on a temporary store with fsync on every commit, prints
the percentile table and writes its reports to out/loadgen-<UTC time>/.

Exit codes: 0 success, 1 a failed or interrupted run or a regression against
the baseline, 2 a usage error.

Examples:
  loadgen run
  loadgen run --workload kv-a --rate 2000 --duration 30s --sync never
  loadgen run --closed --workers 4 --ops 100000
  loadgen run --rate 2000 --duration 10s --pause 2s@4s
  loadgen run --out out/new --baseline out/base --max-regression p99=5,max=off
  loadgen compare out/base out/new
  loadgen merge --out out/merged hostA/run.hlog hostB/run.hlog
  loadgen report out/merged

Run "loadgen help COMMAND" or "loadgen COMMAND --help" for a command's flags
and examples.
`)
	return b.String()
}
