// This file defines a command (one subcommand: flags, usage text with
// examples, run function) and the machinery every command shares: parsing,
// --help and argument checks.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/pflag"
)

// A command is one loadgen subcommand.
type command struct {
	// summary is the one-line description in `loadgen --help`.
	summary string
	// usage is the synopsis after "loadgen ", starting with the command's
	// name.
	usage string
	// help describes the command in a few sentences.
	help string
	// examples holds example command lines, one a line.
	examples string
	// setup registers the command's flags on fs and returns the function
	// that runs the command with the positional arguments left after parsing.
	setup func(fs *pflag.FlagSet) runFunc
}

type runFunc func(ctx context.Context, e *env, args []string) error

// env is what a running command gets besides its arguments.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger // to stderr
	// flags is the running command's flag set, for recording the flags as
	// given in a report.
	flags *pflag.FlagSet
}

// runCommand parses args with cmd's flags and runs it.
func (e *env) runCommand(ctx context.Context, name string, cmd command, args []string) error {
	fs, fn := flagSet(name, cmd)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		fmt.Fprint(e.stdout, cmd.helpText(fs))
		return nil
	case err != nil:
		return usageErrorf(fmt.Sprintf("run `loadgen %s --help`", name), "%s: %v", name, err)
	}
	e.flags = fs
	return fn(ctx, e, fs.Args())
}

// flagSet builds cmd's flag set, in the order the command declares its
// flags, which groups them by topic.
func flagSet(name string, cmd command) (*pflag.FlagSet, runFunc) {
	fs := pflag.NewFlagSet("loadgen "+name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	return fs, cmd.setup(fs)
}

// helpText is what `loadgen NAME --help` prints.
func (c command) helpText(fs *pflag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: loadgen %s\n\n", c.usage)
	b.WriteString(strings.TrimSpace(c.help) + "\n")
	if u := fs.FlagUsages(); u != "" {
		b.WriteString("\nFlags:\n" + u)
	}
	b.WriteString("\nExamples:\n")
	for _, line := range strings.Split(strings.TrimSpace(c.examples), "\n") {
		b.WriteString("  " + strings.TrimSpace(line) + "\n")
	}
	return b.String()
}

// nargs checks the number of positional arguments: between lo and hi
// (hi < 0 for no limit).
func nargs(name string, args []string, lo, hi int, synopsis string) error {
	if len(args) >= lo && (hi < 0 || len(args) <= hi) {
		return nil
	}
	hint := fmt.Sprintf("usage: loadgen %s; run `loadgen %s --help`", synopsis, name)
	if len(args) < lo {
		return usageErrorf(hint, "%s: missing arguments", name)
	}
	return usageErrorf(hint, "%s: unexpected arguments %q", name, args[hi:])
}

// givenFlags returns the flags set on the command line, by long name, as
// the JSON summary records them. A repeated flag's values are joined with
// commas.
func givenFlags(fs *pflag.FlagSet) map[string]string {
	if fs == nil {
		return nil
	}
	m := map[string]string{}
	fs.Visit(func(f *pflag.Flag) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			m[f.Name] = strings.Join(sv.GetSlice(), ",")
			return
		}
		m[f.Name] = f.Value.String()
	})
	return m
}
