package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/boxstorm/boxstorm/harness/chaos"
)

// workerCommand is the hidden worker mode: run() hands its arguments to
// chaos.WorkerMain before any flag parsing, so this entry only keeps the
// name reserved in the table.
var workerCommand = command{
	Hidden:  true,
	Summary: "internal: a worker child of a chaos run",
	Usage:   chaos.WorkerCommand + " --spec FILE [--process N] | --open-only --dir DIR",
	Setup: func(fs *pflag.FlagSet) runFunc {
		return func(ctx context.Context, e *env, args []string) error {
			e.code = chaos.WorkerMain(ctx, args, e.stdout, e.stderr)
			return nil
		}
	},
}
