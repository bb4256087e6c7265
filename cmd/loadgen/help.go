package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
)

func helpCmd() command {
	return command{
		summary: "show the usage of loadgen or of a command",
		usage:   "help [COMMAND]",
		help:    `Help prints the usage, flags and examples of a command, or the command list.`,
		examples: `
			loadgen help
			loadgen help run`,
		setup: func(fs *pflag.FlagSet) runFunc {
			return func(ctx context.Context, e *env, args []string) error {
				if err := nargs("help", args, 0, 1, "help [COMMAND]"); err != nil {
					return err
				}
				if len(args) == 0 {
					fmt.Fprint(e.stdout, mainUsage())
					return nil
				}
				cmd, ok := commands()[args[0]]
				if !ok {
					return unknownCommand(args[0])
				}
				cfs, _ := flagSet(args[0], cmd)
				fmt.Fprint(e.stdout, cmd.helpText(cfs))
				return nil
			}
		},
	}
}
