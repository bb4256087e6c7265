// The subcommand table, exit codes and the error and hint lines every
// subcommand shares.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/boxstorm/boxstorm/harness"
	"github.com/boxstorm/boxstorm/scenarios"
)

// Exit codes.
const (
	exitOK        = 0 // every scenario held (with --canary: every canary was caught)
	exitViolation = 1 // a violation (with --canary: a canary was not caught)
	exitUsage     = 2 // a usage or scenario-file error
)

// command is one chaos subcommand.
type command struct {
	summary  string
	usage    string
	help     string
	examples string
	hidden   bool
	// setup registers the command's flags and returns its run function,
	// which returns the exit code.
	setup func(fs *pflag.FlagSet) func(ctx context.Context, e *env, args []string) (int, error)
}

// env is what a running command gets: the standard streams.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

var commands = map[string]command{
	"list":                listCommand,
	"run":                 runCommand,
	"replay":              replayCommand,
	harness.WorkerCommand: workerCommand,
}

// usageError is a mistake on the command line or in a scenario file: exit 2.
type usageError struct {
	msg, hint string
}

func (e *usageError) Error() string { return e.msg }

func usageErrorf(hint, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), hint: hint}
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) > 0 && args[0] == harness.WorkerCommand {
		return harness.WorkerMain(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 {
		return e.fail(usageErrorf("run `chaos --help`", "no command given"))
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, mainHelp())
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok || cmd.hidden {
		return e.fail(usageErrorf("run `chaos --help`", "unknown command %q", args[0]))
	}
	name := args[0]
	fs := pflag.NewFlagSet("chaos "+name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fn := cmd.setup(fs)
	err := fs.Parse(args[1:])
	switch {
	case errors.Is(err, pflag.ErrHelp):
		fmt.Fprint(stdout, cmd.helpText(name, fs.FlagUsages()))
		return exitOK
	case err != nil:
		return e.fail(usageErrorf(fmt.Sprintf("run `chaos %s --help`", name), "%s: %v", name, err))
	}
	code, err := fn(ctx, e, fs.Args())
	if err != nil {
		return e.fail(err)
	}
	return code
}

// fail prints err as error and hint lines and returns its exit code.
func (e *env) fail(err error) int {
	var ue *usageError
	var se *scenarios.Error
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "chaos: error: %s\n", ue.msg)
		if ue.hint != "" {
			fmt.Fprintf(e.stderr, "chaos: hint: %s\n", ue.hint)
		}
		return exitUsage
	case errors.As(err, &se):
		fmt.Fprintf(e.stderr, "chaos: error: %v\n", se)
		fmt.Fprintf(e.stderr, "chaos: hint: docs/scenarios.md describes the format\n")
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "chaos: error: %v\n", err)
	return exitViolation
}

func (c command) helpText(name, flags string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: chaos %s\n\n%s\n", c.usage, strings.TrimSpace(c.help))
	if strings.TrimSpace(flags) != "" {
		fmt.Fprintf(&b, "\nFlags:\n%s", flags)
	}
	if c.examples != "" {
		fmt.Fprintf(&b, "\nExamples:\n")
		for _, l := range strings.Split(strings.TrimSpace(c.examples), "\n") {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	return b.String()
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
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", n, commands[n].summary)
	}
	b.WriteString(`
Examples:
  chaos list
  chaos run --all --quick
  chaos run --all --quick --canary
  chaos run scenarios/truncated-tail.yaml --seed 42 --out out/tt
  chaos replay out/chaos-20260101T000000Z

Run ` + "`chaos COMMAND --help`" + ` for a command's flags.
`)
	return b.String()
}

// loadScenarios resolves the arguments of run: scenario files, or the
// names of built-in scenarios. Scenarios loaded from files are recorded in
// files, by name, so that replay can load them again.
func loadScenarios(args []string, all bool, files map[string]string) ([]*scenarios.Scenario, error) {
	if all {
		if len(args) > 0 {
			return nil, usageErrorf("run `chaos run --help`", "run: --all takes no scenario arguments")
		}
		return scenarios.Builtin()
	}
	if len(args) == 0 {
		return nil, usageErrorf("give scenario files or names, or --all; `chaos list` lists the built-in ones", "run: no scenarios given")
	}
	var out []*scenarios.Scenario
	for _, a := range args {
		var sc *scenarios.Scenario
		var err error
		if strings.ContainsAny(a, "/.") {
			sc, err = scenarios.LoadFile(a)
			if err == nil {
				files[sc.Name] = a
			}
		} else {
			sc, err = scenarios.Lookup(a)
			if errors.Is(err, scenarios.ErrNotFound) {
				return nil, usageErrorf("`chaos list` lists the built-in scenarios", "run: no built-in scenario %q", a)
			}
		}
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(out, func(s *scenarios.Scenario) bool { return s.Name == sc.Name }) {
			return nil, usageErrorf("", "run: scenario %s given twice", sc.Name)
		}
		out = append(out, sc)
	}
	return out, nil
}
