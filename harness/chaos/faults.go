package chaos

// The fault injectors: one function per fault type, run at an op position
// with the workload paused, or as a step after it.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/boxstorm/boxstorm/opname"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/internal/failpoint"
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

// synthBox and synthKey hold the record synthetic migrations append their
// version to, so a half-applied migration shows.
const (
	synthBox = "chaos_schema"
	synthKey = "marker"
)

// backupMarkerEvent is the audit entry written right after each backup.
const backupMarkerEvent = "chaos_after_backup"

// applyFault runs one fault and records what it did.
func (r *chaosRun) applyFault(ctx context.Context, p fault.PlannedFault) {
	f := p.Fault
	r.steps[p.Index] = true
	r.rec.fault(FaultEvent{Index: p.Index, Type: p.Type, Phase: "start", Detail: r.startDetail(p)})
	ev := FaultEvent{Index: p.Index, Type: p.Type, Phase: "done", Detail: map[string]any{}}
	var err error
	if f.Type.NeedsFaultFS() {
		err = r.applyFaultFS(ctx, p, &ev)
	} else if f.Type.IsDamage() || f.Type == scenarios.FaultReopen || f.Type == scenarios.FaultRecover ||
		f.Type == scenarios.FaultWrongKey || f.Type == scenarios.FaultKill || f.Type == scenarios.FaultDiskFull ||
		f.Type == scenarios.FaultClockSkew || f.Type == scenarios.FaultStall || f.Type == scenarios.FaultHandlerFailure ||
		f.Type == scenarios.FaultSecondOpen {
		err = r.applyOther(ctx, p, &ev)
	} else {
		// Steps that use the store open it again after damage.
		if oerr := r.open(ctx, nil); oerr != nil {
			ev.Skipped = fmt.Sprintf("store does not open: %v", oerr)
		} else {
			err = r.applyStoreStep(ctx, p, &ev)
		}
	}
	if err != nil {
		ev.Err, ev.Class = err.Error(), ErrorClass(err)
		if errors.Is(err, fault.ErrUnsupportedFault) {
			ev.Skipped, ev.Err, ev.Class = err.Error(), "", ""
		}
	}
	if len(ev.Detail) == 0 {
		ev.Detail = nil
	}
	r.rec.fault(ev)
}

func (r *chaosRun) startDetail(p fault.PlannedFault) map[string]any {
	if p.Type == scenarios.FaultBackup {
		return map[string]any{"path": r.backupPath(p.Index)}
	}
	return nil
}

func (r *chaosRun) backupPath(index int) string {
	return filepath.Join(r.backupDir(), fmt.Sprintf("backup-%02d.tar.age", index))
}

func (r *chaosRun) applyOther(ctx context.Context, p fault.PlannedFault, ev *FaultEvent) error {
	f := p.Fault
	switch f.Type {
	case scenarios.FaultTruncate, scenarios.FaultBitflip, scenarios.FaultGarbage, scenarios.FaultNULRun:
		if err := r.close(); err != nil {
			ev.Detail["close_err"] = err.Error()
		}
		d, err := fault.DamageBox(r.storeDir, f, p.Seed)
		r.damage = append(r.damage, damageRecord{Index: p.Index, Box: f.Box, Kind: f.Type, Mode: f.Mode, Damage: d, At: r.rec.now()})
		ev.Detail["damage"] = d
		if err != nil {
			return err
		}
		if p.AtOp() {
			// The workload goes on against the reopened store.
			if err := r.open(ctx, nil); err != nil {
				ev.Detail["reopen_err"] = err.Error()
				ev.Detail["reopen_class"] = ErrorClass(err)
			}
		}
		return nil
	case scenarios.FaultCorruptIndex:
		return r.missingIndexIDs(ctx, p, ev)
	case scenarios.FaultMalformedTimestamps:
		return r.malformedTimestamps(ctx, p, ev)
	case scenarios.FaultReopen:
		if err := r.close(); err != nil {
			ev.Detail["close_err"] = err.Error()
		}
		err := r.open(ctx, func(o *store.Options) {
			if f.Recovery != "" {
				o.Recovery, _ = store.ParseRecoveryMode(string(f.Recovery))
			}
		})
		if err == nil {
			ev.Detail["repairs"] = r.st.Repairs()
		}
		return err
	case scenarios.FaultRecover:
		_ = r.close()
		b, ok := r.latestBackup()
		if !ok {
			return fmt.Errorf("recover: no backup taken before it: %w", fault.ErrUnsupportedFault)
		}
		rec := r.rec.begin(&ChaosOp{Client: "harness", N: r.nextN(), Op: opname.Recover})
		s, rep, err := store.RecoverCorrupted(ctx, r.storeDir, b.Path, r.storeOptions(r.keyGen))
		r.rec.end(rec, err)
		r.noteCorruption(err)
		ev.Detail["report"] = rep
		if err == nil {
			r.st, r.openErr = s, nil
			r.restores = append(r.restores, restoreRef{Backup: b, OK: rep.Restored, Done: true, At: r.rec.now()})
		}
		return err
	case scenarios.FaultWrongKey:
		return r.wrongKey(ctx, p, ev)
	case scenarios.FaultKill:
		if !r.worker {
			return fmt.Errorf("kill outside a worker child: %w", fault.ErrUnsupportedFault)
		}
		if f.Failpoint == "" {
			r.rec.fault(FaultEvent{Index: p.Index, Type: p.Type, Phase: "kill"})
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		ev.Detail["armed"] = failpoint.Armed()
		return nil
	case scenarios.FaultDiskFull:
		if !r.worker {
			return fmt.Errorf("disk-full outside a worker child: %w", fault.ErrUnsupportedFault)
		}
		lim, err := limitFileSize(r.storeDir, f.Limit)
		ev.Detail["rlimit_fsize"] = lim
		return err
	case scenarios.FaultClockSkew:
		r.clocks[f.Processor].off.Add(int64(f.Offset))
		return nil
	case scenarios.FaultStall:
		r.stalls.Add(1)
		if r.stallReq[f.Processor].Swap(int64(f.Duration)) > 0 {
			r.stalls.Add(-1)
		}
		return nil
	case scenarios.FaultHandlerFailure:
		r.failRate.Store(uint64(f.Rate * 1e9))
		return nil
	case scenarios.FaultSecondOpen:
		return r.secondOpen(ctx, p, ev)
	}
	return fmt.Errorf("%s: %w", f.Type, fault.ErrUnsupportedFault)
}

func (r *chaosRun) applyStoreStep(ctx context.Context, p fault.PlannedFault, ev *FaultEvent) error {
	f := p.Fault
	s := r.st
	switch f.Type {
	case scenarios.FaultBackup:
		return r.backup(ctx, p, ev)
	case scenarios.FaultRestore:
		b, ok := r.latestBackup()
		if !ok {
			return fmt.Errorf("restore: no backup: %w", fault.ErrUnsupportedFault)
		}
		fh, err := os.Open(b.Path)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		defer fh.Close()
		rec := r.rec.begin(&ChaosOp{Client: "harness", N: r.nextN(), Op: opname.Restore})
		info, err := s.Restore(ctx, fh, store.RestoreOptions{BackupKey: store.KeyBytes(chaosKey(b.KeyGen))})
		r.rec.end(rec, err)
		r.restores = append(r.restores, restoreRef{Backup: b, OK: err == nil, Done: true, At: r.rec.now()})
		ev.Detail["backup"] = b.Path
		if err == nil {
			ev.Detail["erased"] = info.Erased
		}
		return err
	case scenarios.FaultRotateKey:
		if f.Batch != 0 {
			ev.Detail["batch"] = "ignored: store.RotateKey has no batch size option"
		}
		rec := r.rec.begin(&ChaosOp{Client: "harness", N: r.nextN(), Op: opname.RotateKey})
		rep, err := s.RotateKey(ctx, store.KeyBytes(chaosKey(r.keyGen+1)))
		r.rec.end(rec, err)
		ev.Detail["report"] = rep
		if err == nil {
			r.keyGen++
		}
		return err
	case scenarios.FaultMigrate:
		r.registerSynthetic(max(f.Count, 1))
		rec := r.rec.begin(&ChaosOp{Client: "harness", N: r.nextN(), Op: opname.Migrate})
		rep, err := s.MigrateWith(ctx, r.migrations)
		r.rec.end(rec, err)
		ev.Detail["report"] = rep
		return err
	case scenarios.FaultErase:
		rec := r.rec.begin(&ChaosOp{Client: "harness", N: r.nextN(), Op: opname.Erase, Subject: f.Subject})
		rep, err := s.Erase(ctx, f.Subject)
		r.rec.end(rec, err)
		r.erased = append(r.erased, f.Subject)
		ev.Detail["subject"] = f.Subject
		ev.Detail["report"] = rep
		return err
	case scenarios.FaultRebuildIndex:
		rep, err := s.RebuildIndex(ctx)
		ev.Detail["report"] = rep
		return err
	case scenarios.FaultSchemaMismatch:
		b, ok := r.latestBackup()
		if !ok {
			return fmt.Errorf("schema-mismatch: no backup: %w", fault.ErrUnsupportedFault)
		}
		before := hashStore(r.storeDir)
		fh, err := os.Open(b.Path)
		if err != nil {
			return fmt.Errorf("schema-mismatch: %w", err)
		}
		defer fh.Close()
		want := b.Schema + f.Delta
		rec := r.rec.begin(&ChaosOp{Client: "harness", N: r.nextN(), Op: opname.Restore})
		_, err = s.Restore(ctx, fh, store.RestoreOptions{ExpectedSchema: want, BackupKey: store.KeyBytes(chaosKey(b.KeyGen))})
		r.rec.end(rec, err)
		ev.Detail["expected_schema"] = want
		ev.Detail["backup_schema"] = b.Schema
		ev.Detail["unchanged"] = sameHashes(before, hashStore(r.storeDir))
		return err
	}
	return fmt.Errorf("%s: %w", f.Type, fault.ErrUnsupportedFault)
}

func (r *chaosRun) backup(ctx context.Context, p fault.PlannedFault, ev *FaultEvent) error {
	if err := os.MkdirAll(r.backupDir(), 0o700); err != nil {
		return err
	}
	path := r.backupPath(p.Index)
	schema, _ := r.st.SchemaVersion()
	ref := backupRef{Path: path, Schema: schema, Index: p.Index, KeyGen: r.keyGen, Before: r.rec.now()}
	r.backups = append(r.backups, ref)
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	rec := r.rec.begin(&ChaosOp{Client: "harness", N: r.nextN(), Op: opname.Backup})
	info, err := r.st.Backup(ctx, fh)
	r.rec.end(rec, err)
	if serr := fh.Sync(); err == nil {
		err = serr
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	r.backups[len(r.backups)-1].After = r.rec.now()
	ev.Detail["path"] = path
	ev.Detail["schema_version"] = info.SchemaVersion
	if err != nil {
		return err
	}
	// An audit entry that exists only after the backup: a restore must
	// take it away together with the ops enqueued since, or neither.
	if aerr := r.st.Audit(ctx, backupMarkerEvent, map[string]any{"backup": p.Index}); aerr == nil {
		r.markers[p.Index] = true
		ev.Detail["marker"] = true
	}
	return nil
}

func (r *chaosRun) latestBackup() (backupRef, bool) {
	if len(r.backups) == 0 {
		return backupRef{}, false
	}
	return r.backups[len(r.backups)-1], true
}

func (r *chaosRun) wrongKey(ctx context.Context, p fault.PlannedFault, ev *FaultEvent) error {
	f := p.Fault
	switch f.During {
	case scenarios.DuringOpen:
		if err := r.close(); err != nil {
			ev.Detail["close_err"] = err.Error()
		}
		before := hashStore(r.storeDir)
		o := r.storeOptions(r.keyGen)
		o.Key = store.KeyBytes(wrongKey)
		rec := r.rec.begin(&ChaosOp{Client: "harness", N: r.nextN(), Op: opname.Open, Key: "wrong-key"})
		s, err := store.Open(ctx, r.storeDir, o)
		r.rec.end(rec, err)
		if err == nil {
			_ = s.Close()
		}
		ev.Detail["unchanged"] = sameHashes(before, hashStore(r.storeDir))
		return err
	case scenarios.DuringRestore:
		if err := r.open(ctx, nil); err != nil {
			return fmt.Errorf("wrong-key restore: store does not open: %v: %w", err, fault.ErrUnsupportedFault)
		}
		b, ok := r.latestBackup()
		if !ok {
			return fmt.Errorf("wrong-key restore: no backup: %w", fault.ErrUnsupportedFault)
		}
		before := hashStore(r.storeDir)
		fh, err := os.Open(b.Path)
		if err != nil {
			return err
		}
		defer fh.Close()
		rec := r.rec.begin(&ChaosOp{Client: "harness", N: r.nextN(), Op: opname.Restore, Key: "wrong-key"})
		_, err = r.st.Restore(ctx, fh, store.RestoreOptions{BackupKey: store.KeyBytes(wrongKey)})
		r.rec.end(rec, err)
		ev.Detail["unchanged"] = sameHashes(before, hashStore(r.storeDir))
		return err
	}
	return fmt.Errorf("wrong-key during %q: %w", f.During, fault.ErrUnsupportedFault)
}

func (r *chaosRun) secondOpen(ctx context.Context, p fault.PlannedFault, ev *FaultEvent) error {
	if err := r.open(ctx, nil); err != nil {
		return fmt.Errorf("second-open: the first open fails: %v: %w", err, fault.ErrUnsupportedFault)
	}
	if p.Fault.From == scenarios.FromSameProcess {
		rec := r.rec.begin(&ChaosOp{Client: "harness", N: r.nextN(), Op: opname.SecondOpen})
		s, err := store.Open(ctx, r.storeDir, r.storeOptions(r.keyGen))
		r.rec.end(rec, err)
		if err == nil {
			ev.Detail["opened"] = true
			_ = s.Close()
		}
		return err
	}
	return r.secondOpenProcess(ctx, ev)
}

// registerSynthetic adds synthetic migrations until the run has n: each
// appends its version to the synthBox record, in one staged rewrite.
func (r *chaosRun) registerSynthetic(n int) {
	if r.migrations == nil {
		r.migrations = store.BuiltinMigrations()
	}
	for r.synth < n {
		v := store.LatestSchemaVersion() + r.synth + 1
		tag := fmt.Sprintf(",v%d", v)
		r.migrations = append(r.migrations, store.Migration{
			Version: v,
			Name:    fmt.Sprintf("chaos-synthetic-%d", r.synth+1),
			Apply: func(ctx context.Context, m *store.MigrationTx) error {
				return m.Rewrite(ctx, synthBox, func(key string, v []byte) ([]byte, bool, error) {
					if key != synthKey {
						return v, true, nil
					}
					return append(append([]byte(nil), v...), tag...), true, nil
				})
			},
		})
		r.synth++
	}
}

// hashStore hashes every live file of a store directory: the box files and
// the keyring, not the lock file nor backups.
func hashStore(dir string) map[string]string {
	out := map[string]string{}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p != dir {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() == "LOCK" || strings.HasSuffix(d.Name(), ".bak") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		sum := sha256.Sum256(b)
		out[d.Name()] = hex.EncodeToString(sum[:])
		return nil
	})
	return out
}

func sameHashes(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
