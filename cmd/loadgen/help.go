package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
)

func helpCmd() command {
	return command{
		Summary: "show the usage of loadgen or of a command",
		Usage:   "help [COMMAND]",
		Help:    `Help prints the usage, flags and examples of a command, or the command list.`,
		Examples: `
			loadgen help
			loadgen help run`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("help", args, 0, 1, "help [COMMAND]"); err != nil {
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
				fmt.Fprint(e.stdout, prog.HelpText(args[0], cmd))
				return nil
			}
		},
	}
}
