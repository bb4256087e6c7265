package chaos

// The store session of a run: opening, closing and reopening the store
// with the run's key generation and migrations, each open and close
// recorded in the history, and the corruption errors and repairs opens
// report noted in the run's effects. The store is the reference store in
// process, or with RunOptions.Target a target process driven through the
// target protocol (target.Remote), started by each open and ended by each
// close.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/store"
)

type session struct {
	p      *plan
	hist   *history.History
	client string // who the history says opens and closes: "harness", "worker/harness"
	eff    *check.Effects
	logger *slog.Logger // the store's logger

	st      target.Backend
	openErr error // why the last open failed
	keyGen  int   // the key generation the store is at; see chaosKey
	// migrations are the built-in migrations and the synthetic ones, once
	// the run registered any; nil before (the store's built-in list).
	migrations []store.Migration
	synth      int // synthetic migrations registered
	opened     int // opens since the last store-state observation
}

// options are the options every open of the run uses, with key generation
// gen.
func (s *session) options(gen int) store.Options {
	sc := s.p.sc
	o := store.Options{
		Key:              store.KeyBytes(chaosKey(gen)),
		SyncPeriod:       sc.Store.SyncInterval,
		StaleAfter:       sc.Store.StaleAfter,
		FailedOpsAlert:   sc.Store.FailedOpsAlert,
		CheckpointPeriod: sc.Store.CheckpointPeriod,
		Logger:           s.logger,
		Migrations:       s.migrations,
	}
	o.Sync, _ = store.ParseSyncMode(string(sc.Store.Sync))
	o.Recovery, _ = store.ParseRecoveryMode(string(sc.Store.Recovery))
	if s.p.opts.Canary {
		o.Canary = string(sc.Protection)
	}
	return o
}

// current returns the open store, or why there is none.
func (s *session) current() (target.Backend, error) {
	if s.st == nil {
		if s.openErr != nil {
			return nil, fmt.Errorf("store is not open: %w", s.openErr)
		}
		return nil, fmt.Errorf("store is not open: %w", store.ErrClosed)
	}
	return s.st, nil
}

// open opens the store with the current key generation, recording the
// call; after a crash mid-rotation it tries the next key too.
func (s *session) open(ctx context.Context, mod func(*store.Options)) error {
	if s.st != nil {
		return nil
	}
	var err error
	for _, gen := range []int{s.keyGen, s.keyGen + 1} {
		o := s.options(gen)
		if mod != nil {
			mod(&o)
		}
		var st target.Backend
		err = record(s.hist, s.client, history.KindOpen, history.OpInput{}, func() (history.OpOutput, error) {
			var err error
			st, err = s.p.openBackend(ctx, s.p.storeDir, chaosKey(gen), o)
			return history.OpOutput{}, err
		})
		if err == nil {
			s.st, s.openErr, s.keyGen = st, nil, gen
			for _, rp := range st.Repairs() {
				s.eff.Repairs = append(s.eff.Repairs, check.Repair{Box: rp.Box, Kind: rp.Kind, Offset: rp.Offset, DroppedBytes: rp.DroppedBytes, Quarantine: rp.Quarantine})
			}
			s.opened++
			return nil
		}
		s.noteCorruption(err)
		if !errors.Is(err, store.ErrWrongKey) {
			break
		}
	}
	s.openErr = err
	return err
}

// noteCorruption adds a corruption error to the effects.
func (s *session) noteCorruption(err error) {
	var ce *store.CorruptionError
	if errors.As(err, &ce) {
		s.eff.Corruptions = append(s.eff.Corruptions, check.Corruption{At: s.hist.Now(), Box: ce.Box, Offset: ce.Offset, Err: err.Error()})
	}
}

// kill SIGKILLs the run's target process, if the store is one.
func (s *session) kill() {
	if r := s.p.live.Load(); r != nil {
		r.Kill()
	}
}

// openBackend opens the store in dir with key and o, in process or through
// the run's target.
func (p *plan) openBackend(ctx context.Context, dir string, key []byte, o store.Options) (target.Backend, error) {
	if p.opts.Target == "" {
		o.Key = store.KeyBytes(key)
		st, err := store.Open(ctx, dir, o)
		if err != nil {
			return nil, err
		}
		return target.Local{Store: st}, nil
	}
	return p.dial(ctx, target.RemoteConfig{Command: p.opts.Target, Dir: dir, Key: key, Settings: settings(o)})
}

// settings are the options o as an open request carries them.
func settings(o store.Options) *target.Settings {
	return &target.Settings{Sync: o.Sync.String(), Recovery: o.Recovery.String(), FailedOpsAlert: o.FailedOpsAlert,
		SyncIntervalMS: o.SyncPeriod.Milliseconds(), StaleAfterMS: o.StaleAfter.Milliseconds(), CheckpointPeriodMS: o.CheckpointPeriod.Milliseconds()}
}

func (p *plan) dial(ctx context.Context, cfg target.RemoteConfig) (*target.Remote, error) {
	cfg.Options = target.Options{Stderr: p.targetLog, Timeout: p.opts.TargetTimeout}
	rem, err := target.Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p.live.Store(rem)
	return rem, nil
}

// recoverBackend opens the run's store rebuilding the boxes that fail their
// checks from the backup at path (store.RecoverCorrupted, or recover).
func (p *plan) recoverBackend(ctx context.Context, path string, key []byte, o store.Options) (target.Backend, store.RecoverReport, error) {
	var rep store.RecoverReport
	if p.opts.Target == "" {
		o.Key = store.KeyBytes(key)
		st, rep, err := store.RecoverCorrupted(ctx, p.storeDir, path, o)
		if err != nil {
			return nil, rep, err
		}
		return target.Local{Store: st}, rep, nil
	}
	rem, err := p.dial(ctx, target.RemoteConfig{Command: p.opts.Target, Dir: p.storeDir, Key: key, RecoverFrom: path, Settings: settings(o)})
	if err != nil {
		return nil, rep, err
	}
	_ = json.Unmarshal(rem.Detail(), &rep)
	return rem, rep, nil
}

// close closes the store, if open, recording the call.
func (s *session) close() error {
	if s.st == nil {
		return nil
	}
	st := s.st
	s.st = nil
	return record(s.hist, s.client, history.KindClose, history.OpInput{}, func() (history.OpOutput, error) { return history.OpOutput{}, st.Close() })
}

// registerSynthetic adds synthetic migrations until the run has n: each
// appends its version to the synthBox record, in one staged rewrite.
func (s *session) registerSynthetic(n int) {
	if s.migrations == nil {
		s.migrations = store.BuiltinMigrations()
	}
	for s.synth < n {
		v := store.LatestSchemaVersion() + s.synth + 1
		tag := fmt.Sprintf(",v%d", v)
		s.migrations = append(s.migrations, store.Migration{
			Version: v,
			Name:    fmt.Sprintf("chaos-synthetic-%d", s.synth+1),
			Apply: func(ctx context.Context, m *store.MigrationTx) error {
				return m.Rewrite(ctx, synthBox, func(key string, v []byte) ([]byte, bool, error) {
					if key != synthKey {
						return v, true, nil
					}
					return append(append([]byte(nil), v...), tag...), true, nil
				})
			},
		})
		s.synth++
	}
}
