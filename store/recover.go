package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/boxstorm/boxstorm/internal/archive"
	"github.com/boxstorm/boxstorm/internal/fileio"
)

// RecoverReport describes a run of the runbook's "Handling Corrupted Box".
type RecoverReport struct {
	Damaged     []string `json:"damaged"`     // boxes found damaged
	Quarantined []string `json:"quarantined"` // where their files went
	Restored    bool     `json:"restored"`    // restored from the backup
	Rebuilt     bool     `json:"rebuilt"`     // only derived data was damaged: rebuilt instead
	Migrated    []string `json:"migrated,omitempty"`
	Schema      int      `json:"schema_version"`
}

// RecoverCorrupted carries out the runbook's procedure for a store that
// fails to open because a box is damaged:
//
//  1. detect the damage (the key is checked first, as in Open);
//  2. move each damaged file aside as <box>_corrupted_YYYYMMDD.bak;
//  3. restore from the backup at backupPath (if only pending_index was
//     damaged, rebuild it from pending_ops instead: it is derived data);
//  4. re-run the migrations;
//  5. write the audit entry corruption_recovery.
//
// A store with no damage is left alone. It returns the open store.
func RecoverCorrupted(ctx context.Context, dir, backupPath string, opts Options) (*Store, RecoverReport, error) {
	var rep RecoverReport
	s, err := Open(ctx, dir, opts)
	if err == nil {
		rec, _ := s.schema()
		rep.Schema = rec.Version
		return s, rep, nil
	}
	if !errors.Is(err, ErrCorrupt) {
		return nil, rep, err
	}
	damaged, err := findDamaged(dir, opts)
	if err != nil {
		return nil, rep, err
	}
	if len(damaged) == 0 {
		return nil, rep, fmt.Errorf("recover %s: open fails but no box file is damaged: %w", dir, err)
	}
	onlyIndex := slices.Equal(damaged, []string{BoxIndex})
	if !onlyIndex {
		// Check the backup whole before anything is moved: a recovery that
		// fails halfway must not leave the store emptier than it found it.
		if err := checkBackup(ctx, dir, backupPath, opts); err != nil {
			return nil, rep, fmt.Errorf("recover: boxes %v are damaged, and the backup is not usable: %w", damaged, err)
		}
	}
	q := &Store{dir: dir, opts: opts.withDefaults()}
	// The quarantined files take their checkpoint entries with them.
	if err := forgetCheckpoint(dir, damaged...); err != nil {
		return nil, rep, fmt.Errorf("recover: %w", err)
	}
	for _, name := range damaged {
		dst := q.quarantineName(name, "corrupted")
		if err := os.Rename(filepath.Join(dir, name+".db"), dst); err != nil {
			return nil, rep, fmt.Errorf("recover: quarantine %s: %w", name, err)
		}
		rep.Damaged, rep.Quarantined = append(rep.Damaged, name), append(rep.Quarantined, dst)
	}
	if err := fileio.SyncDir(dir); err != nil {
		return nil, rep, err
	}
	s, err = Open(ctx, dir, opts)
	if err != nil {
		return nil, rep, fmt.Errorf("recover: reopen after quarantine: %w", err)
	}
	if onlyIndex {
		if _, err := s.RebuildIndex(ctx); err != nil {
			s.Close()
			return nil, rep, err
		}
		rep.Rebuilt = true
	} else {
		f, err := os.Open(backupPath)
		if err != nil {
			s.Close()
			return nil, rep, fmt.Errorf("recover: %w", err)
		}
		_, err = s.Restore(ctx, f, RestoreOptions{})
		f.Close()
		if err != nil {
			s.Close()
			return nil, rep, fmt.Errorf("recover: %w", err)
		}
		rep.Restored = true
	}
	mig, err := s.Migrate(ctx)
	if err != nil {
		s.Close()
		return nil, rep, fmt.Errorf("recover: %w", err)
	}
	for _, a := range mig.Applied {
		rep.Migrated = append(rep.Migrated, a.Name)
	}
	rep.Schema = mig.To
	names := make([]string, len(rep.Quarantined))
	for i, p := range rep.Quarantined {
		names[i] = filepath.Base(p)
	}
	if err := s.Audit(ctx, "corruption_recovery", map[string]any{"boxes": rep.Damaged, "quarantined": names, "restored": rep.Restored, "rebuilt": rep.Rebuilt, "schema_version": rep.Schema}); err != nil {
		s.Close()
		return nil, rep, err
	}
	return s, rep, nil
}

// findDamaged scans every box file with the store's keys and lists the
// damaged ones (torn tails only in the strict recovery mode: otherwise Open
// repairs them).
func findDamaged(dir string, opts Options) ([]string, error) {
	probe := &Store{dir: dir, opts: opts.withDefaults()}
	dl, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer dl.unlock()
	if err := probe.loadKeys(); err != nil {
		return nil, err
	}
	cp, err := loadCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	var damaged []string
	names := append(append([]string{}, SystemBoxes()...), probe.dataBoxNames()...)
	for _, name := range names {
		current, keys, _, err := probe.kr.boxKeys(probe.master, name)
		if err != nil {
			return nil, err
		}
		seal, err := newSealer(probe.opts.Types, name, current, keys)
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(filepath.Join(dir, name+".db"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if res := scanChecked(name, data, seal, cp.entry(name)); res.damage != nil || (res.torn && opts.Recovery == Strict) {
			damaged = append(damaged, name)
		}
	}
	return damaged, nil
}

// checkBackup decrypts and verifies a whole backup under the store's key,
// without opening the store and without writing anything.
func checkBackup(ctx context.Context, dir, backupPath string, opts Options) error {
	if backupPath == "" {
		return fmt.Errorf("no backup given; hint: pass the latest good backup: %w", ErrInvalid)
	}
	f, err := os.Open(backupPath)
	if err != nil {
		return err
	}
	defer f.Close()
	probe := &Store{dir: dir, opts: opts.withDefaults()}
	kr, err := readKeyring(dir)
	if err != nil {
		return err
	}
	master, err := opts.Key.masterKey(kr)
	if err != nil {
		return err
	}
	probe.master = master
	key, err := backupKey(master)
	if err != nil {
		return err
	}
	_, err = archive.Read(ctx, f, key.Identity(), archive.Expect{}, nil)
	return err
}
