package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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
	boxes := s.boxList()
	sort.Slice(boxes, func(i, j int) bool { return boxes[i].name < boxes[j].name })
	reps, err := verifyBoxes(ctx, boxes)
	return VerifyReport{Boxes: reps}, err
}

// runParallel runs jobs on as many goroutines as there are CPUs and returns
// when all are done; once ctx is done the rest are skipped and its error
// returned.
func runParallel(ctx context.Context, jobs []func()) error {
	next := make(chan func())
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for job := range next {
				if ctx.Err() == nil {
					job()
				}
			}
		})
	}
	for _, job := range jobs {
		next <- job
	}
	close(next)
	wg.Wait()
	return ctx.Err()
}

// verifyChunk is how many records one decryption job of Verify takes.
const verifyChunk = 16384

// verifyBoxes scans each box file and authenticates every record. Each
// box's file and records are read under its read lock, so no commit lands
// between them; the scans and the decryption, in chunks, then share the
// CPUs (pending_ops alone is most of a large store).
func verifyBoxes(ctx context.Context, boxes []*box) ([]BoxReport, error) {
	type work struct {
		b      *box
		data   []byte
		refs   []kv
		scan   scanResult
		damage [][]*CorruptionError // per chunk, in key order
	}
	works := make([]*work, len(boxes))
	var jobs []func()
	for i, b := range boxes {
		w := &work{b: b}
		works[i] = w
		err := b.view(func(tx *buntdb.Tx) error {
			data, err := os.ReadFile(filepath.Clean(b.path))
			if err != nil {
				return fmt.Errorf("verify box %s: %w", b.name, err)
			}
			w.data = data
			return tx.Ascend("", func(k, v string) bool {
				if k != markerKey {
					w.refs = append(w.refs, kv{k, v})
				}
				return true
			})
		})
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, func() { w.scan = scanBox(b.name, w.data, b.seal) })
		w.damage = make([][]*CorruptionError, (len(w.refs)+verifyChunk-1)/verifyChunk)
		for c := range w.damage {
			refs := w.refs[c*verifyChunk : min((c+1)*verifyChunk, len(w.refs))]
			jobs = append(jobs, func() {
				var buf []byte
				for _, r := range refs {
					var err error
					if buf, err = b.seal.openTo(buf[:0], r.k, unsafe.Slice(unsafe.StringData(r.v), len(r.v))); err != nil {
						var ce *CorruptionError
						if errors.As(err, &ce) {
							w.damage[c] = append(w.damage[c], ce)
						}
					}
				}
			})
		}
	}
	if err := runParallel(ctx, jobs); err != nil {
		return nil, err
	}
	reps := make([]BoxReport, len(works))
	for i, w := range works {
		br := BoxReport{Box: w.b.name, Bytes: int64(len(w.data)), Transactions: w.scan.transactions, Records: len(w.refs)}
		switch {
		case w.scan.damage != nil:
			br.Damage = append(br.Damage, w.scan.damage)
		case w.scan.torn:
			br.Damage = append(br.Damage, &CorruptionError{Box: w.b.name, Offset: int64(w.scan.goodEnd), Reason: "incomplete last transaction (a torn write)"})
		}
		for _, d := range w.damage {
			br.Damage = append(br.Damage, d...)
		}
		reps[i] = br
	}
	return reps, nil
}
