// This file maps errors to exit codes and to the `error:` and `hint:` lines.

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/boxstorm/boxstorm/reports"
	"github.com/boxstorm/boxstorm/store"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the run failed or was interrupted, a report could not be made, a regression
	exitUsage   = 2 // unknown command or flag, missing arguments, bad flag values
)

// usageError is a mistake in the command line: exit code 2.
type usageError struct {
	msg, hint string
}

func (e *usageError) Error() string { return e.msg }

func usageErrorf(hint, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), hint: hint}
}

// hintError attaches a hint to an error that is not a usage error.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

func withHint(err error, hint string) error { return &hintError{err: err, hint: hint} }

// report prints err as error and hint lines on stderr and returns the exit
// code.
func (e *env) report(err error) int {
	if err == nil {
		return exitOK
	}
	code, hint := exitFailure, ""
	var ue *usageError
	var he *hintError
	switch {
	case errors.As(err, &ue):
		code, hint = exitUsage, ue.hint
	case errors.As(err, &he):
		hint = he.hint
	default:
		hint = sentinelHint(err)
	}
	fmt.Fprintf(e.stderr, "loadgen: error: %s\n", err)
	if hint != "" {
		fmt.Fprintf(e.stderr, "loadgen: hint: %s\n", hint)
	}
	return code
}

// sentinelHint says what to do about the errors loadgen meets most.
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
