package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"text/tabwriter"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func backupCmd() command {
	var (
		out    string
		force  bool
		asJSON bool
	)
	return command{
		Summary: "write an encrypted backup of every box",
		Usage:   "backup --out FILE [--force] [--json]",
		Help: `Backup writes an encrypted backup of the whole store (an age-encrypted tar:
backup_meta.json, then one dump per box; see docs/backup-format.md) to FILE,
mode 0600. It writes a temporary file beside FILE (.FILE.*.tmp), fsyncs it
and renames it, so FILE holds a whole backup or nothing, and a failed backup
leaves no temporary file. It refuses to replace an existing FILE without --force.
The backup is encrypted under the store's master key.`,
		Examples: `
			storectl --dir ./data --key-file store.key backup --out backups/data-$(date -u +%Y%m%dT%H%M%SZ).tar.age
			storectl --dir ./data --key-file store.key backup --out latest.tar.age --force --json`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.StringVar(&out, "out", "", "backup `FILE` to write (required)")
			fs.BoolVar(&force, "force", false, "replace FILE if it exists")
			fs.BoolVar(&asJSON, "json", false, "print the backup's metadata as JSON")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("backup", args, 0, 0, "backup --out FILE"); err != nil {
					return err
				}
				if out == "" {
					return cli.UsageErrorf("pass --out FILE", "backup: no output file")
				}
				if _, err := os.Lstat(out); err == nil && !force {
					return cli.WithHint(fmt.Errorf("backup: %s already exists; it was left as it is", out),
						"pick a new file name, or pass --force to replace it")
				} else if err != nil && !errors.Is(err, iofs.ErrNotExist) {
					return fmt.Errorf("backup: %w", err)
				}
				return e.withStore(ctx, func(s *store.Store) error {
					info, err := s.BackupFile(ctx, out)
					if err != nil {
						return err
					}
					if asJSON {
						return writeJSON(e.stdout, info)
					}
					fmt.Fprintf(e.stdout, "wrote backup %s (mode 0600)\n", out)
					return writeBackupInfo(e.stdout, info)
				})
			}
		},
	}
}

// writeBackupInfo prints a backup's metadata, for backup and restore.
func writeBackupInfo(w io.Writer, info store.BackupInfo) error {
	fmt.Fprintf(w, "store id: %s\nschema version: %d\ncreated at: %s\nformat version: %d\ntool: %s\n",
		info.StoreID, info.SchemaVersion, stamp(info.CreatedAt), info.FormatVersion, info.ToolVersion)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BOX\tRECORDS\tBYTES")
	for _, b := range info.Boxes {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", b.Name, b.Records, b.Bytes)
	}
	return tw.Flush()
}
