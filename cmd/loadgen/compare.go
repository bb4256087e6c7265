package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/reports"
	"github.com/spf13/pflag"
)

func compareCmd() command {
	var (
		maxRegression string
		markdown      bool
		allowMismatch bool
	)
	return command{
		Summary: "compare a run with a baseline; exit 1 on a regression",
		Usage:   "compare BASE NEW [--max-regression PCT] [--markdown] [--allow-mismatch]",
		Help: `Compare checks NEW's corrected percentiles (p50 to p99.99, and max) against
BASE's and prints a table with each delta and verdict. BASE and NEW are run
directories or summary.json files; BASE may also be a directory of .hgrm files.

A percentile regresses when it is more than its threshold slower than the
baseline; compare then exits 1, as it does when an op of BASE is missing from
NEW. --max-regression takes a percentage for every percentile, or a list:
default=10 (the default), p99=5, max=off (show, never flag), floor=20us (ignore
increases of 20µs or less).

The figures compared are corrected latencies (from each op's intended start).
Runs whose settings differ (workload, sync mode, open or closed loop, rate,
workers of a closed loop, value size) measure different things: compare
refuses them with exit code 2 and names the differences, unless
--allow-mismatch is given, when it compares them with a warning. A baseline
of .hgrm files records no settings and is not checked.`,
		Examples: `
			loadgen compare out/base out/new
			loadgen compare out/base/summary.json out/new/summary.json --max-regression 5
			loadgen compare out/base out/new --max-regression default=10,p99.9=25,max=off,floor=10us
			loadgen compare out/base out/new --markdown >> "$GITHUB_STEP_SUMMARY"
			loadgen compare out/sync-always out/sync-never --allow-mismatch`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.StringVar(&maxRegression, "max-regression", defaultMaxRegression, "allowed regression `PCT` per percentile, or a list such as\ndefault=10,p99=5,max=off,floor=20us")
			fs.BoolVar(&markdown, "markdown", false, "print the comparison as Markdown, for CI step summaries")
			fs.BoolVar(&allowMismatch, "allow-mismatch", false, "compare runs whose settings differ, with a warning, instead of refusing")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("compare", args, 2, 2, "compare BASE NEW"); err != nil {
					return err
				}
				t, err := parseThresholds("compare", maxRegression)
				if err != nil {
					return err
				}
				base, err := loadBaseline(args[0])
				if err != nil {
					return cli.WithHint(fmt.Errorf("compare: base: %w", err), "BASE is a run directory, a summary.json or a directory of .hgrm files")
				}
				cur, err := loadBaseline(args[1])
				if err != nil {
					return cli.WithHint(fmt.Errorf("compare: new: %w", err), "NEW is a run directory or a summary.json")
				}
				c := reports.Compare(base.summary, cur.summary, t)
				if len(c.Mismatches) > 0 {
					if !allowMismatch {
						return cli.UsageErrorf("compare runs made with the same settings, or pass --allow-mismatch to compare them anyway",
							"compare: %s and %s were run with different settings: %s", args[0], args[1], mismatchList(c.Mismatches))
					}
					fmt.Fprintf(e.stderr, "loadgen: warning: %s and %s were run with different settings: %s\n", args[0], args[1], mismatchList(c.Mismatches))
				}
				write := reports.WriteComparisonText
				if markdown {
					write = reports.WriteComparisonMarkdown
				}
				if err := write(e.stdout, c); err != nil {
					return err
				}
				if c.Failed() {
					return regression(c, args[0])
				}
				return nil
			}
		},
	}
}

func mismatchList(ds []reports.SettingDiff) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, "; ")
}
