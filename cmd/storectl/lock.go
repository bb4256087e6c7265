package main

import (
	"context"
	"fmt"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

func lockCmd() command {
	return command{
		Summary: "show or force-release the processing lock",
		Usage:   "lock status|release --force",
		Help: `Lock is the runbook's "Multiple Processors Detected" and "Persistent lock
never releases": status shows the processing lock (owner, startedAt, last
heartbeat, token, staleness); release --force frees it whoever holds it and
writes lock_force_released to the audit log.`,
		Examples: `
			storectl --dir ./data --key-file store.key lock status
			storectl --dir ./data --key-file store.key lock release --force --reason "worker-3 is gone"`,
		Actions: map[string]command{
			"status":  lockStatusCmd(),
			"release": lockReleaseCmd(),
		},
	}
}

func lockStatusCmd() command {
	var asJSON bool
	return command{
		Summary: "show the processing lock",
		Usage:   "lock status [--json]",
		Help:    `Status prints the processing lock as this machine's clock sees it.`,
		Examples: `
			storectl --dir ./data --key-file store.key lock status
			storectl --dir ./data --key-file store.key lock status --json`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.BoolVar(&asJSON, "json", false, "print JSON")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("lock status", args, 0, 0, "lock status [--json]"); err != nil {
					return err
				}
				return e.withStore(ctx, func(s *store.Store) error {
					l, err := s.LockStatus(nil)
					if err != nil {
						return err
					}
					if asJSON {
						return writeJSON(e.stdout, l)
					}
					fmt.Fprintf(e.stdout, "processing lock: %s\n", lockLine(l))
					return nil
				})
			}
		},
	}
}

func lockReleaseCmd() command {
	var (
		force  bool
		reason string
	)
	return command{
		Summary: "force-release the processing lock",
		Usage:   "lock release --force [--reason TEXT]",
		Help: `Release frees the processing lock whoever holds it. The holder's claims are
void and its ops are delivered again; a holder that is still running fails
its next call with a stale token. Take a backup first, and make sure the
holder is gone. --force is required.`,
		Examples: `
			storectl --dir ./data --key-file store.key lock release --force --reason "worker-3 is gone"`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.BoolVar(&force, "force", false, "really release the lock")
			fs.StringVar(&reason, "reason", "released with storectl lock release --force", "why, for the audit log")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("lock release", args, 0, 0, "lock release --force [--reason TEXT]"); err != nil {
					return err
				}
				if !force {
					return cli.UsageErrorf("check `storectl lock status`, make sure the holder is gone, then add --force",
						"lock release: refusing without --force: it takes the lock from whoever holds it")
				}
				return e.withStore(ctx, func(s *store.Store) error {
					before, err := s.LockStatus(nil)
					if err != nil {
						return err
					}
					if !before.Held {
						fmt.Fprintf(e.stdout, "processing lock is not held (last token %d); nothing to release\n", before.Token)
						return nil
					}
					if err := s.ForceReleaseLock(ctx, reason); err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "processing lock released; it was %s\n", lockLine(before))
					return nil
				})
			}
		},
	}
}
