// The subcommand table, and how chaos reports what its commands return.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/boxstorm/boxstorm/harness/chaos"
	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/scenarios"
)

// Exit codes: cli.ExitOK when every scenario held (with --canary: every
// canary was caught), cli.ExitFailure for a violation (with --canary: a
// canary was not caught), cli.ExitUsage for a usage or scenario-file error.

// command is one chaos subcommand.
type command = cli.Command[*env]

type runFunc = cli.RunFunc[*env]

// env is what a running command gets: the standard streams, and the exit
// code of a command that ran to its end.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	code           int
}

// prog is chaos to package cli. Errors carry no hints but their own.
var prog = &cli.Program[*env]{Name: "chaos"}

var commands = map[string]command{
	"list":              listCommand,
	"conform":           conformCommand,
	"run":               runCommand,
	"replay":            replayCommand,
	chaos.WorkerCommand: workerCommand,
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) > 0 && args[0] == chaos.WorkerCommand {
		return chaos.WorkerMain(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == chaos.FaultFSCommand {
		// The fault file system's server, for scenarios that run on it.
		return faultfs.ServeMain(ctx, args[1:], stderr)
	}
	if len(args) == 0 {
		return fail(stderr, cli.UsageErrorf("run `chaos --help`", "no command given"))
	}
	if args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, mainHelp())
		return cli.ExitOK
	}
	cmd, ok := commands[args[0]]
	if !ok || cmd.Hidden {
		return fail(stderr, cli.UsageErrorf("run `chaos --help`", "unknown command %q", args[0]))
	}
	if err := prog.Run(ctx, e, stdout, args[0], cmd, args[1:]); err != nil {
		return fail(stderr, err)
	}
	return e.code
}

// fail prints err as error and hint lines and returns its exit code. A
// mistake in a scenario file is a usage error too.
func fail(stderr io.Writer, err error) int {
	var ue *cli.UsageError
	var se *scenarios.Error
	if !errors.As(err, &ue) && errors.As(err, &se) {
		err = &cli.UsageError{Msg: se.Error(), Hint: "docs/scenarios.md describes the format"}
	}
	return prog.Report(stderr, err)
}

func mainHelp() string {
	var b strings.Builder
	b.WriteString(`Usage: chaos COMMAND [flags] [args]

chaos runs boxstorm's chaos scenarios (scenarios/*.yaml, built in) against the
reference store, injects their faults, checks the history and the store, and
writes reports. Exit status: 0 every scenario held, 1 a violation (with
--canary: a known-bad target that was not caught), 2 a usage or scenario-file
error.

Commands:
`)
	for _, n := range cli.Names(commands) {
		fmt.Fprintf(&b, "  %-8s %s\n", n, commands[n].Summary)
	}
	b.WriteString(`
Examples:
  chaos list
  chaos run --all --quick
  chaos run --all --quick --canary
  chaos run scenarios/truncated-tail.yaml --seed 42 --out out/tt
  chaos replay out/chaos-20260101T000000Z
  chaos conform --target 'storectl --key-file store.key serve'

Run ` + "`chaos COMMAND --help`" + ` or ` + "`chaos help COMMAND`" + ` for a command's flags.
`)
	return b.String()
}

// loadScenarioFile loads the scenario file at path for the command cmd. A
// path that cannot be read is a mistake in the arguments, not in a file's
// format: the error names the path and says what to check.
func loadScenarioFile(cmd, path string) (*scenarios.Scenario, error) {
	sc, err := scenarios.LoadFile(path)
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, cli.UsageErrorf("check the path; a built-in scenario is given by its name alone, as listed by `chaos list`",
			"%s: scenario file %s does not exist", cmd, path)
	case errors.As(err, &pe):
		return nil, cli.UsageErrorf("check the path: a scenario is a YAML file; `chaos list` lists the built-in ones",
			"%s: cannot read scenario file %s: %v", cmd, path, pe.Err)
	}
	return sc, err
}

// loadScenarios resolves the arguments of run: scenario files, or the
// names of built-in scenarios. Scenarios loaded from files are recorded in
// files, by name, so that replay can load them again.
func loadScenarios(args []string, all bool, files map[string]string) ([]*scenarios.Scenario, error) {
	if all {
		if len(args) > 0 {
			return nil, cli.UsageErrorf("run `chaos run --help`", "run: --all takes no scenario arguments")
		}
		return scenarios.Builtin()
	}
	if len(args) == 0 {
		return nil, cli.UsageErrorf("give scenario files or names, or --all; `chaos list` lists the built-in ones", "run: no scenarios given")
	}
	var out []*scenarios.Scenario
	for _, a := range args {
		var sc *scenarios.Scenario
		var err error
		if strings.ContainsAny(a, "/.") {
			sc, err = loadScenarioFile("run", a)
			if err == nil {
				files[sc.Name] = a
			}
		} else {
			sc, err = scenarios.Lookup(a)
			if errors.Is(err, scenarios.ErrNotFound) {
				return nil, cli.UsageErrorf("`chaos list` lists the built-in scenarios", "run: no built-in scenario %q", a)
			}
		}
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(out, func(s *scenarios.Scenario) bool { return s.Name == sc.Name }) {
			return nil, cli.UsageErrorf("", "run: scenario %s given twice", sc.Name)
		}
		out = append(out, sc)
	}
	return out, nil
}
