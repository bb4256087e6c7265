package main

import (
	"context"
	"fmt"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/spf13/pflag"
)

func helpCmd() command {
	return command{
		Summary: "show the usage of storectl or of a command",
		Usage:   "help [COMMAND [ACTION]]",
		Help:    `Help prints the usage, flags and examples of a command or of an action of a group such as "failed".`,
		Examples: `
			storectl help
			storectl help enqueue
			storectl help failed retry`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			return func(ctx context.Context, e *env, args []string) error {
				if len(args) == 0 {
					fmt.Fprint(e.stdout, mainUsage())
					return nil
				}
				table, path := commands(), ""
				for i, name := range args {
					cmd, ok := table[name]
					if !ok {
						return prog.UnknownCommand(path, name, table)
					}
					if path != "" {
						path += " "
					}
					path += name
					if i == len(args)-1 || cmd.Actions == nil {
						if i != len(args)-1 {
							return cli.UsageErrorf("run `storectl help "+path+"`", "help: %s has no actions", path)
						}
						fmt.Fprint(e.stdout, prog.HelpText(path, cmd))
						return nil
					}
					table = cmd.Actions
				}
				return nil
			}
		},
	}
}
