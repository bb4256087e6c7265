package reports_test

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/reports"
)

// summaryOf builds a one-op-per-entry summary whose corrected percentiles
// are p50…max = base × (1, 2, 4, 8, 16, 32).
func summaryOf(ops map[string]time.Duration) *reports.Summary {
	s := &reports.Summary{Version: reports.SummaryVersion}
	for _, name := range []string{"ack", "claim", "enqueue"} {
		base, ok := ops[name]
		if !ok {
			continue
		}
		var l reports.Latencies
		for i, lv := range reports.ReportedPercentiles() {
			v := base << i
			switch lv.Label {
			case "p50":
				l.P50 = reports.NewLatency(v)
			case "p90":
				l.P90 = reports.NewLatency(v)
			case "p99":
				l.P99 = reports.NewLatency(v)
			case "p99.9":
				l.P999 = reports.NewLatency(v)
			case "p99.99":
				l.P9999 = reports.NewLatency(v)
			case "max":
				l.Max = reports.NewLatency(v)
			}
		}
		s.Ops = append(s.Ops, reports.OpSummary{Name: name, Count: 1000, Corrected: l})
	}
	return s
}

func TestCompare(t *testing.T) {
	ms := time.Millisecond
	base := summaryOf(map[string]time.Duration{"enqueue": ms, "claim": ms})
	for _, tc := range []struct {
		name       string
		cur        *reports.Summary
		thresholds string
		regressed  []string // "op/label"
		failed     bool
	}{
		{"identical", summaryOf(map[string]time.Duration{"enqueue": ms, "claim": ms}), "10", nil, false},
		{"faster", summaryOf(map[string]time.Duration{"enqueue": ms / 2, "claim": ms / 2}), "10", nil, false},
		{"within threshold", summaryOf(map[string]time.Duration{"enqueue": 1090 * time.Microsecond, "claim": ms}), "10", nil, false},
		{"all percentiles regress",
			summaryOf(map[string]time.Duration{"enqueue": 1200 * time.Microsecond, "claim": ms}), "10",
			[]string{"enqueue/p50", "enqueue/p90", "enqueue/p99", "enqueue/p99.9", "enqueue/p99.99", "enqueue/max"}, true},
		{"per-percentile limits",
			summaryOf(map[string]time.Duration{"enqueue": 1200 * time.Microsecond, "claim": ms}), "default=25,p99=5,max=off",
			[]string{"enqueue/p99"}, true},
		{"floor absorbs small absolute changes",
			summaryOf(map[string]time.Duration{"enqueue": 1200 * time.Microsecond, "claim": ms}), "10,floor=1ms",
			[]string{"enqueue/p99.9", "enqueue/p99.99", "enqueue/max"}, true},
		{"op missing from current run", summaryOf(map[string]time.Duration{"enqueue": ms}), "10", nil, true},
		{"op new in current run", summaryOf(map[string]time.Duration{"enqueue": ms, "claim": ms, "ack": ms}), "10", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th, err := reports.ParseThresholds(tc.thresholds)
			if err != nil {
				t.Fatal(err)
			}
			c := reports.Compare(base, tc.cur, th)
			var got []string
			for _, op := range c.Ops {
				for _, r := range op.Rows {
					if r.Regressed {
						got = append(got, op.Name+"/"+r.Label)
					}
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.regressed, " ") {
				t.Errorf("regressed = %v, want %v", got, tc.regressed)
			}
			if c.Failed() != tc.failed {
				t.Errorf("Failed() = %v, want %v (%s)", c.Failed(), tc.failed, c.Verdict())
			}
		})
	}
}

func TestCompare_ReportsMissingOps(t *testing.T) {
	base := summaryOf(map[string]time.Duration{"enqueue": time.Millisecond, "claim": time.Millisecond})
	cur := summaryOf(map[string]time.Duration{"enqueue": 2 * time.Millisecond, "ack": time.Millisecond})
	c := reports.Compare(base, cur, reports.DefaultThresholds())
	if strings.Join(c.OnlyInBaseline, ",") != "claim" || strings.Join(c.OnlyInCurrent, ",") != "ack" {
		t.Errorf("only in baseline %v, only in current %v", c.OnlyInBaseline, c.OnlyInCurrent)
	}
	var text, md bytes.Buffer
	if err := reports.WriteComparisonText(&text, c); err != nil {
		t.Fatal(err)
	}
	if err := reports.WriteComparisonMarkdown(&md, c); err != nil {
		t.Fatal(err)
	}
	golden(t, "comparison.txt.golden", text.Bytes())
	golden(t, "comparison.md.golden", md.Bytes())
}

func TestCompare_ZeroBaseline(t *testing.T) {
	base := summaryOf(map[string]time.Duration{"enqueue": 0})
	cur := summaryOf(map[string]time.Duration{"enqueue": 500 * time.Nanosecond})
	c := reports.Compare(base, cur, reports.DefaultThresholds())
	r := c.Ops[0].Rows[0]
	if !math.IsInf(r.DeltaPct, 1) || !r.Regressed {
		t.Errorf("0 → 500ns: delta %v, regressed %v; want +Inf, true", r.DeltaPct, r.Regressed)
	}
	th, _ := reports.ParseThresholds("floor=20us")
	if reports.Compare(base, cur, th).Failed() {
		t.Error("a floor of 20µs should absorb changes of up to 16µs")
	}
}

func TestParseThresholds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // String() of the result; "" means an error
	}{
		{"", "default=10"},
		{"15", "default=15"},
		{"15%", "default=15"},
		{"p99=5, p99.9=20", "default=10,p99=5,p99.9=20"},
		{"default=off,max=50,floor=20us", "default=off,max=50,floor=20µs"},
		{"p98=5", ""},
		{"p99=-1", ""},
		{"p99=lots", ""},
		{"floor=fast", ""},
		{"max=NaN", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			th, err := reports.ParseThresholds(tc.in)
			if tc.want == "" {
				if !errors.Is(err, reports.ErrInvalidThreshold) {
					t.Fatalf("err = %v, want ErrInvalidThreshold", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := th.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			if again, err := reports.ParseThresholds(th.String()); err != nil || again.String() != th.String() {
				t.Errorf("String() does not parse back: %v", err)
			}
		})
	}
}

func TestDiffSettings(t *testing.T) {
	base := reports.Meta{Workload: "cycle", SyncMode: "always", Mode: reports.ModeOpen, Rate: 500, Workers: 8, ValueSize: 256}
	for _, tc := range []struct {
		name string
		edit func(m *reports.Meta)
		want []string
	}{
		{"same", func(*reports.Meta) {}, nil},
		{"workers of an open loop do not matter", func(m *reports.Meta) { m.Workers = 2 }, nil},
		{"workload and sync", func(m *reports.Meta) { m.Workload, m.SyncMode = "kv-a", "never" },
			[]string{"workload cycle vs kv-a", "sync mode always vs never"}},
		{"rate", func(m *reports.Meta) { m.Rate = 1000 }, []string{"rate 500 ops/s vs 1000 ops/s"}},
		{"value size", func(m *reports.Meta) { m.ValueSize = 1024 }, []string{"value size 256 B vs 1024 B"}},
		{"closed loop", func(m *reports.Meta) { m.Mode, m.Rate = reports.ModeClosed, 0 }, []string{"loop open loop vs closed loop"}},
		{"value size not recorded", func(m *reports.Meta) { m.ValueSize = 0 }, nil},
		{"a baseline of .hgrm files records nothing", func(m *reports.Meta) { *m = reports.Meta{} }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := base
			tc.edit(&cur)
			var got []string
			for _, d := range reports.DiffSettings(&base, &cur) {
				got = append(got, d.String())
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("DiffSettings = %q, want %q", got, tc.want)
			}
		})
	}
	closed := reports.Meta{Mode: reports.ModeClosed, Workers: 4}
	more := closed
	more.Workers = 16
	if d := reports.DiffSettings(&closed, &more); len(d) != 1 || d[0].String() != "workers 4 vs 16" {
		t.Errorf("closed loops with 4 and 16 workers: %v", d)
	}
	c := reports.Compare(&reports.Summary{Meta: base}, &reports.Summary{Meta: more}, reports.DefaultThresholds())
	if !strings.Contains(c.MismatchNote(), "loop open loop vs closed loop") {
		t.Errorf("MismatchNote() = %q", c.MismatchNote())
	}
}
