package faultfs_test

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkAppendFsync appends a 4 KiB record and fsyncs it, on the fault
// file system and, as the baseline in the same run, on its backing
// directory's file system directly.
func BenchmarkAppendFsync(b *testing.B) { benchAppend(b, true) }

// BenchmarkAppend is the same without the fsync: the cost of FUSE itself.
func BenchmarkAppend(b *testing.B) { benchAppend(b, false) }

func benchAppend(b *testing.B, sync bool) {
	run := func(b *testing.B, dir string) {
		f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		rec := make([]byte, 4096)
		b.SetBytes(int64(len(rec)))
		b.ResetTimer()
		for b.Loop() {
			if _, err := f.Write(rec); err != nil {
				b.Fatal(err)
			}
			if !sync {
				continue
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("direct", func(b *testing.B) { run(b, b.TempDir()) })
	b.Run("faultfs", func(b *testing.B) {
		m, _ := mount(b)
		run(b, m.Dir)
	})
}
