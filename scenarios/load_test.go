package scenarios_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/boxstorm/boxstorm/scenarios"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// valid is a minimal valid scenario for the file t.yaml. The invalid
// cases below are edits of it, so their line numbers can be read off.
const valid = `version: 1
name: t
description: A test scenario.
protection: durability
workload:
  kind: enqueue
  producers: 1
  ops: 100
faults:
  - at: {op: 50}
    type: kill
checks: [no-loss]
`

// edit returns valid with line n (from 1) replaced by the given lines; an
// empty replacement deletes the line.
func edit(n int, with ...string) string {
	lines := strings.Split(strings.TrimSuffix(valid, "\n"), "\n")
	out := append([]string{}, lines[:n-1]...)
	out = append(out, with...)
	out = append(out, lines[n:]...)
	return strings.Join(out, "\n") + "\n"
}

// replace returns valid with old replaced by new.
func replace(old, new string) string {
	if !strings.Contains(valid, old) {
		panic("replace: " + old + " is not in valid")
	}
	return strings.Replace(valid, old, new, 1)
}

// insert returns valid with the given lines inserted after line n.
func insert(n int, lines ...string) string {
	all := strings.Split(strings.TrimSuffix(valid, "\n"), "\n")
	out := append([]string{}, all[:n]...)
	out = append(out, lines...)
	out = append(out, all[n:]...)
	return strings.Join(out, "\n") + "\n"
}

func TestLoad_Valid(t *testing.T) {
	sc, err := scenarios.Load("t.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sc.Store.Sync, scenarios.DefaultSync; got != want {
		t.Errorf("Store.Sync = %q, want %q", got, want)
	}
	if got, want := sc.Store.Recovery, scenarios.DefaultRecovery; got != want {
		t.Errorf("Store.Recovery = %q, want %q", got, want)
	}
	if got, want := sc.Store.StaleAfter, scenarios.DefaultStaleAfter; got != want {
		t.Errorf("Store.StaleAfter = %v, want %v", got, want)
	}
	if got, want := sc.Store.FailedOpsAlert, scenarios.DefaultFailedOpsAlert; got != want {
		t.Errorf("Store.FailedOpsAlert = %d, want %d", got, want)
	}
	if got, want := sc.Store.CheckpointPeriod, scenarios.DefaultCheckpointPeriod; got != want {
		t.Errorf("Store.CheckpointPeriod = %v, want %v", got, want)
	}
	if got, want := sc.Workload.QuickOps, int64(100); got != want {
		t.Errorf("Workload.QuickOps = %d, want %d (ops, being below the default)", got, want)
	}
	if got, want := sc.Workload.ValueSize, scenarios.DefaultValueSize; got != want {
		t.Errorf("Workload.ValueSize = %d, want %d", got, want)
	}
	if got, want := sc.Faults[0].At, (scenarios.Position{Kind: scenarios.AtOp, Op: 50, OpMax: 50}); got != want {
		t.Errorf("Faults[0].At = %+v, want %+v", got, want)
	}
}

func TestLoad_Invalid(t *testing.T) {
	for _, tt := range []struct {
		name      string
		src       string
		wantLine  int
		wantField string
		wantMsg   string // a substring of Msg
		wantIs    error  // nil, or a sentinel the error wraps
	}{
		{"unknown top-level field", insert(12, "bogus: 1"), 13, "bogus", "unknown field", nil},
		{"unknown nested field", insert(8, "  opz: 5"), 9, "workload.opz", "unknown field", nil},
		{"unknown fault field", insert(11, "    boxx: pending_ops"), 12, "faults[0].boxx", "unknown field", nil},
		{"unknown store field", insert(4, "store:", "  sink: always"), 6, "store.sink", "unknown field", nil},
		{"bad duration", insert(4, "store:", "  stale_after: 5 min"), 6, "store.stale_after", `"5 min" is not a duration`, nil},
		{"duration without unit", insert(4, "store:", "  stale_after: 120"), 6, "store.stale_after", `"120" is not a duration`, nil},
		{"checkpoint period too short", insert(4, "store:", "  checkpoint_period: 500us"), 6, "store.checkpoint_period", "500µs is out of range", nil},
		{"checkpoint period too long", insert(4, "store:", "  checkpoint_period: 2h"), 6, "store.checkpoint_period", "2h0m0s is out of range", nil},
		{"checkpoint period without unit", insert(4, "store:", "  checkpoint_period: 1"), 6, "store.checkpoint_period", `"1" is not a duration`, nil},
		{"bad enum", edit(6, "  kind: enqueu"), 6, "workload.kind", `"enqueu" is not allowed`, nil},
		{"bad protection", edit(4, "protection: speed"), 4, "protection", `"speed" is not allowed`, nil},
		{"negative count", edit(7, "  producers: -1"), 7, "workload.producers", "-1 is negative", nil},
		{"negative fault count", edit(11, "    type: bitflip", "    box: pending_ops", "    count: -3"), 13, "faults[0].count", "must be at least 1, got -3", nil},
		{"count not a number", edit(8, "  ops: lots"), 8, "workload.ops", `want a whole number, got "lots"`, nil},
		{"fraction for a count", edit(8, "  ops: 1.5"), 8, "workload.ops", `want a whole number, got "1.5"`, nil},
		{"quoted count", edit(8, "  ops: '100'"), 8, "workload.ops", `want a whole number, got "100"`, nil},
		{"boolean for a count", edit(8, "  ops: true"), 8, "workload.ops", `want a whole number, got "true"`, nil},
		{"fraction out of range", insert(8, "  idempotency: 1.5"), 9, "workload.idempotency", "1.5 is out of range", nil},
		{"infinite rate", insert(8, "  rate: .inf"), 9, "workload.rate", `want a number, got ".inf"`, nil},
		{"count out of range", edit(8, "  ops: 99999999999999999999"), 8, "workload.ops", "out of range", nil},
		{"missing version", edit(1), 1, "version", "missing", nil},
		{"wrong version", edit(1, "version: 2"), 1, "version", "version 2 is not supported", scenarios.ErrUnsupportedVersion},
		{"version as text", edit(1, "version: one"), 1, "version", `want a whole number, got "one"`, nil},
		{"version as a fraction", edit(1, "version: 1.0"), 1, "version", `want a whole number, got "1.0"`, nil},
		{"name mismatch", edit(2, "name: other"), 2, "name", `"other" does not match the file name "t.yaml"`, nil},
		{"missing name", edit(2), 1, "name", "missing", nil},
		{"wall-time at", edit(10, "  - at: 30s"), 10, "faults[0].at", "want a mapping", nil},
		{"wall-time at field", edit(10, "  - at: {time: 30s}"), 10, "faults[0].at.time", "unknown field", nil},
		{"wall-time op", edit(10, "  - at: {op: 30s}"), 10, "faults[0].at.op", `want a whole number, got "30s"`, nil},
		{"empty at", edit(10, "  - at: {}"), 10, "faults[0].at", "names no position", nil},
		{"two positions", edit(10, "  - at: {op: 5, step: 1}"), 10, "faults[0].at.step", "op and step are both set", nil},
		{"op beyond ops", edit(10, "  - at: {op: 500}"), 10, "faults[0].at.op", "must be at most 100, got 500", nil},
		{"op_between reversed", edit(10, "  - at: {op_between: [60, 40]}"), 10, "faults[0].at.op_between", "lower bound 60 is above the upper bound 40", nil},
		{"ops out of order", insert(11, "  - at: {op: 10}", "    type: kill"), 12, "faults[1].at", "op 10 is before faults[0]", nil},
		{"op after step", edit(10, "  - at: {step: 1}", "    type: kill", "  - at: {op: 10}"), 12, "faults[1].at", "comes after faults[0] at step 1", nil},
		{"missing at", replace("  - at: {op: 50}\n    type: kill\n", "  - type: kill\n"), 10, "faults[0].at", "missing", nil},
		{"missing fault type", edit(11), 10, "faults[0].type", "missing", nil},
		{"field not for type", insert(11, "    box: pending_ops"), 12, "faults[0].box", "does not apply to type kill", nil},
		{"restore without backup", edit(11, "    type: restore"), 11, "faults[0].type", "restore needs a backup", nil},
		{"kill every zero", insert(11, "    every: 0"), 12, "faults[0].every", "must be at least 1, got 0", nil},
		{"kill every beyond ops", insert(11, "    every: 500"), 12, "faults[0].every", "must be at most 100, got 500", nil},
		{"kill count zero", insert(11, "    count: 0"), 12, "faults[0].count", "must be at least 1, got 0", nil},
		{"repeated kill at a step", replace("  - at: {op: 50}\n    type: kill\n", "  - at: {step: 1}\n    type: kill\n    every: 10\n"), 12, "faults[0].every", "a kill at a step cannot repeat", nil},
		{"repeated kill beside an op fault", insert(11, "    every: 10", "  - at: {op: 60}", "    type: bitflip", "    box: pending_ops"), 13, "faults[1].at", "the only fault at an op position", nil},
		{"power-loss every zero", edit(11, "    type: power-loss", "    every: 0"), 12, "faults[0].every", "must be at least 1, got 0", nil},
		{"power-loss count zero", edit(11, "    type: power-loss", "    count: 0"), 12, "faults[0].count", "must be at least 1, got 0", nil},
		{"repeated power-loss at a step", replace("  - at: {op: 50}\n    type: kill\n", "  - at: {step: 1}\n    type: power-loss\n    every: 10\n"), 12, "faults[0].every", "a power-loss at a step cannot repeat", nil},
		{"repeated power-loss beside an op fault", edit(11, "    type: power-loss", "    every: 10", "  - at: {op: 60}", "    type: bitflip", "    box: pending_ops"), 13, "faults[1].at", "a repeated power-loss must be the only fault", nil},
		{"repeated power-loss without producers", replace("  kind: enqueue\n  producers: 1\n  ops: 100\nfaults:\n  - at: {op: 50}\n    type: kill\n", "  kind: claim\n  processors: 1\n  ops: 100\nfaults:\n  - at: {op: 50}\n    type: power-loss\n    every: 10\n"), 12, "faults[0].every", "a repeated power-loss needs producers to resume", nil},
		{"bad failpoint", insert(11, "    failpoint: Enqueue After Write"), 12, "faults[0].failpoint", "not a failpoint name", nil},
		{"skew without processors", edit(11, "    type: clock-skew", "    processor: 0", "    offset: +5m"), 11, "faults[0].type", "the workload runs none", nil},
		{"erase unknown subject", edit(11, "    type: erase", "    subject: subject-99"), 12, "faults[0].subject", "not among the workload's subjects", nil},
		{"quick_ops above ops", insert(8, "  quick_ops: 500"), 9, "workload.quick_ops", "must be at most 100, got 500", nil},
		// The fault file system's faults.
		{"power-loss bad mode", edit(11, "    type: power-loss", "    mode: half"), 12, "faults[0].mode", `"half" is not allowed`, nil},
		{"power-loss with a box", edit(11, "    type: power-loss", "    box: pending_ops"), 12, "faults[0].box", "does not apply to type power-loss", nil},
		{"fsync-error nth 0", edit(11, "    type: fsync-error", "    nth: 0"), 12, "faults[0].nth", "must be at least 1, got 0", nil},
		{"fsync-error sticky not a boolean", edit(11, "    type: fsync-error", "    sticky: maybe"), 12, "faults[0].sticky", "maybe", nil},
		{"enospc without budget", edit(11, "    type: enospc"), 10, "faults[0].budget", "missing", nil},
		{"enospc negative budget", edit(11, "    type: enospc", "    budget: -1"), 12, "faults[0].budget", "-1 is negative", nil},
		{"slow-io without median", edit(11, "    type: slow-io"), 10, "faults[0].median", "missing", nil},
		{"slow-io median not a duration", edit(11, "    type: slow-io", "    median: 2"), 12, "faults[0].median", `"2" is not a duration`, nil},
		{"slow-io p99 below median", edit(11, "    type: slow-io", "    median: 5ms", "    p99: 1ms"), 13, "faults[0].p99", "1ms is below the median 5ms", nil},
		{"explore at an op", edit(11, "    type: explore", "    procedure: migrate"), 10, "faults[0].at", "explore runs as a step", nil},
		{"explore without procedure", replace("  - at: {op: 50}\n    type: kill\n", "  - at: {step: 1}\n    type: explore\n"), 10, "faults[0].procedure", "missing", nil},
		{"explore unknown procedure", replace("  - at: {op: 50}\n    type: kill\n", "  - at: {step: 1}\n    type: explore\n    procedure: defrag\n"), 12, "faults[0].procedure", `"defrag" is not allowed`, nil},
		{"explore restore without backup", replace("  - at: {op: 50}\n    type: kill\n", "  - at: {step: 1}\n    type: explore\n    procedure: restore\n"), 12, "faults[0].procedure", "restore needs a backup", nil},
		{"explore zero states", replace("  - at: {op: 50}\n    type: kill\n", "  - at: {step: 1}\n    type: explore\n    procedure: migrate\n    states: 0\n"), 13, "faults[0].states", "must be at least 1, got 0", nil},
		{"explore too many states", replace("  - at: {op: 50}\n    type: kill\n", "  - at: {step: 1}\n    type: explore\n    procedure: migrate\n    states: 100001\n"), 13, "faults[0].states", "must be at most 100000, got 100001", nil},
		{"idle processors", insert(7, "  processors: 2"), 8, "workload.processors", "kind enqueue runs none of them", nil},
		{"sync_interval without interval", insert(4, "store:", "  sync: always", "  sync_interval: 10ms"), 7, "store.sync_interval", "does not apply with sync: always", nil},
		{"multi-line description", edit(3, "description: |", "  one", "  two"), 3, "description", "must be one line", nil},
		{"unknown check", edit(12, "checks: [no-loss, no-lost]"), 12, "checks[1]", `"no-lost" is not allowed`, nil},
		{"unknown error name", edit(12, "checks: [error-is(wrong-password)]"), 12, "checks[0]", `"wrong-password" is not allowed`, nil},
		{"duplicate check", edit(12, "checks: [no-loss, no-loss]"), 12, "checks[1]", "listed twice", nil},
		{"check without its fault", edit(12, "checks: [no-resurrection]"), 12, "checks[0]", "no fault step can make no-resurrection hold or fail", nil},
		{"fifo without claims", edit(12, "checks: [fifo]"), 12, "checks[0]", "fifo needs a workload that claims ops", nil},
		{"missing checks", edit(12), 1, "checks", "missing", nil},
		{"bad percentile", insert(12, "thresholds:", "  enqueue:", "    p95: 5ms"), 15, "thresholds.enqueue.p95", `"p95" is not allowed`, nil},
		{"bad threshold op", insert(12, "thresholds:", "  push: {p99: 5ms}"), 14, "thresholds.push", `"push" is not allowed`, nil},
		{"bad threshold duration", insert(12, "thresholds:", "  enqueue:", "    p99.9: fast"), 15, "thresholds.enqueue.p99.9", `"fast" is not a duration`, nil},
		{"thresholds not monotone", insert(12, "thresholds:", "  enqueue:", "    p50: 10ms", "    p99: 5ms"), 16, "thresholds.enqueue.p99", "5ms is below p50's 10ms", nil},
		{"scalar for mapping", replace("workload:\n  kind: enqueue\n  producers: 1\n  ops: 100\n", "workload: enqueue\n"), 5, "workload", `want a mapping, got "enqueue"`, nil},
		{"mapping for scalar", edit(2, "name: {first: t}"), 2, "name", "want a string, got a mapping", nil},
		{"anchor", edit(8, "  ops: &n 100"), 8, "workload.ops", "anchors and aliases are not supported", nil},
		{"tag", edit(8, "  ops: !!int 100"), 8, "workload.ops", "tag !!int is not supported", nil},
		{"duplicate key", insert(1, "version: 1"), 2, "", "already defined", nil},
		{"second document", valid + "---\n" + valid, 14, "", "a second YAML document", nil},
		{"top level is a list", "- version: 1\n", 1, "", "want a mapping of fields at the top level", nil},
		{"empty file", "# nothing here\n", 0, "", "the file is empty", nil},
		{"deep nesting", "version: 1\nname: " + strings.Repeat("[", 100) + "\n", 2, "", "nested more than", nil},
		{"compact nesting", "version: 1\nfaults:\n" + strings.Repeat("- ", 40) + "x\n", 3, "", "nested more than", nil},
		{"anchor flood", "version: 1\nname: t\n" + strings.Repeat("x: &a 1\n", 300), 259, "", "anchors and aliases are not supported", nil},
		{"syntax error", "version: 1\nname: \"t\n", 2, "", "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scenarios.Load("t.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("Load succeeded; source:\n%s", tt.src)
			}
			var e *scenarios.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is %T, want *scenarios.Error", err, err)
			}
			if got, want := e.File, "t.yaml"; got != want {
				t.Errorf("File = %q, want %q", got, want)
			}
			if got, want := e.Line, tt.wantLine; got != want {
				t.Errorf("Line = %d, want %d (%v)", got, want, err)
			}
			if got, want := e.Field, tt.wantField; got != want {
				t.Errorf("Field = %q, want %q (%v)", got, want, err)
			}
			if !strings.Contains(e.Msg, tt.wantMsg) {
				t.Errorf("Msg = %q, want it to contain %q", e.Msg, tt.wantMsg)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			prefix := "t.yaml:"
			if tt.wantLine == 0 {
				prefix = "t.yaml: "
			}
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("Error() = %q, want prefix %q", err, prefix)
			}
			if tt.wantField != "" && !strings.Contains(err.Error(), "field "+tt.wantField+": ") {
				t.Errorf("Error() = %q, want it to name field %s", err, tt.wantField)
			}
		})
	}
}

func TestLoad_ErrorFormat(t *testing.T) {
	_, err := scenarios.Load("dir/t.yaml", []byte(strings.Replace(valid, "kind: enqueue", "kind: enqueu", 1)))
	if got, want := err.Error(), `dir/t.yaml:6: field workload.kind: "enqueu" is not allowed; did you mean "enqueue"? one of: enqueue, cycle, mixed, claim, none`; got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
}

func TestLoad_DurationErrorUnwraps(t *testing.T) {
	_, err := scenarios.Load("t.yaml", []byte(insert(4, "store:", "  stale_after: soon")))
	var e *scenarios.Error
	if !errors.As(err, &e) || e.Unwrap() == nil {
		t.Fatalf("error %v does not wrap time.ParseDuration's error", err)
	}
}

func TestLoad_TooLarge(t *testing.T) {
	data := []byte(valid + "# " + strings.Repeat("x", scenarios.MaxSize) + "\n")
	_, err := scenarios.Load("t.yaml", data)
	if !errors.Is(err, scenarios.ErrTooLarge) {
		t.Fatalf("Load of %d bytes: %v, want ErrTooLarge", len(data), err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.yaml")
	if err := os.WriteFile(path, []byte(valid), 0o600); err != nil {
		t.Fatal(err)
	}
	sc, err := scenarios.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sc.File, path; got != want {
		t.Errorf("File = %q, want %q", got, want)
	}

	t.Run("missing", func(t *testing.T) {
		_, err := scenarios.LoadFile(filepath.Join(dir, "absent.yaml"))
		var e *scenarios.Error
		if !errors.As(err, &e) || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("LoadFile: %v, want an *Error wrapping os.ErrNotExist", err)
		}
	})
	t.Run("name from path", func(t *testing.T) {
		other := filepath.Join(dir, "other.yml")
		if err := os.WriteFile(other, []byte(valid), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := scenarios.LoadFile(other)
		var e *scenarios.Error
		if !errors.As(err, &e) || e.Field != "name" || e.File != other {
			t.Fatalf("LoadFile: %v, want a name mismatch in %s", err, other)
		}
	})
}

func TestScenario_Quick(t *testing.T) {
	src := strings.Replace(valid, "  ops: 100\n", "  ops: 10000\n  quick_ops: 1000\n", 1)
	src = strings.Replace(src, "  - at: {op: 50}\n", "  - at: {op: 5000}\n    type: backup\n  - at: {op_between: [6000, 9000]}\n", 1)
	sc, err := scenarios.Load("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	q := sc.Quick()
	if got, want := q.Workload.Ops, int64(1000); got != want {
		t.Errorf("quick Ops = %d, want %d", got, want)
	}
	if got, want := q.Faults[0].At.String(), "op 500"; got != want {
		t.Errorf("quick Faults[0].At = %s, want %s", got, want)
	}
	if got, want := q.Faults[1].At.String(), "op 600..900"; got != want {
		t.Errorf("quick Faults[1].At = %s, want %s", got, want)
	}
	if got, want := sc.Faults[0].At.String(), "op 5000"; got != want {
		t.Errorf("Quick changed the original: Faults[0].At = %s, want %s", got, want)
	}
	if got, want := sc.Workload.OpCount(true), int64(1000); got != want {
		t.Errorf("OpCount(true) = %d, want %d", got, want)
	}
}

// TestLoad_Full loads a file that sets every field and compares the result
// with testdata/full.golden.json; -update rewrites the golden file.
func TestLoad_Full(t *testing.T) {
	sc, err := scenarios.LoadFile(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "full.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Load(testdata/full.yaml) differs from %s; run go test -run TestLoad_Full -update and review the diff\ngot:\n%s", golden, got)
	}
}

func TestPercentile_Percent(t *testing.T) {
	for p, want := range map[scenarios.Percentile]float64{
		scenarios.P50: 50, scenarios.P999: 99.9, scenarios.P9999: 99.99, scenarios.PMax: 100,
	} {
		if got := p.Percent(); got != want {
			t.Errorf("%s.Percent() = %v, want %v", p, got, want)
		}
	}
}

func TestThresholds_Sorted(t *testing.T) {
	src := valid + "thresholds:\n  enqueue: {p99.9: 9ms, p50: 1ms}\n  claim: {max: 1s}\n"
	src = strings.Replace(src, "kind: enqueue\n  producers: 1\n", "kind: mixed\n  producers: 1\n  processors: 1\n", 1)
	sc, err := scenarios.Load("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []scenarios.Threshold{
		{Op: scenarios.OpEnqueue, Percentile: scenarios.P50, Limit: time.Millisecond},
		{Op: scenarios.OpEnqueue, Percentile: scenarios.P999, Limit: 9 * time.Millisecond},
		{Op: scenarios.OpClaim, Percentile: scenarios.PMax, Limit: time.Second},
	}
	if len(sc.Thresholds) != len(want) {
		t.Fatalf("Thresholds = %+v, want %+v", sc.Thresholds, want)
	}
	for i := range want {
		if got := sc.Thresholds[i]; got != want[i] {
			t.Errorf("Thresholds[%d] = %+v, want %+v", i, got, want[i])
		}
	}
}

// TestLoad_NotText checks that a binary or non-UTF-8 file is refused as
// such, with a short, valid UTF-8 message, before YAML quotes it back.
func TestLoad_NotText(t *testing.T) {
	binary := make([]byte, 8000)
	for i := range binary {
		binary[i] = byte(i*7 + i/3) // every byte value, most of them not text
	}
	for _, tc := range []struct {
		name string
		data string
		line int
	}{
		{"binary", string(binary), 1},
		{"latin-1 on line 2", "version: 1\nname: caf\xe9\n", 2},
		{"NUL byte on line 3", "version: 1\nname: t\ndescription: a\x00b\n", 3},
		{"PNG header", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scenarios.Load("t.yaml", []byte(tc.data))
			var se *scenarios.Error
			if !errors.As(err, &se) || !errors.Is(err, scenarios.ErrNotText) {
				t.Fatalf("err = %v, want an *Error wrapping ErrNotText", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "not a text file") || se.Line != tc.line {
				t.Errorf("error %q (line %d), want \"not a text file\" on line %d", msg, se.Line, tc.line)
			}
			if !utf8.ValidString(msg) || len(msg) > 300 {
				t.Errorf("error is %d bytes, valid UTF-8 %t: %q", len(msg), utf8.ValidString(msg), msg)
			}
		})
	}
}

// TestLoad_LongValueQuotedShort checks that an error quotes at most
// MaxQuoted characters of a value, then an ellipsis and its length.
func TestLoad_LongValueQuotedShort(t *testing.T) {
	long := strings.Repeat("Ab3", 2000)
	for _, tc := range []struct {
		name, data string
	}{
		{"bad name", strings.Replace(valid, "name: t", "name: "+long, 1)},
		{"bad number", strings.Replace(valid, "ops: 100", "ops: "+long, 1)},
		{"bad duration", insert(4, "store:", "  stale_after: "+long)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scenarios.Load("t.yaml", []byte(tc.data))
			if err == nil {
				t.Fatal("loaded")
			}
			msg := err.Error()
			want := `"` + long[:scenarios.MaxQuoted] + `"… (6000 bytes)`
			if !strings.Contains(msg, want) || len(msg) > 400 {
				t.Errorf("error (%d bytes) %q, want it to quote %s and stay short", len(msg), msg, want)
			}
		})
	}
}

func TestLoad_RepeatedKill(t *testing.T) {
	for _, tt := range []struct {
		name       string
		src        string
		every      int64
		count      int
		quickEvery int64
	}{
		{"one kill", valid, 0, 0, 0},
		{"every", insert(11, "    every: 10"), 10, 0, 10},
		{"every and count", insert(11, "    every: 10", "    count: 3"), 10, 3, 10},
		// The 50 ops after the first kill, spread over 5 kills.
		{"count alone", insert(11, "    count: 5"), 10, 5, 10},
		{"power-loss every and count", edit(11, "    type: power-loss", "    every: 10", "    count: 3"), 10, 3, 10},
		{"power-loss count alone", edit(11, "    type: power-loss", "    count: 5"), 10, 5, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := scenarios.Load("t.yaml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			f := sc.Faults[0]
			if got, want := f.Every, tt.every; got != want {
				t.Errorf("Every = %d, want %d", got, want)
			}
			if got, want := f.Count, tt.count; got != want {
				t.Errorf("Count = %d, want %d", got, want)
			}
			sc.Workload.QuickOps = 20
			if got, want := sc.Quick().Faults[0].Every, tt.quickEvery; got != want {
				t.Errorf("Quick().Every = %d, want %d: every is a distance between kills, never scaled", got, want)
			}
		})
	}
}
