// This file holds run, the whole CLI behind main: global flags, the command
// table and dispatch.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/boxstorm/boxstorm/internal/cli"
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
		"inspect":       inspectCmd(),
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
		"serve":         serveCmd(),
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
		return cli.ExitOK
	case err != nil:
		return prog.Report(stderr, cli.UsageErrorf("run `storectl --help` for the global flags and commands", "%v", err))
	}
	rest := e.globals.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, mainUsage())
		return prog.Report(stderr, cli.UsageErrorf("run `storectl --help`, or `storectl help COMMAND`", "no command given"))
	}
	cmd, ok := commands()[rest[0]]
	if !ok {
		return prog.Report(stderr, prog.UnknownCommand("", rest[0], commands()))
	}
	return prog.Report(stderr, prog.Run(ctx, e, stdout, rest[0], cmd, rest[1:]))
}

func mainUsage() string {
	var b strings.Builder
	b.WriteString(`storectl operates a boxstorm store directory: the persistence runbook's
procedures as commands.

Usage: storectl [global flags] COMMAND [flags] [args]

Commands:
`)
	table := commands()
	for _, n := range cli.Names(table) {
		fmt.Fprintf(&b, "  %-14s %s\n", n, table[n].Summary)
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
