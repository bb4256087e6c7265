package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/tidwall/buntdb"
)

// VerifyReport is what Verify found in every box.
type VerifyReport struct {
	Boxes []BoxReport `json:"boxes"`
}

// BoxReport is the verification of one box.
type BoxReport struct {
	Box          string             `json:"box"`
	Bytes        int64              `json:"bytes"`
	Transactions int                `json:"transactions"`
	Records      int                `json:"records"`
	Damage       []*CorruptionError `json:"damage,omitempty"`
}

// OK reports whether no box has damage.
func (r VerifyReport) OK() bool {
	for _, b := range r.Boxes {
		if len(b.Damage) > 0 {
			return false
		}
	}
	return true
}

// String renders the report one line per box, then one line per damage.
func (r VerifyReport) String() string {
	var sb strings.Builder
	for _, b := range r.Boxes {
		status := "ok"
		if len(b.Damage) > 0 {
			status = fmt.Sprintf("DAMAGED (%d)", len(b.Damage))
		}
		fmt.Fprintf(&sb, "%-24s %10d bytes %8d txns %9d records  %s\n", b.Box, b.Bytes, b.Transactions, b.Records, status)
		for _, d := range b.Damage {
			fmt.Fprintf(&sb, "  %s\n", d.Error())
		}
	}
	return sb.String()
}

// Verify reads every box file from disk and checks its framing, then reads
// and authenticates every record of every box. It changes nothing.
func (s *Store) Verify(ctx context.Context) (VerifyReport, error) {
	if err := s.enter(ctx); err != nil {
		return VerifyReport{}, err
	}
	defer s.exit()
	s.qmu.Lock()
	err := s.flushIndexLocked()
	s.qmu.Unlock()
	if err != nil {
		return VerifyReport{}, err
	}
	var rep VerifyReport
	boxes := s.boxList()
	sort.Slice(boxes, func(i, j int) bool { return boxes[i].name < boxes[j].name })
	// A box per goroutine: the big boxes verify side by side.
	rep.Boxes = make([]BoxReport, len(boxes))
	errs := make([]error, len(boxes))
	var wg sync.WaitGroup
	for i, b := range boxes {
		wg.Go(func() { rep.Boxes[i], errs[i] = b.verify(ctx) })
	}
	wg.Wait()
	return rep, errors.Join(errs...)
}

func (b *box) verify(ctx context.Context) (BoxReport, error) {
	br := BoxReport{Box: b.name}
	// Hold buntdb's read lock so no commit lands between the file read and
	// the record walk.
	err := b.view(func(tx *buntdb.Tx) error {
		data, err := os.ReadFile(filepath.Clean(b.path))
		if err != nil {
			return fmt.Errorf("verify box %s: %w", b.name, err)
		}
		res := scanBox(b.name, data, b.seal)
		br.Bytes, br.Transactions = int64(len(data)), res.transactions
		switch {
		case res.damage != nil:
			br.Damage = append(br.Damage, res.damage)
		case res.torn:
			br.Damage = append(br.Damage, &CorruptionError{Box: b.name, Offset: int64(res.goodEnd), Reason: "incomplete last transaction (a torn write)"})
		}
		var buf []byte
		return tx.Ascend("", func(k, v string) bool {
			if k == markerKey {
				return true
			}
			if ctx.Err() != nil {
				return false
			}
			br.Records++
			var err error
			if buf, err = b.seal.openTo(buf[:0], k, unsafe.Slice(unsafe.StringData(v), len(v))); err != nil {
				var ce *CorruptionError
				if errors.As(err, &ce) {
					br.Damage = append(br.Damage, ce)
				}
			}
			return true
		})
	})
	if err == nil {
		err = ctx.Err()
	}
	return br, err
}
