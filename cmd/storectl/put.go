package main

import (
	"context"
	"fmt"
	"io"

	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func putCmd() command {
	return command{
		Summary: "store a value in a data box",
		Usage:   "put BOX KEY VALUE",
		Help: `Put stores VALUE under KEY in the data box BOX, creating the box on first
use. VALUE "-" reads the value from standard input. Values are encrypted;
keys are stored in the clear, so they must carry no personal data.`,
		Examples: `
			storectl --dir ./data --key-file store.key put settings theme dark
			storectl --dir ./data --key-file store.key put blobs b1 - < blob.bin`,
		Setup: func(*pflag.FlagSet) runFunc {
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("put", args, 3, 3, "put BOX KEY VALUE"); err != nil {
					return err
				}
				value := []byte(args[2])
				if args[2] == "-" {
					var err error
					if value, err = io.ReadAll(e.stdin); err != nil {
						return fmt.Errorf("read value from stdin: %w", err)
					}
				}
				return e.withStore(ctx, func(s *store.Store) error {
					return s.Put(ctx, args[0], args[1], value)
				})
			}
		},
	}
}
