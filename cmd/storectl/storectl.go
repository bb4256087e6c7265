// This file holds run, the whole CLI behind main: global flags, the command
// table and dispatch.

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

// commands returns the command table. It is built afresh for every run, so
// each invocation gets new flag sets (tests call run many times).
func commands() map[string]command {
	return map[string]command{
		"keygen":        keygenCmd(),
		"init":          initCmd(),
		"put":           putCmd(),
		"get":           getCmd(),
		"enqueue":       enqueueCmd(),
		"stats":         statsCmd(),
		"rebuild-index": rebuildIndexCmd(),
		"failed":        failedCmd(),
		"audit":         auditCmd(),
		"lock":          lockCmd(),
		"queue":         queueCmd(),
		"verify":        verifyCmd(),
		"backup":        backupCmd(),
		"restore":       restoreCmd(),
		"migrate":       migrateCmd(),
		"rotate-key":    rotateKeyCmd(),
		"export":        exportCmd(),
		"erase":         eraseCmd(),
		"recover":       recoverCmd(),
		"help":          helpCmd(),
	}
}

// run is storectl: it parses args (without the program name), runs one
// command and returns the exit code. main only adds signals and os.Exit, so
// tests drive the whole CLI through run.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	e.globals = pflag.NewFlagSet("storectl", pflag.ContinueOnError)
	e.globals.SetInterspersed(false) // flags after the command name belong to it
	e.globals.SetOutput(io.Discard)
	e.globals.Usage = func() {}
	e.g.register(e.globals)

	err := e.globals.Parse(args)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		fmt.Fprint(stdout, mainUsage())
		return exitOK
	case err != nil:
		return e.report(usageErrorf("run `storectl --help` for the global flags and commands", "%v", err))
	}
	rest := e.globals.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, mainUsage())
		return e.report(usageErrorf("run `storectl --help`, or `storectl help COMMAND`", "no command given"))
	}
	cmd, ok := commands()[rest[0]]
	if !ok {
		return e.report(unknownCommand("", rest[0], commands()))
	}
	return e.report(e.runCommand(ctx, rest[0], cmd, rest[1:]))
}

// unknownCommand is the usage error for a command name not in table,
// suggesting the names that share its first letters.
func unknownCommand(parent, name string, table map[string]command) error {
	var near []string
	for n := range table {
		if len(name) >= 2 && strings.HasPrefix(n, name[:2]) {
			near = append(near, n)
		}
	}
	slices.Sort(near)
	what, help := "command", "`storectl --help`"
	if parent != "" {
		what, help = parent+" action", "`storectl "+parent+" --help`"
	}
	hint := "run " + help + " for the list"
	if len(near) > 0 {
		hint = "did you mean " + strings.Join(near, " or ") + "? " + hint
	}
	return usageErrorf(hint, "unknown %s %q", what, name)
}

func mainUsage() string {
	var b strings.Builder
	b.WriteString(`storectl operates a boxstorm store directory: the persistence runbook's
procedures as commands.

Usage: storectl [global flags] COMMAND [flags] [args]

Commands:
`)
	table := commands()
	names := make([]string, 0, len(table))
	for n := range table {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  %-14s %s\n", n, table[n].summary)
	}
	var g globalFlags
	fs := pflag.NewFlagSet("storectl", pflag.ContinueOnError)
	g.register(fs)
	b.WriteString("\nGlobal flags (before or after the command name):\n")
	b.WriteString(fs.FlagUsages())
	b.WriteString(`
Every command that opens a store needs --dir and exactly one key source:
--key-file, --key-env or --passphrase-env. Secrets are never flag values.

Exit codes: 0 success, 1 a problem found (damage, mismatch, refusal, wrong
key, locked store, not found), 2 a usage error.

Examples:
  storectl keygen store.key
  storectl --dir ./data --key-file store.key init
  storectl --dir ./data --key-file store.key put users u-42 '{"plan":"pro"}'
  storectl --dir ./data --key-file store.key get users u-42
  storectl --dir ./data --key-file store.key enqueue --count 100 --payload ping
  storectl --dir ./data --key-file store.key stats --json
  STORE_PASS=... storectl --dir ./data --passphrase-env STORE_PASS audit

Run "storectl help COMMAND" or "storectl COMMAND --help" for a command's
flags and examples.
`)
	return b.String()
}
