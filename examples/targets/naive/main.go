// Command naive is a deliberately naive boxstorm target: the example that
// chaos must fail, each scenario for the right reason. It speaks the target
// protocol (docs/target-protocol.md) through harness/target's Serve, and it
// is otherwise a plausible first attempt at a queue on plain files.
//
//	chaos conform --target 'go run ./examples/targets/naive'
//
// # Flaws, on purpose
//
// These are the only flaws it has; each one is what a chaos check exists to
// catch. Do not fix them, and do not add others.
//
//   - No fsync, ever. The queue is a JSON-lines file, queue.jsonl, in the
//     open's dir: every enqueue, ack, fail and audit appends one line with a
//     single write(2), and nothing is ever fsynced, the directory included.
//     A SIGKILL loses nothing (the kernel's page cache survives it); a power
//     loss loses whatever the page cache had not written back, acknowledged
//     or not. Durability fails under power loss.
//   - No fencing. Acquire grants a lease judged by the caller's now and
//     stale_after_ms (2 minutes by default), with a token from an in-memory
//     counter that starts at 1 in every process. Claim, ack and fail ignore
//     the token and never answer stale-token, so a processor whose lease
//     went stale (clock skew, a stall) still claims and acks; and tokens
//     repeat after a restart. Fencing fails; so does conform's stale-token
//     check.
//   - No integrity checks. Open replays queue.jsonl and skips every line
//     that does not parse, silently: no corrupt error, no repair report, no
//     quarantine copy, no checksum to notice a bit flip that still parses.
//     A torn last line is not repaired either, so the next append is glued
//     to it and is lost too at the next open. Integrity and error-class
//     checks fail under truncation, garbage and bit flips.
//   - No key. master_key is accepted and ignored and nothing is encrypted,
//     so a wrong key is never detected: conform's wrong-key check fails.
//   - put rewrites kv.json in place (os.WriteFile: truncate, then write; no
//     temporary file and rename), so a crash in the middle of a put can
//     lose every record; a kv.json that does not parse opens empty.
//
// # What it does right
//
// FIFO order; idempotency keys (a repeat returns the first op, from the
// replay, for as long as the file has its enqueue line); lock-held for a
// live lease of another owner; heartbeat and release check their token
// against the lease's; locked for a second open, in this process or another
// (flock on the directory); unsupported for every type it does not claim.
//
// Claims live in memory only. An op claimed and neither acked nor failed is
// claimable again once the lease holder changes (another owner acquires),
// and after a restart; it is not handed out twice to the same holder.
//
// Settings: stale_after_ms is applied; sync, sync_interval_ms, recovery
// and failed_ops_alert are ignored (there is no fsync to tune, no recovery
// to choose and no alert to raise).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/boxstorm/boxstorm/harness/target"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "naive: error: %v\n", err)
		os.Exit(1)
	}
}

// run serves the protocol on stdin and stdout until stdin ends.
func run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	t := &naive{log: log}
	err := target.Serve(ctx, stdin, stdout, t)
	if cerr := t.close(); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
