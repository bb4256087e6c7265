package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/internal/cli"
)

var conformCommand = command{
	Summary: "check that a target speaks the target protocol",
	Usage:   "conform --target CMD [--timeout D] [--json] [--keep]",
	Help: `conform starts the target CMD (a command line, split as a shell would,
nothing expanded) and checks, before any chaos, that it answers every core
request type and every optional one its open reply claims, and that it
produces the error classes wrong-key, locked, stale-token and unsupported
(and backup-invalid when it claims restore). The store directories and
backups go in a fresh temporary directory. docs/target-protocol.md is the
protocol.

It prints the conformance matrix, one row per request type or error class;
for each failed check it prints which request, what was sent, what was
wanted and what came back. Exit status: 0 the target conforms, 1 it does
not, 2 a usage error or a target that cannot be started.`,
	Examples: `chaos conform --target 'storectl --key-file store.key serve'
chaos conform --target 'python3 examples/targets/python/target.py'
chaos conform --target './mytarget --fsync' --timeout 30s --json`,
	Setup: func(fs *pflag.FlagSet) runFunc {
		cmd := fs.String("target", "", "the target's command line `CMD`")
		timeout := fs.Duration("timeout", target.DefaultTimeout, "per-request timeout `D`")
		asJSON := fs.Bool("json", false, "print the report as JSON instead of the matrix")
		keep := fs.Bool("keep", false, "keep the temporary directory with the stores, and print its path")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return cli.UsageErrorf("run `chaos conform --help`", "conform: takes no arguments")
			}
			if *cmd == "" {
				return cli.UsageErrorf("pass --target CMD, the command that starts the target", "conform: no target")
			}
			if _, err := target.SplitCommand(*cmd); err != nil {
				return cli.UsageErrorf("quote CMD as a shell would", "conform: --target: %v", err)
			}
			work, err := os.MkdirTemp("", "chaos-conform-")
			if err != nil {
				return err
			}
			if *keep {
				fmt.Fprintf(e.stderr, "chaos: keeping %s\n", work)
			} else {
				defer os.RemoveAll(work)
			}
			rep, err := target.Conform(ctx, target.ConformConfig{
				Command: *cmd,
				WorkDir: work,
				Options: target.Options{Timeout: *timeout},
			})
			if err != nil {
				return cli.WithHint(err, "check that --target starts the target from this directory")
			}
			if *asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				rep.WriteMatrix(e.stdout)
			}
			if !rep.Passed() {
				rep.WriteFailures(e.stderr)
				fmt.Fprintf(e.stderr, "chaos: target %q does not conform\n", *cmd)
				e.code = cli.ExitFailure
				return nil
			}
			fmt.Fprintf(e.stdout, "target conforms\n")
			return nil
		}
	},
}
