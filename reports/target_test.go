package reports_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/reports"
)

// targetRun is the fixture run as a run through a target process.
func targetRun() *reports.Run {
	run := fixtureRun(42)
	run.Meta.Target = &reports.Target{Command: "storectl serve", Name: "boxstorm-store", Version: "v0.3.0",
		Errors: map[string]int64{"stale-token": 3, "transport": 1}}
	run.Meta.TargetRoundTrip = &reports.RoundTrip{Request: "get of a missing key", Count: 200,
		P50: reports.NewLatency(45 * time.Microsecond), P99: reports.NewLatency(180 * time.Microsecond)}
	return run
}

func TestTarget_Reports(t *testing.T) {
	run := targetRun()
	sum := reports.Summarize(run)
	const rt = "protocol round trip p50 0.045 ms, p99 0.180 ms (200 requests, get of a missing key)"
	for _, w := range []struct {
		name  string
		write func(*bytes.Buffer) error
		want  []string
	}{
		{"text", func(b *bytes.Buffer) error { return reports.WriteText(b, sum) },
			[]string{"target boxstorm-store v0.3.0", rt, "target errors: stale-token 3, transport 1"}},
		{"markdown", func(b *bytes.Buffer) error { return reports.WriteMarkdown(b, sum) },
			[]string{"target boxstorm-store v0.3.0", `get of a missing key`, `stale-token 3, transport 1`}},
		{"html", func(b *bytes.Buffer) error { return reports.WriteHTML(b, run, reports.HTMLOptions{}) },
			[]string{"target boxstorm-store v0.3.0", rt, "target errors: stale-token 3, transport 1"}},
	} {
		t.Run(w.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := w.write(&buf); err != nil {
				t.Fatal(err)
			}
			for _, s := range w.want {
				if !strings.Contains(buf.String(), s) {
					t.Errorf("no %q in:\n%s", s, buf.String())
				}
			}
		})
	}
}

func TestTarget_SummaryRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := reports.WriteJSON(&buf, reports.Summarize(targetRun())); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"target": {`, `"target_round_trip": {`, `"command": "storectl serve"`, `"stale-token": 3`} {
		if !bytes.Contains(buf.Bytes(), []byte(s)) {
			t.Errorf("summary.json has no %s:\n%s", s, buf.String())
		}
	}
	back, err := reports.ReadSummary(&buf, "summary.json")
	if err != nil {
		t.Fatal(err)
	}
	if back.Target == nil || back.TargetRoundTrip == nil {
		t.Fatalf("target fields lost in a round trip: %+v, %+v", back.Target, back.TargetRoundTrip)
	}
	if got, want := back.TargetRoundTrip.P99.Duration(), 180*time.Microsecond; got != want {
		t.Errorf("round trip p99 = %v, want %v", got, want)
	}

	// A run in process writes neither field.
	buf.Reset()
	if err := reports.WriteJSON(&buf, reports.Summarize(fixtureRun(42))); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte(`"target`)) {
		t.Errorf("an in-process summary names a target:\n%s", buf.String())
	}
}

func TestDiffSettings_Target(t *testing.T) {
	in, tg := reports.Summarize(fixtureRun(42)), reports.Summarize(targetRun())
	diffs := reports.DiffSettings(&in.Meta, &tg.Meta)
	if len(diffs) != 1 || diffs[0].Setting != "target" || diffs[0].Base != "in process" || diffs[0].New != "boxstorm-store v0.3.0" {
		t.Errorf("DiffSettings(in process, target) = %+v, want one target difference", diffs)
	}
	if d := reports.DiffSettings(&tg.Meta, &tg.Meta); len(d) != 0 {
		t.Errorf("DiffSettings(target, same target) = %+v", d)
	}
}
