package main

import (
	"context"
	"runtime/debug"

	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/spf13/pflag"
)

func serveCmd() command {
	return command{
		Summary: "serve the store as a target over the target protocol",
		Usage:   "serve",
		Help: `Serve makes storectl the reference store's target for chaos and loadgen:
it reads target-protocol requests, one JSON object a line, on standard input
and writes one reply a line on standard output (docs/target-protocol.md). It
opens the store when an open request comes, in the request's dir, or in
--dir when the request names none, with the global key flags' key unless the
request carries a master key. The key flags are optional: without one, every
open request must carry master_key (the harness's always do), and an open
without it is refused with the class other. Requests run concurrently. It
exits when standard input ends; logs go to standard error.`,
		Examples: `
			storectl --key-file store.key serve
			storectl serve        # every open request carries master_key
			chaos conform --target 'storectl --key-file store.key serve'
			storectl --dir ./data --key-file store.key serve   # chaos and loadgen send their own sync settings`,
		Setup: func(*pflag.FlagSet) runFunc {
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("serve", args, 0, 0, "serve"); err != nil {
					return err
				}
				// Without a key flag, each open request must carry
				// master_key, as the harness's do.
				o, err := e.optionsWithoutKey()
				if e.g.hasKeySource() {
					o, err = e.options()
				}
				if err != nil {
					return err
				}
				t := &target.StoreTarget{Options: o, Version: version(), Dir: e.g.dir}
				return t.ServeOn(ctx, e.stdin, e.stdout)
			}
		},
	}
}

// version is the module version storectl was built from, or "devel".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}
