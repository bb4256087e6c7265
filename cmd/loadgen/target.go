// This file opens the store a run drives through the target protocol, with
// --target: it starts the target, opens the run's store directory in it and
// times the protocol's round trip.

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/boxstorm/boxstorm/harness/load"
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/reports"
	"github.com/boxstorm/boxstorm/store"
)

// errTargetFailed marks a run whose target stopped answering.
var errTargetFailed = errors.New("the target failed during the run")

// targetHint is what to do about a target that does not start, open or
// answer.
func (c *runConfig) targetHint() string {
	return fmt.Sprintf("--target is a command that speaks the target protocol (docs/target-protocol.md) on stdin and stdout, such as 'storectl serve'; "+
		"check that it runs and look at its stderr above; `chaos conform --target %s` checks it", shellQuote(c.target))
}

// openTarget starts --target and opens the store in dir in it, with the
// run's key and sync mode, and times the protocol's round trip.
func (c *runConfig) openTarget(ctx context.Context, e *env, dir string) (*load.TargetBackend, *reports.RoundTrip, func() error, error) {
	var key []byte
	if c.keyFile != "" {
		k, err := store.ReadKeyFile(c.keyFile)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--key-file: %w", err)
		}
		key = k
	} else {
		key = store.NewKey()
	}
	// The process outlives an interrupt of the run: the run ends, then the
	// target closes its store and exits when its stdin closes.
	rem, err := target.Dial(context.WithoutCancel(ctx), target.RemoteConfig{
		Command: c.target, Dir: dir, Key: key,
		Settings: &target.Settings{Sync: c.syncMode.String()},
		Options:  target.Options{Stderr: e.stderr, Timeout: c.targetTimeout},
	})
	var refused *target.Error
	if err != nil {
		if errors.As(err, &refused) {
			err = fmt.Errorf("target %q refused to open %s: %s: %w", c.target, dir, refused.Class, err)
		}
		return nil, nil, nil, cli.WithHint(err, c.targetHint())
	}
	tb, err := load.NewTargetBackend(rem)
	if err != nil {
		rem.Kill()
		return nil, nil, nil, cli.WithHint(err, c.targetHint())
	}
	closeTarget := tb.Close
	if c.workload == load.WorkloadBackupUnderLoad && !tb.Claims(target.TypeBackup) {
		return nil, nil, nil, errors.Join(cli.UsageErrorf("pick another --workload, or a target that answers backup",
			"run: workload %s needs the backup request, and target %q does not claim it", c.workload, c.target), closeTarget())
	}
	rt, err := tb.MeasureRoundTrip(ctx, target.DefaultRoundTrips)
	if err != nil {
		return nil, nil, nil, errors.Join(cli.WithHint(fmt.Errorf("target %q: %w", c.target, err), c.targetHint()), closeTarget())
	}
	return tb, rt, closeTarget, nil
}

// watchTarget cancels the run's context when the target breaks, so a run
// stops at once instead of failing every op until its end.
func watchTarget(ctx context.Context, tb *load.TargetBackend) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-tb.Broken():
			cancel(fmt.Errorf("%w: %w", errTargetFailed, tb.Err()))
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}

// shellQuote quotes s for a shell when it has anything but plain words.
func shellQuote(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=", r)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}
