package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/reports"
	"github.com/spf13/pflag"
)

func mergeCmd() command {
	var out string
	return command{
		Summary: "merge the run.hlog files of shards exactly",
		Usage:   "merge --out DIR A.hlog|RUN_DIR B.hlog|RUN_DIR...",
		Help: `Merge combines the interval logs of shards, such as one run started on several
machines at once, and writes a run directory for the whole: run.hlog, <op>.hgrm
and <op>.uncorrected.hgrm per op, summary.json, summary.md and report.html.

Intervals are aligned by their offset from each shard's start, and the merged
histograms hold exactly every shard's values: the percentiles are those of one
run that made all the shards' ops, not an average of percentiles.

A shard given as a run directory, or as a run.hlog inside one, brings its
summary.json along: errors, late starts and clamps are added up, rates and
workers summed. A bare .hlog carries histograms only, so those counts read 0.`,
		Examples: `
			loadgen merge --out out/merged hostA/run.hlog hostB/run.hlog
			loadgen merge --out out/merged out/shard-1 out/shard-2 out/shard-3
			loadgen report out/merged`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.StringVarP(&out, "out", "o", "", "write the merged run into `DIR` (required)")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("merge", args, 1, -1, "merge --out DIR A.hlog B.hlog..."); err != nil {
					return err
				}
				if out == "" {
					return cli.UsageErrorf("name the directory for the merged run: loadgen merge --out DIR A.hlog B.hlog...", "merge: no --out")
				}
				hlog, run, err := loadShards(e, args)
				if err != nil {
					return fmt.Errorf("merge: %w", err)
				}
				sum, err := writeReports(out, rendering{run: run, hlog: hlog})
				if err != nil {
					return fmt.Errorf("merge: %w", err)
				}
				fmt.Fprintf(e.stdout, "merged %d shards\n", len(args))
				return printRun(e, sum, nil, out)
			}
		},
	}
}

// shard is one input of a merge.
type shard struct {
	path    string           // the .hlog
	hlog    *reports.Hlog    //
	summary *reports.Summary // from the run directory, or nil
}

// loadShards reads the interval logs at paths (files, or run directories
// meaning their run.hlog), merges them exactly, and rebuilds the run. When
// every shard comes with its run's summary.json, the run's description and
// its error, late-start and clamp counts are combined from those.
func loadShards(e *env, paths []string) (*reports.Hlog, *reports.Run, error) {
	shards := make([]shard, len(paths))
	logs := make([]*reports.Hlog, len(paths))
	for i, p := range paths {
		hp, isDir, err := runDirOrFile(p, hlogFile)
		if err != nil {
			return nil, nil, err
		}
		l, err := readHlog(hp)
		if err != nil {
			return nil, nil, err
		}
		shards[i], logs[i] = shard{path: hp, hlog: l}, l
		if isDir || filepath.Base(hp) == hlogFile {
			shards[i].summary, err = siblingSummary(e, hp, l)
			if err != nil {
				return nil, nil, err
			}
		}
	}
	merged := logs[0]
	if len(logs) > 1 {
		var err error
		if merged, err = reports.MergeHlogs(logs...); err != nil {
			return nil, nil, err
		}
	}
	run, err := merged.Run()
	if err != nil {
		return nil, nil, fmt.Errorf("rebuild the run from the interval log: %w", err)
	}
	var sums []*reports.Summary
	for _, s := range shards {
		if s.summary == nil {
			e.log.Warn("no summary.json for this interval log: errors, late starts and clamps read 0, and the run's settings are unknown",
				"hlog", s.path)
			return merged, run, nil
		}
		sums = append(sums, s.summary)
	}
	if len(sums) == 1 {
		run.Meta = sums[0].Meta
	} else {
		run.Meta = mergeMeta(run.Meta, sums, paths)
	}
	for i := range run.Ops {
		op := &run.Ops[i]
		for _, s := range sums {
			if o := s.Op(op.Name); o != nil {
				op.Errors += o.Errors
				op.LateStarts += o.LateStarts
				op.Clamped += o.Clamped
			}
		}
	}
	return merged, run, nil
}

// siblingSummary reads the summary.json beside a run.hlog, if there is one
// and it belongs to the same run: same start and same ops.
func siblingSummary(e *env, hlogPath string, l *reports.Hlog) (*reports.Summary, error) {
	p := filepath.Join(filepath.Dir(hlogPath), summaryFile)
	sum, err := readSummary(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var tags []string
	for _, t := range l.Tags() {
		if !strings.HasSuffix(t, reports.UncorrectedTagSuffix) {
			tags = append(tags, t)
		}
	}
	var ops []string
	for _, o := range sum.Ops {
		ops = append(ops, o.Name)
	}
	if d := sum.Start.Sub(l.Start); d < -time.Millisecond || d > time.Millisecond || !slices.Equal(tags, ops) {
		e.log.Warn("summary.json does not describe this interval log (another start or other ops); ignoring it", "summary", p)
		return nil, nil
	}
	return sum, nil
}

// mergeMeta describes the merge of several shards: settings they share are
// kept, differing ones joined with "+", rates and workers summed. Start,
// Elapsed and Interval come from the merged log.
func mergeMeta(m reports.Meta, sums []*reports.Summary, paths []string) reports.Meta {
	pick := func(get func(*reports.Summary) string) string {
		var vals []string
		for _, s := range sums {
			if v := get(s); !slices.Contains(vals, v) {
				vals = append(vals, v)
			}
		}
		return strings.Join(vals, "+")
	}
	m.ToolVersion = pick(func(s *reports.Summary) string { return s.ToolVersion })
	m.SyncMode = pick(func(s *reports.Summary) string { return s.SyncMode })
	m.Workload = pick(func(s *reports.Summary) string { return s.Workload })
	m.Mode = pick(func(s *reports.Summary) string { return s.Mode })
	m.Flags = map[string]string{"shards": strings.Join(paths, ",")}
	seeds := pick(func(s *reports.Summary) string { return strconv.FormatUint(s.Seed, 10) })
	if !strings.Contains(seeds, "+") {
		m.Seed = sums[0].Seed
	} else {
		m.Flags["seeds"] = strings.ReplaceAll(seeds, "+", ",")
	}
	m.Pauses = nil
	for _, s := range sums {
		m.Rate += s.Rate
		m.Workers += s.Workers
		m.Duration = max(m.Duration, s.Duration)
		m.Warmup = max(m.Warmup, s.Warmup)
		m.LateTolerance = max(m.LateTolerance, s.LateTolerance)
		for _, p := range s.Pauses {
			if !slices.Contains(m.Pauses, p) {
				m.Pauses = append(m.Pauses, p)
			}
		}
	}
	slices.SortFunc(m.Pauses, func(a, b reports.Window) int { return int(a.At - b.At) })
	m.Target, m.TargetRoundTrip = mergeTarget(sums), nil // round trips of several runs do not merge
	return m
}

// mergeTarget is the target of shards that all drove the same one, with
// their errors summed, else nil.
func mergeTarget(sums []*reports.Summary) *reports.Target {
	var t *reports.Target
	for _, s := range sums {
		switch {
		case s.Target == nil:
			return nil
		case t == nil:
			t = &reports.Target{Command: s.Target.Command, Name: s.Target.Name, Version: s.Target.Version}
		case s.Target.String() != t.String():
			return nil
		}
		for class, n := range s.Target.Errors {
			if t.Errors == nil {
				t.Errors = map[string]int64{}
			}
			t.Errors[class] += n
		}
	}
	return t
}
