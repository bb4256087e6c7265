package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func restoreCmd() command {
	var (
		from      string
		expected  int
		backupKey string
		asJSON    bool
	)
	return command{
		Summary: "replace the store's content with a backup",
		Usage:   "restore --from FILE --expected-schema N [--backup-key-file K] [--json]",
		Help: `Restore is the runbook's "Restore From Encrypted Backup". It decrypts and
verifies the whole backup and checks its schema version against
--expected-schema before it changes anything; only then does it swap the
restored box files in. On any failure the store is unchanged. Subjects erased
since the backup stay erased. An empty --dir gets a new store first.

--expected-schema is required: a backup from another schema version is refused
(run "storectl migrate" first, then retry). A backup made before a key rotation
needs the key it was made under: --backup-key-file.`,
		Examples: `
			storectl --dir ./data --key-file store.key restore --from latest.tar.age --expected-schema 2
			storectl --dir ./data --key-file new.key restore --from old.tar.age --expected-schema 2 --backup-key-file old.key`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.StringVar(&from, "from", "", "backup `FILE` to restore (required)")
			fs.IntVar(&expected, "expected-schema", 0, "schema version `N` the backup must carry (required)")
			fs.StringVar(&backupKey, "backup-key-file", "", "key `FILE` the backup was made under, if not the store's key")
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("restore", args, 0, 0, "restore --from FILE --expected-schema N"); err != nil {
					return err
				}
				if from == "" {
					return cli.UsageErrorf("pass --from FILE, the backup to restore", "restore: no backup file")
				}
				if expected <= 0 {
					return cli.UsageErrorf("pass --expected-schema N: the schema version the backup must have (`storectl stats` shows the store's)",
						"restore: no --expected-schema")
				}
				o := store.RestoreOptions{ExpectedSchema: expected}
				if backupKey != "" {
					o.BackupKey = store.KeyFile(backupKey)
				}
				f, err := os.Open(from)
				if err != nil {
					return fmt.Errorf("restore: %w", err)
				}
				defer f.Close()
				return e.useStore(ctx, true, func(s *store.Store) error {
					info, err := s.Restore(ctx, f, o)
					if err != nil {
						return err
					}
					if asJSON {
						return writeJSON(e.stdout, info)
					}
					fmt.Fprintf(e.stdout, "restored %s from %s (store id %s, schema version %d, made %s)\n",
						s.Dir(), from, info.Backup.StoreID, info.Backup.SchemaVersion, stamp(info.Backup.CreatedAt))
					// The runbook's last step: record counts against the metadata.
					inBackup := map[string]int64{}
					for _, b := range info.Backup.Boxes {
						inBackup[b.Name] = b.Records
					}
					boxes := make([]string, 0, len(info.Records))
					for b := range info.Records {
						boxes = append(boxes, b)
					}
					slices.Sort(boxes)
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "BOX\tLOADED\tIN BACKUP")
					for _, b := range boxes {
						fmt.Fprintf(tw, "%s\t%d\t%d\n", b, info.Records[b], inBackup[b])
					}
					if err := tw.Flush(); err != nil {
						return err
					}
					if info.Erased > 0 {
						fmt.Fprintf(e.stdout, "%d records of erased subjects were left out\n", info.Erased)
					}
					if v := info.Backup.SchemaVersion; v < store.LatestSchemaVersion() {
						fmt.Fprintf(e.stdout, "schema version %d is behind %d: run `storectl migrate`\n", v, store.LatestSchemaVersion())
					}
					return nil
				})
			}
		},
	}
}
