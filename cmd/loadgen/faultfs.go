// This file runs `loadgen run --faultfs` and `--slow-io`: the store on the
// fault file system (harness/faultfs), served by loadgen itself re-executed
// as its hidden __faultfs subcommand, because a process that serves a FUSE
// mount and also does I/O on it can deadlock (docs/faults.md).

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/internal/cli"
)

// faultFSCommand is the hidden subcommand that serves the fault file system
// (faultfs.ServeMain) for a run with --faultfs or --slow-io.
const faultFSCommand = "__faultfs"

// parseSlowIO parses --slow-io MEDIAN[,P99]: Go durations, 0 < MEDIAN <=
// P99. Without P99 every write and fsync sleeps MEDIAN.
func parseSlowIO(s string) (faultfs.Delay, error) {
	med, p99, two := strings.Cut(s, ",")
	var d faultfs.Delay
	var err error
	if d.Median, err = time.ParseDuration(strings.TrimSpace(med)); err != nil {
		return d, fmt.Errorf("median: %w", err)
	}
	if two {
		if d.P99, err = time.ParseDuration(strings.TrimSpace(p99)); err != nil {
			return d, fmt.Errorf("p99: %w", err)
		}
	}
	switch {
	case d.Median <= 0:
		return d, errors.New("the median must be above 0")
	case two && d.P99 < d.Median:
		return d, fmt.Errorf("the p99 %v is below the median %v", d.P99, d.Median)
	}
	return d, nil
}

// mountFaultFS mounts the fault file system over backing at a new
// temporary mount point, arms --slow-io, and returns where the store goes
// and how to unmount. It fails, with a hint, where FUSE cannot mount.
func (c *runConfig) mountFaultFS(ctx context.Context, e *env, backing string) (string, func() error, error) {
	if err := faultfs.Available(); err != nil {
		return "", nil, cli.WithHint(fmt.Errorf("run --faultfs: %w", err),
			"the fault file system is a FUSE mount: run as root on a machine with /dev/fuse, or drop --faultfs and --slow-io")
	}
	exe, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("run --faultfs: %w", err)
	}
	mnt, err := os.MkdirTemp("", "loadgen-faultfs-")
	if err != nil {
		return "", nil, fmt.Errorf("run --faultfs: create mount point: %w", err)
	}
	m, err := faultfs.Start(ctx, []string{exe, faultFSCommand}, backing, mnt, faultfs.Options{Stderr: e.stderr})
	if err != nil {
		return "", nil, errors.Join(fmt.Errorf("run --faultfs: %w", err), os.Remove(mnt))
	}
	unmount := func() error {
		err := m.Close()
		if err != nil {
			err = fmt.Errorf("unmount the fault file system: %w", err)
		}
		return errors.Join(err, os.Remove(mnt))
	}
	if c.slowIO != (faultfs.Delay{}) {
		if err := m.SlowIO(ctx, c.seed, c.slowIO); err != nil {
			return "", nil, errors.Join(fmt.Errorf("run --slow-io: %w", err), unmount())
		}
	}
	return filepath.Clean(mnt), unmount, nil
}
