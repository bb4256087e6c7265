package target

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/boxstorm/boxstorm/store"
)

// RemoteConfig says which target a Remote starts and what it opens.
type RemoteConfig struct {
	// Command is the target's command line (SplitCommand).
	Command string
	// Dir is the store directory the open request names.
	Dir string
	// Key is the raw master key the open request carries.
	Key []byte
	// Settings are the store settings the open request carries.
	Settings *Settings
	// RecoverFrom, when not empty, is a backup: the target is sent
	// recover instead of open, which rebuilds the boxes that fail their
	// checks from it (Remote.Detail has the target's report).
	RecoverFrom string
	// Options configure the client.
	Options Options
}

// Remote is a target, started and opened, as a Backend: every method is
// one request. A request type the target does not claim fails with
// ErrUnsupported without being sent. Transport failures (the target exited,
// broke the protocol, did not answer) come back wrapping ErrExited,
// ErrProtocol or ErrTimeout (IsTransport).
type Remote struct {
	c       *Client
	info    Info
	repairs []Repair
	detail  json.RawMessage
	open    Request // the open request it was opened with
}

var _ Backend = (*Remote)(nil)

// Dial starts the target of cfg and opens its store. A refused open stops
// the target and returns the refusal as the store would (store.ErrWrongKey,
// store.ErrLocked, a *store.CorruptionError...).
func Dial(ctx context.Context, cfg RemoteConfig) (*Remote, error) {
	c, err := Start(ctx, cfg.Command, cfg.Options)
	if err != nil {
		return nil, err
	}
	req := Request{Type: TypeOpen, Version: ProtocolVersion, Dir: cfg.Dir, Settings: cfg.Settings}
	if cfg.RecoverFrom != "" {
		req.Type, req.Path = TypeRecover, cfg.RecoverFrom
	}
	if cfg.Key != nil {
		req.MasterKey = hex.EncodeToString(cfg.Key)
	}
	rep, err := c.Call(ctx, req)
	if err == nil && rep.Error != nil {
		err = errorFromWire(rep.Error)
	} else if err == nil && rep.Version != ProtocolVersion {
		err = fmt.Errorf("target %q: open reply speaks protocol version %d, want %d: %w", cfg.Command, rep.Version, ProtocolVersion, ErrProtocol)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	info := Info{Name: rep.Target, Version: rep.TargetVer, Capabilities: rep.Capabilities, Promises: rep.Promises}
	return &Remote{c: c, info: info, repairs: rep.Repairs, detail: rep.Detail, open: req}, nil
}

// Name is the target's name, from its open reply.
func (r *Remote) Name() string { return r.info.Name }

// Version is the target's version, from its open reply.
func (r *Remote) Version() string { return r.info.Version }

// Command is the target's command line, as RemoteConfig.Command gave it.
func (r *Remote) Command() string { return r.c.Name() }

// Info is what the target's open reply said of it; nothing for nil.
func (r *Remote) Info() Info {
	if r == nil {
		return Info{}
	}
	return r.info
}

// Detail is the open (or recover) reply's detail.
func (r *Remote) Detail() json.RawMessage { return r.detail }

// Has reports whether the target claims the request type typ.
func (r *Remote) Has(typ string) bool { return slices.Contains(r.info.Capabilities, typ) }

// Capabilities are the request types the target claims.
func (r *Remote) Capabilities() []string { return slices.Clone(r.info.Capabilities) }

// PID is the target process's id.
func (r *Remote) PID() int { return r.c.PID() }

// Kill SIGKILLs the target and its process group, as a crash would, and
// waits for it; a target that exited already is left alone.
func (r *Remote) Kill() {
	select {
	case <-r.c.exited:
		return
	default:
	}
	killGroup(r.c.cmd)
	r.c.Kill()
	<-r.c.exited
}

// OpenAgain sends the open request the target was opened with once more,
// while its store is open: a target must refuse it as locked. A target
// that opens a second store is sent close for it.
func (r *Remote) OpenAgain(ctx context.Context) error {
	req := r.open
	req.Type = TypeOpen
	_, err := r.do(ctx, req)
	if err == nil {
		_, _ = r.do(ctx, Request{Type: TypeClose})
	}
	return err
}

// Close sends close and ends the target process.
func (r *Remote) Close() error {
	_, err := r.do(context.Background(), Request{Type: TypeClose})
	if cerr := r.c.Close(); err == nil {
		err = cerr
	}
	return err
}

// do sends req and returns its reply, or the refusal or outcome as the
// store's error.
func (r *Remote) do(ctx context.Context, req Request) (Reply, error) {
	return r.doWithin(ctx, req, r.c.opts.Timeout)
}

// doWithin is do with its own timeout.
func (r *Remote) doWithin(ctx context.Context, req Request, timeout time.Duration) (Reply, error) {
	if !r.Has(req.Type) && !slices.Contains(CoreTypes(), req.Type) {
		return Reply{}, fmt.Errorf("%s: target %q does not claim it: %w", req.Type, r.c.name, ErrUnsupported)
	}
	rep, err := r.c.CallWithin(ctx, req, timeout)
	if errors.Is(err, ErrTimeout) {
		// A target that stops answering is stopped, so that the calls
		// after it fail at once instead of each waiting out the timeout.
		r.c.Kill()
	}
	if err != nil {
		return rep, err
	}
	if rep.Error != nil {
		return rep, errorFromWire(rep.Error)
	}
	return rep, outcomeError(rep.Outcome)
}

func opFromWire(op *Op) store.Op {
	if op == nil {
		return store.Op{}
	}
	return store.Op{ID: op.ID, Seq: op.Seq, IdempotencyKey: op.IdempotencyKey, Payload: op.Payload, Attempts: op.Attempts, Duplicate: op.Duplicate, Subject: op.Subject}
}

func now(c store.Clock) time.Time {
	if c == nil {
		return time.Now()
	}
	return c.Now()
}

// Enqueue sends enqueue.
func (r *Remote) Enqueue(ctx context.Context, payload []byte, o store.EnqueueOptions) (store.Op, error) {
	rep, err := r.do(ctx, Request{Type: TypeEnqueue, Payload: payload, IdempotencyKey: o.IdempotencyKey, Subject: o.Subject})
	if err != nil {
		return store.Op{}, err
	}
	if rep.Op == nil || rep.Op.ID == "" {
		return store.Op{}, fmt.Errorf("target %q: enqueue reply has no op: %w", r.c.name, ErrProtocol)
	}
	return opFromWire(rep.Op), nil
}

// batchInFlight bounds the enqueues of one EnqueueBatch in flight at once.
const batchInFlight = 64

// EnqueueBatch sends an enqueue for each payload, up to batchInFlight in
// flight at once, and returns the ops in payload order and the first
// payload's error, if any failed; the ops of those that did not fail are
// kept, unlike the store's batch, which is one transaction.
func (r *Remote) EnqueueBatch(ctx context.Context, payloads [][]byte) ([]store.Op, error) {
	ops := make([]store.Op, len(payloads))
	errs := make([]error, len(payloads))
	sem := make(chan struct{}, batchInFlight)
	var wg sync.WaitGroup
	for i, p := range payloads {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ops[i], errs[i] = r.Enqueue(ctx, p, store.EnqueueOptions{})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return ops, err
		}
	}
	return ops, nil
}

// Claim sends claim.
func (r *Remote) Claim(ctx context.Context, token uint64) (store.Op, error) {
	rep, err := r.do(ctx, Request{Type: TypeClaim, Token: token})
	if err != nil {
		return store.Op{}, err
	}
	if rep.Op == nil || rep.Op.ID == "" {
		return store.Op{}, fmt.Errorf("target %q: claim reply has neither op nor outcome: %w", r.c.name, ErrProtocol)
	}
	return opFromWire(rep.Op), nil
}

// Ack sends ack.
func (r *Remote) Ack(ctx context.Context, token uint64, id string) error {
	_, err := r.do(ctx, Request{Type: TypeAck, Token: token, OpID: id})
	return err
}

// Fail sends fail.
func (r *Remote) Fail(ctx context.Context, token uint64, id, reason string) (store.Op, error) {
	_, err := r.do(ctx, Request{Type: TypeFail, Token: token, OpID: id, Reason: reason})
	return store.Op{ID: id}, err
}

// AcquireLock sends acquire with the caller's clock reading.
func (r *Remote) AcquireLock(ctx context.Context, req store.LockRequest) (store.Lease, error) {
	t := now(req.Clock)
	rep, err := r.do(ctx, Request{Type: TypeAcquire, Owner: req.Owner, Now: t})
	if err != nil {
		return store.Lease{}, err
	}
	return store.Lease{Owner: req.Owner, Token: rep.Token, StartedAt: t}, nil
}

// Heartbeat sends heartbeat with the caller's clock reading.
func (r *Remote) Heartbeat(ctx context.Context, token uint64, clock store.Clock) error {
	_, err := r.do(ctx, Request{Type: TypeHeartbeat, Token: token, Now: now(clock)})
	return err
}

// ReleaseLock sends release.
func (r *Remote) ReleaseLock(ctx context.Context, token uint64) error {
	_, err := r.do(ctx, Request{Type: TypeRelease, Token: token, Now: time.Now()})
	return err
}

// Get sends get.
func (r *Remote) Get(ctx context.Context, box, key string) ([]byte, error) {
	rep, err := r.do(ctx, Request{Type: TypeGet, Box: box, Key: key})
	return rep.Value, err
}

// Put sends put.
func (r *Remote) Put(ctx context.Context, box, key string, value []byte) error {
	_, err := r.do(ctx, Request{Type: TypePut, Box: box, Key: key, Payload: value})
	return err
}

// withDetail sends req and decodes the reply's detail into v, when the
// target sent one that fits; a detail of another shape is left out.
func withDetail[T any](ctx context.Context, r *Remote, req Request) (T, error) {
	var v T
	rep, err := r.do(ctx, req)
	if err == nil && len(rep.Detail) > 0 {
		_ = json.Unmarshal(rep.Detail, &v)
	}
	return v, err
}

// BackupFile sends backup.
func (r *Remote) BackupFile(ctx context.Context, path string) (store.BackupInfo, error) {
	return withDetail[store.BackupInfo](ctx, r, Request{Type: TypeBackup, Path: path})
}

// RestoreFile sends restore.
func (r *Remote) RestoreFile(ctx context.Context, path string, backupKey []byte, expectedSchema int) (store.RestoreInfo, error) {
	req := Request{Type: TypeRestore, Path: path, ExpectedSchema: expectedSchema}
	if backupKey != nil {
		req.BackupKey = hex.EncodeToString(backupKey)
	}
	return withDetail[store.RestoreInfo](ctx, r, req)
}

// RotateKey sends rotate-key.
func (r *Remote) RotateKey(ctx context.Context, newKey []byte) (store.RotateReport, error) {
	return withDetail[store.RotateReport](ctx, r, Request{Type: TypeRotateKey, NewMasterKey: hex.EncodeToString(newKey)})
}

// Migrate sends migrate: the target runs its own migrations, whatever
// migrations says.
func (r *Remote) Migrate(ctx context.Context, _ []store.Migration) (store.MigrateReport, error) {
	return withDetail[store.MigrateReport](ctx, r, Request{Type: TypeMigrate})
}

// Erase sends erase.
func (r *Remote) Erase(ctx context.Context, subject string) (store.EraseReport, error) {
	return withDetail[store.EraseReport](ctx, r, Request{Type: TypeErase, Subject: subject})
}

// RebuildIndex sends rebuild-index.
func (r *Remote) RebuildIndex(ctx context.Context) (store.IndexReport, error) {
	return withDetail[store.IndexReport](ctx, r, Request{Type: TypeRebuildIndex})
}

// Audit sends audit.
func (r *Remote) Audit(ctx context.Context, event string, fields map[string]any) error {
	_, err := r.do(ctx, Request{Type: TypeAudit, Event: event, Fields: fields})
	return err
}

// Export sends export.
func (r *Remote) Export(ctx context.Context, subject string) ([]Op, error) {
	rep, err := r.do(ctx, Request{Type: TypeExport, Subject: subject})
	return rep.Ops, err
}

// State sends state.
func (r *Remote) State(ctx context.Context) (*State, error) {
	var all *State
	req := Request{Type: TypeState, Limit: StatePage}
	for {
		rep, err := r.doWithin(ctx, req, max(r.c.opts.Timeout, StateTimeout))
		if err != nil {
			return nil, err
		}
		st := rep.State
		if st == nil {
			return nil, fmt.Errorf("target %q: state reply has no state: %w", r.c.name, ErrProtocol)
		}
		if all == nil {
			all = st
		} else {
			all.Pending, all.Failed = append(all.Pending, st.Pending...), append(all.Failed, st.Failed...)
		}
		if !st.More {
			all.More = false
			return all, nil
		}
		if len(st.Pending)+len(st.Failed) == 0 {
			return nil, fmt.Errorf("target %q: a state page says more follow but lists no op: %w", r.c.name, ErrProtocol)
		}
		req.PendingFrom, req.FailedFrom = len(all.Pending), len(all.Failed)
	}
}

// StatePage is how many ops of each list Remote.State asks for at a time:
// a million pending ops do not fit one reply line.
const StatePage = 5000

// StateTimeout is the least a state request waits: a target may read its
// whole queue, a million ops after a mass enqueue, for the first page.
const StateTimeout = 2 * time.Minute

// Repairs lists the repairs the open reply named.
func (r *Remote) Repairs() []Repair { return slices.Clone(r.repairs) }
