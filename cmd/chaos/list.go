package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/boxstorm/boxstorm/scenarios"
)

var listCommand = command{
	summary:  "list the built-in scenarios",
	usage:    "list",
	help:     "list prints one built-in scenario per line: its name, its protection and its description.",
	examples: "chaos list",
	setup: func(fs *pflag.FlagSet) func(context.Context, *env, []string) (int, error) {
		return func(ctx context.Context, e *env, args []string) (int, error) {
			if len(args) > 0 {
				return 0, usageErrorf("run `chaos list --help`", "list: takes no arguments")
			}
			all, err := scenarios.Builtin()
			if err != nil {
				return 0, err
			}
			for _, sc := range all {
				fmt.Fprintf(e.stdout, "%-26s %-22s %s\n", sc.Name, sc.Protection, sc.Description)
			}
			return exitOK, nil
		}
	},
}
