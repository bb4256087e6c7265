package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func statsCmd() command {
	var asJSON bool
	return command{
		Summary: "show the runbook's monitoring figures and alerts",
		Usage:   "stats [--json]",
		Help: `Stats prints the store id, schema version, sync mode, pending_ops.count,
failed_ops.count, claimed ops, the processing lock holder, the last migration
and the runbook's alerts (failed_ops.count above threshold, slow migration).`,
		Examples: `
			storectl --dir ./data --key-file store.key stats
			storectl --dir ./data --key-file store.key stats --json | jq '."pending_ops.count"'`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.BoolVar(&asJSON, "json", false, "print JSON")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("stats", args, 0, 0, "stats [--json]"); err != nil {
					return err
				}
				return e.withStore(ctx, func(s *store.Store) error {
					st, err := s.Stats(ctx)
					if err != nil {
						return err
					}
					if asJSON {
						return writeJSON(e.stdout, struct {
							StoreID string `json:"store_id"`
							store.Stats
						}{s.StoreID(), st})
					}
					w := e.stdout
					fmt.Fprintf(w, "store id: %s\n", s.StoreID())
					fmt.Fprintf(w, "schema version: %d%s\n", st.SchemaVersion, behind(st.SchemaVersion))
					fmt.Fprintf(w, "sync mode: %s\n", st.SyncMode)
					fmt.Fprintf(w, "pending_ops.count: %d\n", st.PendingOps)
					fmt.Fprintf(w, "failed_ops.count: %d\n", st.FailedOps)
					fmt.Fprintf(w, "claimed: %d\n", st.Claimed)
					fmt.Fprintf(w, "lock: %s\n", lockLine(st.Lock))
					if st.LastMigration != "" {
						fmt.Fprintf(w, "last migration: %s (%s)\n", st.LastMigration, st.MigrationTime.Round(time.Millisecond))
					}
					writeAlerts(w, st.Alerts)
					return nil
				})
			}
		},
	}
}

func writeAlerts(w io.Writer, alerts []string) {
	if len(alerts) == 0 {
		fmt.Fprintln(w, "alerts: none")
		return
	}
	for _, a := range alerts {
		fmt.Fprintf(w, "ALERT: %s\n", a)
	}
}

// lockLine describes the processing lock in one line.
func lockLine(l store.LockInfo) string {
	switch {
	case !l.Held:
		return fmt.Sprintf("free (last token %d)", l.Token)
	case l.Stale:
		return fmt.Sprintf("STALE, held by %q since %s (token %d, last heartbeat %s, stale since %s)",
			l.Owner, stamp(l.StartedAt), l.Token, stamp(l.HeartbeatAt), stamp(l.StaleAt))
	}
	return fmt.Sprintf("held by %q since %s (token %d, last heartbeat %s, stale at %s)",
		l.Owner, stamp(l.StartedAt), l.Token, stamp(l.HeartbeatAt), stamp(l.StaleAt))
}
