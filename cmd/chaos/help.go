package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
)

// The help command reads the command table, which lists it: it joins the
// table in init, not in the table's own initialiser.
func init() { commands["help"] = helpCommand() }

func helpCommand() command {
	return command{
		Summary: "show the usage of chaos or of a command",
		Usage:   "help [COMMAND]",
		Help:    "help prints the usage, flags and examples of a command, or without one the command list.",
		Examples: `chaos help
chaos help run`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("help", args, 0, 1, "help [COMMAND]"); err != nil {
					return err
				}
				if len(args) == 0 {
					fmt.Fprint(e.stdout, mainHelp())
					return nil
				}
				cmd, ok := commands[args[0]]
				if !ok || cmd.Hidden {
					return prog.UnknownCommand("", args[0], commands)
				}
				fmt.Fprint(e.stdout, prog.HelpText(args[0], cmd))
				return nil
			}
		},
	}
}
