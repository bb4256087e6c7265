package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func recoverCmd() command {
	var (
		from   string
		asJSON bool
	)
	return command{
		Summary: "recover a store with damaged boxes from a backup",
		Usage:   "recover --from FILE [--json]",
		Help: `Recover is the runbook's "Handling Corrupted Box", for a store that fails to
open because a box is damaged. It checks the key, finds the damaged box files,
moves each aside as <box>_corrupted_YYYYMMDD.bak, restores the store from the
backup --from (when only pending_index is damaged it is rebuilt from
pending_ops instead), re-runs the migrations, and audits corruption_recovery.
A store with no damage is left alone. The restore replaces the content of
every box with the backup's. --from is required, and checked before anything
is moved. The procedure is journaled: if it is interrupted, the store refuses
to open until recover is run again with the same backup, which finishes it.`,
		Examples: `
			storectl --dir ./data --key-file store.key verify
			storectl --dir ./data --key-file store.key recover --from latest.tar.age
			storectl --dir ./data --key-file store.key verify`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.StringVar(&from, "from", "", "last good backup `FILE` (required)")
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("recover", args, 0, 0, "recover --from FILE"); err != nil {
					return err
				}
				// RecoverCorrupted moves the damaged files aside before it looks
				// at the backup, so a missing or unreadable backup would leave
				// the store with empty boxes; a rerun then finds no damage.
				// Hence --from is required and checked first, even though an
				// index-only damage does not need it.
				if from == "" {
					return cli.UsageErrorf("pass --from FILE, the last good backup (`storectl backup` makes one)", "recover: no backup file")
				}
				f, err := os.Open(from)
				if err != nil {
					return fmt.Errorf("recover: %w", err)
				}
				f.Close()
				o, err := e.storeOptions(false)
				if err != nil {
					return err
				}
				s, rep, err := store.RecoverCorrupted(ctx, e.g.dir, from, o)
				if err != nil {
					return err
				}
				if err := s.Close(); err != nil {
					return fmt.Errorf("close store: %w", err)
				}
				if asJSON {
					return writeJSON(e.stdout, rep)
				}
				if len(rep.Damaged) == 0 {
					fmt.Fprintf(e.stdout, "no damaged box; store left alone (schema version %d)\n", rep.Schema)
					return nil
				}
				fmt.Fprintf(e.stdout, "damaged boxes: %s\n", strings.Join(rep.Damaged, ", "))
				for _, q := range rep.Quarantined {
					fmt.Fprintf(e.stdout, "moved aside: %s\n", q)
				}
				switch {
				case rep.Restored:
					fmt.Fprintf(e.stdout, "restored from %s\n", from)
				case rep.Rebuilt:
					fmt.Fprintln(e.stdout, "rebuilt pending_index from pending_ops")
				}
				if len(rep.Migrated) > 0 {
					fmt.Fprintf(e.stdout, "migrations applied: %s\n", strings.Join(rep.Migrated, ", "))
				}
				fmt.Fprintf(e.stdout, "schema version: %d\n", rep.Schema)
				return nil
			}
		},
	}
}
