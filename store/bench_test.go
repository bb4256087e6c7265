package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// benchWorkers is how many goroutines the parallel benchmarks run.
const benchWorkers = 16

// runWorkers runs b.N calls of op over exactly benchWorkers goroutines.
// b.RunParallel would not do: SetParallelism(p) starts p×GOMAXPROCS
// goroutines, 32 on a 2-core machine. It returns how many goroutines ran.
func runWorkers(b *testing.B, op func(i int64) error) int {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range benchWorkers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return benchWorkers
}

func BenchmarkRawBuntdbSetParallel(b *testing.B) {
	b.Run("always", func(b *testing.B) {
		db := openRaw(b, buntdb.Always)
		b.SetBytes(int64(len(benchValue)))
		b.ReportMetric(float64(runWorkers(b, func(i int64) error {
			return db.Update(func(tx *buntdb.Tx) error {
				_, _, err := tx.Set(benchKey(i), string(benchValue), nil)
				return err
			})
		})), "goroutines")
	})
}

func BenchmarkEnqueueParallel(b *testing.B) {
	b.Run("durable", func(b *testing.B) {
		s := openBench(b, store.SyncAlways)
		ctx := context.Background()
		b.SetBytes(int64(len(benchValue)))
		b.ReportMetric(float64(runWorkers(b, func(int64) error {
			_, err := s.Enqueue(ctx, benchValue, store.EnqueueOptions{})
			return err
		})), "goroutines")
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

// BenchmarkRatio measures the three ratios docs/performance.md targets with
// the store and raw buntdb interleaved: each iteration runs one slice of
// work on each side, timed apart, so a machine whose load moves between
// seconds slows both sides alike. It reports each side's time per op and
// their ratio (store ÷ raw buntdb).
func BenchmarkRatio(b *testing.B) {
	report := func(b *testing.B, raw, st time.Duration, ops int) {
		b.ReportMetric(float64(raw.Nanoseconds())/float64(ops), "raw-ns/op")
		b.ReportMetric(float64(st.Nanoseconds())/float64(ops), "store-ns/op")
		b.ReportMetric(float64(st)/float64(raw), "ratio")
	}
	ctx := context.Background()
	b.Run("durable", func(b *testing.B) {
		db, s := openRaw(b, buntdb.Always), openBench(b, store.SyncAlways)
		var raw, st time.Duration
		n := 0
		for i := int64(0); b.Loop(); i++ {
			t0 := time.Now()
			rawSet(b, db, i)
			t1 := time.Now()
			if _, err := s.Enqueue(ctx, benchValue, store.EnqueueOptions{}); err != nil {
				b.Fatal(err)
			}
			raw, st, n = raw+t1.Sub(t0), st+time.Since(t1), n+1
		}
		report(b, raw, st, n)
	})
	b.Run("parallel", func(b *testing.B) {
		db, s := openRaw(b, buntdb.Always), openBench(b, store.SyncAlways)
		const slice = 256 // ops per side per iteration, over benchWorkers goroutines: long enough for a steady pipeline
		var raw, st time.Duration
		var key atomic.Int64
		n := 0
		for b.Loop() {
			t0 := time.Now()
			workers(slice, func() error {
				return db.Update(func(tx *buntdb.Tx) error {
					_, _, err := tx.Set(benchKey(key.Add(1)), string(benchValue), nil)
					return err
				})
			}, b)
			t1 := time.Now()
			workers(slice, func() error {
				_, err := s.Enqueue(ctx, benchValue, store.EnqueueOptions{})
				return err
			}, b)
			raw, st, n = raw+t1.Sub(t0), st+time.Since(t1), n+slice
		}
		report(b, raw, st, n)
	})
	b.Run("cycle", func(b *testing.B) {
		db, s := openRaw(b, buntdb.Never), openBench(b, store.SyncNever)
		lease, err := s.AcquireLock(ctx, store.LockRequest{Owner: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		var raw, st time.Duration
		n := 0
		for i := int64(0); b.Loop(); i++ {
			t0 := time.Now()
			rawSet(b, db, i)
			if err := db.View(func(tx *buntdb.Tx) error { _, err := tx.Get(benchKey(i)); return err }); err != nil {
				b.Fatal(err)
			}
			if err := db.Update(func(tx *buntdb.Tx) error { _, err := tx.Delete(benchKey(i)); return err }); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
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
			raw, st, n = raw+t1.Sub(t0), st+time.Since(t1), n+1
		}
		report(b, raw, st, n)
	})
}

// workers runs op n times over benchWorkers goroutines.
func workers(n int, op func() error, b *testing.B) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchWorkers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
