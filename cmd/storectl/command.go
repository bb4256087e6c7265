// This file defines a command (one subcommand: flags, usage text with
// examples, run function) and the machinery every command shares: parsing,
// --help, and groups of actions such as `failed list|retry`.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// A command is one storectl subcommand.
type command struct {
	// summary is the one-line description in `storectl --help`.
	summary string
	// usage is the synopsis after "storectl [global flags] ", starting with
	// the command's name.
	usage string
	// help describes the command in a few sentences.
	help string
	// examples holds example command lines, one a line.
	examples string
	// setup registers the command's own flags on fs and returns the function
	// that runs the command with the positional arguments left after parsing.
	// It is nil for a group.
	setup func(fs *pflag.FlagSet) runFunc
	// actions, for a group such as `failed`, holds its subcommands.
	actions map[string]command
}

type runFunc func(ctx context.Context, e *env, args []string) error

// env is what a running command gets besides its arguments: the standard
// streams and the global flags.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	g              globalFlags
	globals        *pflag.FlagSet
}

// runCommand parses args with cmd's flags (plus the global ones, so they may
// follow the command name) and runs it. path is the command's name as typed,
// such as "failed retry".
func (e *env) runCommand(ctx context.Context, path string, cmd command, args []string) error {
	fs, local, fn := e.flagSet(path, cmd)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		fmt.Fprint(e.stdout, cmd.helpText(path, local))
		return nil
	case err != nil:
		return usageErrorf(fmt.Sprintf("run `storectl %s --help`", path), "%s: %v", path, err)
	}
	if cmd.actions != nil {
		return e.runAction(ctx, path, cmd, fs.Args())
	}
	return fn(ctx, e, fs.Args())
}

// flagSet builds cmd's flag set. local is the usage of cmd's own flags,
// without the global ones merged in for parsing.
func (e *env) flagSet(path string, cmd command) (fs *pflag.FlagSet, local string, fn runFunc) {
	fs = pflag.NewFlagSet("storectl "+path, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if cmd.actions != nil {
		fs.SetInterspersed(false) // flags after the action name belong to it
	} else {
		fn = cmd.setup(fs)
	}
	local = fs.FlagUsages()
	if e.globals != nil {
		fs.AddFlagSet(e.globals)
	}
	return fs, local, fn
}

func (e *env) runAction(ctx context.Context, path string, group command, args []string) error {
	if len(args) == 0 {
		return usageErrorf(fmt.Sprintf("run `storectl %s --help`", path),
			"%s: missing action: want one of %s", path, strings.Join(actionNames(group), ", "))
	}
	sub, ok := group.actions[args[0]]
	if !ok {
		return unknownCommand(path, args[0], group.actions)
	}
	return e.runCommand(ctx, path+" "+args[0], sub, args[1:])
}

func actionNames(group command) []string {
	names := make([]string, 0, len(group.actions))
	for n := range group.actions {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// helpText is what `storectl PATH --help` prints.
func (c command) helpText(path, localFlags string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: storectl [global flags] %s\n\n", c.usage)
	b.WriteString(strings.TrimSpace(c.help) + "\n")
	if c.actions != nil {
		b.WriteString("\nActions:\n")
		for _, n := range actionNames(c) {
			fmt.Fprintf(&b, "  %-10s %s\n", n, c.actions[n].summary)
		}
		fmt.Fprintf(&b, "\nRun \"storectl %s ACTION --help\" for an action's flags.\n", path)
	}
	if localFlags != "" {
		b.WriteString("\nFlags:\n" + localFlags)
	}
	b.WriteString("\nGlobal flags: --dir, --key-file, --key-env, --passphrase-env, --sync,\n--recovery, -v/--verbose; see \"storectl --help\".\n")
	b.WriteString("\nExamples:\n")
	for _, line := range strings.Split(strings.TrimSpace(c.examples), "\n") {
		b.WriteString("  " + strings.TrimSpace(line) + "\n")
	}
	return b.String()
}

// nargs checks the number of positional arguments: between lo and hi
// (hi < 0 for no limit).
func nargs(path string, args []string, lo, hi int, names string) error {
	if len(args) >= lo && (hi < 0 || len(args) <= hi) {
		return nil
	}
	hint := fmt.Sprintf("usage: storectl %s; run `storectl %s --help`", names, path)
	if len(args) < lo {
		return usageErrorf(hint, "%s: missing arguments", path)
	}
	return usageErrorf(hint, "%s: unexpected arguments %q", path, args[hi:])
}
