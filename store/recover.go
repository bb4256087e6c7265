package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/boxstorm/boxstorm/internal/archive"
	"github.com/boxstorm/boxstorm/internal/failpoint"
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
//
// The procedure is journaled (recover-journal.json) before the first file
// moves, so a crash at any point leaves a store that Open refuses as
// corrupt, never one that opens with a box emptied; running
// RecoverCorrupted again with the same backup resumes and finishes it.
func RecoverCorrupted(ctx context.Context, dir, backupPath string, opts Options) (*Store, RecoverReport, error) {
	var rep RecoverReport
	j, err := readRecoverJournal(dir)
	if err != nil {
		return nil, rep, err
	}
	resumed := j != nil
	if resumed {
		// The key first, as in Open: a wrong key changes nothing.
		if err := checkMasterKey(dir, opts); err != nil {
			return nil, rep, err
		}
	} else {
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
		q := &Store{dir: dir, opts: opts.withDefaults()}
		j = &recoverJournal{Version: 1}
		for _, name := range damaged {
			j.Boxes = append(j.Boxes, recoverEntry{Name: name, Quarantine: filepath.Base(q.quarantineName(name, "corrupted"))})
		}
	}
	var damaged []string
	for _, e := range j.Boxes {
		damaged = append(damaged, e.Name)
	}
	onlyIndex := slices.Equal(damaged, []string{BoxIndex})
	if !onlyIndex {
		// Check the backup whole before anything is moved: a recovery that
		// fails halfway must not leave the store emptier than it found it.
		if err := checkBackup(ctx, dir, backupPath, opts); err != nil {
			return nil, rep, fmt.Errorf("recover: boxes %v are damaged, and the backup is not usable: %w", damaged, err)
		}
	}
	// The journal is durable before the first file moves: from here until
	// it is removed, Open refuses the store, and a rerun resumes here.
	if !resumed && opts.Canary != CanaryStepAtomicity { // known-bad: no journal
		if err := j.write(dir); err != nil {
			return nil, rep, fmt.Errorf("recover: %w", err)
		}
	}
	// The quarantined files take their checkpoint entries with them.
	if err := forgetCheckpoint(dir, damaged...); err != nil {
		return nil, rep, fmt.Errorf("recover: %w", err)
	}
	for _, e := range j.Boxes {
		dst := filepath.Join(dir, e.Quarantine)
		rep.Damaged, rep.Quarantined = append(rep.Damaged, e.Name), append(rep.Quarantined, dst)
		if exists(dst) {
			continue // moved before a crash; the box file now is a new one
		}
		if err := os.Rename(filepath.Join(dir, e.Name+".db"), dst); err != nil {
			return nil, rep, fmt.Errorf("recover: quarantine %s: %w", e.Name, err)
		}
	}
	if err := fileio.SyncDir(dir); err != nil {
		return nil, rep, err
	}
	failpoint.Hit("recover/after-quarantine")
	s, err := openStore(ctx, dir, opts, true)
	if err != nil {
		return nil, rep, fmt.Errorf("recover: reopen after quarantine: %w", err)
	}
	fail := func(err error) (*Store, RecoverReport, error) {
		s.Close()
		return nil, rep, err
	}
	if onlyIndex {
		if _, err := s.RebuildIndex(ctx); err != nil {
			return fail(err)
		}
		rep.Rebuilt = true
	} else {
		f, err := os.Open(backupPath)
		if err != nil {
			return fail(fmt.Errorf("recover: %w", err))
		}
		_, err = s.Restore(ctx, f, RestoreOptions{})
		f.Close()
		if err != nil {
			return fail(fmt.Errorf("recover: %w", err))
		}
		rep.Restored = true
	}
	mig, err := s.Migrate(ctx)
	if err != nil {
		return fail(fmt.Errorf("recover: %w", err))
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
		return fail(err)
	}
	if err := removeRecoverJournal(dir); err != nil {
		return fail(fmt.Errorf("recover: %w", err))
	}
	return s, rep, nil
}

// recoverJournal is recover-journal.json: the corrupted-box procedure in
// progress. It is written, atomically, before the first damaged file is
// moved aside, and removed once the store is restored, migrated and
// audited. While it exists Open refuses the store (a box moved aside would
// otherwise open as an empty box), and RecoverCorrupted resumes from it.
type recoverJournal struct {
	Version int            `json:"version"`
	Boxes   []recoverEntry `json:"boxes"`
}

type recoverEntry struct {
	Name       string `json:"name"`
	Quarantine string `json:"quarantine"` // file name in the store directory
}

const recoverJournalName = "recover-journal.json"

func (j *recoverJournal) write(dir string) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return fileio.WriteFileAtomic(filepath.Join(dir, recoverJournalName), b, 0o600)
}

// readRecoverJournal returns dir's recovery journal, nil if there is none.
func readRecoverJournal(dir string) (*recoverJournal, error) {
	path := filepath.Join(dir, recoverJournalName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recovery journal: %w", err)
	}
	var j recoverJournal
	if err := json.Unmarshal(b, &j); err != nil || j.Version != 1 || len(j.Boxes) == 0 {
		return nil, fmt.Errorf("recovery journal %s is unreadable: %w; hint: it was written atomically, so this is damage: restore the directory from a backup", path, ErrCorrupt)
	}
	for _, e := range j.Boxes {
		if !boxNameRE.MatchString(e.Name) || e.Quarantine != filepath.Base(e.Quarantine) || !strings.HasPrefix(e.Quarantine, e.Name+"_corrupted_") {
			return nil, fmt.Errorf("recovery journal %s names %q -> %q: %w", path, e.Name, e.Quarantine, ErrCorrupt)
		}
	}
	return &j, nil
}

// checkMasterKey checks opts' master key against the store's key-check
// value, under the directory lock, and changes nothing.
func checkMasterKey(dir string, opts Options) error {
	if _, err := readKeyring(dir); err != nil {
		return fmt.Errorf("recover %s: %w", dir, err)
	}
	probe := &Store{dir: dir, opts: opts.withDefaults()}
	dl, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer dl.unlock()
	return probe.loadKeys()
}

// checkRecoverJournal refuses a store whose corrupted-box procedure was
// interrupted.
func checkRecoverJournal(dir string) error {
	j, err := readRecoverJournal(dir)
	if err != nil || j == nil {
		return err
	}
	var names []string
	for _, e := range j.Boxes {
		names = append(names, e.Name)
	}
	return fmt.Errorf("open %s: the corrupted-box procedure for %s was interrupted (%s): the damaged boxes are moved aside and the store is not yet restored: %w; hint: run `storectl recover --from BACKUP` again with the same backup to finish it",
		dir, strings.Join(names, ", "), recoverJournalName, ErrCorrupt)
}

func removeRecoverJournal(dir string) error {
	if err := os.Remove(filepath.Join(dir, recoverJournalName)); err != nil {
		return err
	}
	return fileio.SyncDir(dir)
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
