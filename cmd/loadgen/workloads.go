package main

import (
	"context"
	"fmt"

	"github.com/boxstorm/boxstorm/harness/load"
	"github.com/spf13/pflag"
)

func workloadsCmd() command {
	return command{
		Summary: "list the workloads run --workload takes",
		Usage:   "workloads",
		Help: `Workloads lists the store workloads, one a line. Each reports its ops under
the store operation's name: enqueue, claim, ack, get, update, backup, and for
mixed also acquire and release.`,
		Examples: `
			loadgen workloads
			loadgen run --workload kv-b --records 100000`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("workloads", args, 0, 0, "workloads"); err != nil {
					return err
				}
				for _, w := range load.StoreWorkloads {
					d := w.Description
					if w.Name == DefaultWorkload {
						d += " (default)"
					}
					fmt.Fprintf(e.stdout, "%-18s %s\n", w.Name, d)
				}
				return nil
			}
		},
	}
}
