package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func rotateKeyCmd() command {
	var (
		newKeyFile string
		asJSON     bool
	)
	return command{
		Summary: "re-encrypt the store under a new master key",
		Usage:   "rotate-key --new-key-file FILE [--json]",
		Help: `Rotate-key is the runbook's "Key Rotation": it re-encrypts every record under
new data keys wrapped by the master key in --new-key-file, switches the
keyring to it atomically, verifies every record, and only then deletes the old
data keys and audits key_rotated. Each step is crash-safe: after a crash,
rerun the same command with whichever key opens the store; it resumes.

Afterwards the store opens only with the new key. Keep the old key while you
still hold backups made under it: restore them with --backup-key-file.`,
		Examples: `
			storectl keygen new.key
			storectl --dir ./data --key-file store.key rotate-key --new-key-file new.key
			storectl --dir ./data --key-file new.key verify`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.StringVar(&newKeyFile, "new-key-file", "", "key `FILE` with the new master key (required; see keygen)")
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("rotate-key", args, 0, 0, "rotate-key --new-key-file FILE"); err != nil {
					return err
				}
				if newKeyFile == "" {
					return cli.UsageErrorf("create one with `storectl keygen FILE`, then pass --new-key-file FILE", "rotate-key: no new key file")
				}
				// Check the new key before the store is touched.
				if _, err := store.ReadKeyFile(newKeyFile); err != nil {
					return err
				}
				return e.withStore(ctx, func(s *store.Store) error {
					rep, err := s.RotateKey(ctx, store.KeyFile(newKeyFile))
					if err != nil {
						return err
					}
					if asJSON {
						return writeJSON(e.stdout, rep)
					}
					what := "rotated"
					if rep.Resumed {
						what = "resumed and finished the rotation"
					}
					fmt.Fprintf(e.stdout, "%s: the store now opens with --key-file %s\n", what, newKeyFile)
					boxes := make([]string, 0, len(rep.Boxes))
					for b := range rep.Boxes {
						boxes = append(boxes, b)
					}
					slices.Sort(boxes)
					for _, b := range boxes {
						fmt.Fprintf(e.stdout, "  %-24s %d records re-encrypted\n", b, rep.Boxes[b])
					}
					if rep.OldKeysGone {
						fmt.Fprintln(e.stdout, "old data keys deleted")
					}
					return nil
				})
			}
		},
	}
}
