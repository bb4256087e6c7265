package reports_test

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/boxstorm/boxstorm/reports"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// The harness geometry: 1 µs to 60 s, 3 significant digits.
func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1000, 60e9, 3) }

func newPacked() *hdrhistogram.PackedHistogram { return hdrhistogram.NewPacked(1000, 60e9, 3) }

var fixtureStart = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// fixtureRun builds a deterministic open-loop run of two ops over five 1 s
// intervals, with a 500 ms pause at 2 s that shows in the corrected
// latencies only.
func fixtureRun(seed uint64) *reports.Run {
	rng := rand.New(rand.NewPCG(seed, 0))
	run := &reports.Run{Meta: reports.Meta{
		ToolVersion:   "v0.1.0-test",
		Seed:          seed,
		Flags:         map[string]string{"rate": "200", "duration": "5s", "pause": "500ms@2s"},
		SyncMode:      "always",
		Workload:      "queue",
		Mode:          reports.ModeOpen,
		Rate:          200,
		Workers:       4,
		Duration:      5 * time.Second,
		Warmup:        time.Second,
		Interval:      time.Second,
		Elapsed:       5 * time.Second,
		LateTolerance: time.Millisecond,
		Start:         fixtureStart,
		Pauses:        []reports.Window{{At: 2 * time.Second, For: 500 * time.Millisecond}},
	}}
	for _, op := range []struct {
		name  string
		base  int // µs
		share int // ops per interval
	}{{"dequeue", 180, 60}, {"enqueue", 240, 140}} {
		res := reports.OpResult{Name: op.name, Corrected: newHist(), Uncorrected: newHist(), Errors: int64(op.share / 50), LateStarts: 7}
		for k := range 5 {
			iv := reports.Interval{Start: time.Duration(k) * time.Second, End: time.Duration(k+1) * time.Second, Corrected: newPacked(), Uncorrected: newPacked()}
			for i := range op.share {
				service := time.Duration(op.base+rng.IntN(op.base)) * time.Microsecond
				if rng.IntN(100) == 0 {
					service *= 20
				}
				corrected := service
				if k == 2 && i < op.share/2 {
					corrected += time.Duration(500-i*500/(op.share/2)) * time.Millisecond
				}
				for _, rec := range []struct {
					dense  *hdrhistogram.Histogram
					packed *hdrhistogram.PackedHistogram
					v      time.Duration
				}{{res.Corrected, iv.Corrected, corrected}, {res.Uncorrected, iv.Uncorrected, service}} {
					_ = rec.dense.RecordValue(int64(rec.v))
					_ = rec.packed.RecordValue(int64(rec.v))
				}
			}
			res.Intervals = append(res.Intervals, iv)
		}
		run.Ops = append(run.Ops, res)
	}
	return run
}
