package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
)

func helpCmd() command {
	return command{
		summary: "show the usage of storectl or of a command",
		usage:   "help [COMMAND [ACTION]]",
		help:    `Help prints the usage, flags and examples of a command or of an action of a group such as "failed".`,
		examples: `
			storectl help
			storectl help enqueue
			storectl help failed retry`,
		setup: func(fs *pflag.FlagSet) runFunc {
			return func(ctx context.Context, e *env, args []string) error {
				if len(args) == 0 {
					fmt.Fprint(e.stdout, mainUsage())
					return nil
				}
				table, path := commands(), ""
				for i, name := range args {
					cmd, ok := table[name]
					if !ok {
						return unknownCommand(path, name, table)
					}
					if path != "" {
						path += " "
					}
					path += name
					if i == len(args)-1 || cmd.actions == nil {
						if i != len(args)-1 {
							return usageErrorf("run `storectl help "+path+"`", "help: %s has no actions", path)
						}
						_, local, _ := (&env{}).flagSet(path, cmd)
						fmt.Fprint(e.stdout, cmd.helpText(path, local))
						return nil
					}
					table = cmd.actions
				}
				return nil
			}
		},
	}
}
