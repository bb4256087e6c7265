package store_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
	"github.com/tidwall/buntdb"
)

var scaleN = flag.Int("scale.n", 1_000_000, "records for BenchmarkProcedures")

// BenchmarkProcedures measures the runbook procedures on a store of
// -scale.n ops of 256 B (1M by default), each procedure once per iteration:
//
//	go test -run='^$' -bench=Procedures -benchtime=1x ./store/
//
// Targets at 1M (docs/performance.md): rebuild-index 2 s, verify 3 s,
// backup 5 s, restore with verification 8 s, a migration touching every
// record 10 s.
// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// settledMemory collects garbage, returns what it freed to the OS, and
// reads the resident set and the live heap.
func settledMemory() (rss, heap int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				rss = kb << 10
			}
		}
	}
	return rss, int64(ms.HeapAlloc)
}

func BenchmarkProcedures(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	start := time.Now()
	s := testutil.MustOpen(b, dir, func(o *store.Options) { o.Sync = store.SyncNever })
	batch := make([][]byte, 0, 4096)
	for i := range *scaleN {
		batch = append(batch, benchValue)
		if len(batch) == cap(batch) || i == *scaleN-1 {
			if _, err := s.EnqueueBatch(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %d ops in %s", *scaleN, time.Since(start))
	s, err := store.Open(ctx, dir, testutil.Options())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if s != nil {
			s.Close()
		}
	})
	backup := filepath.Join(b.TempDir(), "b.tar.age")
	run := func(name string, fn func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				// The label marks this procedure's samples, its goroutines'
				// included, in a -cpuprofile: pprof -tagfocus=procedure=NAME.
				pprof.Do(ctx, pprof.Labels("procedure", name), func(context.Context) { fn(b) })
			}
			b.ReportMetric(float64(*scaleN)/(b.Elapsed().Seconds()/float64(b.N)), "records/s")
			// CPU seconds beside wall time: on a busy machine the wall time
			// grows, this much less.
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
	// open and open-raw-buntdb report the resident set and the live heap the
	// opened files hold, per record: the store beside plain buntdb loading
	// the same box files.
	perRecord := func(b *testing.B, open func(b *testing.B)) {
		rss0, heap0 := settledMemory()
		open(b)
		rss1, heap1 := settledMemory()
		b.ReportMetric(float64(rss1-rss0)/float64(*scaleN), "rss-B/record")
		b.ReportMetric(float64(heap1-heap0)/float64(*scaleN), "heap-B/record")
	}
	run("open", func(b *testing.B) {
		s.Close()
		s = nil
		perRecord(b, func(b *testing.B) {
			if s, err = store.Open(ctx, dir, testutil.Options()); err != nil {
				b.Fatal(err)
			}
		})
	})
	run("open-raw-buntdb", func(b *testing.B) {
		s.Close()
		s = nil
		names, _ := filepath.Glob(filepath.Join(dir, "*.db"))
		var dbs []*buntdb.DB
		perRecord(b, func(b *testing.B) {
			for _, n := range names {
				db, err := buntdb.Open(n)
				if err != nil {
					b.Fatal(err)
				}
				if err := db.SetConfig(buntdb.Config{SyncPolicy: buntdb.Never, AutoShrinkDisabled: true}); err != nil {
					b.Fatal(err)
				}
				dbs = append(dbs, db)
			}
		})
		for _, db := range dbs {
			db.Close()
		}
		if s, err = store.Open(ctx, dir, testutil.Options()); err != nil {
			b.Fatal(err)
		}
	})
	run("rebuild-index", func(b *testing.B) {
		if _, err := s.RebuildIndex(ctx); err != nil {
			b.Fatal(err)
		}
	})
	run("verify", func(b *testing.B) {
		if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
			b.Fatal(err, rep)
		}
	})
	run("backup", func(b *testing.B) {
		if _, err := s.BackupFile(ctx, backup); err != nil {
			b.Fatal(err)
		}
	})
	run("restore", func(b *testing.B) {
		f, err := os.Open(backup)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if _, err := s.Restore(ctx, f, store.RestoreOptions{ExpectedSchema: store.InitialSchemaVersion}); err != nil {
			b.Fatal(err)
		}
	})
	run("migrate", func(b *testing.B) {
		b.StopTimer()
		// Each iteration needs a store at version 1 again: restore the backup.
		f, _ := os.Open(backup)
		_, err := s.Restore(ctx, f, store.RestoreOptions{})
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := s.Migrate(ctx) // takes a backup first; migration-s is the migration alone
		if err != nil || len(rep.Applied) == 0 {
			b.Fatal(err, rep)
		}
		b.ReportMetric(rep.Applied[0].Duration.Seconds(), "migration-s")
	})
}
