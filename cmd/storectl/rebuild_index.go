package main

import (
	"context"
	"fmt"
	"io"

	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func rebuildIndexCmd() command {
	var check, asJSON bool
	return command{
		Summary: "check or rebuild pending_index from pending_ops",
		Usage:   "rebuild-index [--check] [--json]",
		Help: `Rebuild-index is the runbook's "Rebuild Pending Index": it checks
pending_index against pending_ops (missing, dangling and out-of-order entries,
malformed timestamps, ops found in both pending_ops and failed_ops), rebuilds
the index from the ops' sequence numbers, and prints what it found.
With --check it changes nothing and exits 1 when the index is not clean.`,
		Examples: `
			storectl --dir ./data --key-file store.key rebuild-index --check
			storectl --dir ./data --key-file store.key rebuild-index
			storectl --dir ./data --key-file store.key rebuild-index --json`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.BoolVar(&check, "check", false, "only check; exit 1 if the index is not clean")
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("rebuild-index", args, 0, 0, "rebuild-index [--check] [--json]"); err != nil {
					return err
				}
				return e.withStore(ctx, func(s *store.Store) error {
					var rep store.IndexReport
					var err error
					if check {
						rep, err = s.CheckIndex(ctx)
					} else {
						rep, err = s.RebuildIndex(ctx)
					}
					if err != nil {
						return err
					}
					if asJSON {
						err = writeJSON(e.stdout, rep)
					} else {
						writeIndexReport(e.stdout, rep)
					}
					if err != nil {
						return err
					}
					if check && !rep.Clean() {
						return problemf("run `storectl rebuild-index` to rebuild it", "pending index is not clean")
					}
					return nil
				})
			}
		},
	}
}

func writeIndexReport(w io.Writer, r store.IndexReport) {
	fmt.Fprintf(w, "ops in pending_ops: %d\n", r.Ops)
	fmt.Fprintf(w, "index entries: %d\n", r.Entries)
	fmt.Fprintf(w, "missing entries: %s\n", list(r.Missing))
	fmt.Fprintf(w, "dangling entries: %s\n", list(r.Dangling))
	fmt.Fprintf(w, "out-of-order entries: %s\n", list(r.OutOfOrder))
	fmt.Fprintf(w, "malformed timestamps: %s\n", list(r.MalformedTimestamps))
	fmt.Fprintf(w, "ops in pending_ops and failed_ops: %s\n", list(r.DuplicateOps))
	switch {
	case r.Rebuilt:
		fmt.Fprintln(w, "Index rebuilt")
	case r.Clean():
		fmt.Fprintln(w, "index is clean")
	default:
		fmt.Fprintln(w, "index needs a rebuild")
	}
}
