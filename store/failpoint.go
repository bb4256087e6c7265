package store

import (
	"os"
	"sync/atomic"
	"syscall"
)

// Failpoints are named places in the store where the chaos harness can kill
// the process, to test what a crash exactly there leaves behind. They cost
// one atomic load when disabled. The environment variable
// BOXSTORM_FAILPOINT=<name> arms one failpoint in a child process: the
// process SIGKILLs itself on reaching it (BOXSTORM_FAILPOINT=<name>@<n>:
// on the n-th time). The harness reads the names from Failpoints.
var armed atomic.Pointer[armedFailpoint]

type armedFailpoint struct {
	name  string
	after int64
	hits  atomic.Int64
}

// Failpoints lists the names failpoint is called with.
var Failpoints = []string{
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
}

func init() {
	v := os.Getenv("BOXSTORM_FAILPOINT")
	if v == "" {
		return
	}
	a := &armedFailpoint{name: v, after: 1}
	for i := len(v) - 1; i >= 0; i-- {
		if v[i] == '@' {
			n := int64(0)
			for _, c := range v[i+1:] {
				if c < '0' || c > '9' {
					n = -1
					break
				}
				n = n*10 + int64(c-'0')
			}
			if n > 0 {
				a.name, a.after = v[:i], n
			}
			break
		}
	}
	armed.Store(a)
}

// failpoint kills the process when the named failpoint is armed.
func failpoint(name string) {
	a := armed.Load()
	if a == nil || a.name != name {
		return
	}
	if a.hits.Add(1) >= a.after {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is not delivered synchronously; never return
	}
}
