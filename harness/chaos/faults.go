package chaos

// The fault injectors: one function per fault type, run at an op position
// with the workload paused, or as a step after it.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/harness/target"
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

// applyFault runs one fault and records what it did.
func (r *chaosRun) applyFault(ctx context.Context, p fault.PlannedFault) {
	f := p.Fault
	r.steps[p.Index] = true
	r.fault(history.Fault{Index: p.Index, Type: string(p.Type), Phase: history.FaultStart, Detail: r.startDetail(p)})
	ev := history.Fault{Index: p.Index, Type: string(p.Type), Phase: history.FaultDone, Detail: map[string]any{}}
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
		if oerr := r.sess.open(ctx, nil); oerr != nil {
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
	r.fault(ev)
}

func (r *chaosRun) startDetail(p fault.PlannedFault) map[string]any {
	if p.Type == scenarios.FaultBackup {
		return map[string]any{"path": r.p.backupPath(p.Index)}
	}
	return nil
}

func (r *chaosRun) applyOther(ctx context.Context, p fault.PlannedFault, ev *history.Fault) error {
	f := p.Fault
	switch f.Type {
	case scenarios.FaultTruncate, scenarios.FaultBitflip, scenarios.FaultGarbage, scenarios.FaultNULRun:
		if err := r.sess.close(); err != nil {
			ev.Detail["close_err"] = err.Error()
		}
		d, err := fault.DamageBox(r.p.storeDir, f, p.Seed)
		ev.Detail["damage"] = d
		if d.After == 0 { // nothing was written: no damage to judge
			return err
		}
		r.eff.Damage = append(r.eff.Damage, check.Damage{Index: p.Index, Box: d.Box, Type: string(f.Type), Mode: f.Mode, Offset: d.Offset, At: r.hist.Now(),
			TornTail: f.Type == scenarios.FaultTruncate && f.Mode == scenarios.TruncateTail})
		if err != nil {
			return err
		}
		if p.AtOp() {
			// The workload goes on against the reopened store.
			if err := r.sess.open(ctx, nil); err != nil {
				ev.Detail["reopen_err"] = err.Error()
				ev.Detail["reopen_class"] = ErrorClass(err)
			}
		}
		return nil
	case scenarios.FaultRelocate:
		return r.relocate(ctx, p, ev)
	case scenarios.FaultCorruptIndex:
		return r.missingIndexIDs(ctx, p, ev)
	case scenarios.FaultMalformedTimestamps:
		if err := r.p.inProcessOnly("malformed-timestamps"); err != nil {
			return err
		}
		return r.malformedTimestamps(ctx, p, ev)
	case scenarios.FaultReopen:
		if err := r.sess.close(); err != nil {
			ev.Detail["close_err"] = err.Error()
		}
		err := r.sess.open(ctx, func(o *store.Options) {
			if f.Recovery != "" {
				o.Recovery, _ = store.ParseRecoveryMode(string(f.Recovery))
			}
		})
		if err == nil {
			ev.Detail["repairs"] = r.sess.st.Repairs()
		}
		return err
	case scenarios.FaultRecover:
		if err := r.claims(target.TypeRecover); err != nil {
			return err
		}
		_ = r.sess.close()
		b, ok := r.latestBackup()
		if !ok {
			return fmt.Errorf("recover: no backup taken before it: %w", fault.ErrUnsupportedFault)
		}
		var s target.Backend
		var rep store.RecoverReport
		err := r.record(history.KindRecover, history.OpInput{Backup: b.Path}, func() (err error) {
			s, rep, err = r.p.recoverBackend(ctx, b.Path, chaosKey(r.sess.keyGen), r.sess.options(r.sess.keyGen))
			return err
		})
		r.sess.noteCorruption(err)
		ev.Detail["report"] = rep
		if err == nil {
			r.sess.st, r.sess.openErr = s, nil
			r.eff.Restores = append(r.eff.Restores, check.Restore{Backup: b, OK: rep.Restored, Done: true, At: r.hist.Now()})
		}
		return err
	case scenarios.FaultWrongKey:
		return r.wrongKey(ctx, p, ev)
	case scenarios.FaultKill:
		if r.proc == "" {
			return fmt.Errorf("kill outside a worker child: %w", fault.ErrUnsupportedFault)
		}
		switch {
		case f.Failpoint == "":
			r.crash(history.Fault{Index: p.Index, Type: string(p.Type), Phase: history.FaultKill})
		case r.p.opts.Target != "":
			// A target has no failpoints: the kill lands a seeded 0-4 ms
			// later, with the next requests in flight.
			d := time.Duration(p.Seed%4000) * time.Microsecond
			ev.Detail["in_flight_after"] = d.String()
			r.killArmed = true
			time.AfterFunc(d, func() {
				r.crash(history.Fault{Index: p.Index, Type: string(p.Type), Phase: history.FaultKill, Detail: map[string]any{"in_flight_after": d.String()}})
			})
			return nil
		}
		ev.Detail["armed"] = failpoint.Armed()
		return nil
	case scenarios.FaultDiskFull:
		if r.proc == "" {
			return fmt.Errorf("disk-full outside a worker child: %w", fault.ErrUnsupportedFault)
		}
		lim, err := fault.LimitFileSize(r.p.storeDir, f.Limit)
		ev.Detail["rlimit_fsize"] = lim
		if err == nil && r.p.opts.Target != "" {
			// A target started now inherits the limit, and SIGXFSZ ignored.
			_ = r.sess.close()
			err = r.sess.open(ctx, nil)
		}
		return err
	case scenarios.FaultClockSkew:
		r.ctl.clocks[f.Processor].off.Add(int64(f.Offset))
		return nil
	case scenarios.FaultStall:
		r.ctl.requestStall(f.Processor, f.Duration)
		return nil
	case scenarios.FaultHandlerFailure:
		r.ctl.setFailRate(f.Rate)
		return nil
	case scenarios.FaultSecondOpen:
		return r.secondOpen(ctx, p, ev)
	}
	return fmt.Errorf("%s: %w", f.Type, fault.ErrUnsupportedFault)
}

func (r *chaosRun) applyStoreStep(ctx context.Context, p fault.PlannedFault, ev *history.Fault) error {
	f := p.Fault
	s := r.sess.st
	if err := r.claims(fault.TargetRequest(f.Type)); err != nil {
		return err
	}
	switch f.Type {
	case scenarios.FaultBackup:
		return r.backup(ctx, p, ev)
	case scenarios.FaultRestore:
		b, ok := r.latestBackup()
		if !ok {
			return fmt.Errorf("restore: no backup: %w", fault.ErrUnsupportedFault)
		}
		if _, err := os.Stat(b.Path); errors.Is(err, fs.ErrNotExist) && b.After < 0 {
			return fmt.Errorf("restore: the backup a crash interrupted left no file at its path: %w", fault.ErrUnsupportedFault)
		}
		var info store.RestoreInfo
		err := r.record(history.KindRestore, history.OpInput{Backup: b.Path}, func() (err error) {
			info, err = s.RestoreFile(ctx, b.Path, chaosKey(b.KeyGen), 0)
			return err
		})
		r.eff.Restores = append(r.eff.Restores, check.Restore{Backup: b, OK: err == nil, Done: true, At: r.hist.Now()})
		ev.Detail["backup"] = b.Path
		if err == nil {
			ev.Detail["erased"] = info.Erased
		}
		return err
	case scenarios.FaultRotateKey:
		if f.Batch != 0 {
			ev.Detail["batch"] = "ignored: store.RotateKey has no batch size option"
		}
		var rep store.RotateReport
		err := r.record(history.KindRotateKey, history.OpInput{}, func() (err error) {
			rep, err = s.RotateKey(ctx, chaosKey(r.sess.keyGen+1))
			return err
		})
		ev.Detail["report"] = rep
		if err == nil {
			r.sess.keyGen++
		}
		return err
	case scenarios.FaultMigrate:
		r.sess.registerSynthetic(max(f.Count, 1))
		var rep store.MigrateReport
		err := r.record(history.KindMigrate, history.OpInput{}, func() (err error) {
			rep, err = s.Migrate(ctx, r.sess.migrations)
			return err
		})
		ev.Detail["report"] = rep
		return err
	case scenarios.FaultErase:
		var rep store.EraseReport
		err := r.record(history.KindErase, history.OpInput{Subject: f.Subject}, func() (err error) {
			rep, err = s.Erase(ctx, f.Subject)
			return err
		})
		r.eff.Erased = append(r.eff.Erased, f.Subject)
		ev.Detail["subject"] = f.Subject
		ev.Detail["report"] = rep
		return err
	case scenarios.FaultRebuildIndex:
		var rep store.IndexReport
		err := r.record(history.KindRebuildIndex, history.OpInput{}, func() (err error) {
			rep, err = s.RebuildIndex(ctx)
			return err
		})
		ev.Detail["report"] = rep
		return err
	case scenarios.FaultSchemaMismatch:
		b, ok := r.latestBackup()
		if !ok {
			return fmt.Errorf("schema-mismatch: no backup: %w", fault.ErrUnsupportedFault)
		}
		before := fault.HashTree(r.p.storeDir)
		want := b.Schema + f.Delta
		err := r.record(history.KindRestore, history.OpInput{Backup: b.Path}, func() error {
			_, err := s.RestoreFile(ctx, b.Path, chaosKey(b.KeyGen), want)
			return err
		})
		ev.Detail["expected_schema"] = want
		ev.Detail["backup_schema"] = b.Schema
		noteUnchanged(ev, before, r.p.storeDir)
		return err
	}
	return fmt.Errorf("%s: %w", f.Type, fault.ErrUnsupportedFault)
}

func (r *chaosRun) backup(ctx context.Context, p fault.PlannedFault, ev *history.Fault) error {
	if err := os.MkdirAll(r.p.backupDir(), 0o700); err != nil {
		return err
	}
	path := r.p.backupPath(p.Index)
	s := r.sess.st
	ref := check.Backup{Path: path, Index: p.Index, KeyGen: r.sess.keyGen, Before: r.hist.Now()}
	r.eff.Backups = append(r.eff.Backups, ref)
	var info store.BackupInfo
	err := r.record(history.KindBackup, history.OpInput{Backup: path}, func() (err error) {
		info, err = s.BackupFile(ctx, path)
		return err
	})
	last := &r.eff.Backups[len(r.eff.Backups)-1]
	last.After, last.Schema = r.hist.Now(), info.SchemaVersion
	ev.Detail["path"] = path
	ev.Detail["schema_version"] = info.SchemaVersion
	if err != nil {
		return err
	}
	// An audit entry that exists only after the backup: a restore must
	// take it away together with the ops enqueued since, or neither.
	if aerr := s.Audit(ctx, check.BackupMarkerEvent, map[string]any{"backup": p.Index}); aerr == nil {
		last.Marker = true
		ev.Detail["marker"] = true
	}
	return nil
}

// claims refuses, as a fault that cannot be injected (unknown, not a
// refusal to judge), a step whose request the run's target does not claim.
func (r *chaosRun) claims(typ string) error {
	info := r.p.remoteInfo()
	if r.p.opts.Target == "" || typ == "" || len(info.Capabilities) == 0 || slices.Contains(info.Capabilities, typ) {
		return nil
	}
	return fmt.Errorf("the target %s does not claim the %s request: %w", info.Name, typ, fault.ErrUnsupportedFault)
}

// crash records the kill f and SIGKILLs the run's target, if any, then us.
func (r *chaosRun) crash(f history.Fault) {
	r.fault(f)
	r.hist.Seal()
	r.sess.kill()
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

func (r *chaosRun) latestBackup() (check.Backup, bool) {
	if len(r.eff.Backups) == 0 {
		return check.Backup{}, false
	}
	return r.eff.Backups[len(r.eff.Backups)-1], true
}

// record records one runbook procedure of the harness through the
// history.
func (r *chaosRun) record(kind history.OpKind, in history.OpInput, do func() error) error {
	return record(r.hist, r.client(harnessClient), kind, in, func() (history.OpOutput, error) { return history.OpOutput{}, do() })
}

func (r *chaosRun) wrongKey(ctx context.Context, p fault.PlannedFault, ev *history.Fault) error {
	f := p.Fault
	switch f.During {
	case scenarios.DuringOpen:
		if err := r.sess.close(); err != nil {
			ev.Detail["close_err"] = err.Error()
		}
		before := fault.HashTree(r.p.storeDir)
		err := r.record(history.KindOpen, history.OpInput{WrongKey: true}, func() error {
			s, err := r.p.openBackend(ctx, r.p.storeDir, wrongKey, r.sess.options(r.sess.keyGen))
			if err == nil {
				_ = s.Close()
			}
			return err
		})
		noteUnchanged(ev, before, r.p.storeDir)
		return err
	case scenarios.DuringRestore:
		if err := r.sess.open(ctx, nil); err != nil {
			return fmt.Errorf("wrong-key restore: store does not open: %v: %w", err, fault.ErrUnsupportedFault)
		}
		if err := r.claims(target.TypeRestore); err != nil {
			return err
		}
		b, ok := r.latestBackup()
		if !ok {
			return fmt.Errorf("wrong-key restore: no backup: %w", fault.ErrUnsupportedFault)
		}
		before := fault.HashTree(r.p.storeDir)
		err := r.record(history.KindRestore, history.OpInput{Backup: b.Path, WrongKey: true}, func() error {
			_, err := r.sess.st.RestoreFile(ctx, b.Path, wrongKey, 0)
			return err
		})
		noteUnchanged(ev, before, r.p.storeDir)
		return err
	}
	return fmt.Errorf("wrong-key during %q: %w", f.During, fault.ErrUnsupportedFault)
}

func (r *chaosRun) secondOpen(ctx context.Context, p fault.PlannedFault, ev *history.Fault) error {
	if err := r.sess.open(ctx, nil); err != nil {
		return fmt.Errorf("second-open: the first open fails: %v: %w", err, fault.ErrUnsupportedFault)
	}
	if p.Fault.From == scenarios.FromSameProcess {
		err := r.record(history.KindSecondOpen, history.OpInput{}, func() error {
			if rem, ok := r.sess.st.(*target.Remote); ok {
				err := rem.OpenAgain(ctx)
				ev.Detail["opened"] = err == nil
				return err
			}
			s, err := store.Open(ctx, r.p.storeDir, r.sess.options(r.sess.keyGen))
			if err == nil {
				ev.Detail["opened"] = true
				_ = s.Close()
			}
			return err
		})
		return err
	}
	return r.secondOpenProcess(ctx, ev)
}

// noteUnchanged records in ev whether the files under dir still hash as
// before (fault.HashTree) and, when not, which changed.
func noteUnchanged(ev *history.Fault, before map[string]string, dir string) {
	changed := fault.ChangedFiles(before, fault.HashTree(dir))
	ev.Detail["unchanged"] = len(changed) == 0
	if len(changed) > 0 {
		ev.Detail["changed"] = changed
	}
}
