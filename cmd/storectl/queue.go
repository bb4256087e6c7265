package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

// The store keeps claims in memory, per open store, so a claim made by one
// storectl process cannot be acked by the next: queue offers drain, which
// claims and acks in one process, instead of separate claim and ack actions.

func queueCmd() command {
	return command{
		Summary: "list or drain the pending queue",
		Usage:   "queue list|drain",
		Help: `Queue shows pending_ops and, for demos and load experiments, drains them:
drain takes the processing lock, claims every op in FIFO order and acks it
(or fails every Nth), then releases the lock.`,
		Examples: `
			storectl --dir ./data --key-file store.key queue list
			storectl --dir ./data --key-file store.key queue drain --owner demo --fail-every 3`,
		Actions: map[string]command{
			"list":  queueListCmd(),
			"drain": queueDrainCmd(),
		},
	}
}

func queueListCmd() command {
	var asJSON bool
	return command{
		Summary: "list pending ops in FIFO order",
		Usage:   "queue list [--json]",
		Help:    `List prints pending_ops in FIFO order. Payloads are shown only in --json.`,
		Examples: `
			storectl --dir ./data --key-file store.key queue list
			storectl --dir ./data --key-file store.key queue list --json`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.BoolVar(&asJSON, "json", false, "print JSON, payloads included")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("queue list", args, 0, 0, "queue list [--json]"); err != nil {
					return err
				}
				return e.withStore(ctx, func(s *store.Store) error {
					ops, err := s.PendingOps(ctx)
					if err != nil {
						return err
					}
					return writeOps(e.stdout, ops, asJSON, "queue is empty", "ID\tSEQ\tENQUEUED AT\tATTEMPTS\tIDEMPOTENCY KEY", func(op store.Op) string {
						return fmt.Sprintf("%s\t%d\t%s\t%d\t%s", op.ID, op.Seq, stamp(op.EnqueuedAt), op.Attempts, op.IdempotencyKey)
					})
				})
			}
		},
	}
}

func queueDrainCmd() command {
	var (
		owner     string
		failEvery int
		limit     int
	)
	return command{
		Summary: "claim and ack every pending op",
		Usage:   "queue drain [--owner O] [--fail-every N] [--limit N]",
		Help: `Drain acquires the processing lock as --owner, claims ops in FIFO order and
acks each one, except that with --fail-every N every Nth op is failed instead
(it moves to failed_ops). It stops when the queue is empty or after --limit
ops, releases the lock and prints the counts. A lock held by another owner
exits 1.`,
		Examples: `
			storectl --dir ./data --key-file store.key queue drain
			storectl --dir ./data --key-file store.key queue drain --owner demo --fail-every 3 --limit 100`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.StringVar(&owner, "owner", "storectl", "lock owner name")
			fs.IntVar(&failEvery, "fail-every", 0, "fail every `N`th op instead of acking it (0: never)")
			fs.IntVar(&limit, "limit", 0, "stop after `N` ops (0: no limit)")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("queue drain", args, 0, 0, "queue drain [flags]"); err != nil {
					return err
				}
				if failEvery < 0 || limit < 0 {
					return cli.UsageErrorf("--fail-every and --limit are 0 or more", "queue drain: negative --fail-every or --limit")
				}
				return e.withStore(ctx, func(s *store.Store) error {
					return drain(ctx, e, s, owner, failEvery, limit)
				})
			}
		},
	}
}

func drain(ctx context.Context, e *env, s *store.Store, owner string, failEvery, limit int) (err error) {
	lease, err := s.AcquireLock(ctx, store.LockRequest{Owner: owner})
	if err != nil {
		return err
	}
	defer func() {
		// Release even when interrupted, so the ops are not stuck until
		// the lock goes stale.
		if rerr := s.ReleaseLock(context.WithoutCancel(ctx), lease.Token); rerr != nil && err == nil {
			err = fmt.Errorf("release processing lock: %w", rerr)
		}
	}()
	claimed, acked, failed := 0, 0, 0
	defer func() {
		fmt.Fprintf(e.stdout, "drained as %q (token %d): %d claimed, %d acked, %d failed\n", owner, lease.Token, claimed, acked, failed)
	}()
	for limit == 0 || claimed < limit {
		op, err := s.Claim(ctx, lease.Token)
		if errors.Is(err, store.ErrEmpty) {
			return nil
		}
		if err != nil {
			return err
		}
		claimed++
		if failEvery > 0 && claimed%failEvery == 0 {
			if _, err := s.Fail(ctx, lease.Token, op.ID, fmt.Sprintf("storectl queue drain --fail-every %d", failEvery)); err != nil {
				return err
			}
			failed++
			continue
		}
		if err := s.Ack(ctx, lease.Token, op.ID); err != nil {
			return err
		}
		acked++
	}
	return nil
}

// writeOps prints a listing of ops: JSON (payloads included) with asJSON,
// else a table with header and one row a op, or empty when there are none.
func writeOps(w io.Writer, ops []store.Op, asJSON bool, empty, header string, row func(store.Op) string) error {
	if asJSON {
		if ops == nil {
			ops = []store.Op{}
		}
		return writeJSON(w, ops)
	}
	if len(ops) == 0 {
		fmt.Fprintln(w, empty)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, op := range ops {
		fmt.Fprintln(tw, row(op))
	}
	return tw.Flush()
}
