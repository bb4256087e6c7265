package load

// TargetBackend drives a store in any language through the target protocol
// (docs/target-protocol.md): each Backend call is one request, and many are
// in flight at once, one per busy worker, since the client matches replies
// by id. So the target's own concurrency and group commit are what gets
// measured, with the protocol's round trip added to every op.

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
	"time"

	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/reports"
)

// ClassTransport counts, in TargetBackend.Errors, the requests that got no
// reply: the target exited, broke the protocol or did not answer in time.
const ClassTransport = "transport"

// DefaultRoundTrips is how many round trips MeasureRoundTrip times.
const DefaultRoundTrips = 200

// prefillInFlight is how many prefill requests a TargetBackend keeps in
// flight: enough for a target's group commit to batch them.
const prefillInFlight = 64

// TargetBackend is a target process as a Backend. Make one with
// OpenTarget. A request that gets no reply (the target exited, broke the
// protocol, or did not answer within the client's timeout) breaks it: the
// call returns the client's error, Broken is closed and Err says why, so
// a run can stop instead of counting the same failure until it ends.
type TargetBackend struct {
	c    *target.Client
	open target.Reply
	tmp  string // holds the backups of backup-under-load

	mu     sync.Mutex
	errs   map[string]int64
	err    error
	broken chan struct{}
}

var _ Backend = (*TargetBackend)(nil)

// OpenTarget sends c the open request for dir, with masterKey (64 hex
// digits; the target's own key when empty) and settings, and returns the
// target as a Backend. A refused open is an error wrapping the reply's
// *target.Error; an open reply in another protocol version wraps
// target.ErrProtocol, and so does one that does not claim every core
// request type. The caller still owns c and closes it after Close.
func OpenTarget(ctx context.Context, c *target.Client, dir, masterKey string, settings *target.Settings) (*TargetBackend, error) {
	rep, err := c.Call(ctx, target.Request{Type: target.TypeOpen, Version: target.ProtocolVersion, Dir: dir, MasterKey: masterKey, Settings: settings})
	switch {
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", dir, err)
	case rep.Error != nil:
		return nil, fmt.Errorf("target %q refused to open %s: %w", c.Name(), dir, rep.Error)
	case rep.Version != target.ProtocolVersion:
		return nil, fmt.Errorf("target %q: open reply speaks protocol version %d, want %d: %w", c.Name(), rep.Version, target.ProtocolVersion, target.ErrProtocol)
	}
	var missing []string
	for _, typ := range target.CoreTypes() {
		if !slices.Contains(rep.Capabilities, typ) {
			missing = append(missing, typ)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("target %q: its open reply claims no %s, which every target answers: %w", c.Name(), strings.Join(missing, ", "), target.ErrProtocol)
	}
	return &TargetBackend{c: c, open: rep, errs: map[string]int64{}, broken: make(chan struct{})}, nil
}

// Name is the target's name, as its open reply gives it.
func (b *TargetBackend) Name() string { return b.open.Target }

// Version is the target's version, as its open reply gives it.
func (b *TargetBackend) Version() string { return b.open.TargetVer }

// Claims reports whether the target answers the request type typ.
func (b *TargetBackend) Claims(typ string) bool { return slices.Contains(b.open.Capabilities, typ) }

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
	t := &reports.Target{Command: b.c.Name(), Name: b.Name(), Version: b.Version()}
	if errs := b.Errors(); len(errs) > 0 {
		t.Errors = errs
	}
	return t
}

// call sends req and turns a refusal into an error: a stale-token refusal
// wraps ErrStaleToken. A request that got no reply, other than for ctx
// ending, breaks the backend.
func (b *TargetBackend) call(ctx context.Context, req target.Request) (target.Reply, error) {
	rep, err := b.c.Call(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return rep, err // the run is ending: not the target's failure
		}
		b.mu.Lock()
		b.errs[ClassTransport]++
		if b.err == nil {
			b.err = err
			close(b.broken)
		}
		b.mu.Unlock()
		return rep, err
	}
	if rep.Error != nil {
		b.mu.Lock()
		b.errs[rep.Error.Class]++
		b.mu.Unlock()
		if rep.Error.Class == target.ClassStaleToken {
			return rep, fmt.Errorf("%s: %w: %w", req.Type, ErrStaleToken, rep.Error)
		}
		return rep, fmt.Errorf("%s: %w", req.Type, rep.Error)
	}
	return rep, nil
}

// Enqueue implements Backend.
func (b *TargetBackend) Enqueue(ctx context.Context, payload []byte) error {
	_, err := b.call(ctx, target.Request{Type: target.TypeEnqueue, Payload: payload})
	return err
}

// EnqueueBatch implements Backend, with prefillInFlight requests in flight.
func (b *TargetBackend) EnqueueBatch(ctx context.Context, payloads [][]byte) error {
	return b.fanOut(ctx, len(payloads), func(i int) target.Request {
		return target.Request{Type: target.TypeEnqueue, Payload: payloads[i]}
	})
}

// Claim implements Backend.
func (b *TargetBackend) Claim(ctx context.Context, token uint64) (string, error) {
	rep, err := b.call(ctx, target.Request{Type: target.TypeClaim, Token: token})
	if err != nil || rep.Outcome == target.OutcomeEmpty || rep.Op == nil {
		return "", err
	}
	return rep.Op.ID, nil
}

// Ack implements Backend. An op the target says is not claimed is an error,
// as it is in process.
func (b *TargetBackend) Ack(ctx context.Context, token uint64, id string) error {
	rep, err := b.call(ctx, target.Request{Type: target.TypeAck, Token: token, OpID: id})
	if err == nil && rep.Outcome != target.OutcomeOK {
		err = fmt.Errorf("ack %s: %s", id, rep.Outcome)
	}
	return err
}

// Acquire implements Backend, with the caller's clock in the request.
func (b *TargetBackend) Acquire(ctx context.Context, owner string) (uint64, error) {
	rep, err := b.call(ctx, target.Request{Type: target.TypeAcquire, Owner: owner, Now: time.Now().UTC()})
	if err != nil || rep.Outcome == target.OutcomeLockHeld {
		return 0, err
	}
	if rep.Token == 0 {
		return 0, fmt.Errorf("acquire: the target granted the lock with no fencing token")
	}
	return rep.Token, nil
}

// Release implements Backend.
func (b *TargetBackend) Release(ctx context.Context, token uint64) error {
	_, err := b.call(ctx, target.Request{Type: target.TypeRelease, Token: token, Now: time.Now().UTC()})
	return err
}

// Get implements Backend. A record the target does not find is an error,
// as it is in process.
func (b *TargetBackend) Get(ctx context.Context, box, key string) error {
	rep, err := b.call(ctx, target.Request{Type: target.TypeGet, Box: box, Key: key})
	if err == nil && rep.Outcome != target.OutcomeOK {
		err = fmt.Errorf("get %s/%s: %s", box, key, rep.Outcome)
	}
	return err
}

// Put implements Backend.
func (b *TargetBackend) Put(ctx context.Context, box, key string, value []byte) error {
	_, err := b.call(ctx, target.Request{Type: target.TypePut, Box: box, Key: key, Payload: value})
	return err
}

// PutBatch implements Backend, with prefillInFlight requests in flight.
func (b *TargetBackend) PutBatch(ctx context.Context, box string, records map[string][]byte) error {
	keys := slices.Collect(maps.Keys(records))
	return b.fanOut(ctx, len(keys), func(i int) target.Request {
		return target.Request{Type: target.TypePut, Box: box, Key: keys[i], Payload: records[keys[i]]}
	})
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
	_, err := b.call(ctx, target.Request{Type: target.TypeBackup, Path: path})
	return err
}

// fanOut sends n requests with up to prefillInFlight in flight and returns
// the first error.
func (b *TargetBackend) fanOut(ctx context.Context, n int, req func(int) target.Request) error {
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
			if _, err := b.call(ctx, req(i)); err != nil {
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

// MeasureRoundTrip times n round trips of the cheapest request, a get of a
// missing key, one at a time, after one untimed to warm the path (the
// first get may create the data box). The answer must be not-found.
func (b *TargetBackend) MeasureRoundTrip(ctx context.Context, n int) (*reports.RoundTrip, error) {
	if n <= 0 {
		return nil, fmt.Errorf("%w: %d round trips", ErrInvalidConfig, n)
	}
	req := target.Request{Type: target.TypeGet, Box: KVBox, Key: "loadgen-round-trip-missing"}
	h := NewHistogram()
	for i := -1; i < n; i++ {
		start := time.Now()
		rep, err := b.call(ctx, req)
		d := time.Since(start)
		if err != nil {
			return nil, fmt.Errorf("round trip: %w", err)
		}
		if rep.Outcome != target.OutcomeNotFound {
			return nil, fmt.Errorf("round trip: a get of a missing key answered %s, want outcome %s", describeReply(rep), target.OutcomeNotFound)
		}
		if i >= 0 {
			RecordClamped(h, d)
		}
	}
	l := reports.HistogramLatencies(h)
	return &reports.RoundTrip{Request: "get of a missing key", Count: n, P50: l.P50, P99: l.P99}, nil
}

func describeReply(r target.Reply) string {
	if r.Outcome == "" {
		return "found a value"
	}
	return "outcome " + r.Outcome
}

// Close closes the store (the close request) and removes the backups'
// directory. It leaves the process to its owner.
func (b *TargetBackend) Close(ctx context.Context) error {
	var err error
	if b.Err() == nil {
		if _, cerr := b.call(ctx, target.Request{Type: target.TypeClose}); cerr != nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}
	if b.tmp != "" {
		if rerr := os.RemoveAll(b.tmp); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return err
}
