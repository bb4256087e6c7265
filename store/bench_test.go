package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
	"github.com/tidwall/buntdb"
)

// Every benchmark uses a 16-byte key and a 256-byte value, so the store's
// figures can be divided by the raw buntdb figures of the same run.
var benchValue = make([]byte, 256)

func benchKey(i int64) string { return fmt.Sprintf("k%015d", i) }

func openRaw(b *testing.B, policy buntdb.SyncPolicy) *buntdb.DB {
	b.Helper()
	db, err := buntdb.Open(filepath.Join(b.TempDir(), "raw.db"))
	if err != nil {
		b.Fatal(err)
	}
	var cfg buntdb.Config
	if err := db.ReadConfig(&cfg); err != nil {
		b.Fatal(err)
	}
	cfg.SyncPolicy = policy
	cfg.AutoShrinkDisabled = true
	if err := db.SetConfig(cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func rawSet(b *testing.B, db *buntdb.DB, i int64) {
	if err := db.Update(func(tx *buntdb.Tx) error {
		_, _, err := tx.Set(benchKey(i), string(benchValue), nil)
		return err
	}); err != nil {
		b.Fatal(err)
	}
}

func openBench(b *testing.B, mode store.SyncMode) *store.Store {
	b.Helper()
	return testutil.MustOpen(b, b.TempDir(), func(o *store.Options) { o.Sync = mode })
}

func BenchmarkRawBuntdbSet(b *testing.B) {
	for _, c := range []struct {
		name   string
		policy buntdb.SyncPolicy
	}{{"always", buntdb.Always}, {"never", buntdb.Never}} {
		b.Run(c.name, func(b *testing.B) {
			db := openRaw(b, c.policy)
			b.SetBytes(int64(len(benchValue)))
			for i := 0; b.Loop(); i++ {
				rawSet(b, db, int64(i))
			}
		})
	}
}

func BenchmarkEnqueue(b *testing.B) {
	for _, c := range []struct {
		name string
		mode store.SyncMode
	}{{"durable", store.SyncAlways}, {"never", store.SyncNever}} {
		b.Run(c.name, func(b *testing.B) {
			s := openBench(b, c.mode)
			ctx := context.Background()
			b.SetBytes(int64(len(benchValue)))
			for b.Loop() {
				if _, err := s.Enqueue(ctx, benchValue, store.EnqueueOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRawBuntdbSetParallel(b *testing.B) {
	b.Run("always", func(b *testing.B) {
		db := openRaw(b, buntdb.Always)
		var n atomic.Int64
		b.SetParallelism(16)
		b.SetBytes(int64(len(benchValue)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rawSet(b, db, n.Add(1))
			}
		})
	})
}

func BenchmarkEnqueueParallel(b *testing.B) {
	b.Run("durable", func(b *testing.B) {
		s := openBench(b, store.SyncAlways)
		ctx := context.Background()
		b.SetParallelism(16)
		b.SetBytes(int64(len(benchValue)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Enqueue(ctx, benchValue, store.EnqueueOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkRawBuntdbCycle(b *testing.B) {
	b.Run("never", func(b *testing.B) {
		db := openRaw(b, buntdb.Never)
		for i := int64(0); b.Loop(); i++ {
			rawSet(b, db, i)
			if err := db.View(func(tx *buntdb.Tx) error {
				_, err := tx.Get(benchKey(i))
				return err
			}); err != nil {
				b.Fatal(err)
			}
			if err := db.Update(func(tx *buntdb.Tx) error {
				_, err := tx.Delete(benchKey(i))
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCycle(b *testing.B) {
	b.Run("never", func(b *testing.B) {
		s := openBench(b, store.SyncNever)
		ctx := context.Background()
		lease, err := s.AcquireLock(ctx, store.LockRequest{Owner: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.Enqueue(ctx, benchValue, store.EnqueueOptions{}); err != nil {
				b.Fatal(err)
			}
			op, err := s.Claim(ctx, lease.Token)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Ack(ctx, lease.Token, op.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}
