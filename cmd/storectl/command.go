// This file ties storectl's commands to package cli: the environment they
// run in, and how their flags, help and errors differ from the other tools'.

package main

import (
	"io"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/spf13/pflag"
)

// A command is one storectl subcommand, or a group of actions such as
// `failed list|retry`.
type command = cli.Command[*env]

type runFunc = cli.RunFunc[*env]

// env is what a running command gets besides its arguments: the standard
// streams and the global flags.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	g              globalFlags
	globals        *pflag.FlagSet
}

// prog is storectl to package cli. Every command also takes the global
// flags, so they may follow the command name; its help only points at them.
var prog = &cli.Program[*env]{
	Name:        "storectl",
	UsagePrefix: "[global flags] ",
	GlobalsNote: "Global flags: --dir, --key-file, --key-env, --passphrase-env, --sync,\n--recovery, -v/--verbose; see \"storectl --help\".\n",
	Bind: func(e *env, fs *pflag.FlagSet) {
		if e.globals != nil {
			fs.AddFlagSet(e.globals)
		}
	},
	Hint:       sentinelHint,
	SplitHints: true, // the store ends many messages with "; hint: …"
}
