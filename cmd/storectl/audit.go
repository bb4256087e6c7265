package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func auditCmd() command {
	var asJSON bool
	return command{
		Summary: "print the audit log",
		Usage:   "audit [--json]",
		Help: `Audit prints audit_logs in order, one entry a line: sequence number, time,
event (stale_lock_recovered, lock_force_released, box_repaired, …) and details.`,
		Examples: `
			storectl --dir ./data --key-file store.key audit
			storectl --dir ./data --key-file store.key audit --json | jq '.[].event'`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.BoolVar(&asJSON, "json", false, "print JSON")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("audit", args, 0, 0, "audit [--json]"); err != nil {
					return err
				}
				return e.withStore(ctx, func(s *store.Store) error {
					entries, err := s.AuditLog(ctx)
					if err != nil {
						return err
					}
					if asJSON {
						if entries == nil {
							entries = []store.AuditEntry{}
						}
						return writeJSON(e.stdout, entries)
					}
					if len(entries) == 0 {
						fmt.Fprintln(e.stdout, "audit log is empty")
					}
					for _, a := range entries {
						details := ""
						if len(a.Details) > 0 {
							b, err := json.Marshal(a.Details)
							if err != nil {
								return err
							}
							details = " " + string(b)
						}
						fmt.Fprintf(e.stdout, "%d %s %s%s\n", a.Seq, stamp(a.Time), a.Event, details)
					}
					return nil
				})
			}
		},
	}
}
