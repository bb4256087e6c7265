package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/scenarios"
)

var listCommand = command{
	Summary:  "list the built-in scenarios",
	Usage:    "list",
	Help:     "list prints one built-in scenario per line: its name, its protection and its description.",
	Examples: "chaos list",
	Setup: func(fs *pflag.FlagSet) runFunc {
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return cli.UsageErrorf("run `chaos list --help`", "list: takes no arguments")
			}
			all, err := scenarios.Builtin()
			if err != nil {
				return err
			}
			for _, sc := range all {
				fmt.Fprintf(e.stdout, "%-26s %-22s %s\n", sc.Name, sc.Protection, sc.Description)
			}
			return nil
		}
	},
}
