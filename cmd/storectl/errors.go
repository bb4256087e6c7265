// This file says what to do about the errors storectl meets: the hints for
// the store's sentinel errors.

package main

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/store"
)

// problemf reports a problem a command found (a damaged box, an unclean
// index): exit code 1.
func problemf(hint, format string, args ...any) error {
	return cli.WithHint(fmt.Errorf(format, args...), hint)
}

// sentinelHint says what to do about the store's sentinel errors, for an
// error that carries no hint of its own.
func sentinelHint(err error) string {
	switch {
	case errors.Is(err, syscall.ENOTDIR):
		return "--dir takes the store's directory (the one that holds the <box>.db files), not a file: pass its directory, such as --dir ./data"
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
