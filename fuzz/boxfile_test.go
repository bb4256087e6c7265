package fuzz_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/boxstorm/boxstorm/fuzz/internal/inputs"
	"github.com/boxstorm/boxstorm/internal/fileio"
	"github.com/boxstorm/boxstorm/store"
)

// FuzzBoxFile opens the fixture store with its pending_ops.db damaged as the
// input says (inputs.DecodeBoxDamage: truncation, bit flips, inserted
// garbage, NUL runs, replayed ranges) and a recovery mode. Open never
// panics, and:
//
//   - it fails only with ErrCorrupt, names pending_ops, and then has cut
//     nothing that is not kept in a quarantine copy;
//   - an undamaged file, or one cut at a transaction boundary, opens;
//   - what it loads was written: in every mode but skip-damaged the pending
//     ops are exactly those of a prefix of the file's transactions (ids,
//     payloads and order), and fewer than all of them only when a repair is
//     reported or the file is a clean prefix of the original; in
//     skip-damaged, every op is a written one with its payload;
//   - strict repairs nothing, tolerate-torn-tail repairs only torn tails, and
//     every repair keeps the original bytes in its quarantine file;
//   - a repaired store takes a new op and reopens in strict mode with it.
func FuzzBoxFile(f *testing.F) {
	tuneStoreWorker(f)
	br := newBoxFileRun(f)
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, data []byte) { br.run(t, data) })
}

// boxFileRun is what FuzzBoxFile's inputs share: the fixture, what its
// history wrote, and the scratch directory.
type boxFileRun struct {
	fx      *fixture
	written map[string][]byte // op id -> payload, of every op the fixture wrote
	failed  map[string]bool   // the fixture's failed ops
	sc      *scratch
}

func newBoxFileRun(tb testing.TB) *boxFileRun {
	br := &boxFileRun{fx: loadFixture(tb), written: map[string][]byte{}, failed: map[string]bool{}, sc: newScratch(tb)}
	for _, st := range br.fx.history {
		for _, op := range st {
			br.written[op.ID] = op.Payload
		}
	}
	for _, op := range br.fx.failed {
		br.failed[op.ID] = true
	}
	return br
}

// run is one input of FuzzBoxFile.
func (br *boxFileRun) run(t testing.TB, data []byte) {
	ctx, fx, written, failed := context.Background(), br.fx, br.written, br.failed
	in := inputs.DecodeBoxDamage(data)
	damaged := in.Apply(fx.pending)
	dir := br.sc.fill(t, 0, fx.withPending(damaged))
	path := filepath.Join(dir, store.BoxPending+".db")

	s, err := store.Open(ctx, dir, options(in.Mode))
	if err != nil {
		checkOpenError(t, fx, dir, damaged, err)
		return
	}
	defer s.Close()
	clean := bytes.HasPrefix(fx.pending, damaged)
	repairs := s.Repairs()
	for _, r := range repairs {
		if r.Box != store.BoxPending {
			t.Fatalf("repair of box %s, only pending_ops was damaged: %+v", r.Box, r)
		}
		switch {
		case in.Mode == store.Strict:
			t.Fatalf("strict mode repaired: %+v", r)
		case in.Mode == store.TolerateTornTail && r.Kind != "torn-tail":
			t.Fatalf("tolerate-torn-tail mode made a %s repair: %+v", r.Kind, r)
		}
		q, err := fileio.ReadFile(r.Quarantine)
		if err != nil || !bytes.Equal(q, damaged) {
			t.Fatalf("quarantine %s does not hold the damaged file (%d bytes, %v)", r.Quarantine, len(q), err)
		}
		if in.Mode != store.SkipDamaged {
			// Open may have written after the repair (dropping the
			// pending copy of a failed op), but not before its offset.
			cur, err := fileio.ReadFile(path)
			if err != nil || r.Offset > int64(len(damaged)) || !bytes.HasPrefix(cur, damaged[:r.Offset]) {
				t.Fatalf("after a %s repair at offset %d, pending_ops.db (%d bytes) does not start with the damaged file's first %d bytes", r.Kind, r.Offset, len(cur), r.Offset)
			}
		}
	}

	ops, err := s.PendingOps(ctx)
	if err != nil {
		t.Fatalf("PendingOps after a successful Open: %v", err)
	}
	got := make([]manifestOp, len(ops))
	for i, op := range ops {
		got[i] = manifestOp{ID: op.ID, Payload: op.Payload}
		p, ok := written[op.ID]
		if !ok {
			t.Fatalf("Open loaded op %s, which was never written", op.ID)
		}
		if !bytes.Equal(p, op.Payload) {
			t.Fatalf("op %s has payload %q, %q was written", op.ID, op.Payload, p)
		}
	}
	if st, err := s.Stats(ctx); err != nil || st.PendingOps != len(ops) {
		t.Fatalf("Stats: %d pending ops (%v), PendingOps lists %d", st.PendingOps, err, len(ops))
	}
	if in.Mode != store.SkipDamaged {
		k := matchPrefix(fx, failed, got)
		switch {
		case k < 0:
			t.Fatalf("loaded pending ops %s are no prefix of the file's history", describeOps(got))
		case bytes.Equal(damaged, fx.pending) && (k != len(fx.history)-1 || len(repairs) > 0):
			t.Fatalf("undamaged file: loaded %d of %d transactions, repairs %+v", k, len(fx.history)-1, repairs)
		case k < len(fx.history)-1 && len(repairs) == 0 && !clean:
			t.Fatalf("loaded %d of %d transactions without reporting a repair", k, len(fx.history)-1)
		}
	}
	if len(repairs) > 0 {
		checkRepairedStore(t, s, dir)
	}
}

// checkOpenError checks a failed Open of a damaged fixture.
func checkOpenError(t testing.TB, fx *fixture, dir string, damaged []byte, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Open: %v, want an error wrapping ErrCorrupt", err)
	}
	var ce *store.CorruptionError
	if errors.As(err, &ce) && ce.Box != store.BoxPending {
		t.Fatalf("Open: %v names box %q, only pending_ops was damaged", err, ce.Box)
	}
	if bytes.Equal(damaged, fx.pending) || isTxnPrefix(fx, damaged) {
		t.Fatalf("Open of an undamaged or cleanly cut file (%d of %d bytes): %v", len(damaged), len(fx.pending), err)
	}
	cur, rerr := fileio.ReadFile(filepath.Join(dir, store.BoxPending+".db"))
	if rerr == nil && bytes.Equal(cur, damaged) {
		return
	}
	// Bytes were cut: a quarantine copy must hold them.
	qs, _ := filepath.Glob(filepath.Join(dir, store.BoxPending+"_*.bak"))
	for _, q := range qs {
		if b, err := fileio.ReadFile(q); err == nil && bytes.Equal(b, damaged) {
			return
		}
	}
	t.Fatalf("failed Open (%v) changed pending_ops.db and kept no quarantine copy of it", err)
}

// isTxnPrefix reports whether b is the fixture's pending_ops.db cut at a
// transaction boundary: then it must open.
func isTxnPrefix(fx *fixture, b []byte) bool {
	if !bytes.HasPrefix(fx.pending, b) {
		return false
	}
	for _, end := range inputs.TxnEnds(fx.pending) {
		if end == len(b) {
			return true
		}
	}
	return len(b) == 0
}

// matchPrefix returns the k for which got is history[k] (minus the ops
// Open keeps in failed_ops), or -1.
func matchPrefix(fx *fixture, failed map[string]bool, got []manifestOp) int {
	for k := len(fx.history) - 1; k >= 0; k-- {
		want := slices.DeleteFunc(slices.Clone(fx.history[k]), func(op manifestOp) bool { return failed[op.ID] })
		if slices.EqualFunc(got, want, func(a, b manifestOp) bool { return a.ID == b.ID && bytes.Equal(a.Payload, b.Payload) }) {
			return k
		}
	}
	return -1
}

// checkRepairedStore checks that a repaired store works: a new op goes in,
// and the store reopens, even in strict mode, with it.
func checkRepairedStore(t testing.TB, s *store.Store, dir string) {
	t.Helper()
	ctx := context.Background()
	op, err := s.Enqueue(ctx, []byte("after repair"), store.EnqueueOptions{IdempotencyKey: "after-repair"})
	if err != nil {
		t.Fatalf("Enqueue after a repair: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close after a repair: %v", err)
	}
	s2, err := store.Open(ctx, dir, options(store.Strict))
	if err != nil {
		t.Fatalf("strict reopen after a repair and an enqueue: %v", err)
	}
	defer s2.Close()
	ops, err := s2.PendingOps(ctx)
	if err != nil || len(ops) == 0 || ops[len(ops)-1].ID != op.ID {
		t.Fatalf("after reopening, the op enqueued after the repair is not the last pending op (%v)", err)
	}
}

func describeOps(ops []manifestOp) string {
	var b bytes.Buffer
	for _, op := range ops {
		fmt.Fprintf(&b, "%s=%q ", op.ID, op.Payload)
	}
	return b.String()
}

// TestSkipDamagedReplay replays the transaction that enqueued the op acked
// first (a misdirected or duplicated write of old bytes) at the end of
// pending_ops.db. The copy is out of sequence, so it is damage; skip-damaged
// must drop it rather than replay it after the ack and bring the op back.
func TestSkipDamagedReplay(t *testing.T) {
	fx := loadFixture(t)
	ends := inputs.TxnEnds(fx.pending)
	acked := fx.history[1][0] // enqueued by transaction 1, acked later
	if slices.ContainsFunc(fx.history[len(fx.history)-1], func(op manifestOp) bool { return op.ID == acked.ID }) {
		t.Fatalf("fixture: op %s is still pending at the end", acked.ID)
	}
	d := inputs.BoxDamage{Mode: store.SkipDamaged, Damages: []inputs.Damage{{Kind: inputs.CopyRange, Off: uint32(len(fx.pending)), Src: 0, Len: uint16(ends[0])}}}
	dir := t.TempDir()
	writeStoreFiles(t, dir, fx.withPending(d.Apply(fx.pending)))
	s, err := store.Open(context.Background(), dir, options(store.SkipDamaged))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ops, err := s.PendingOps(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(ops, func(op store.Op) bool { return op.ID == acked.ID }) {
		t.Fatalf("skip-damaged brought back op %s, acked before the replayed bytes", acked.ID)
	}
}
