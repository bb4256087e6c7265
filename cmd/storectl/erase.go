package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func eraseCmd() command {
	var (
		subject string
		asJSON  bool
	)
	return command{
		Summary: "erase a data subject (crypto-shredding, backups included)",
		Usage:   "erase --subject S [--json]",
		Help: `Erase is the runbook's privacy erasure. It records the subject in the erasure
ledger, deletes the subject's key (so every copy of its payloads, in backups
too, is unreadable), deletes its ops, and rewrites the affected box files so
no old ciphertext of the subject stays on disk. It cannot be undone, and a
later restore does not bring the subject back.`,
		Examples: `
			storectl --dir ./data --key-file store.key export --subject user-7 > user-7.json
			storectl --dir ./data --key-file store.key erase --subject user-7`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.StringVar(&subject, "subject", "", "data `SUBJECT` to erase (required)")
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("erase", args, 0, 0, "erase --subject S"); err != nil {
					return err
				}
				if subject == "" {
					return cli.UsageErrorf("pass --subject S", "erase: no subject")
				}
				return e.withStore(ctx, func(s *store.Store) error {
					rep, err := s.Erase(ctx, subject)
					if err != nil {
						return err
					}
					if asJSON {
						return writeJSON(e.stdout, rep)
					}
					rewritten := "none"
					if len(rep.BoxesRewritten) > 0 {
						rewritten = strings.Join(rep.BoxesRewritten, ", ")
					}
					fmt.Fprintf(e.stdout, "erased subject (hash %s): %d ops removed; boxes rewritten: %s\n",
						rep.SubjectHash, rep.OpsRemoved, rewritten)
					return nil
				})
			}
		},
	}
}
