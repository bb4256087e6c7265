package main

import (
	"context"
	"fmt"
	"time"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func failedCmd() command {
	return command{
		Summary: "list, retry or purge failed ops",
		Usage:   "failed list|retry ID|purge",
		Help: `Failed is the runbook's "Failed Ops Retry & Purge": list shows failed_ops
with their attempts, last error and next retry time; retry re-enqueues one op
at the tail of the queue, keeping its id and idempotency key; purge archives
and deletes the failed ops older than the retention (30 days by default).`,
		Examples: `
			storectl --dir ./data --key-file store.key failed list
			storectl --dir ./data --key-file store.key failed retry 01J8Z3
			storectl --dir ./data --key-file store.key failed purge --older-than 168h`,
		Actions: map[string]command{
			"list":  failedListCmd(),
			"retry": failedRetryCmd(),
			"purge": failedPurgeCmd(),
		},
	}
}

func failedListCmd() command {
	var asJSON bool
	return command{
		Summary: "list failed ops",
		Usage:   "failed list [--json]",
		Help:    `List prints failed_ops in their original FIFO order. Payloads are shown only in --json.`,
		Examples: `
			storectl --dir ./data --key-file store.key failed list
			storectl --dir ./data --key-file store.key failed list --json`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.BoolVar(&asJSON, "json", false, "print JSON, payloads included")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("failed list", args, 0, 0, "failed list [--json]"); err != nil {
					return err
				}
				return e.withStore(ctx, func(s *store.Store) error {
					ops, err := s.FailedOps(ctx)
					if err != nil {
						return err
					}
					return writeOps(e.stdout, ops, asJSON, "no failed ops", "ID\tSEQ\tATTEMPTS\tFAILED AT\tNEXT RETRY\tLAST ERROR", func(op store.Op) string {
						return fmt.Sprintf("%s\t%d\t%d\t%s\t%s\t%s", op.ID, op.Seq, op.Attempts, stamp(op.FailedAt), stamp(op.NextRetryAt), op.LastError)
					})
				})
			}
		},
	}
}

func failedRetryCmd() command {
	return command{
		Summary: "re-enqueue a failed op",
		Usage:   "failed retry ID",
		Help: `Retry moves the failed op ID back to the tail of the queue, keeping its id,
idempotency key and attempt count.`,
		Examples: `
			storectl --dir ./data --key-file store.key failed retry 01J8Z3`,
		Setup: func(*pflag.FlagSet) runFunc {
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("failed retry", args, 1, 1, "failed retry ID"); err != nil {
					return err
				}
				return e.withStore(ctx, func(s *store.Store) error {
					op, err := s.Retry(ctx, args[0])
					if err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "retried %s: now seq %d, attempts %d\n", op.ID, op.Seq, op.Attempts)
					return nil
				})
			}
		},
	}
}

func failedPurgeCmd() command {
	var (
		olderThan time.Duration
		archive   string
		asJSON    bool
	)
	return command{
		Summary: "archive and delete old failed ops",
		Usage:   "failed purge [--older-than DUR] [--archive FILE] [--json]",
		Help: `Purge applies the runbook's retention policy: the failed ops that failed more
than --older-than ago are written to an encrypted archive (like a backup,
under the store's key), which is fsynced, and only then deleted from
failed_ops. By default the archive is
<dir>/backups/failed_ops_archive_<UTC time>.tar.age.`,
		Examples: `
			storectl --dir ./data --key-file store.key failed purge
			storectl --dir ./data --key-file store.key failed purge --older-than 168h --archive purged.tar.age`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.DurationVar(&olderThan, "older-than", store.DefaultRetention, "retention: purge ops that failed more than `DUR` ago")
			fs.StringVar(&archive, "archive", "", "archive `FILE` (default <dir>/backups/failed_ops_archive_<UTC>.tar.age)")
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("failed purge", args, 0, 0, "failed purge [flags]"); err != nil {
					return err
				}
				if olderThan <= 0 {
					return cli.UsageErrorf("--older-than is a positive duration such as 720h", "failed purge: --older-than %s", olderThan)
				}
				return e.withStore(ctx, func(s *store.Store) error {
					rep, err := s.PurgeFailed(ctx, store.PurgeOptions{OlderThan: olderThan, ArchivePath: archive})
					if err != nil {
						return err
					}
					if asJSON {
						return writeJSON(e.stdout, rep)
					}
					if rep.Purged == 0 {
						fmt.Fprintf(e.stdout, "no failed op is older than %s; nothing purged\n", olderThan)
						return nil
					}
					fmt.Fprintf(e.stdout, "purged %d failed ops older than %s; archived to %s\n", rep.Purged, olderThan, rep.Archive)
					return nil
				})
			}
		},
	}
}
