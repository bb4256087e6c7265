package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/boxstorm/boxstorm/harness"
)

// workerCommand is the hidden worker mode: run() hands its arguments to
// harness.WorkerMain before any flag parsing, so this entry only keeps the
// name reserved in the table.
var workerCommand = command{
	hidden:  true,
	summary: "internal: a worker child of a chaos run",
	usage:   harness.WorkerCommand + " --spec FILE | --open-only --dir DIR",
	setup: func(fs *pflag.FlagSet) func(context.Context, *env, []string) (int, error) {
		return func(ctx context.Context, e *env, args []string) (int, error) {
			return harness.WorkerMain(ctx, args, e.stdout, e.stderr), nil
		}
	},
}
