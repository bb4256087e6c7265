package main

import (
	"context"
	"fmt"
	"io"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func enqueueCmd() command {
	var (
		count   int
		payload string
		idem    string
		subject string
	)
	return command{
		Summary: "append ops to the FIFO queue",
		Usage:   "enqueue [--count N] [--payload TEXT] [--idempotency-key K] [--subject S]",
		Help: `Enqueue appends ops to pending_ops, in order, and prints one line per op:
"enqueued ID seq N", or "duplicate ID seq N" when the idempotency key was used
before and the first op was returned instead. With --count above 1 and an
idempotency key, op i (from 1) gets the key K-i. --payload - reads the payload
from standard input.`,
		Examples: `
			storectl --dir ./data --key-file store.key enqueue --payload '{"op":"sync"}' --idempotency-key order-42
			storectl --dir ./data --key-file store.key enqueue --count 1000 --payload ping
			storectl --dir ./data --key-file store.key enqueue --subject user-7 --payload - < op.json`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.IntVar(&count, "count", 1, "number of ops to enqueue")
			fs.StringVar(&payload, "payload", "", "op payload `TEXT` (\"-\" reads standard input)")
			fs.StringVar(&idem, "idempotency-key", "", "idempotency `KEY`; with --count N, KEY-1 … KEY-N")
			fs.StringVar(&subject, "subject", "", "data `SUBJECT` the ops belong to, for export and erasure")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("enqueue", args, 0, 0, "enqueue [flags]"); err != nil {
					return err
				}
				if count < 1 {
					return cli.UsageErrorf("--count is at least 1", "enqueue: --count %d", count)
				}
				body := []byte(payload)
				if payload == "-" {
					var err error
					if body, err = io.ReadAll(e.stdin); err != nil {
						return fmt.Errorf("read payload from stdin: %w", err)
					}
				}
				return e.withStore(ctx, func(s *store.Store) error {
					added, dups := 0, 0
					for i := 1; i <= count; i++ {
						o := store.EnqueueOptions{IdempotencyKey: idem, Subject: subject}
						if idem != "" && count > 1 {
							o.IdempotencyKey = fmt.Sprintf("%s-%d", idem, i)
						}
						op, err := s.Enqueue(ctx, body, o)
						if err != nil {
							return fmt.Errorf("enqueue op %d of %d: %w", i, count, err)
						}
						what := "enqueued"
						if op.Duplicate {
							what = "duplicate"
							dups++
						} else {
							added++
						}
						fmt.Fprintf(e.stdout, "%s %s seq %d\n", what, op.ID, op.Seq)
					}
					if count > 1 {
						fmt.Fprintf(e.stdout, "%d enqueued, %d duplicates\n", added, dups)
					}
					return nil
				})
			}
		},
	}
}
