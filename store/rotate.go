package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/boxstorm/boxstorm/internal/failpoint"
)

// rotationState is keyring.json's record of a key rotation in progress.
// While it is there, the current master key still opens the store, and the
// new data keys are wrapped under both masters.
type rotationState struct {
	KeyCheck string                    `json:"key_check"` // of the new master key
	Boxes    map[string]rotationBoxKey `json:"boxes"`
}

type rotationBoxKey struct {
	ID         uint32 `json:"id"`
	WrappedNew string `json:"wrapped_new"` // the new data key under the new master
}

// RotateReport describes a key rotation.
type RotateReport struct {
	Resumed     bool           `json:"resumed"`
	Boxes       map[string]int `json:"boxes"` // records re-encrypted per box
	OldKeysGone bool           `json:"old_keys_deleted"`
}

// RotateKey replaces the master key with newKey and re-encrypts every
// record under new data keys. The steps, each crash-safe:
//
//  1. new data keys are generated and recorded in keyring.json, wrapped
//     under both the current and the new master key;
//  2. every box is rewritten under its new data key into a staged file, and
//     all of them are swapped in under one journal;
//  3. keyring.json switches to the new master key (one atomic write);
//  4. every record is verified under the new keys;
//  5. only then are the old data keys deleted, and key_rotated is audited.
//
// Every record stays readable throughout. After a crash, open the store with
// the key that opens it (the old one before step 3, the new one after) and
// call RotateKey again with the same new key: it resumes.
func (s *Store) RotateKey(ctx context.Context, newKey KeySource) (RotateReport, error) {
	rep := RotateReport{Boxes: map[string]int{}}
	if newKey == nil {
		return rep, fmt.Errorf("rotate key: no new key: %w", ErrInvalid)
	}
	if err := s.exclusive(); err != nil {
		return rep, err
	}
	defer s.swap.Unlock()
	newMaster, err := newKey.masterKey(s.kr)
	if err != nil {
		return rep, fmt.Errorf("rotate key: new key: %w", err)
	}
	switch {
	case s.kr.checkMaster(newMaster) && s.kr.Rotation == nil:
		// Step 3 already happened: finish steps 4 and 5.
		rep.Resumed = true
	default:
		if err := s.rotateToNew(ctx, newMaster, &rep); err != nil {
			return rep, fmt.Errorf("rotate key: %w", err)
		}
	}
	return rep, s.finishRotation(ctx, &rep)
}

func (s *Store) rotateToNew(ctx context.Context, newMaster []byte, rep *RotateReport) error {
	newCheck := keyCheck(newMaster)
	if s.kr.Rotation != nil && s.kr.Rotation.KeyCheck != newCheck {
		return fmt.Errorf("a rotation to another key is in progress; hint: finish it with that key first: %w", ErrInvalid)
	}
	// Step 1.
	if s.kr.Rotation == nil {
		rot := &rotationState{KeyCheck: newCheck, Boxes: map[string]rotationBoxKey{}}
		for name, wb := range s.kr.Boxes {
			id := uint32(0)
			for k := range wb.Keys {
				n, _ := strconv.ParseUint(k, 10, 32)
				id = max(id, uint32(n))
			}
			id++
			dk := NewKey()
			wrapper := s.master
			if s.canary(CanaryRotationResume) {
				wrapper = newMaster // known-bad: the current master cannot read the new key
			}
			wb.Keys[strconv.FormatUint(uint64(id), 10)] = wrapKey(wrapper, name, id, dk)
			rot.Boxes[name] = rotationBoxKey{ID: id, WrappedNew: wrapKey(newMaster, name, id, dk)}
		}
		s.kr.Rotation = rot
		if err := s.kr.write(s.dir); err != nil {
			return err
		}
	} else {
		rep.Resumed = true
	}
	failpoint.Hit("rotate/after-keyring-add")
	// Step 2: make each box seal under its new key, then rewrite it.
	s.mu.Lock()
	for name, rk := range s.kr.Rotation.Boxes {
		s.kr.Boxes[name].Current = rk.ID
	}
	s.mu.Unlock()
	if err := s.reloadBoxes(); err != nil {
		return err
	}
	staging, err := os.MkdirTemp(s.dir, ".rotate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	var staged []stagedBox
	names := make([]string, 0, len(s.boxes))
	for n := range s.boxes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		b := s.boxes[name]
		path := filepath.Join(staging, name+".db")
		bw, err := newBoxWriter(path, name, b.seal, b.high)
		if err != nil {
			return err
		}
		if name == BoxPending {
			bw.high = max(bw.high, s.q.seq)
		}
		err = b.eachRecord(ctx, func(k string, v []byte) error { rep.Boxes[name]++; return bw.add(k, v) })
		if err == nil {
			err = bw.finish()
		} else {
			bw.abort()
		}
		if err != nil {
			return fmt.Errorf("box %s: %w", name, err)
		}
		staged = append(staged, stagedBox{name: name, path: path})
	}
	failpoint.Hit("rotate/after-stage")
	if err := s.swapBoxes(staged); err != nil {
		return err
	}
	// Step 3: one atomic keyring write switches the master key.
	kr := *s.kr
	kr.Boxes = map[string]*wrappedBox{}
	for name, wb := range s.kr.Boxes {
		nwb := &wrappedBox{Current: wb.Current, Keys: map[string]string{}}
		for idStr, w := range wb.Keys {
			id, _ := strconv.ParseUint(idStr, 10, 32)
			dk, err := unwrapKey(s.master, name, uint32(id), w)
			if err != nil {
				return err
			}
			nwb.Keys[idStr] = wrapKey(newMaster, name, uint32(id), dk)
		}
		kr.Boxes[name] = nwb
	}
	hk, err := unwrapKey(s.master, hashKeyBox, 0, s.kr.HashKey)
	if err != nil {
		return err
	}
	kr.HashKey = wrapKey(newMaster, hashKeyBox, 0, hk)
	kr.KeyCheck, kr.Rotation = s.kr.Rotation.KeyCheck, nil
	if err := kr.write(s.dir); err != nil {
		return err
	}
	s.kr, s.master = &kr, newMaster
	return nil
}

// finishRotation verifies every record under the current keys, then deletes
// every data key but the current one of each box.
func (s *Store) finishRotation(ctx context.Context, rep *RotateReport) error {
	if err := s.reloadBoxes(); err != nil {
		return err
	}
	reps, err := verifyBoxes(ctx, s.boxList())
	if err != nil {
		return err
	}
	for _, br := range reps {
		if len(br.Damage) > 0 {
			return fmt.Errorf("rotate key: verification failed, old keys kept: %w", br.Damage[0])
		}
	}
	failpoint.Hit("rotate/before-old-key-delete")
	changed := false
	for _, wb := range s.kr.Boxes {
		cur := strconv.FormatUint(uint64(wb.Current), 10)
		for id := range wb.Keys {
			if id != cur {
				delete(wb.Keys, id)
				changed = true
			}
		}
	}
	if changed {
		if err := s.kr.write(s.dir); err != nil {
			return err
		}
		if err := s.reloadBoxes(); err != nil {
			return err
		}
	}
	rep.OldKeysGone = true
	if !changed && rep.Resumed && len(rep.Boxes) == 0 {
		return nil // nothing left to do: the rotation had finished
	}
	return s.Audit(ctx, "key_rotated", map[string]any{"resumed": rep.Resumed, "boxes": len(s.kr.Boxes)})
}

// reloadBoxes closes and reopens every box so each picks up the keyring's
// current keys. The caller holds s.swap exclusively.
func (s *Store) reloadBoxes() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if err := s.flushIndexLocked(); err != nil {
		return err
	}
	var errs []error
	for name, b := range s.boxes {
		errs = append(errs, b.close())
		delete(s.boxes, name)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.reopenLocked(nil)
}
