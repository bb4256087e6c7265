package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func verifyCmd() command {
	var asJSON bool
	return command{
		Summary: "check every box file and record; exit 1 on damage",
		Usage:   "verify [--json]",
		Help: `Verify reads every box file from disk, checks its framing, and reads and
authenticates every record. It changes nothing. It prints one line per box and
one per damage, and exits 1 if any box is damaged, naming the box and the byte
offset. A box so damaged that the store does not open is reported the same way.`,
		Examples: `
			storectl --dir ./data --key-file store.key verify
			storectl --dir ./data --key-file store.key verify --json`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("verify", args, 0, 0, "verify [--json]"); err != nil {
					return err
				}
				err := e.withStore(ctx, func(s *store.Store) error {
					rep, err := s.Verify(ctx)
					if err != nil {
						return err
					}
					if err := writeResult(e.stdout, rep, asJSON); err != nil {
						return err
					}
					if rep.OK() {
						return nil
					}
					var where []string
					for _, b := range rep.Boxes {
						for _, d := range b.Damage {
							where = append(where, fmt.Sprintf("box %s at offset %d", d.Box, d.Offset))
						}
					}
					return problemf(recoverHint, "damage found: %s", strings.Join(where, ", "))
				})
				if errors.Is(err, store.ErrCorrupt) {
					return cli.WithHint(err, recoverHint)
				}
				return err
			}
		},
	}
}

const recoverHint = "recover the store from the last good backup: `storectl recover --from BACKUP`"
