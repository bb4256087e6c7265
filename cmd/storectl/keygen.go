package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func keygenCmd() command {
	return command{
		Summary: "create a new master key file (mode 0600)",
		Usage:   "keygen FILE",
		Help: `Keygen writes a new random 32-byte master key to FILE as 64 hex digits,
with mode 0600, and fsyncs it. It never overwrites a file: a lost key is a
lost store. The key is not printed.`,
		Examples: `
			storectl keygen store.key
			storectl --dir ./data --key-file store.key init`,
		Setup: func(*pflag.FlagSet) runFunc {
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("keygen", args, 1, 1, "keygen FILE"); err != nil {
					return err
				}
				path := args[0]
				if err := store.WriteKeyFile(path, store.NewKey()); err != nil {
					if errors.Is(err, fs.ErrExist) {
						return cli.WithHint(fmt.Errorf("key file %s already exists; it was left as it is", path),
							"pick a new path: storectl never overwrites a key")
					}
					return err
				}
				fmt.Fprintf(e.stdout, "wrote new key file %s (mode 0600)\n", path)
				return nil
			}
		},
	}
}
