package load

// TargetBackend drives a store in any language through the target protocol
// (docs/target-protocol.md), as a thin wrapper over a *target.Remote: each
// Backend call is one request, and many are in flight at once, one per busy
// worker, since the client matches replies by id. So the target's own
// concurrency and group commit are what gets measured, with the protocol's
// round trip added to every op.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/reports"
	"github.com/boxstorm/boxstorm/store"
)

// ClassTransport counts, in TargetBackend.Errors, the requests that got no
// reply: the target exited, broke the protocol or did not answer in time.
const ClassTransport = "transport"

// prefillInFlight is how many prefill requests a TargetBackend keeps in
// flight: enough for a target's group commit to batch them.
const prefillInFlight = 64

// TargetBackend is a target process as a Backend. Make one with
// NewTargetBackend. A request that gets no reply (the target exited, broke
// the protocol, or did not answer within the client's timeout, which stops
// the target) breaks it: the call returns the transport error, Broken is
// closed and Err says why, so a run can stop instead of counting the same
// failure until it ends.
type TargetBackend struct {
	r   *target.Remote
	tmp string // holds the backups of backup-under-load

	mu     sync.Mutex
	errs   map[string]int64
	err    error
	broken chan struct{}
}

var _ Backend = (*TargetBackend)(nil)

// NewTargetBackend returns the target r, dialled and opened with
// target.Dial, as a Backend; its Close closes r. A target whose open reply
// does not claim every core request type is refused with an error wrapping
// target.ErrProtocol, and the caller still owns r.
func NewTargetBackend(r *target.Remote) (*TargetBackend, error) {
	var missing []string
	for _, typ := range target.CoreTypes() {
		if !r.Has(typ) {
			missing = append(missing, typ)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("target %q: its open reply claims no %s, which every target answers: %w", r.Command(), strings.Join(missing, ", "), target.ErrProtocol)
	}
	return &TargetBackend{r: r, errs: map[string]int64{}, broken: make(chan struct{})}, nil
}

// Name is the target's name, as its open reply gives it.
func (b *TargetBackend) Name() string { return b.r.Name() }

// Version is the target's version, as its open reply gives it.
func (b *TargetBackend) Version() string { return b.r.Version() }

// Claims reports whether the target answers the request type typ.
func (b *TargetBackend) Claims(typ string) bool { return b.r.Has(typ) }

// Broken is closed when a request got no reply; Err then says why.
func (b *TargetBackend) Broken() <-chan struct{} { return b.broken }

// Err is why the backend broke, or nil.
func (b *TargetBackend) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Errors returns the failed requests so far by the reply's error class,
// and ClassTransport for those that got no reply.
func (b *TargetBackend) Errors() map[string]int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.errs)
}

// Report returns the target as a report names it, with its errors so far.
func (b *TargetBackend) Report() *reports.Target {
	t := &reports.Target{Command: b.r.Command(), Name: b.Name(), Version: b.Version()}
	if errs := b.Errors(); len(errs) > 0 {
		t.Errors = errs
	}
	return t
}

// note counts the error a typ request ended in by its class and returns
// it, a stale-token refusal wrapping ErrStaleToken. A request that got no
// reply, other than for ctx ending, breaks the backend. An outcome
// (store.ErrNotFound...) is no refusal and is not counted.
func (b *TargetBackend) note(ctx context.Context, typ string, err error) error {
	var te *target.Error
	switch {
	case err == nil:
		return nil
	case target.IsTransport(err):
		if ctx.Err() != nil {
			return err // the run is ending: not the target's failure
		}
		b.count(ClassTransport)
		b.mu.Lock()
		if b.err == nil {
			b.err = err
			close(b.broken)
		}
		b.mu.Unlock()
		return err
	case errors.As(err, &te):
		b.count(te.Class)
	case errors.Is(err, target.ErrUnsupported): // not sent: the target does not claim it
		b.count(target.ClassUnsupported)
	default:
		return err
	}
	return stale(fmt.Errorf("%s: %w", typ, err))
}

func (b *TargetBackend) count(class string) {
	b.mu.Lock()
	b.errs[class]++
	b.mu.Unlock()
}

// Enqueue implements Backend.
func (b *TargetBackend) Enqueue(ctx context.Context, payload []byte) error {
	_, err := b.r.Enqueue(ctx, payload, store.EnqueueOptions{})
	return b.note(ctx, target.TypeEnqueue, err)
}

// EnqueueBatch implements Backend, with prefillInFlight requests in flight.
func (b *TargetBackend) EnqueueBatch(ctx context.Context, payloads [][]byte) error {
	return fanOut(ctx, len(payloads), func(ctx context.Context, i int) error { return b.Enqueue(ctx, payloads[i]) })
}

// Claim implements Backend.
func (b *TargetBackend) Claim(ctx context.Context, token uint64) (string, error) {
	op, err := b.r.Claim(ctx, token)
	return claimedID(op, b.note(ctx, target.TypeClaim, err))
}

// Ack implements Backend. An op the target says is not claimed is an error
// (store.ErrNotClaimed), as it is in process.
func (b *TargetBackend) Ack(ctx context.Context, token uint64, id string) error {
	return b.note(ctx, target.TypeAck, b.r.Ack(ctx, token, id))
}

// Acquire implements Backend, with the caller's clock in the request.
func (b *TargetBackend) Acquire(ctx context.Context, owner string) (uint64, error) {
	lease, err := b.r.AcquireLock(ctx, store.LockRequest{Owner: owner})
	switch {
	case errors.Is(err, store.ErrLockHeld):
		return 0, nil
	case err == nil && lease.Token == 0:
		return 0, fmt.Errorf("acquire: the target granted the lock with no fencing token")
	}
	return lease.Token, b.note(ctx, target.TypeAcquire, err)
}

// Release implements Backend.
func (b *TargetBackend) Release(ctx context.Context, token uint64) error {
	return b.note(ctx, target.TypeRelease, b.r.ReleaseLock(ctx, token))
}

// Get implements Backend. A record the target does not find is an error
// (store.ErrNotFound), as it is in process.
func (b *TargetBackend) Get(ctx context.Context, box, key string) error {
	_, err := b.r.Get(ctx, box, key)
	return b.note(ctx, target.TypeGet, err)
}

// Put implements Backend.
func (b *TargetBackend) Put(ctx context.Context, box, key string, value []byte) error {
	return b.note(ctx, target.TypePut, b.r.Put(ctx, box, key, value))
}

// PutBatch implements Backend, with prefillInFlight requests in flight.
func (b *TargetBackend) PutBatch(ctx context.Context, box string, records map[string][]byte) error {
	keys := slices.Collect(maps.Keys(records))
	return fanOut(ctx, len(keys), func(ctx context.Context, i int) error { return b.Put(ctx, box, keys[i], records[keys[i]]) })
}

// Backup implements Backend: the target writes the backup into a
// temporary directory of this process's, each over the last; Close
// removes it.
func (b *TargetBackend) Backup(ctx context.Context) error {
	b.mu.Lock()
	if b.tmp == "" {
		dir, err := os.MkdirTemp("", "loadgen-backup-")
		if err != nil {
			b.mu.Unlock()
			return fmt.Errorf("backup: %w", err)
		}
		b.tmp = dir
	}
	path := filepath.Join(b.tmp, "backup.age")
	b.mu.Unlock()
	_, err := b.r.BackupFile(ctx, path)
	return b.note(ctx, target.TypeBackup, err)
}

// fanOut runs call for 0..n-1 with up to prefillInFlight in flight and
// returns the first error; the calls after it are not made.
func fanOut(ctx context.Context, n int, call func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		sem   = make(chan struct{}, prefillInFlight)
	)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := call(ctx, i); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// MeasureRoundTrip times n round trips with target.MeasureRoundTrip, in
// the data box the kv workloads use, counting a failure as any request's.
func (b *TargetBackend) MeasureRoundTrip(ctx context.Context, n int) (*reports.RoundTrip, error) {
	rt, err := target.MeasureRoundTrip(ctx, b.r, KVBox, n)
	if err != nil {
		return nil, b.note(ctx, target.TypeGet, err)
	}
	return rt, nil
}

// Close closes the store (the close request) and ends the target process,
// or kills it when the backend broke already, and removes the backups'
// directory. The client's timeout and close grace bound it.
func (b *TargetBackend) Close() error {
	var err error
	if b.Err() != nil {
		b.r.Kill()
	} else if cerr := b.r.Close(); cerr != nil {
		err = fmt.Errorf("close target: %w", cerr)
	}
	if b.tmp != "" {
		if rerr := os.RemoveAll(b.tmp); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return err
}
