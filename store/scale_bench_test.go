package store_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
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
	b.Cleanup(func() { s.Close() })
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
	run("open", func(b *testing.B) {
		s.Close()
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
