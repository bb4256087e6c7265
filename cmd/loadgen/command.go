// This file ties loadgen's commands to package cli: the environment they run
// in, and how their flags and errors differ from the other tools'.

package main

import (
	"io"
	"log/slog"
	"strings"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/spf13/pflag"
)

// A command is one loadgen subcommand.
type command = cli.Command[*env]

type runFunc = cli.RunFunc[*env]

// env is what a running command gets besides its arguments.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger // to stderr
	// flags is the running command's flag set, for recording the flags as
	// given in a report.
	flags *pflag.FlagSet
}

// prog is loadgen to package cli. A command's help lists its flags in the
// order it declares them, which groups them by topic.
var prog = &cli.Program[*env]{
	Name:          "loadgen",
	KeepFlagOrder: true,
	Bind:          func(e *env, fs *pflag.FlagSet) { e.flags = fs },
	Hint:          sentinelHint,
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
