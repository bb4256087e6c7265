package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/boxstorm/boxstorm/store"
)

// StoreTarget is the reference store as a target: a Handler over
// store.Store. storectl serve runs it; tests and benchmarks run it in
// process. It answers every core and optional request type.
type StoreTarget struct {
	// Options open the store. Options.Key is the target's own key, used
	// when an open request carries no master key; when it is nil, an open
	// without master_key is refused with the class other.
	Options store.Options
	// Version is the target version the open reply names.
	Version string
	// Dir is the store directory an open request without dir opens.
	Dir string

	mu sync.RWMutex // held for writing by open and close
	st *store.Store

	// snap is the state a paged read started from (pending_from and
	// failed_from 0), so that its next pages read no store again.
	snapMu sync.Mutex
	snap   *State
}

var _ Handler = (*StoreTarget)(nil)

// StoreTargetName is the target name the reference store's open reply gives.
const StoreTargetName = "boxstorm-store"

// ServeOn serves the reference store on r and w (Serve) until r ends,
// then closes the store a request left open: storectl serve, and the
// tests that play the reference store as a target.
func (t *StoreTarget) ServeOn(ctx context.Context, r io.Reader, w io.Writer) error {
	err := Serve(ctx, r, w, t)
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the store if a request opened it and none closed it.
func (t *StoreTarget) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.st == nil {
		return nil
	}
	err := t.st.Close()
	t.st = nil
	return err
}

// Handle answers one request.
func (t *StoreTarget) Handle(ctx context.Context, req Request) (Reply, error) {
	switch req.Type {
	case TypeOpen, TypeRecover:
		return t.open(ctx, req)
	case TypeClose:
		return Reply{}, t.Close()
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.st == nil {
		if req.Type == "" || !isKnown(req.Type) {
			return Reply{}, fmt.Errorf("%q: %w", req.Type, ErrUnsupported)
		}
		return Reply{}, Errorf(ClassOther, "%s: the store is not open; send open first", req.Type)
	}
	return t.handleOpen(ctx, t.st, req)
}

func isKnown(typ string) bool {
	for _, k := range append(CoreTypes(), OptionalTypes()...) {
		if k == typ {
			return true
		}
	}
	return false
}

func (t *StoreTarget) open(ctx context.Context, req Request) (Reply, error) {
	if req.Version != ProtocolVersion {
		return Reply{}, Errorf(ClassUnsupported, "protocol version %d: this target speaks %d", req.Version, ProtocolVersion)
	}
	dir := req.Dir
	if dir == "" {
		dir = t.Dir
	}
	if dir == "" {
		return Reply{}, Errorf(ClassOther, "open: no dir, and the target was started without one")
	}
	opts := t.Options
	if err := applySettings(&opts, req.Settings); err != nil {
		return Reply{}, err
	}
	if req.MasterKey != "" {
		key, err := store.ParseKey([]byte(req.MasterKey))
		if err != nil {
			return Reply{}, Errorf(ClassOther, "open: master_key: %v", err)
		}
		opts.Key = store.KeyBytes(key)
	}
	if opts.Key == nil {
		return Reply{}, Errorf(ClassOther, "open %s: no master key: send master_key in the open request, or give the target a key of its own (storectl serve: pass --key-file FILE)", dir)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.st != nil {
		// One store per target: refuse before touching dir at all.
		return Reply{}, Errorf(ClassLocked, "open %s: this target has a store open already", dir)
	}
	var st *store.Store
	var recovered *store.RecoverReport
	var err error
	if req.Type == TypeRecover {
		var rr store.RecoverReport
		st, rr, err = store.RecoverCorrupted(ctx, dir, req.Path, opts)
		recovered = &rr
	} else {
		st, err = store.Open(ctx, dir, opts)
	}
	if err != nil {
		return Reply{}, err
	}
	t.st = st
	rep := Reply{
		Version:      ProtocolVersion,
		Target:       StoreTargetName,
		TargetVer:    t.Version,
		Capabilities: append(CoreTypes(), OptionalTypes()...),
	}
	rep.Repairs = wireRepairs(st.Repairs())
	if recovered != nil {
		rep.Detail, _ = json.Marshal(recovered)
	}
	return rep, nil
}

// applySettings sets the options an open request's settings name.
func applySettings(o *store.Options, set *Settings) error {
	if set == nil {
		return nil
	}
	if set.Sync != "" {
		m, err := store.ParseSyncMode(set.Sync)
		if err != nil {
			return Errorf(ClassOther, "open: settings.sync: %v", err)
		}
		o.Sync = m
	}
	if set.Recovery != "" {
		m, err := store.ParseRecoveryMode(set.Recovery)
		if err != nil {
			return Errorf(ClassOther, "open: settings.recovery: %v", err)
		}
		o.Recovery = m
	}
	if set.SyncIntervalMS > 0 {
		o.SyncPeriod = time.Duration(set.SyncIntervalMS) * time.Millisecond
	}
	if set.StaleAfterMS > 0 {
		o.StaleAfter = time.Duration(set.StaleAfterMS) * time.Millisecond
	}
	if set.CheckpointPeriodMS > 0 {
		o.CheckpointPeriod = time.Duration(set.CheckpointPeriodMS) * time.Millisecond
	}
	if set.FailedOpsAlert > 0 {
		o.FailedOpsAlert = set.FailedOpsAlert
	}
	return nil
}

// callerClock is the caller's clock as a request carries it.
func callerClock(now time.Time) store.Clock {
	if now.IsZero() {
		return nil
	}
	return store.ClockFunc(func() time.Time { return now })
}

func (t *StoreTarget) handleOpen(ctx context.Context, st *store.Store, req Request) (Reply, error) {
	switch req.Type {
	case TypeEnqueue:
		op, err := st.Enqueue(ctx, req.Payload, store.EnqueueOptions{IdempotencyKey: req.IdempotencyKey, Subject: req.Subject})
		if err != nil {
			return Reply{}, err
		}
		return Reply{Op: wireOp(op)}, nil
	case TypeClaim:
		op, err := st.Claim(ctx, req.Token)
		if errors.Is(err, store.ErrEmpty) {
			return Reply{Outcome: OutcomeEmpty}, nil
		}
		if err != nil {
			return Reply{}, err
		}
		return Reply{Op: wireOp(op)}, nil
	case TypeAck:
		return outcome(st.Ack(ctx, req.Token, req.OpID))
	case TypeFail:
		_, err := st.Fail(ctx, req.Token, req.OpID, req.Reason)
		return outcome(err)
	case TypeAcquire:
		lease, err := st.AcquireLock(ctx, store.LockRequest{Owner: req.Owner, Clock: callerClock(req.Now)})
		if errors.Is(err, store.ErrLockHeld) {
			return Reply{Outcome: OutcomeLockHeld}, nil
		}
		if err != nil {
			return Reply{}, err
		}
		return Reply{Token: lease.Token}, nil
	case TypeHeartbeat:
		return Reply{}, st.Heartbeat(ctx, req.Token, callerClock(req.Now))
	case TypeRelease:
		return Reply{}, st.ReleaseLock(ctx, req.Token)
	case TypeGet:
		v, err := st.Get(ctx, req.Box, req.Key)
		if errors.Is(err, store.ErrNotFound) {
			return Reply{Outcome: OutcomeNotFound}, nil
		}
		return Reply{Value: v}, err
	case TypePut:
		return Reply{}, st.Put(ctx, req.Box, req.Key, req.Payload)
	case TypeBackup:
		return detail(Local{st}.BackupFile(ctx, req.Path))
	case TypeRestore:
		var key []byte
		if req.BackupKey != "" {
			var err error
			if key, err = store.ParseKey([]byte(req.BackupKey)); err != nil {
				return Reply{}, Errorf(ClassOther, "restore: backup_key: %v", err)
			}
		}
		return detail(Local{st}.RestoreFile(ctx, req.Path, key, req.ExpectedSchema))
	case TypeMigrate:
		return detail(st.Migrate(ctx))
	case TypeRotateKey:
		key, err := store.ParseKey([]byte(req.NewMasterKey))
		if err != nil {
			return Reply{}, Errorf(ClassOther, "rotate-key: new_master_key: %v", err)
		}
		return detail(st.RotateKey(ctx, store.KeyBytes(key)))
	case TypeErase:
		return detail(st.Erase(ctx, req.Subject))
	case TypeVerify:
		return detail(st.Verify(ctx))
	case TypeRebuildIndex:
		return detail(st.RebuildIndex(ctx))
	case TypeState:
		t.snapMu.Lock()
		defer t.snapMu.Unlock()
		if t.snap == nil || req.PendingFrom == 0 && req.FailedFrom == 0 {
			state, err := storeState(ctx, st)
			if err != nil {
				return Reply{}, err
			}
			t.snap = state
		}
		page := t.snap.Page(req)
		if !page.More {
			t.snap = nil
		}
		return Reply{State: page}, nil
	case TypeExport:
		ops, err := Local{st}.Export(ctx, req.Subject)
		return Reply{Ops: ops}, err
	case TypeAudit:
		return Reply{}, st.Audit(ctx, req.Event, req.Fields)
	}
	return Reply{}, fmt.Errorf("%q: %w", req.Type, ErrUnsupported)
}

func wireOps(ops []store.Op) []Op {
	out := make([]Op, 0, len(ops))
	for _, op := range ops {
		out = append(out, *wireOp(op))
	}
	return out
}

// outcome turns the negative answers of ack and fail into outcomes.
func outcome(err error) (Reply, error) {
	switch {
	case errors.Is(err, store.ErrNotClaimed):
		return Reply{Outcome: OutcomeNotClaimed}, nil
	case errors.Is(err, store.ErrNotFound):
		return Reply{Outcome: OutcomeNotFound}, nil
	}
	return Reply{}, err
}

func detail(v any, err error) (Reply, error) {
	if err != nil {
		return Reply{}, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Detail: b}, nil
}

func wireOp(op store.Op) *Op {
	return &Op{ID: op.ID, Seq: op.Seq, IdempotencyKey: op.IdempotencyKey, Payload: op.Payload, Attempts: op.Attempts, Duplicate: op.Duplicate, Subject: op.Subject}
}
