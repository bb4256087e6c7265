package store

import (
	"context"
	"log/slog"
	"testing"
)

func TestCheckIndex_FindsMissingDanglingAndOutOfOrder(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{Key: KeyBytes(make([]byte, 32)), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ops []Op
	for range 4 {
		op, err := s.Enqueue(ctx, []byte("x"), EnqueueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	if err := s.FlushIndex(); err != nil {
		t.Fatal(err)
	}
	// Damage the index: drop op 0's entry, move op 1's to a wrong sequence,
	// add an entry for an op that does not exist.
	if err := s.index.update(func(t *txn) error {
		if err := t.del(indexKey(ops[0].Seq, ops[0].ID)); err != nil {
			return err
		}
		if err := t.del(indexKey(ops[1].Seq, ops[1].ID)); err != nil {
			return err
		}
		if err := t.put(indexKey(99, ops[1].ID), []byte(ops[1].ID)); err != nil {
			return err
		}
		return t.put(indexKey(50, "ghost"), []byte("ghost"))
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.CheckIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Missing) != 1 || rep.Missing[0] != ops[0].ID {
		t.Errorf("missing = %v, want [%s]", rep.Missing, ops[0].ID)
	}
	if len(rep.OutOfOrder) != 1 || rep.OutOfOrder[0] != indexKey(99, ops[1].ID) {
		t.Errorf("out of order = %v", rep.OutOfOrder)
	}
	if len(rep.Dangling) != 1 || rep.Dangling[0] != indexKey(50, "ghost") {
		t.Errorf("dangling = %v", rep.Dangling)
	}
	if _, err := s.RebuildIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.CheckIndex(ctx); err != nil || !rep.Clean() || rep.Entries != 4 {
		t.Errorf("after rebuild: %+v, %v", rep, err)
	}
}
