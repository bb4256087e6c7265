package scenarios_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/scenarios"
)

// shipped is the list of scenarios the chaos issue requires.
var shipped = []string{
	"bit-flips", "clock-skew-lock", "concurrent-processors",
	"corrupted-box-recovery", "crash-during-backup", "crash-during-claim-ack",
	"crash-during-enqueue", "crash-during-key-rotation", "crash-during-migration",
	"crash-during-restore", "disk-full", "erase-then-restore", "failed-ops-growth",
	"index-corruption-rebuild", "malformed-timestamps", "mass-enqueue", "nul-run",
	"restore-schema-mismatch", "stale-lock-recovery", "truncated-mid-file",
	"truncated-tail", "two-process-open", "wrong-backup-key",
}

func builtin(t *testing.T) []*scenarios.Scenario {
	t.Helper()
	all, err := scenarios.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func TestBuiltin(t *testing.T) {
	all := builtin(t)
	var names []string
	for _, sc := range all {
		names = append(names, sc.Name)
		if got, want := sc.File, sc.Name+".yaml"; got != want {
			t.Errorf("%s: File = %q, want %q", sc.Name, got, want)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("Builtin() is not sorted by name: %v", names)
	}
	for _, name := range shipped {
		if !slices.Contains(names, name) {
			t.Errorf("built-in scenario %s is missing", name)
		}
	}

	// Every file in the directory is embedded, and nothing else is.
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		files[i] = strings.TrimSuffix(f, ".yaml")
	}
	// Glob sorts by file name, which puts "a-b.yaml" before "a.yaml";
	// Builtin sorts by scenario name.
	slices.Sort(files)
	if !slices.Equal(files, names) {
		t.Errorf("files on disk %v, embedded %v", files, names)
	}
}

func TestBuiltin_FreshValues(t *testing.T) {
	a, b := builtin(t), builtin(t)
	a[0].Name = "changed"
	if b[0].Name == "changed" {
		t.Error("Builtin returns shared values")
	}
}

func TestBuiltin_EveryProtectionCovered(t *testing.T) {
	covered := map[scenarios.Protection]bool{}
	for _, sc := range builtin(t) {
		covered[sc.Protection] = true
	}
	for _, p := range scenarios.Protections() {
		if !covered[p] {
			t.Errorf("no built-in scenario exercises protection %s", p)
		}
	}
}

func TestBuiltin_Quick(t *testing.T) {
	for _, sc := range builtin(t) {
		q := sc.Quick()
		if q.Workload.Ops != sc.Workload.QuickOps {
			t.Errorf("%s: quick Ops = %d, want QuickOps %d", sc.Name, q.Workload.Ops, sc.Workload.QuickOps)
		}
		for i, f := range q.Faults {
			if f.At.Kind != scenarios.AtStep && f.At.OpMax > q.Workload.Ops {
				t.Errorf("%s: quick faults[%d] at %s is beyond %d ops", sc.Name, i, f.At, q.Workload.Ops)
			}
		}
	}
}

// TestBuiltin_Requirements pins what the chaos issue asks of particular
// scenarios.
func TestBuiltin_Requirements(t *testing.T) {
	get := func(name string) *scenarios.Scenario {
		t.Helper()
		sc, err := scenarios.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	hasCheck := func(sc *scenarios.Scenario, c scenarios.CheckName) bool {
		return slices.ContainsFunc(sc.Checks, func(x scenarios.Check) bool { return x.Name == c })
	}

	skew := get("clock-skew-lock")
	var offsets []time.Duration
	for _, f := range skew.Faults {
		if f.Type == scenarios.FaultClockSkew {
			offsets = append(offsets, f.Offset)
		}
	}
	if skew.Workload.Processors != 2 || !slices.Equal(offsets, []time.Duration{5 * time.Minute, -5 * time.Minute}) || !hasCheck(skew, scenarios.CheckFencing) {
		t.Errorf("clock-skew-lock: %d processors, offsets %v, checks %v; want 2 processors at ±5m with fencing",
			skew.Workload.Processors, offsets, skew.Checks)
	}

	cp := get("concurrent-processors")
	if cp.Workload.Processors != 8 || cp.Workload.Processes != 4 {
		t.Errorf("concurrent-processors: %d goroutines and %d processes, want 8 and 4", cp.Workload.Processors, cp.Workload.Processes)
	}

	mass := get("mass-enqueue")
	if mass.Workload.Ops != 1_000_000 || mass.Workload.QuickOps > 50_000 || len(mass.Thresholds) == 0 {
		t.Errorf("mass-enqueue: ops %d, quick_ops %d, %d thresholds; want 1M ops, a small quick run and latency thresholds",
			mass.Workload.Ops, mass.Workload.QuickOps, len(mass.Thresholds))
	}

	for _, sc := range builtin(t) {
		if strings.HasPrefix(sc.Name, "crash-during-") && !slices.ContainsFunc(sc.Faults, func(f scenarios.Fault) bool {
			return f.Type == scenarios.FaultKill && f.Failpoint != ""
		}) {
			t.Errorf("%s has no kill at a failpoint", sc.Name)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, name := range []string{"truncated-tail", "truncated-tail.yaml"} {
		sc, err := scenarios.Lookup(name)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", name, err)
		}
		if got, want := sc.Name, "truncated-tail"; got != want {
			t.Errorf("Lookup(%q).Name = %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"no-such-scenario", "../go.mod", "", "testdata/full"} {
		if _, err := scenarios.Lookup(name); !errors.Is(err, scenarios.ErrNotFound) {
			t.Errorf("Lookup(%q) = %v, want ErrNotFound", name, err)
		}
	}
}

// TestDocs keeps docs/scenarios.md in step with the code: it must mention
// every shipped scenario and every value of every closed set.
func TestDocs(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "docs", "scenarios.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	mention := func(kind, name string) {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/scenarios.md does not mention %s `%s`", kind, name)
		}
	}
	for _, sc := range builtin(t) {
		mention("scenario", sc.Name)
	}
	for _, v := range scenarios.Protections() {
		mention("protection", string(v))
	}
	for _, v := range scenarios.FaultTypes() {
		mention("fault type", string(v))
	}
	for _, v := range scenarios.CheckNames() {
		mention("check", string(v))
	}
	for _, v := range scenarios.ErrorNames() {
		mention("error name", string(v))
	}
	for _, v := range scenarios.OpNames() {
		mention("threshold op", string(v))
	}
	for _, v := range scenarios.Percentiles() {
		mention("percentile", string(v))
	}
}
