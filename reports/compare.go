package reports

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// DefaultMaxRegression is the regression, in percent, that a percentile may
// show against its baseline before Compare flags it, unless Thresholds
// says otherwise.
const DefaultMaxRegression = 10.0

// Thresholds says how much worse than the baseline each percentile may get.
// The zero value flags any increase at all; start from DefaultThresholds.
type Thresholds struct {
	// Default is the allowed regression in percent for percentiles not in
	// PerPercentile.
	Default float64
	// PerPercentile overrides Default by label ("p99", "max", see
	// ReportedPercentiles). +Inf turns a percentile's check off: it is still
	// shown, never flagged.
	PerPercentile map[string]float64
	// Floor is an absolute slack: an increase of at most Floor is never a
	// regression, however large in percent. It keeps sub-microsecond noise
	// from failing a build.
	Floor time.Duration
}

// DefaultThresholds returns thresholds of DefaultMaxRegression for every
// percentile.
func DefaultThresholds() Thresholds {
	return Thresholds{Default: DefaultMaxRegression}
}

// Limit returns the allowed regression, in percent, for a percentile label.
func (t Thresholds) Limit(label string) float64 {
	if v, ok := t.PerPercentile[label]; ok {
		return v
	}
	return t.Default
}

// ParseThresholds reads thresholds from a comma-separated list, the syntax
// for a command-line flag:
//
//	10                     every percentile may regress by 10%
//	p99=5,p99.9=20         p99 by 5%, p99.9 by 20%, the rest by DefaultMaxRegression
//	default=15,max=off     15% everywhere, max not checked
//	floor=20us             ignore increases of 20µs or less
//
// Percentages may carry a trailing "%".
func ParseThresholds(s string) (Thresholds, error) {
	t := DefaultThresholds()
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, val, ok := strings.Cut(item, "=")
		if !ok {
			key, val = "default", key
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if key == "floor" {
			d, err := time.ParseDuration(val)
			if err != nil || d < 0 {
				return Thresholds{}, fmt.Errorf("%w: %q: floor wants a duration such as 20us", ErrInvalidThreshold, item)
			}
			t.Floor = d
			continue
		}
		if key != "default" && !isLevel(key) {
			return Thresholds{}, fmt.Errorf("%w: %q: unknown percentile %q: want default, floor or one of %s", ErrInvalidThreshold, item, key, strings.Join(levelLabels(), ", "))
		}
		limit := math.Inf(1)
		if val != "off" {
			v, err := strconv.ParseFloat(strings.TrimSuffix(val, "%"), 64)
			if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return Thresholds{}, fmt.Errorf("%w: %q: want a percentage such as %s=10 or %s=off", ErrInvalidThreshold, item, key, key)
			}
			limit = v
		}
		if key == "default" {
			t.Default = limit
			continue
		}
		if t.PerPercentile == nil {
			t.PerPercentile = map[string]float64{}
		}
		t.PerPercentile[key] = limit
	}
	return t, nil
}

// String formats t in the syntax ParseThresholds reads.
func (t Thresholds) String() string {
	parts := []string{"default=" + limitString(t.Default)}
	for _, label := range slices.Sorted(maps.Keys(t.PerPercentile)) {
		parts = append(parts, label+"="+limitString(t.PerPercentile[label]))
	}
	if t.Floor > 0 {
		parts = append(parts, "floor="+t.Floor.String())
	}
	return strings.Join(parts, ",")
}

func limitString(v float64) string {
	if math.IsInf(v, 1) {
		return "off"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func isLevel(label string) bool {
	return slices.ContainsFunc(levels, func(l PercentileLevel) bool { return l.Label == label })
}

func levelLabels() []string {
	out := make([]string, len(levels))
	for i, l := range levels {
		out[i] = l.Label
	}
	return out
}

// SettingDiff is a run setting that differs between a baseline and the run
// compared with it: their latencies then measure different things.
type SettingDiff struct {
	Setting   string // "workload", "sync mode", "loop", "rate", "workers", "value size"
	Base, New string
}

// String formats d as "rate 500 ops/s vs 1000 ops/s".
func (d SettingDiff) String() string {
	return d.Setting + " " + d.Base + " vs " + d.New
}

// DiffSettings returns the settings that shape a run's latencies and differ
// between base and cur: workload, sync mode, target (or in process), open or closed loop, rate (open
// loop), workers (closed loop) and value size. A setting either side does
// not record (a baseline of .hgrm files, a summary from before the field
// existed) is not compared.
func DiffSettings(base, cur *Meta) []SettingDiff {
	var out []SettingDiff
	add := func(setting, b, n string) {
		if b != "" && n != "" && b != n {
			out = append(out, SettingDiff{Setting: setting, Base: b, New: n})
		}
	}
	add("workload", base.Workload, cur.Workload)
	add("sync mode", base.SyncMode, cur.SyncMode)
	add("target", targetName(base), targetName(cur))
	loop := func(m *Meta) string {
		if m.Mode == "" {
			return ""
		}
		return m.Mode + " loop"
	}
	add("loop", loop(base), loop(cur))
	if base.Mode == cur.Mode {
		num := func(v float64, unit string) string {
			if v <= 0 {
				return ""
			}
			return strconv.FormatFloat(v, 'f', -1, 64) + unit
		}
		switch base.Mode {
		case ModeOpen:
			add("rate", num(base.Rate, " ops/s"), num(cur.Rate, " ops/s"))
		case ModeClosed:
			add("workers", num(float64(base.Workers), ""), num(float64(cur.Workers), ""))
		}
	}
	size := func(m *Meta) string {
		if m.ValueSize <= 0 {
			return ""
		}
		return strconv.Itoa(m.ValueSize) + " B"
	}
	add("value size", size(base), size(cur))
	return out
}

// targetName is what a run drove: a target's name, or "in process".
func targetName(m *Meta) string {
	if m.Target == nil {
		return "in process"
	}
	return m.Target.String()
}

// Comparison is the result of comparing a run against a baseline.
type Comparison struct {
	// Mismatches lists the settings in which the two runs differ
	// (DiffSettings): the comparison is then of unlike runs.
	Mismatches     []SettingDiff
	Thresholds     Thresholds
	Ops            []OpComparison // ops in both runs, sorted by name
	OnlyInBaseline []string       // ops the baseline has and the current run lacks
	OnlyInCurrent  []string       // ops new in the current run
}

// OpComparison compares one op's corrected percentiles.
type OpComparison struct {
	Name string
	Rows []PercentileDelta // in the order of ReportedPercentiles
}

// PercentileDelta compares one percentile.
type PercentileDelta struct {
	Label     string
	Base, New time.Duration
	DeltaPct  float64 // (New-Base)/Base in percent; +Inf when Base is 0 and New is not
	Limit     float64 // allowed regression in percent; +Inf when not checked
	Regressed bool    // DeltaPct > Limit and New-Base > Thresholds.Floor
}

// Compare compares the corrected latencies of cur against base. It never
// ignores an op silently: ops on one side only are listed in
// OnlyInBaseline and OnlyInCurrent, and settings that differ in
// Mismatches.
func Compare(base, cur *Summary, t Thresholds) *Comparison {
	c := &Comparison{Thresholds: t, Mismatches: DiffSettings(&base.Meta, &cur.Meta)}
	for i := range base.Ops {
		b := &base.Ops[i]
		n := cur.Op(b.Name)
		if n == nil {
			c.OnlyInBaseline = append(c.OnlyInBaseline, b.Name)
			continue
		}
		oc := OpComparison{Name: b.Name}
		for _, lv := range levels {
			bv, _ := b.Corrected.At(lv.Label)
			nv, _ := n.Corrected.At(lv.Label)
			d := PercentileDelta{Label: lv.Label, Base: bv.Duration(), New: nv.Duration(), Limit: t.Limit(lv.Label)}
			switch {
			case d.Base == d.New:
				d.DeltaPct = 0
			case d.Base == 0:
				d.DeltaPct = math.Inf(1)
			default:
				d.DeltaPct = 100 * float64(d.New-d.Base) / float64(d.Base)
			}
			d.Regressed = d.DeltaPct > d.Limit && d.New-d.Base > t.Floor
			oc.Rows = append(oc.Rows, d)
		}
		c.Ops = append(c.Ops, oc)
	}
	for i := range cur.Ops {
		if base.Op(cur.Ops[i].Name) == nil {
			c.OnlyInCurrent = append(c.OnlyInCurrent, cur.Ops[i].Name)
		}
	}
	slices.SortFunc(c.Ops, func(a, b OpComparison) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(c.OnlyInBaseline)
	slices.Sort(c.OnlyInCurrent)
	return c
}

// Regressions returns the number of percentiles over their threshold.
func (c *Comparison) Regressions() int {
	n := 0
	for _, op := range c.Ops {
		for _, r := range op.Rows {
			if r.Regressed {
				n++
			}
		}
	}
	return n
}

// Failed reports whether the comparison should fail a build: a percentile
// regressed, or an op of the baseline is missing from the current run (so
// it could not be checked). Ops new in the current run do not fail it.
func (c *Comparison) Failed() bool {
	return c.Regressions() > 0 || len(c.OnlyInBaseline) > 0
}

// Verdict returns a one-line verdict, such as "FAIL: 2 percentiles
// regressed".
func (c *Comparison) Verdict() string {
	var problems []string
	if n := c.Regressions(); n > 0 {
		problems = append(problems, fmt.Sprintf("%d %s regressed beyond threshold", n, pluralWord(n, "percentile")))
	}
	if n := len(c.OnlyInBaseline); n > 0 {
		problems = append(problems, fmt.Sprintf("%d baseline %s missing (%s)", n, pluralWord(n, "op"), strings.Join(c.OnlyInBaseline, ", ")))
	}
	if len(problems) == 0 {
		return fmt.Sprintf("PASS: no regression against the baseline (%s)", c.Thresholds)
	}
	return "FAIL: " + strings.Join(problems, "; ")
}

// correctedNote says which latency a comparison compares.
const correctedNote = "Corrected latency (from each op's intended start, coordinated omission corrected) is compared; uncorrected service time is not."

// MismatchNote returns a warning naming the settings in which the runs
// differ, or "" when they match.
func (c *Comparison) MismatchNote() string {
	if len(c.Mismatches) == 0 {
		return ""
	}
	parts := make([]string, len(c.Mismatches))
	for i, d := range c.Mismatches {
		parts[i] = d.String()
	}
	return "WARNING: the runs' settings differ (" + strings.Join(parts, "; ") + "): their latencies measure different things"
}

func pluralWord(n int, w string) string {
	if n == 1 {
		return w
	}
	return w + "s"
}

func rowVerdict(r PercentileDelta) string {
	switch {
	case r.Regressed:
		return "REGRESSED"
	case math.IsInf(r.Limit, 1):
		return "not checked"
	}
	return "ok"
}

// WriteComparisonText writes c as a plain-text table, verdict first.
func WriteComparisonText(w io.Writer, c *Comparison) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, c.Verdict())
	if m := c.MismatchNote(); m != "" {
		fmt.Fprintln(bw, m)
	}
	if len(c.Ops) > 0 {
		fmt.Fprintf(bw, "\n%s\n\n", correctedNote)
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "op\tpercentile\tbaseline corrected ms\tcurrent corrected ms\tdelta\tlimit\tverdict")
		for _, op := range c.Ops {
			for _, r := range op.Rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", op.Name, r.Label, ms(r.Base), ms(r.New), pct(r.DeltaPct), limitLabel(r.Limit), rowVerdict(r))
			}
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write comparison: %w", err)
		}
	}
	writeMissing(bw, c, "", func(s string) string { return s })
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write comparison: %w", err)
	}
	return nil
}

// WriteComparisonMarkdown writes c as a Markdown table, verdict first.
func WriteComparisonMarkdown(w io.Writer, c *Comparison) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "## Baseline comparison\n\n**%s**\n", mdEscape(c.Verdict()))
	if m := c.MismatchNote(); m != "" {
		fmt.Fprintf(bw, "\n%s\n", mdEscape(m))
	}
	if len(c.Ops) > 0 {
		fmt.Fprintf(bw, "\n%s\n", correctedNote)
		fmt.Fprint(bw, "\n| op | percentile | baseline corrected (ms) | current corrected (ms) | delta | limit | verdict |\n|---|---|---:|---:|---:|---:|---|\n")
		for _, op := range c.Ops {
			for _, r := range op.Rows {
				v := rowVerdict(r)
				if r.Regressed {
					v = "**" + v + "**"
				}
				fmt.Fprintf(bw, "| %s | %s | %s | %s | %s | %s | %s |\n", mdEscape(op.Name), r.Label, ms(r.Base), ms(r.New), pct(r.DeltaPct), limitLabel(r.Limit), v)
			}
		}
	}
	writeMissing(bw, c, "- ", mdEscape)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write comparison: %w", err)
	}
	return nil
}

func writeMissing(w io.Writer, c *Comparison, bullet string, esc func(string) string) {
	if len(c.OnlyInBaseline)+len(c.OnlyInCurrent) == 0 {
		return
	}
	fmt.Fprintln(w)
	for _, name := range c.OnlyInBaseline {
		fmt.Fprintf(w, "%sop %s is in the baseline but not in this run: it was not compared\n", bullet, esc(name))
	}
	for _, name := range c.OnlyInCurrent {
		fmt.Fprintf(w, "%sop %s is new in this run: no baseline to compare with\n", bullet, esc(name))
	}
}

func limitLabel(v float64) string {
	if math.IsInf(v, 1) {
		return "off"
	}
	return "+" + strconv.FormatFloat(v, 'f', -1, 64) + "%"
}
