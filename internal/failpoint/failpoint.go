// Package failpoint holds the store's named crash points: places in a
// procedure where the chaos harness kills the process, to test what a crash
// exactly there leaves behind.
//
// The store calls [Hit] at each point; a hit costs one atomic load while no
// failpoint is armed, which is always the case outside the chaos worker.
// Nothing here reads the environment or runs at init: a failpoint is armed
// only by a program that calls [Arm], and the only such program is the chaos
// worker (`chaos __worker --failpoint NAME@N`). storectl and loadgen never
// call it, so no environment or input can make them kill themselves.
//
// The package is internal so the names and the arming stay out of the
// store's public API.
package failpoint

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// names lists every name the store calls Hit with.
var names = []string{
	"enqueue/after-write-before-sync",
	"ack/after-complete-before-delete",
	"fail/between-boxes",
	"retry/between-boxes",
	"backup/mid-stream",
	"swap/after-journal",
	"swap/between-renames",
	"rotate/after-keyring-add",
	"rotate/after-stage",
	"rotate/before-old-key-delete",
	"migrate/after-backup",
	"migrate/between-steps",
	"purge/after-archive",
	"recover/after-quarantine",
}

// ErrUnknown means a failpoint name the store does not define, or a spec
// that is not NAME or NAME@N.
var ErrUnknown = errors.New("unknown failpoint")

// Names returns the names of every failpoint the store defines, in a new
// slice.
func Names() []string { return slices.Clone(names) }

// Known reports whether the store defines a failpoint named name.
func Known(name string) bool { return slices.Contains(names, name) }

type armedPoint struct {
	name  string
	after int64
	hits  atomic.Int64
}

var armed atomic.Pointer[armedPoint]

// Arm makes the process SIGKILL itself at the after-th hit of the failpoint
// name (counted from this call; after < 1 means the first). It replaces any
// failpoint armed before.
func Arm(name string, after int64) error {
	if !Known(name) {
		return fmt.Errorf("failpoint %q: %w (known: %s)", name, ErrUnknown, strings.Join(names, ", "))
	}
	armed.Store(&armedPoint{name: name, after: max(after, 1)})
	return nil
}

// Disarm disarms the armed failpoint, if any.
func Disarm() { armed.Store(nil) }

// Armed returns the armed failpoint as NAME@N, or "" when none is.
func Armed() string {
	a := armed.Load()
	if a == nil {
		return ""
	}
	return fmt.Sprintf("%s@%d", a.name, a.after)
}

// Parse parses a spec NAME or NAME@N (N a positive count of hits), as the
// chaos worker's --failpoint flag takes it, and checks the name.
func Parse(spec string) (name string, after int64, err error) {
	name, n, hasN := strings.Cut(spec, "@")
	after = 1
	if hasN {
		v, perr := strconv.ParseInt(n, 10, 64)
		if perr != nil || v < 1 {
			return "", 0, fmt.Errorf("failpoint spec %q: the count after @ must be a positive integer: %w", spec, ErrUnknown)
		}
		after = v
	}
	if !Known(name) {
		return "", 0, fmt.Errorf("failpoint spec %q: %w %q (known: %s)", spec, ErrUnknown, name, strings.Join(names, ", "))
	}
	return name, after, nil
}

// Hit kills the process with SIGKILL when the failpoint name is armed and
// this is its after-th hit. The store calls it at each named point.
func Hit(name string) {
	a := armed.Load()
	if a == nil || a.name != name {
		return
	}
	if a.hits.Add(1) >= a.after {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is not delivered synchronously; never return
	}
}
