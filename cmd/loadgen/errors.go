// This file says what to do about the errors loadgen meets most: the hints
// for sentinel errors.

package main

import (
	"context"
	"errors"
	"io/fs"

	"github.com/boxstorm/boxstorm/reports"
	"github.com/boxstorm/boxstorm/store"
)

// sentinelHint says what to do about the errors loadgen meets most, for an
// error that carries no hint of its own.
func sentinelHint(err error) string {
	switch {
	case errors.Is(err, store.ErrWrongKey):
		return "--dir holds a store made under another key: pass its --key-file, or use an empty directory"
	case errors.Is(err, store.ErrLocked):
		return "another process has the store open: stop it, or pick another --dir"
	case errors.Is(err, store.ErrCorrupt):
		return "check the store with `storectl --dir DIR verify`, or run on an empty --dir"
	case errors.Is(err, store.ErrSync):
		return "check the disk (space, errors), then run again"
	case errors.Is(err, reports.ErrUnsupportedVersion):
		return "the summary was written by another version of loadgen; render it again with `loadgen report RUN_DIR`"
	case errors.Is(err, reports.ErrSyntax):
		return "the file is not in the format loadgen writes; see docs/reports.md"
	case errors.Is(err, reports.ErrMergeDropped):
		return "every shard must be recorded by loadgen with the same histogram range"
	case errors.Is(err, fs.ErrNotExist):
		return "check the path; a run directory holds summary.json and run.hlog"
	case errors.Is(err, context.Canceled):
		return "interrupted; run again to finish"
	}
	return ""
}
