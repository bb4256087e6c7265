package chaos_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/boxstorm/boxstorm/harness/chaos"
	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

// The chaos runner starts worker children from the running binary; in a
// test that is the test binary, which serves them here before the testing
// package parses any flag.
// The test binary stands in for chaos: run as `chaos __faultfs`, it serves
// the fault file system; run as `chaos __worker`, it is a
// worker or processor process (one that misbehaves on purpose first, when
// a test asks procTestChild to).
func init() {
	testutil.QuietRaceExit()
	if len(os.Args) > 1 && os.Args[1] == chaos.FaultFSCommand {
		os.Exit(faultfs.ServeMain(context.Background(), os.Args[2:], os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == chaos.WorkerCommand {
		procTestChild()
		os.Exit(chaos.WorkerMain(context.Background(), os.Args[2:], os.Stdout, os.Stderr))
	}
}

func lookup(t *testing.T, name string) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func runChaos(t *testing.T, name string, canary bool, seed uint64) *chaos.ScenarioResult {
	t.Helper()
	res, err := chaos.RunScenario(context.Background(), lookup(t, name), chaos.RunOptions{
		Seed: seed, Quick: true, Canary: canary, OutDir: t.TempDir(),
	})
	if err != nil {
		t.Fatalf("RunScenario(%s): %v", name, err)
	}
	return res
}

func checkVerdict(res *chaos.ScenarioResult, name string) check.Verdict {
	for _, c := range res.Checks {
		if c.Name == name {
			return c.Verdict
		}
	}
	return "absent"
}

func describe(res *chaos.ScenarioResult) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s: %s (error %q, notes %v)\n", res.Scenario, res.Verdict, res.Error, res.Notes)
	for _, c := range res.Checks {
		fmt.Fprintf(&b, "  %s\n", c)
	}
	return b.String()
}

func TestSchedule_SameSeedSameBytes(t *testing.T) {
	t.Parallel()
	sc := lookup(t, "crash-during-enqueue").Quick()
	a, err := fault.MarshalSchedule(fault.Schedule(sc, 42))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := fault.MarshalSchedule(fault.Schedule(sc, 42))
	if !bytes.Equal(a, b) {
		t.Fatalf("same seed, different schedules:\n%s\n%s", a, b)
	}
	// op_between draws from 100 positions: two seeds can collide, ten
	// cannot all do so.
	differs := false
	for seed := uint64(1); seed <= 10 && !differs; seed++ {
		c, _ := fault.MarshalSchedule(fault.Schedule(sc, seed))
		differs = !bytes.Equal(a, c)
	}
	if !differs {
		t.Fatalf("seeds 1-10 all give the schedule of seed 42:\n%s", a)
	}
	p := fault.Schedule(sc, 42)[0]
	if p.Op < 100 || p.Op > 900 || !p.AtOp() {
		t.Fatalf("kill at %+v, want an op position in [100, 900] (op_between [1000, 9000] scaled by 1/10)", p)
	}
}

func TestRunScenario_FaultsFileIsDeterministic(t *testing.T) {
	t.Parallel()
	read := func(seed uint64) []byte {
		res := runChaos(t, "truncated-tail", false, seed)
		b, err := os.ReadFile(filepath.Join(res.Dir, "faults.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := read(7), read(7), read(8)
	if !bytes.Equal(a, b) {
		t.Fatalf("faults.jsonl differs for one seed:\n%s\n%s", a, b)
	}
	if bytes.Equal(a, c) {
		t.Fatalf("faults.jsonl is the same for seeds 7 and 8:\n%s", a)
	}
}

// Scenarios against the real store hold, and leave their reports.
func TestRunScenario_Holds(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"truncated-tail", "two-process-open", "restore-schema-mismatch", "erase-then-restore", "crash-during-backup", "failed-ops-growth", "index-corruption-rebuild", "malformed-timestamps", "crash-during-restore"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := runChaos(t, name, false, 1)
			if res.Verdict != check.VerdictPass {
				t.Fatalf("verdict %s, want pass:\n%s", res.Verdict, describe(res))
			}
			for _, f := range []string{"result.json", "faults.jsonl", "history.jsonl", "enqueue.hgrm"} {
				if _, err := os.Stat(filepath.Join(res.Dir, f)); err != nil {
					t.Errorf("no %s: %v", f, err)
				}
			}
		})
	}
}

// Every scenario here must catch its known-bad target, through the check
// named: the checks can fail.
func TestRunScenario_CanaryCaught(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ scenario, check string }{
		{"clock-skew-lock", "fencing"},
		{"stale-lock-recovery", "error-is(stale-token)"},
		{"two-process-open", "error-is(locked)"},
		{"restore-schema-mismatch", "error-is(schema-mismatch)"},
		{"erase-then-restore", "no-resurrection"},
		{"truncated-tail", "integrity-reported"},
		{"truncated-mid-file", "error-is(corrupt)"},
		{"crash-during-enqueue", "no-loss"},
		{"crash-during-restore", "no-loss"},
		{"wrong-backup-key", "error-is(wrong-key)"},
		{"failed-ops-growth", "alert-fired"},
		{"disk-full", "error-is(disk-full)"},
		{"mass-enqueue", chaos.CheckFIFOProbe},
		{"index-corruption-rebuild", "integrity-reported"},
		{"malformed-timestamps", "integrity-reported"},
		{"bit-flips", "integrity-reported"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			res := runChaos(t, tc.scenario, true, 1)
			if !res.Caught() {
				t.Fatalf("canary %s not caught:\n%s", res.Protection, describe(res))
			}
			if got := checkVerdict(res, tc.check); got != check.VerdictFail {
				t.Fatalf("check %s: %s, want fail:\n%s", tc.check, got, describe(res))
			}
		})
	}
}

// Migrate steps pass their synthetic migrations to the store as options,
// so this test runs in parallel with others.
func TestRunScenario_Migration(t *testing.T) {
	t.Parallel()
	res := runChaos(t, "crash-during-migration", false, 1)
	if res.Verdict != check.VerdictPass {
		t.Fatalf("verdict %s, want pass:\n%s", res.Verdict, describe(res))
	}
	res = runChaos(t, "crash-during-migration", true, 1)
	if got := checkVerdict(res, chaos.CheckMigrationAtomicity); got != check.VerdictFail || !res.Caught() {
		t.Fatalf("canary: %s is %s, want fail:\n%s", chaos.CheckMigrationAtomicity, got, describe(res))
	}
}

func TestErrorClass(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"wrong key", fmt.Errorf("open: %w", store.ErrWrongKey), "wrong-key"},
		{"backup wrong key", store.ErrBackupWrongKey, "wrong-key"},
		{"corrupt", &store.CorruptionError{Box: "pending_ops", Offset: 3}, "corrupt"},
		{"locked", &store.LockedError{Dir: "d"}, "locked"},
		{"stale token", store.ErrStaleToken, "stale-token"},
		{"schema", store.ErrSchemaMismatch, "schema-mismatch"},
		{"sync", store.ErrSync, "disk-full"},
		{"efbig", &os.PathError{Op: "write", Path: "x", Err: syscall.EFBIG}, "disk-full"},
		{"enospc", syscall.ENOSPC, "disk-full"},
		{"truncated backup", store.ErrBackupTruncated, "backup-invalid"},
		{"tampered backup", store.ErrBackupTampered, "backup-invalid"},
		{"other", errors.New("boom"), "other"},
		{"nil", nil, ""},
	} {
		if got := chaos.ErrorClass(tc.err); got != tc.want {
			t.Errorf("%s: ErrorClass = %q, want %q", tc.name, got, tc.want)
		}
	}
	for _, n := range scenarios.ErrorNames() {
		if !slices.ContainsFunc([]string{"wrong-key", "corrupt", "locked", "stale-token", "schema-mismatch", "disk-full", "backup-invalid"}, func(s string) bool { return s == string(n) }) {
			t.Errorf("error name %s has no class", n)
		}
	}
}

// history.jsonl is the run's one record: the runbook procedures the
// runner called and the faults it injected are in it beside the queue
// calls, and no second call log is written.
func TestRunScenario_OneHistory(t *testing.T) {
	res := runChaos(t, "corrupted-box-recovery", false, 1)
	events, err := history.ReadHistoryFile(filepath.Join(res.Dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[history.OpKind]int{}
	faults := 0
	for _, e := range events {
		kinds[e.Kind]++
		if e.Kind == history.KindFault {
			faults++
			if e.Fault.Type == "" || e.Fault.Phase == "" {
				t.Errorf("fault event without type or phase: %s", e)
			}
		}
		if e.Kind == history.KindOpen && e.Client != "harness" {
			t.Errorf("open by %q, want harness", e.Client)
		}
	}
	for _, k := range []history.OpKind{history.KindOpen, history.KindClose, history.KindBackup, history.KindEnqueue, history.KindStoreState, history.KindFault} {
		if kinds[k] == 0 {
			t.Errorf("no %s event in history.jsonl (kinds: %v)", k, kinds)
		}
	}
	if got, want := faults, len(res.Faults); got != want {
		t.Errorf("%d fault events in history.jsonl, result.json lists %d", got, want)
	}
	if _, err := os.Stat(filepath.Join(res.Dir, "ops.jsonl")); !os.IsNotExist(err) {
		t.Errorf("ops.jsonl written: %v", err)
	}
}
