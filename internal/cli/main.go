// This file runs a tool as a process: signals in, exit code out.

package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// A MainFunc is a whole tool behind its main: it parses args (without the
// program name), runs one command and returns the exit code. Tests drive the
// tool through it.
type MainFunc func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int

// Main runs run with the process's arguments and standard streams, under a
// context that SIGINT and SIGTERM cancel, and returns its exit code for
// os.Exit. With stopOnSignal, the first signal also restores the default
// behaviour, so a second Ctrl-C kills the process (loadgen, which writes
// partial reports after the first); otherwise later signals are ignored
// until run returns.
func Main(run MainFunc, stopOnSignal bool) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if stopOnSignal {
		context.AfterFunc(ctx, stop)
	}
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	return code
}
