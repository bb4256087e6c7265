package main

import (
	"context"
	"runtime/debug"

	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/store"
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
--dir when the request names none, with the request's master key, or else
the global key flags' key. Without a key flag, an open request must carry a
master key, as loadgen run --target's does. Requests run concurrently. It exits when
standard input ends; logs go to standard error.`,
		Examples: `
			storectl --key-file store.key serve
			loadgen run --target 'storectl serve'
			chaos conform --target 'storectl --key-file store.key serve'
			storectl --dir ./data --key-file store.key --sync never serve`,
		Setup: func(*pflag.FlagSet) runFunc {
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("serve", args, 0, 0, "serve"); err != nil {
					return err
				}
				o, err := e.serveOptions()
				if err != nil {
					return err
				}
				t := &target.StoreTarget{Options: o, Version: version(), Dir: e.g.dir}
				err = target.Serve(ctx, e.stdin, e.stdout, t)
				if cerr := t.Close(); cerr != nil && err == nil {
					err = cerr
				}
				return err
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

// serveOptions are the store options of serve: the global flags', but a
// missing key source is no error, since open requests may carry the key.
func (e *env) serveOptions() (store.Options, error) {
	if e.g.keyFile != "" || e.g.keyEnv != "" || e.g.passphraseEnv != "" {
		return e.options()
	}
	return e.keylessOptions()
}
