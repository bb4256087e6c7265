package main

import (
	"context"

	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func getCmd() command {
	return command{
		Summary: "print a value from a data box",
		Usage:   "get BOX KEY",
		Help: `Get writes the value under KEY in the data box BOX to standard output,
byte for byte: no newline is added. A missing key exits 1.`,
		Examples: `
			storectl --dir ./data --key-file store.key get settings theme
			storectl --dir ./data --key-file store.key get blobs b1 > blob.bin`,
		Setup: func(*pflag.FlagSet) runFunc {
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("get", args, 2, 2, "get BOX KEY"); err != nil {
					return err
				}
				return e.withStore(ctx, func(s *store.Store) error {
					v, err := s.Get(ctx, args[0], args[1])
					if err != nil {
						return err
					}
					_, err = e.stdout.Write(v)
					return err
				})
			}
		},
	}
}
