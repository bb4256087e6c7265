package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/reports"
	"github.com/spf13/pflag"
)

func reportCmd() command {
	var out, base, maxRegression string
	return command{
		Summary: "render the reports again from a run directory or .hlog files",
		Usage:   "report RUN_DIR | FILE.hlog... [--out DIR] [--baseline PATH] [--max-regression PCT]",
		Help: `Report renders a run's reports again from its saved data, for example after
an upgrade of loadgen, or to add a baseline comparison to an old run.

Given a run directory, it reads run.hlog (the histograms) and summary.json (the
run's settings and its error, late-start and clamp counts), and rewrites
<op>.hgrm, <op>.uncorrected.hgrm, summary.json, summary.md and report.html in
that directory, or in --out. run.hlog itself is left as it is.

Given .hlog files, it merges them as "loadgen merge" does and writes a complete
run directory, run.hlog included, into --out (default out/loadgen-<UTC time>).

The percentile table goes to stdout. With --baseline, the comparison is added
to summary.md and report.html, and report exits 1 on a regression.`,
		Examples: `
			loadgen report out/loadgen-20250314T150926Z
			loadgen report out/old-run --baseline out/base --max-regression p99=5
			loadgen report --out out/from-log hostA/run.hlog
			loadgen report --out out/both a.hlog b.hlog`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.StringVarP(&out, "out", "o", "", "write the reports into `DIR` (default: the run directory, or\nout/loadgen-<UTC time> for .hlog files)")
			fs.StringVar(&base, "baseline", "", "compare with the run in `PATH`: a run directory or a summary.json")
			fs.StringVar(&maxRegression, "max-regression", defaultMaxRegression, "with --baseline: allowed regression `PCT` per percentile, or a list such as\ndefault=10,p99=5,max=off,floor=20us")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("report", args, 1, -1, "report RUN_DIR | FILE.hlog..."); err != nil {
					return err
				}
				t, err := parseThresholds("report", maxRegression)
				if err != nil {
					return err
				}
				if e.flags.Changed("max-regression") && base == "" {
					return cli.UsageErrorf("add --baseline RUN_DIR to compare with, or drop --max-regression", "report: --max-regression without --baseline")
				}
				r := rendering{}
				if base != "" {
					if r.baseline, err = loadBaseline(base); err != nil {
						return cli.WithHint(fmt.Errorf("report: baseline: %w", err), "--baseline takes a run directory (with summary.json) or a summary.json file")
					}
				}
				runDir := ""
				if st, err := os.Stat(args[0]); err == nil && st.IsDir() && len(args) == 1 {
					runDir = args[0]
				}
				if r.hlog, r.run, err = loadShards(e, args); err != nil {
					return fmt.Errorf("report: %w", err)
				}
				switch {
				case out == "" && runDir != "":
					out = runDir
				case out == "":
					out = defaultOutDir(time.Now())
				}
				// The source log stays as it is.
				r.keepHlog = runDir != "" && samePath(out, runDir)
				if r.baseline != nil {
					r.comparison = reports.Compare(r.baseline.summary, reports.Summarize(r.run), t)
				}
				sum, err := writeReports(out, r)
				if err != nil {
					return fmt.Errorf("report: %w", err)
				}
				if err := printRun(e, sum, r.comparison, out); err != nil {
					return err
				}
				if r.comparison != nil && r.comparison.Failed() {
					return regression(r.comparison, base)
				}
				return nil
			}
		},
	}
}

// samePath reports whether a and b name the same directory.
func samePath(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
