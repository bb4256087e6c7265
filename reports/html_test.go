package reports_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/boxstorm/boxstorm/reports"
)

func halve(h *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	out := newHist()
	for _, b := range h.Distribution() {
		if b.Count > 0 {
			_ = out.RecordValues(b.To/2, b.Count)
		}
	}
	return out
}

// external matches anything that would make a browser fetch from the
// network: src/href/xlink:href or CSS url() pointing at http(s) or a
// protocol-relative URL. (xmlns namespace names are not fetched.)
var external = regexp.MustCompile(`(?i)((src|href)\s*=\s*["']?\s*(https?:|//))|(url\(\s*["']?\s*(https?:|//))|@import`)

func TestWriteHTML(t *testing.T) {
	run := fixtureRun(42)
	// A baseline twice as fast: every percentile regresses.
	faster := fixtureRun(42)
	for i := range faster.Ops {
		faster.Ops[i].Corrected = halve(faster.Ops[i].Corrected)
	}
	baseline := reports.Summarize(faster)
	for _, tc := range []struct {
		name    string
		opts    reports.HTMLOptions
		verdict string
		svgs    int
	}{
		{"plain", reports.HTMLOptions{}, "enqueue p99", 3},
		{"with baseline", reports.HTMLOptions{
			Title:      "nightly <queue> run",
			Baseline:   reports.BaselineSpectra(baseline),
			Comparison: reports.Compare(baseline, reports.Summarize(run), reports.DefaultThresholds()),
		}, "FAIL: 12 percentiles regressed", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := reports.WriteHTML(&buf, run, tc.opts); err != nil {
				t.Fatal(err)
			}
			page := buf.String()
			if m := external.FindString(page); m != "" {
				t.Errorf("page loads from the network: %q", m)
			}
			if strings.Contains(page, "<script") {
				t.Error("page contains a script")
			}
			if got := strings.Count(page, "<svg"); got != tc.svgs {
				t.Errorf("%d inline SVG charts, want %d", got, tc.svgs)
			}
			verdict := strings.Index(page, tc.verdict)
			table := strings.Index(page, "<table")
			svg := strings.Index(page, "<svg")
			if verdict < 0 || table < 0 || svg < 0 || !(verdict < table && table < svg) {
				t.Errorf("want verdict (%d) before tables (%d) before charts (%d)", verdict, table, svg)
			}
			for _, want := range []string{"90%", "99%", "99.9%", "pause", "dequeue", "Throughput over time"} {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if strings.Contains(page, "<queue>") {
				t.Error("title not escaped")
			}
		})
	}
}

func TestWriteHTML_NoOps(t *testing.T) {
	var buf bytes.Buffer
	run := &reports.Run{Meta: reports.Meta{Mode: reports.ModeClosed, Duration: time.Second}}
	if err := reports.WriteHTML(&buf, run, reports.HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	if page := buf.String(); strings.Contains(page, "<svg") || !strings.Contains(page, "No ops completed") {
		t.Errorf("empty run rendered as:\n%s", page)
	}
}

func TestWriteHTML_EscapesOpNames(t *testing.T) {
	run := fixtureRun(1)
	run.Ops[0].Name = "<img>"
	var buf bytes.Buffer
	if err := reports.WriteHTML(&buf, run, reports.HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "<img>") {
		t.Error("op name reached the page unescaped")
	}
}
