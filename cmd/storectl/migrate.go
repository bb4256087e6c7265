package main

import (
	"context"
	"fmt"
	"time"

	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func migrateCmd() command {
	var asJSON bool
	return command{
		Summary: "apply pending schema migrations (after a backup)",
		Usage:   "migrate [--json]",
		Help: `Migrate is the runbook's "Migration Execution Manual Run": it takes a backup
into <dir>/backups, then applies every pending built-in migration in order,
each staged and swapped in with the new schema version, and audited as
migration_applied with its duration. A migration that fails leaves the store
at the last good version. Migrations slower than 10s are flagged.`,
		Examples: `
			storectl --dir ./data --key-file store.key migrate
			storectl --dir ./data --key-file store.key stats`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("migrate", args, 0, 0, "migrate [--json]"); err != nil {
					return err
				}
				return e.withStore(ctx, func(s *store.Store) error {
					rep, err := s.Migrate(ctx)
					if err != nil {
						return err
					}
					if asJSON {
						return writeJSON(e.stdout, rep)
					}
					if len(rep.Applied) == 0 {
						v, err := s.SchemaVersion()
						if err != nil {
							return err
						}
						fmt.Fprintf(e.stdout, "schema version %d is current; nothing to migrate\n", v)
						return nil
					}
					fmt.Fprintf(e.stdout, "migrated schema version %d -> %d\n", rep.From, rep.To)
					if rep.Backup != "" {
						fmt.Fprintf(e.stdout, "backup taken first: %s\n", rep.Backup)
					}
					for _, a := range rep.Applied {
						slow := ""
						if a.Alert {
							slow = "  ALERT: slower than " + store.MigrationAlert.String()
						}
						fmt.Fprintf(e.stdout, "  %d %s (%s)%s\n", a.Version, a.Name, a.Duration.Round(time.Millisecond), slow)
					}
					return nil
				})
			}
		},
	}
}
