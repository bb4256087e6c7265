package main

import (
	"context"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func exportCmd() command {
	var subject string
	return command{
		Summary: "print a data subject's ops and audit entries as JSON",
		Usage:   "export --subject S",
		Help: `Export is the runbook's privacy export: it prints, as JSON on standard
output, every op enqueued for the subject with its payload (base64), and the
audit entries that concern it with their details replaced by
{"redacted": true}. The output holds personal data: handle it accordingly.`,
		Examples: `
			storectl --dir ./data --key-file store.key export --subject user-7 > user-7.json`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.StringVar(&subject, "subject", "", "data `SUBJECT` to export (required)")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("export", args, 0, 0, "export --subject S"); err != nil {
					return err
				}
				if subject == "" {
					return cli.UsageErrorf("pass --subject S", "export: no subject")
				}
				return e.withStore(ctx, func(s *store.Store) error {
					x, err := s.Export(ctx, subject)
					if err != nil {
						return err
					}
					if x.Ops == nil {
						x.Ops = []store.Op{}
					}
					if x.Audit == nil {
						x.Audit = []store.AuditEntry{}
					}
					return writeJSON(e.stdout, x)
				})
			}
		},
	}
}
