// This file holds the command table type and what every tool does with it:
// flag parsing, --help, action groups and argument checks.

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// A Command is one subcommand of a tool, or a group of them (such as
// `storectl failed list|retry`). E is what the tool's commands get besides
// their arguments: its streams and settings.
type Command[E any] struct {
	// Summary is the one-line description in the tool's command list.
	Summary string
	// Usage is the synopsis after the program name (and
	// [Program.UsagePrefix]), starting with the command's name.
	Usage string
	// Help describes the command in a few sentences.
	Help string
	// Examples holds example command lines, one a line.
	Examples string
	// Hidden keeps the command out of the command list and help: it is for
	// the tool's own use, such as chaos's worker children.
	Hidden bool
	// Setup registers the command's own flags on fs and returns the function
	// that runs the command with the positional arguments left after
	// parsing. It is nil for a group.
	Setup func(fs *pflag.FlagSet) RunFunc[E]
	// Actions, for a group, holds its subcommands by name.
	Actions map[string]Command[E]
}

// A RunFunc runs a command with the positional arguments left after its
// flags were parsed.
type RunFunc[E any] func(ctx context.Context, e E, args []string) error

// A Program describes one tool to the machinery: its name, how its
// commands' flags are parsed and their help rendered, and how its errors
// are reported.
type Program[E any] struct {
	// Name is the program's name, as typed and as it starts error lines.
	Name string
	// UsagePrefix stands between the program name and a command's Usage in
	// its help, such as "[global flags] ".
	UsagePrefix string
	// GlobalsNote, when set, is a paragraph of a command's help between its
	// flags and its examples, such as where the global flags are described.
	GlobalsNote string
	// KeepFlagOrder lists a command's flags in the order it registers them,
	// which groups them by topic, instead of sorted by name.
	KeepFlagOrder bool
	// Bind, when set, is called with each command's flag set after the
	// command registered its flags (and the help's flag list was taken) and
	// before parsing: to add global flags, or to keep the set.
	Bind func(e E, fs *pflag.FlagSet)
	// Hint says what to do about an error that carries no hint of its own;
	// see [Reporter].
	Hint func(err error) string
	// SplitHints puts the "; hint: …" parts of messages on lines of their
	// own; see [Reporter].
	SplitHints bool
}

// Report prints err as the program's error and hint lines on w and returns
// the exit code, as [Reporter.Report] does.
func (p *Program[E]) Report(w io.Writer, err error) int {
	return Reporter{Program: p.Name, Hint: p.Hint, SplitHints: p.SplitHints}.Report(w, err)
}

// FlagSet builds the flag set of cmd, whose name as typed is path (such as
// "failed retry"), and returns it with cmd's run function (nil for a group).
// Parse errors are returned, not printed.
func (p *Program[E]) FlagSet(path string, cmd Command[E]) (*pflag.FlagSet, RunFunc[E]) {
	fs := pflag.NewFlagSet(p.Name+" "+path, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = !p.KeepFlagOrder
	if cmd.Actions != nil {
		fs.SetInterspersed(false) // flags after the action name belong to it
		return fs, nil
	}
	return fs, cmd.Setup(fs)
}

// Run parses args with cmd's flags and runs it, or one of its actions for a
// group. path is the command's name as typed. --help prints the command's
// help on stdout instead.
func (p *Program[E]) Run(ctx context.Context, e E, stdout io.Writer, path string, cmd Command[E], args []string) error {
	fs, fn := p.FlagSet(path, cmd)
	local := fs.FlagUsages()
	if p.Bind != nil {
		p.Bind(e, fs)
	}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		fmt.Fprint(stdout, p.helpText(path, cmd, local))
		return nil
	case err != nil:
		return UsageErrorf(fmt.Sprintf("run `%s %s --help`", p.Name, path), "%s: %v", path, err)
	}
	if cmd.Actions == nil {
		return fn(ctx, e, fs.Args())
	}
	args = fs.Args()
	if len(args) == 0 {
		return UsageErrorf(fmt.Sprintf("run `%s %s --help`", p.Name, path),
			"%s: missing action: want one of %s", path, strings.Join(Names(cmd.Actions), ", "))
	}
	sub, ok := cmd.Actions[args[0]]
	if !ok {
		return p.UnknownCommand(path, args[0], cmd.Actions)
	}
	return p.Run(ctx, e, stdout, path+" "+args[0], sub, args[1:])
}

// HelpText is what `PROGRAM PATH --help` prints for cmd.
func (p *Program[E]) HelpText(path string, cmd Command[E]) string {
	fs, _ := p.FlagSet(path, cmd)
	return p.helpText(path, cmd, fs.FlagUsages())
}

func (p *Program[E]) helpText(path string, c Command[E], flags string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s %s%s\n\n", p.Name, p.UsagePrefix, c.Usage)
	b.WriteString(strings.TrimSpace(c.Help) + "\n")
	if c.Actions != nil {
		b.WriteString("\nActions:\n")
		for _, n := range Names(c.Actions) {
			fmt.Fprintf(&b, "  %-10s %s\n", n, c.Actions[n].Summary)
		}
		fmt.Fprintf(&b, "\nRun \"%s %s ACTION --help\" for an action's flags.\n", p.Name, path)
	}
	if flags != "" {
		b.WriteString("\nFlags:\n" + flags)
	}
	if p.GlobalsNote != "" {
		b.WriteString("\n" + p.GlobalsNote)
	}
	if c.Examples != "" {
		b.WriteString("\nExamples:\n")
		for _, line := range strings.Split(strings.TrimSpace(c.Examples), "\n") {
			b.WriteString("  " + strings.TrimSpace(line) + "\n")
		}
	}
	return b.String()
}

// UnknownCommand is the usage error for a name not in table: a command, or
// with parent set an action of the group parent. It suggests the names that
// share its first two letters.
func (p *Program[E]) UnknownCommand(parent, name string, table map[string]Command[E]) error {
	var near []string
	for n, c := range table {
		if len(name) >= 2 && strings.HasPrefix(n, name[:2]) && !c.Hidden {
			near = append(near, n)
		}
	}
	slices.Sort(near)
	what, help := "command", "`"+p.Name+" --help`"
	if parent != "" {
		what, help = parent+" action", "`"+p.Name+" "+parent+" --help`"
	}
	hint := "run " + help + " for the list"
	if len(near) > 0 {
		hint = "did you mean " + strings.Join(near, " or ") + "? " + hint
	}
	return UsageErrorf(hint, "unknown %s %q", what, name)
}

// Nargs checks the number of positional arguments of the command path:
// between lo and hi (hi < 0 for no limit). synopsis is the command's usage
// for the hint.
func (p *Program[E]) Nargs(path string, args []string, lo, hi int, synopsis string) error {
	if len(args) >= lo && (hi < 0 || len(args) <= hi) {
		return nil
	}
	hint := fmt.Sprintf("usage: %s %s; run `%s %s --help`", p.Name, synopsis, p.Name, path)
	if len(args) < lo {
		return UsageErrorf(hint, "%s: missing arguments", path)
	}
	return UsageErrorf(hint, "%s: unexpected arguments %q", path, args[hi:])
}

// Names returns the names of the commands in table that are not hidden,
// sorted.
func Names[E any](table map[string]Command[E]) []string {
	names := make([]string, 0, len(table))
	for n, c := range table {
		if !c.Hidden {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}
