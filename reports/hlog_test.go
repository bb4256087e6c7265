package reports_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/boxstorm/boxstorm/reports"
)

func writeHlog(t *testing.T, run *reports.Run) []byte {
	t.Helper()
	l, err := reports.NewHlog(run)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := reports.WriteHlog(&buf, l); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHlog_RoundTrip(t *testing.T) {
	run := fixtureRun(42)
	data := writeHlog(t, run)

	l, err := reports.ReadHlog(bytes.NewReader(data), "run.hlog")
	if err != nil {
		t.Fatal(err)
	}
	if !l.Start.Equal(fixtureStart) {
		t.Errorf("start = %v, want %v", l.Start, fixtureStart)
	}
	want := []string{"dequeue", "dequeue.uncorrected", "enqueue", "enqueue.uncorrected"}
	if got := l.Tags(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("tags = %v, want %v", got, want)
	}
	if got, want := len(l.Intervals), 4*5; got != want {
		t.Fatalf("%d intervals, want %d", got, want)
	}
	for _, iv := range l.Intervals {
		if iv.Length != time.Second || iv.Start%time.Second != 0 {
			t.Errorf("interval %s at %v lasts %v, want 1s on a second boundary", iv.Tag, iv.Start, iv.Length)
		}
	}

	back, err := l.Run()
	if err != nil {
		t.Fatal(err)
	}
	for i := range run.Ops {
		orig, got := &run.Ops[i], back.Op(run.Ops[i].Name)
		if got == nil {
			t.Fatalf("op %s lost", orig.Name)
		}
		if !got.Corrected.Equals(orig.Corrected) || !got.Uncorrected.Equals(orig.Uncorrected) {
			t.Errorf("op %s: totals differ after the round trip", orig.Name)
		}
		if len(got.Intervals) != len(orig.Intervals) {
			t.Fatalf("op %s: %d intervals, want %d", orig.Name, len(got.Intervals), len(orig.Intervals))
		}
		for k := range got.Intervals {
			if got.Intervals[k].Count() != orig.Intervals[k].Count() {
				t.Errorf("op %s interval %d: %d values, want %d", orig.Name, k, got.Intervals[k].Count(), orig.Intervals[k].Count())
			}
		}
	}
	if got, want := back.Meta.Elapsed, 5*time.Second; got != want {
		t.Errorf("elapsed = %v, want %v", got, want)
	}
}

// TestHlog_ReadableByHdrHistogram checks the file against the library's own
// reader, which follows HdrHistogram's Java reader.
func TestHlog_ReadableByHdrHistogram(t *testing.T) {
	run := fixtureRun(42)
	r := hdrhistogram.NewHistogramLogReader(bytes.NewReader(writeHlog(t, run)))
	counts := map[string]int64{}
	n := 0
	for {
		h, err := r.NextIntervalHistogram()
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			break
		}
		n++
		counts[h.Tag()] += h.TotalCount()
		if got, want := h.StartTimeMs()%1000, fixtureStart.UnixMilli()%1000; got != want {
			t.Errorf("interval starts at %d ms past the second, want %d: start time lost its milliseconds", got, want)
		}
	}
	if n != 20 {
		t.Errorf("library read %d intervals, want 20", n)
	}
	for _, op := range run.Ops {
		if counts[op.Name] != op.Count() || counts[op.Name+reports.UncorrectedTagSuffix] != op.Uncorrected.TotalCount() {
			t.Errorf("op %s: library counted %d/%d, want %d", op.Name, counts[op.Name], counts[op.Name+reports.UncorrectedTagSuffix], op.Count())
		}
	}
}

func TestMergeHlogs(t *testing.T) {
	// Three shards of one run, as three machines would record it: the same
	// ops and intervals, different values, starts a few ms apart. The merged
	// totals must hold exactly the union of the values.
	union := map[string]*hdrhistogram.Histogram{}
	var logs []*reports.Hlog
	for shard := range 3 {
		run := fixtureRun(uint64(100 + shard))
		run.Meta.Start = fixtureStart.Add(time.Duration(shard) * 7 * time.Millisecond)
		for _, op := range run.Ops {
			for tag, h := range map[string]*hdrhistogram.Histogram{op.Name: op.Corrected, op.Name + reports.UncorrectedTagSuffix: op.Uncorrected} {
				if union[tag] == nil {
					union[tag] = newHist()
				}
				union[tag].Merge(h)
			}
		}
		l, err := reports.ReadHlog(bytes.NewReader(writeHlog(t, run)), "shard.hlog")
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	merged, err := reports.MergeHlogs(logs...)
	if err != nil {
		t.Fatal(err)
	}
	if !merged.Start.Equal(fixtureStart) {
		t.Errorf("merged start = %v, want the earliest, %v", merged.Start, fixtureStart)
	}
	if got, want := len(merged.Intervals), 20; got != want {
		t.Errorf("%d merged intervals, want %d: shards' seconds should line up", got, want)
	}
	totals, err := merged.Totals()
	if err != nil {
		t.Fatal(err)
	}
	for tag, want := range union {
		if !totals[tag].Equals(want) {
			t.Errorf("tag %s: merged total (%d values) is not the union (%d values)", tag, totals[tag].TotalCount(), want.TotalCount())
		}
	}

	// The merged log writes and reads back to the same totals.
	var buf bytes.Buffer
	if err := reports.WriteHlog(&buf, merged); err != nil {
		t.Fatal(err)
	}
	again, err := reports.ReadHlog(&buf, "merged.hlog")
	if err != nil {
		t.Fatal(err)
	}
	againTotals, err := again.Totals()
	if err != nil {
		t.Fatal(err)
	}
	for tag, want := range union {
		if !againTotals[tag].Equals(want) {
			t.Errorf("tag %s: re-read merged total differs", tag)
		}
	}
}

func TestMergeHlogs_DifferentGeometryFails(t *testing.T) {
	narrow := hdrhistogram.NewPacked(1000, 1e9, 3) // up to 1 s
	_ = narrow.RecordValue(5e6)
	wide := hdrhistogram.NewPacked(1000, 60e9, 3)
	_ = wide.RecordValue(30e9) // 30 s: does not fit the narrow one
	a := &reports.Hlog{Intervals: []reports.HlogInterval{{Tag: "op", Length: time.Second, Hist: narrow}}}
	b := &reports.Hlog{Intervals: []reports.HlogInterval{{Tag: "op", Length: time.Second, Hist: wide}}}
	if _, err := reports.MergeHlogs(a, b); !errors.Is(err, reports.ErrMergeDropped) {
		t.Fatalf("err = %v, want ErrMergeDropped", err)
	}
	// Totals of one log holding both geometries under one tag fail too.
	mixed := &reports.Hlog{Intervals: []reports.HlogInterval{a.Intervals[0], {Tag: "op", Start: time.Second, Length: time.Second, Hist: wide}}}
	if _, err := mixed.Totals(); !errors.Is(err, reports.ErrMergeDropped) {
		t.Fatalf("Totals err = %v, want ErrMergeDropped", err)
	}
}

func TestReadHlog_Errors(t *testing.T) {
	h := newPacked()
	_ = h.RecordValue(123456)
	payload, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	good := "Tag=op,0.000,1.000,0.123," + string(payload)
	for _, tc := range []struct {
		name    string
		in      string
		wantErr string
	}{
		{"tag without comma", "Tag=op\n", "l.hlog:1: syntax error: Tag= without"},
		{"empty tag", "Tag=,0,1,0," + string(payload) + "\n", "l.hlog:1: syntax error: Tag="},
		{"too few fields", "#comment\n0.0,1.0\n", "l.hlog:2: syntax error: want [Tag=NAME,]start"},
		{"bad start", "Tag=op,abc,1.000,0.1," + string(payload) + "\n", "l.hlog:1: syntax error: bad start"},
		{"negative length", "Tag=op,0,-1,0.1," + string(payload) + "\n", "bad start"},
		{"bad payload", good + "\nTag=op,1.000,1.000,0.1,HISTnotbase64\n", "l.hlog:2: syntax error: decode histogram"},
		{"bad start time", "#[StartTime: soon]\n", "l.hlog:1: syntax error: StartTime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := reports.ReadHlog(strings.NewReader(tc.in), "l.hlog")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
	// A log without StartTime keeps its relative timestamps.
	l, err := reports.ReadHlog(strings.NewReader(good+"\n"+strings.Replace(good, "0.000,1.000", "1.000,1.000", 1)+"\n"), "l.hlog")
	if err != nil {
		t.Fatal(err)
	}
	if !l.Start.IsZero() || l.Intervals[1].Start != time.Second {
		t.Errorf("start %v, second interval at %v: want zero start and offset 1s", l.Start, l.Intervals[1].Start)
	}
}

// FuzzReadHlog checks that no input makes the reader panic.
func FuzzReadHlog(f *testing.F) {
	// A small seed keeps the fuzzer fast: every exec decodes every line.
	run := fixtureRun(3)
	run.Ops = run.Ops[:1]
	run.Ops[0].Intervals = run.Ops[0].Intervals[:2]
	var buf bytes.Buffer
	l, err := reports.NewHlog(run)
	if err != nil {
		f.Fatal(err)
	}
	if err := reports.WriteHlog(&buf, l); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("Tag=a,1,1,1,HISTFAAAAB\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := reports.ReadHlog(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		if run, err := l.Run(); err == nil {
			_ = reports.WriteText(io.Discard, reports.Summarize(run))
		}
	})
}
