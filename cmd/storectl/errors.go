// This file maps errors to exit codes and to the `error:` and `hint:` lines.

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/boxstorm/boxstorm/store"
)

// Exit codes.
const (
	exitOK      = 0
	exitProblem = 1 // damage, mismatch, refusal, wrong key, locked store, not found
	exitUsage   = 2 // unknown command or flag, missing arguments, bad flag values
)

// usageError is a mistake in the command line.
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

// problemf reports a problem a command found (a damaged box, an unclean
// index): exit code 1.
func problemf(hint, format string, args ...any) error {
	return withHint(fmt.Errorf(format, args...), hint)
}

// report prints err as error and hint lines and returns the exit code.
//
// The store already ends many messages with "; hint: …"; such a hint is
// printed on its own line. A hint storectl attached (usageError, hintError)
// replaces it, since storectl knows which command ran; with no hint at all,
// one comes from the store's sentinel errors.
func (e *env) report(err error) int {
	if err == nil {
		return exitOK
	}
	code := exitProblem
	msg, hints := splitHints(err.Error())
	var ue *usageError
	var he *hintError
	switch {
	case errors.As(err, &ue):
		code = exitUsage
		hints = []string{ue.hint}
	case errors.As(err, &he):
		hints = []string{he.hint}
	case len(hints) == 0:
		if h := sentinelHint(err); h != "" {
			hints = []string{h}
		}
	}
	fmt.Fprintf(e.stderr, "storectl: error: %s\n", msg)
	for _, h := range hints {
		fmt.Fprintf(e.stderr, "storectl: hint: %s\n", h)
	}
	return code
}

// splitHints cuts the "; hint: …" parts the store puts in its messages.
func splitHints(s string) (msg string, hints []string) {
	parts := strings.Split(s, "; hint: ")
	return parts[0], parts[1:]
}

// sentinelHint says what to do about the store's sentinel errors.
func sentinelHint(err error) string {
	switch {
	case errors.Is(err, store.ErrWrongKey):
		return "this key does not open the store: pass the key it was created with (--key-file, --key-env or --passphrase-env)"
	case errors.Is(err, store.ErrLocked):
		return "another process has the store open: stop it, then retry"
	case errors.Is(err, store.ErrCorrupt):
		return "run `storectl verify`, then `storectl recover --from BACKUP` with the last good backup"
	case errors.Is(err, store.ErrBadKey):
		return "a key file must be 64 hex digits with mode 0600: `chmod 600 FILE`, or create one with `storectl keygen FILE`"
	case errors.Is(err, store.ErrLockHeld):
		return "wait for the holder to finish, or `storectl lock release --force` once it is gone"
	case errors.Is(err, store.ErrSchemaMismatch):
		return "run `storectl migrate` so the schemas match, then retry the restore"
	case errors.Is(err, store.ErrBackupWrongKey):
		return "pass the key the backup was made under with --backup-key-file"
	case errors.Is(err, store.ErrSync):
		return "check the disk (space, errors), then rerun the command"
	case errors.Is(err, context.Canceled):
		return "interrupted; rerun the command to finish"
	}
	return ""
}
