package main

import (
	"context"
	"fmt"
	"os"

	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func initCmd() command {
	return command{
		Summary: "create the store (or open an existing one) and show its id",
		Usage:   "init",
		Help: `Init creates the store in --dir under the given key, or opens the store
already there, and prints its id and schema version. Opening an existing store
checks its key and scans every box file, so init is also a quick health check.`,
		Examples: `
			storectl keygen store.key
			storectl --dir ./data --key-file store.key init
			STORE_PASS=... storectl --dir ./data --passphrase-env STORE_PASS init`,
		Setup: func(*pflag.FlagSet) runFunc {
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("init", args, 0, 0, "init"); err != nil {
					return err
				}
				entries, _ := os.ReadDir(e.g.dir)
				return e.useStore(ctx, true, func(s *store.Store) error {
					v, err := s.SchemaVersion()
					if err != nil {
						return err
					}
					what := "opened"
					if len(entries) == 0 {
						what = "created"
					}
					fmt.Fprintf(e.stdout, "%s store %s\nid: %s\nschema version: %d%s\nsync mode: %s\n", what, s.Dir(), s.StoreID(), v, behind(v), s.SyncMode())
					return nil
				})
			}
		},
	}
}
