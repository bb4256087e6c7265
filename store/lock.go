package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// lockRecord is persistence_metadata/processing_lock. The record outlives
// every holder, so Token only grows.
type lockRecord struct {
	Owner       string    `json:"owner"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	Token       uint64    `json:"token"`
	Held        bool      `json:"held"`
}

// LockInfo is the state of the processing lock as seen by one clock.
type LockInfo struct {
	Owner       string    `json:"owner,omitempty"`
	Token       uint64    `json:"token"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	HeartbeatAt time.Time `json:"heartbeat_at,omitzero"`
	Held        bool      `json:"held"`
	Stale       bool      `json:"stale"`
	StaleAt     time.Time `json:"stale_at,omitzero"`
}

// Lease is what AcquireLock grants: the fencing token to pass to Claim, Ack,
// Fail, Heartbeat and ReleaseLock.
type Lease struct {
	Owner     string
	Token     uint64
	StartedAt time.Time
}

// LockRequest names the processor asking for the lock and its clock.
type LockRequest struct {
	Owner string
	// Clock is the processor's clock; the store's clock when nil. Staleness
	// is judged by the clock of whoever asks.
	Clock Clock
}

func (s *Store) clockOr(c Clock) Clock {
	if c == nil {
		return s.opts.Clock
	}
	return c
}

func (s *Store) lockInfoLocked(c Clock) LockInfo {
	l := s.q.lock
	info := LockInfo{Owner: l.Owner, Token: l.Token, StartedAt: l.StartedAt, HeartbeatAt: l.HeartbeatAt, Held: l.Held}
	if l.Held {
		staleAfter := s.opts.StaleAfter
		if s.canary(CanaryLockStaleness) {
			staleAfter /= 2
		}
		info.StaleAt = l.HeartbeatAt.Add(staleAfter)
		info.Stale = !s.clockOr(c).Now().Before(info.StaleAt)
	}
	return info
}

// LockStatus reports the processing lock as seen by clock (nil: the store's).
func (s *Store) LockStatus(clock Clock) (LockInfo, error) {
	if err := s.enter(context.Background()); err != nil {
		return LockInfo{}, err
	}
	defer s.exit()
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return s.lockInfoLocked(clock), nil
}

func (s *Store) loadLock() error {
	err := s.readJSON(s.meta, metaLockKey, &s.q.lock)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// writeLockLocked makes the lock record durable; qmu is held. A token must
// never be handed out twice, so this waits for the fsync before returning.
func (s *Store) writeLockLocked(l lockRecord) error {
	if err := s.meta.update(func(t *txn) error { return putJSON(t, metaLockKey, l) }); err != nil {
		return fmt.Errorf("processing lock: %w", err)
	}
	s.q.lock = l
	return nil
}

// AcquireLock takes the processing lock and returns a lease with a fencing
// token larger than any handed out before. A lock held by another owner is
// refused with a LockHeldError until it is stale: StaleAfter without a
// heartbeat by the asker's clock. Taking over a stale lock writes the audit
// entry stale_lock_recovered. Claims made under older tokens are void.
func (s *Store) AcquireLock(ctx context.Context, req LockRequest) (Lease, error) {
	if err := s.enter(ctx); err != nil {
		return Lease{}, err
	}
	defer s.exit()
	if req.Owner == "" {
		return Lease{}, fmt.Errorf("acquire lock: empty owner: %w", ErrInvalid)
	}
	now := s.clockOr(req.Clock).Now().UTC()
	s.qmu.Lock()
	defer s.qmu.Unlock()
	prev := s.lockInfoLocked(req.Clock)
	if prev.Held && prev.Owner != req.Owner && !prev.Stale {
		return Lease{}, &LockHeldError{Owner: prev.Owner, Token: prev.Token, HeartbeatAt: prev.HeartbeatAt, StaleAt: prev.StaleAt}
	}
	l := lockRecord{Owner: req.Owner, StartedAt: now, HeartbeatAt: now, Token: prev.Token + 1, Held: true}
	if err := s.writeLockLocked(l); err != nil {
		return Lease{}, err
	}
	s.q.voidClaims()
	if prev.Held && prev.Owner != req.Owner {
		if err := s.Audit(ctx, EventStaleLockRecovered, map[string]any{
			"previous_owner": prev.Owner, "previous_token": prev.Token, "previous_heartbeat": prev.HeartbeatAt,
			"new_owner": req.Owner, "new_token": l.Token, "stale_for": now.Sub(prev.StaleAt).String(),
		}); err != nil {
			return Lease{}, err
		}
		s.opts.Logger.Warn("stale processing lock recovered", "previous_owner", prev.Owner, "new_owner", req.Owner, "token", l.Token)
	}
	return Lease{Owner: l.Owner, Token: l.Token, StartedAt: l.StartedAt}, nil
}

// checkTokenLocked fences a call: only the current holder's token passes.
func (s *Store) checkTokenLocked(token uint64) error {
	if s.canary(CanaryFencing) {
		return nil
	}
	if !s.q.lock.Held || token != s.q.lock.Token {
		return fmt.Errorf("token %d, current token %d (held: %t): %w; hint: this processor lost the lock and must stop", token, s.q.lock.Token, s.q.lock.Held, ErrStaleToken)
	}
	return nil
}

// Heartbeat renews the lease of token, by the processor's clock.
func (s *Store) Heartbeat(ctx context.Context, token uint64, clock Clock) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.exit()
	now := s.clockOr(clock).Now().UTC()
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if err := s.checkTokenLocked(token); err != nil {
		return err
	}
	l := s.q.lock
	l.HeartbeatAt = now
	return s.writeLockLocked(l)
}

// ReleaseLock gives the lock back. Its claims become claimable again.
func (s *Store) ReleaseLock(ctx context.Context, token uint64) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.exit()
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if err := s.checkTokenLocked(token); err != nil {
		return err
	}
	l := s.q.lock
	l.Held = false
	s.q.voidClaims()
	return s.writeLockLocked(l)
}

// ForceReleaseLock releases the lock whoever holds it, for the runbook's
// "persistent lock never releases" incident, and writes lock_force_released.
func (s *Store) ForceReleaseLock(ctx context.Context, reason string) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.exit()
	s.qmu.Lock()
	defer s.qmu.Unlock()
	prev := s.q.lock
	if !prev.Held {
		return nil
	}
	l := prev
	l.Held = false
	if err := s.writeLockLocked(l); err != nil {
		return err
	}
	s.q.voidClaims()
	return s.Audit(ctx, EventLockForceReleased, map[string]any{"previous_owner": prev.Owner, "previous_token": prev.Token, "reason": reason})
}
