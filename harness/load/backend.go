package load

// The store workloads drive a Backend: the few calls they make of a store.
// The reference store serves in process (NewStoreBackend); any store behind
// the target protocol serves through a TargetBackend, over a target.Remote.

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/boxstorm/boxstorm/store"
)

// ErrStaleToken wraps the error of a Backend call whose fencing token is
// no longer the current one: the worker then acquires the lock again.
var ErrStaleToken = errors.New("stale fencing token")

// Backend is what the store workloads need of a store. Every method may be
// called from many goroutines at once. Answers that are not failures
// (nothing to claim, a lock another owner holds) come back as zero values
// with a nil error, as the comments say.
type Backend interface {
	// Enqueue appends payload to the queue, durably by the store's sync
	// mode.
	Enqueue(ctx context.Context, payload []byte) error
	// EnqueueBatch enqueues payloads for a prefill; it need not be one
	// transaction.
	EnqueueBatch(ctx context.Context, payloads [][]byte) error
	// Claim claims the oldest claimable op under token and returns its id,
	// or "" when there is none.
	Claim(ctx context.Context, token uint64) (string, error)
	// Ack acknowledges the op id claimed under token.
	Ack(ctx context.Context, token uint64, id string) error
	// Acquire takes the processing lock for owner and returns its fencing
	// token, or 0 when another owner's lease is live.
	Acquire(ctx context.Context, owner string) (uint64, error)
	// Release releases the lock held under token.
	Release(ctx context.Context, token uint64) error
	// Get reads the record key of the data box.
	Get(ctx context.Context, box, key string) error
	// Put writes the record key of the data box.
	Put(ctx context.Context, box, key string, value []byte) error
	// PutBatch writes records for a prefill; it need not be one
	// transaction.
	PutBatch(ctx context.Context, box string, records map[string][]byte) error
	// Backup takes a full backup, which the workload throws away.
	Backup(ctx context.Context) error
}

// storeBackend is the reference store in process.
type storeBackend struct{ s *store.Store }

var _ Backend = storeBackend{}

// NewStoreBackend returns s as a Backend.
func NewStoreBackend(s *store.Store) Backend { return storeBackend{s} }

// stale marks the store's stale-token errors as ErrStaleToken.
func stale(err error) error {
	if errors.Is(err, store.ErrStaleToken) {
		return fmt.Errorf("%w: %w", ErrStaleToken, err)
	}
	return err
}

func (b storeBackend) Enqueue(ctx context.Context, payload []byte) error {
	_, err := b.s.Enqueue(ctx, payload, store.EnqueueOptions{})
	return err
}

func (b storeBackend) EnqueueBatch(ctx context.Context, payloads [][]byte) error {
	_, err := b.s.EnqueueBatch(ctx, payloads)
	return err
}

// claimedID is a claim's answer as Backend.Claim gives it: "" and no
// error when the queue is empty.
func claimedID(op store.Op, err error) (string, error) {
	if errors.Is(err, store.ErrEmpty) {
		return "", nil
	}
	return op.ID, err
}

func (b storeBackend) Claim(ctx context.Context, token uint64) (string, error) {
	id, err := claimedID(b.s.Claim(ctx, token))
	return id, stale(err)
}

func (b storeBackend) Ack(ctx context.Context, token uint64, id string) error {
	return stale(b.s.Ack(ctx, token, id))
}

func (b storeBackend) Acquire(ctx context.Context, owner string) (uint64, error) {
	lease, err := b.s.AcquireLock(ctx, store.LockRequest{Owner: owner})
	if errors.Is(err, store.ErrLockHeld) {
		return 0, nil
	}
	return lease.Token, err
}

func (b storeBackend) Release(ctx context.Context, token uint64) error {
	return stale(b.s.ReleaseLock(ctx, token))
}

func (b storeBackend) Get(ctx context.Context, box, key string) error {
	_, err := b.s.Get(ctx, box, key)
	return err
}

func (b storeBackend) Put(ctx context.Context, box, key string, value []byte) error {
	return b.s.Put(ctx, box, key, value)
}

func (b storeBackend) PutBatch(ctx context.Context, box string, records map[string][]byte) error {
	return b.s.PutBatch(ctx, box, records)
}

func (b storeBackend) Backup(ctx context.Context) error {
	_, err := b.s.Backup(ctx, io.Discard)
	return err
}
