// This file writes and reads run directories: the six report files of a
// run, the stdout table, and baselines for comparison.

package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/reports"
)

// Files of a run directory besides the per-op .hgrm files.
const (
	hlogFile     = "run.hlog"
	summaryFile  = "summary.json"
	markdownFile = "summary.md"
	htmlFile     = "report.html"
	hgrmExt      = ".hgrm"
)

// defaultOutDir is where a run's reports go without --out.
func defaultOutDir(now time.Time) string {
	return filepath.Join("out", "loadgen-"+now.UTC().Format("20060102T150405Z"))
}

// rendering is what goes into a run directory.
type rendering struct {
	run        *reports.Run
	hlog       *reports.Hlog       // the interval log; laid out from run when nil
	baseline   *baseline           // overlaid on the percentile chart; optional
	comparison *reports.Comparison // shown in summary.md and report.html; optional
	keepHlog   bool                // leave run.hlog as it is: it is the source
}

// writeReports writes r into dir: <op>.hgrm and <op>.uncorrected.hgrm per
// op, run.hlog, summary.json, summary.md and report.html. It returns the
// summary it wrote.
func writeReports(dir string, r rendering) (*reports.Summary, error) {
	if err := r.run.Validate(); err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	for _, op := range r.run.Ops {
		// Op names become file names: a name from a foreign .hlog must not
		// climb out of dir.
		if filepath.Base(op.Name) != op.Name || op.Name == "." || op.Name == ".." || strings.ContainsAny(op.Name, `/\`) {
			return nil, fmt.Errorf("reports: op %q cannot be a file name: %w", op.Name, reports.ErrInvalidOpName)
		}
	}
	sum := reports.Summarize(r.run)
	hlog := r.hlog
	if hlog == nil {
		var err error
		if hlog, err = reports.NewHlog(r.run); err != nil {
			return nil, fmt.Errorf("reports: %w", err)
		}
	}
	opts := reports.HTMLOptions{Comparison: r.comparison}
	if r.baseline != nil {
		opts.Baseline = r.baseline.spectra
	}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{hlogFile, func(w io.Writer) error { return reports.WriteHlog(w, hlog) }},
		{summaryFile, func(w io.Writer) error { return reports.WriteJSON(w, sum) }},
		{markdownFile, func(w io.Writer) error {
			if r.comparison != nil {
				if err := reports.WriteComparisonMarkdown(w, r.comparison); err != nil {
					return err
				}
				if _, err := io.WriteString(w, "\n"); err != nil {
					return err
				}
			}
			return reports.WriteMarkdown(w, sum)
		}},
		{htmlFile, func(w io.Writer) error { return reports.WriteHTML(w, r.run, opts) }},
	}
	for _, op := range r.run.Ops {
		corrected, uncorrected := op.Corrected, op.Uncorrected
		files = append(files,
			struct {
				name  string
				write func(io.Writer) error
			}{op.Name + hgrmExt, func(w io.Writer) error { return reports.WriteHgrm(w, corrected) }},
			struct {
				name  string
				write func(io.Writer) error
			}{op.Name + reports.UncorrectedTagSuffix + hgrmExt, func(w io.Writer) error { return reports.WriteHgrm(w, uncorrected) }},
		)
	}
	for _, f := range files {
		if f.name == hlogFile && r.keepHlog {
			continue
		}
		if err := reports.WriteFile(filepath.Join(dir, f.name), f.write); err != nil {
			return nil, err
		}
	}
	return sum, nil
}

// printRun prints the text table, the comparison and where the reports
// are.
func printRun(e *env, sum *reports.Summary, cmp *reports.Comparison, dir string) error {
	fmt.Fprintln(e.stdout)
	if err := reports.WriteText(e.stdout, sum); err != nil {
		return err
	}
	if cmp != nil {
		fmt.Fprintln(e.stdout)
		if err := reports.WriteComparisonText(e.stdout, cmp); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "\nreports: %s\n", dir)
	return nil
}

// regression is the error of a comparison that failed: exit code 1.
func regression(c *reports.Comparison, base string) error {
	return cli.WithHint(fmt.Errorf("regression against the baseline %s: %s", base, c.Verdict()),
		"see the comparison table above; --max-regression sets the limits, such as p99=5,max=off")
}

// baseline is a run to compare with.
type baseline struct {
	summary *reports.Summary
	// spectra are the curves drawn on the percentile chart: the full
	// spectrum from .hgrm files when the run directory has them, else the
	// summary's reported percentiles.
	spectra map[string]reports.Spectrum
}

// loadBaseline reads a baseline from a run directory (its summary.json, and
// its <op>.hgrm files for the chart), a summary.json file, or a directory of
// .hgrm files only.
func loadBaseline(path string) (*baseline, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		sum, err := readSummary(path)
		if err != nil {
			return nil, err
		}
		return &baseline{summary: sum, spectra: reports.BaselineSpectra(sum)}, nil
	}
	hgrms, err := readHgrmDir(path)
	if err != nil {
		return nil, err
	}
	b := &baseline{spectra: map[string]reports.Spectrum{}}
	sum, err := readSummary(filepath.Join(path, summaryFile))
	switch {
	case err == nil:
		b.summary = sum
		b.spectra = reports.BaselineSpectra(sum)
	case errors.Is(err, fs.ErrNotExist) && len(hgrms) > 0:
		b.summary = &reports.Summary{Version: reports.SummaryVersion}
		for _, name := range slices.Sorted(maps.Keys(hgrms)) {
			b.summary.Ops = append(b.summary.Ops, reports.OpSummaryFromHgrm(name, hgrms[name]))
		}
	default:
		return nil, err
	}
	for name, h := range hgrms {
		b.spectra[name] = h.Spectrum()
	}
	return b, nil
}

// readHgrmDir reads the corrected <op>.hgrm files of a run directory.
func readHgrmDir(dir string) (map[string]*reports.Hgrm, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*"+hgrmExt))
	if err != nil {
		return nil, err
	}
	out := map[string]*reports.Hgrm{}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), hgrmExt)
		if strings.HasSuffix(name, reports.UncorrectedTagSuffix) {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		h, err := reports.ReadHgrm(f, p)
		f.Close()
		if err != nil {
			return nil, err
		}
		out[name] = h
	}
	return out, nil
}

// readSummary reads a summary.json.
func readSummary(path string) (*reports.Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return reports.ReadSummary(f, path)
}

// readHlog reads an interval log.
func readHlog(path string) (*reports.Hlog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return reports.ReadHlog(f, path)
}

// runDirOrFile resolves a positional argument that may be a run directory:
// a directory means the file name inside it.
func runDirOrFile(path, name string) (string, bool, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", false, err
	}
	if st.IsDir() {
		return filepath.Join(path, name), true, nil
	}
	return path, false, nil
}
