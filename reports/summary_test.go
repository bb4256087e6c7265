package reports_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/reports"
)

func TestWriteJSON(t *testing.T) {
	s := reports.Summarize(fixtureRun(42))
	var buf bytes.Buffer
	if err := reports.WriteJSON(&buf, s); err != nil {
		t.Fatal(err)
	}
	golden(t, "summary.json.golden", buf.Bytes())

	back, err := reports.ReadSummary(&buf, "summary.json")
	if err != nil {
		t.Fatal(err)
	}
	// Equal after a second encoding: time zones aside, nothing is lost.
	a, _ := json.Marshal(s)
	b, _ := json.Marshal(back)
	if !bytes.Equal(a, b) {
		t.Errorf("summary changed in a round trip:\n%s\n%s", a, b)
	}
	enq := back.Op("enqueue")
	if enq == nil || enq.Count != 700 || enq.Throughput != 140 || enq.Corrected.P99.Ns == 0 {
		t.Fatalf("enqueue = %+v", enq)
	}
	if got, want := enq.Corrected.P99.Ms, float64(enq.Corrected.P99.Ns)/1e6; got != want {
		t.Errorf("p99 ms = %v, want %v", got, want)
	}
	if enq.Uncorrected.P99.Ns >= enq.Corrected.P99.Ns {
		t.Errorf("uncorrected p99 %v not below corrected %v: the fixture's pause is lost", enq.Uncorrected.P99, enq.Corrected.P99)
	}
}

// TestReadSummary_Vector reads the version 1 vector kept in testdata, so a
// change to the Go types that breaks old files fails here.
func TestReadSummary_Vector(t *testing.T) {
	const v1 = `{
  "version": 1,
  "tool_version": "v0.1.0",
  "seed": 7,
  "flags": {"rate": "100"},
  "sync_mode": "never",
  "workload": "kv",
  "mode": "closed",
  "rate": 0,
  "workers": 2,
  "duration_ns": 1000000000,
  "warmup_ns": 0,
  "interval_ns": 1000000000,
  "elapsed_ns": 1000000000,
  "late_tolerance_ns": 1000000,
  "start": "2025-01-02T03:04:05Z",
  "pauses": [{"at_ns": 1, "for_ns": 2}],
  "future_field": "ignored",
  "ops": [{"name": "get", "count": 10, "errors": 1, "late_starts": 0, "clamped": 0, "throughput": 10,
    "corrected": {"p50": {"ns": 1000, "ms": 0.001}, "p90": {"ns": 2000, "ms": 0.002}, "p99": {"ns": 3000, "ms": 0.003},
      "p99.9": {"ns": 4000, "ms": 0.004}, "p99.99": {"ns": 5000, "ms": 0.005}, "max": {"ns": 6000, "ms": 0.006}},
    "uncorrected": {"p50": {"ns": 1000, "ms": 0.001}}}]
}`
	s, err := reports.ReadSummary(strings.NewReader(v1), "v1.json")
	if err != nil {
		t.Fatal(err)
	}
	if s.Seed != 7 || s.Workers != 2 || s.Duration != time.Second || s.Pauses[0].For != 2 || s.Flags["rate"] != "100" {
		t.Errorf("meta = %+v", s.Meta)
	}
	if got := s.Ops[0].Corrected.P999.Duration(); got != 4*time.Microsecond {
		t.Errorf("p99.9 = %v, want 4µs", got)
	}
}

func TestReadSummary_Errors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		is      error
		wantErr string
	}{
		{"not json", "hello", reports.ErrSyntax, "s.json:1: syntax error"},
		{"syntax error on line 3", "{\n\"version\": 1,\n\"seed\": ,\n}", reports.ErrSyntax, "s.json:3:"},
		{"wrong type", "{\"version\": 1,\n\"ops\": [{\"name\": \"get\", \"count\": \"ten\"}]}", reports.ErrSyntax, "s.json:2:"},
		{"no version", `{"seed": 1}`, reports.ErrUnsupportedVersion, "no \"version\" field"},
		{"future version", `{"version": 2}`, reports.ErrUnsupportedVersion, "version 2, this build reads version 1"},
		{"bad op name", `{"version": 1, "ops": [{"name": "a b"}]}`, reports.ErrInvalidOpName, "ops[0]"},
		{"negative count", `{"version": 1, "ops": [{"name": "a", "count": -1}]}`, reports.ErrSyntax, "negative count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := reports.ReadSummary(strings.NewReader(tc.in), "s.json")
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.is, tc.wantErr)
			}
		})
	}
}

func TestSummarize_EmptyOp(t *testing.T) {
	run := &reports.Run{Ops: []reports.OpResult{{Name: "idle", Corrected: newHist(), Uncorrected: newHist()}}}
	s := reports.Summarize(run)
	if got := s.Ops[0]; got.Count != 0 || got.Corrected.Max.Ns != 0 || got.Throughput != 0 {
		t.Errorf("empty op summarised as %+v, want zeros", got)
	}
	if s.Flags == nil || s.Pauses == nil {
		t.Error("flags and pauses must encode as {} and [], not null")
	}
}

func TestWriteText(t *testing.T) {
	var buf bytes.Buffer
	if err := reports.WriteText(&buf, reports.Summarize(fixtureRun(42))); err != nil {
		t.Fatal(err)
	}
	golden(t, "run.txt.golden", buf.Bytes())
}

func TestWriteMarkdown(t *testing.T) {
	var buf bytes.Buffer
	if err := reports.WriteMarkdown(&buf, reports.Summarize(fixtureRun(42))); err != nil {
		t.Fatal(err)
	}
	golden(t, "run.md.golden", buf.Bytes())
}

func TestValidateOpName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"enqueue", true},
		{"queue.claim", true},
		{"box:get/42", true},
		{"", false},
		{"two words", false},
		{"a,b", false},
		{"tab\there", false},
		{"nl\n", false},
		{"get" + reports.UncorrectedTagSuffix, false},
		{strings.Repeat("x", 129), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := reports.ValidateOpName(tc.name)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateOpName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
			if err != nil && !errors.Is(err, reports.ErrInvalidOpName) {
				t.Errorf("err = %v, want ErrInvalidOpName", err)
			}
		})
	}
}
