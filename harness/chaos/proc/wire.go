package proc

// The wire format of the processor socket (docs/worker-protocol.md).

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/boxstorm/boxstorm/store"
)

const (
	// SocketName is the socket the harness serves its store on, in the
	// scenario's directory. It is removed when the processes are done.
	SocketName = "procs.sock"
	// SpecName is the spec every processor process reads.
	SpecName = "processes.json"
)

// Name is the Proc of processor process i's ops.
func Name(i int) string { return fmt.Sprintf("process-%d", i) }

// ClientName is processor process i's client name and lock owner,
// distinct from every goroutine's.
func ClientName(i int) string { return fmt.Sprintf("proc-processor-%d", i) }

// Request is one call of a processor process: a method and its
// arguments.
type Request struct {
	Method  string `json:"m"`
	Counted bool   `json:"counted,omitempty"`
	Owner   string `json:"owner,omitempty"`
	// Now is the processor's clock reading when it sent the call; the
	// store reads it, plus the time since the request arrived, as the
	// processor's clock. Zero means the store's clock.
	Now     time.Time `json:"now,omitzero"`
	Token   uint64    `json:"token,omitempty"`
	ID      string    `json:"id,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Payload []byte    `json:"payload,omitempty"`
	Key     string    `json:"key,omitempty"`
	Subject string    `json:"subject,omitempty"`
}

// Status is the workload state a processor loop asks about (the chaos runner's procEnv);
// every response carries it.
type Status struct {
	Done     bool    `json:"done,omitempty"`
	Idle     bool    `json:"idle,omitempty"`
	Yield    bool    `json:"yield,omitempty"` // a stall waits for the lock
	FailRate float64 `json:"fail_rate,omitempty"`
}

// Response answers one Request.
type Response struct {
	OK    bool      `json:"ok,omitempty"` // begin: a ticket was taken
	Token uint64    `json:"token,omitempty"`
	Op    *store.Op `json:"op,omitempty"`
	Err   string    `json:"err,omitempty"`
	// Sentinel names the error Err wraps (sentinels), so that
	// errors.Is, ErrorClass and outcomeOf work in the child.
	Sentinel string `json:"sentinel,omitempty"`
	Status   Status `json:"status"`
}

// sentinels are the errors a response can carry by name.
var sentinels = []struct {
	name string
	err  error
}{
	{"empty", store.ErrEmpty}, {"stale-token", store.ErrStaleToken}, {"not-claimed", store.ErrNotClaimed},
	{"lock-held", store.ErrLockHeld}, {"not-found", store.ErrNotFound}, {"closed", store.ErrClosed},
	{"invalid", store.ErrInvalid}, {"corrupt", store.ErrCorrupt}, {"wrong-key", store.ErrWrongKey},
	{"locked", store.ErrLocked}, {"sync", store.ErrSync}, {"efbig", syscall.EFBIG}, {"enospc", syscall.ENOSPC},
	{"canceled", context.Canceled}, {"deadline", context.DeadlineExceeded},
}

// remoteError is a store error that crossed the socket: the harness's
// message, wrapping the sentinel it named.
type remoteError struct {
	msg string
	err error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.err }

// ErrorResponse is the response that carries err, with the name of the
// sentinel it wraps.
func ErrorResponse(err error) Response {
	res := Response{Err: err.Error()}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			res.Sentinel = s.name
			break
		}
	}
	return res
}

// AsError is the error res carries, wrapping the sentinel it names; nil
// when res is not an error.
func (res *Response) AsError() error {
	if res.Err == "" {
		return nil
	}
	e := &remoteError{msg: res.Err}
	for _, s := range sentinels {
		if s.name == res.Sentinel {
			e.err = s.err
		}
	}
	return e
}

// UnixPath returns a name for the socket at path that fits in a sockaddr
// (108 bytes): path itself, or for a long path /proc/self/fd/N/<base>
// through a descriptor of its directory, which done closes.
func UnixPath(path string) (name string, done func(), err error) {
	if len(path) < 100 {
		return path, func() {}, nil
	}
	fd, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("socket directory: %w", err)
	}
	return "/proc/self/fd/" + strconv.Itoa(fd) + "/" + filepath.Base(path), func() { _ = unix.Close(fd) }, nil
}

// procServer serves the harness's store and op gate to processor
