package chaos_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/boxstorm/boxstorm/harness/chaos"
	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/store"
)

// targetCommand is the hidden mode in which the test binary is the
// reference store's target (storectl serve's handler).
const targetCommand = "__test_target"

func init() {
	if len(os.Args) > 1 && os.Args[1] == targetCommand {
		t := &target.StoreTarget{Options: store.Options{}, Version: "test"}
		if err := t.ServeOn(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func runTarget(t *testing.T, name, command string) *chaos.ScenarioResult {
	t.Helper()
	res, err := chaos.RunScenario(context.Background(), lookup(t, name), chaos.RunOptions{
		Seed: 5, Quick: true, OutDir: t.TempDir(), Target: command,
	})
	if err != nil {
		t.Fatalf("RunScenario(%s, --target %s): %v", name, command, err)
	}
	if res.Target == nil || res.Target.Name == "" {
		t.Errorf("%s: result.json does not name the target", name)
	}
	return res
}

func verdicts(res *chaos.ScenarioResult) map[string]check.Verdict {
	m := map[string]check.Verdict{}
	for _, c := range res.Checks {
		m[c.Name] = c.Verdict
	}
	return m
}

// TestTarget_ReferenceStoreHolds: the reference store through the
// protocol holds through a kill with requests in flight, file damage and
// skewed processors, as it does in process.
func TestTarget_ReferenceStoreHolds(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := fmt.Sprintf("'%s' %s", exe, targetCommand)
	for _, name := range []string{"crash-during-enqueue", "truncated-tail", "clock-skew-lock", "two-process-open"} {
		t.Run(name, func(t *testing.T) {
			res := runTarget(t, name, cmd)
			if res.Verdict != check.VerdictPass {
				t.Errorf("verdict %s through the protocol, want pass; checks %v; notes %v; error %q", res.Verdict, verdicts(res), res.Notes, res.Error)
			}
		})
	}
}

// TestTarget_Explore: crash-state exploration through the protocol. The
// enqueue and claim-ack procedures run through the reference store as a
// target, each crash state is opened by starting the target on it, and
// every state holds what was acknowledged before its crash point.
func TestTarget_Explore(t *testing.T) {
	if err := faultfs.Available(); err != nil {
		t.Skipf("the fault file system is unavailable: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := fmt.Sprintf("'%s' %s", exe, targetCommand)
	for _, proc := range []string{"enqueue", "claim-ack"} {
		t.Run(proc, func(t *testing.T) {
			res := runTarget(t, "explore-"+proc, cmd)
			if res.Verdict != check.VerdictPass {
				t.Fatalf("verdict %s through the protocol, want pass; checks %v; notes %v; error %q", res.Verdict, verdicts(res), res.Notes, res.Error)
			}
			if v := verdicts(res)["explore("+proc+")"]; v != check.VerdictPass {
				t.Errorf("explore(%s) %s, want pass", proc, v)
			}
			if len(res.Explorations) != 1 || res.Explorations[0].States == 0 || res.Explorations[0].RecordedOps == 0 {
				t.Errorf("explorations %+v, want one with crash states explored", res.Explorations)
			}
		})
	}
}

// checkResult is res's check named name.
func checkResult(res *chaos.ScenarioResult, name string) check.CheckResult {
	for _, c := range res.Checks {
		if c.Name == name {
			return c
		}
	}
	return check.CheckResult{}
}

// TestTarget_NaiveTargetFails: the naive example target (no fsync, no fencing, no integrity checks) fails each scenario for
// the reason it is built to, and what it does not claim is unknown.
func TestTarget_NaiveTargetFails(t *testing.T) {
	if testing.Short() {
		t.Skip("builds examples/targets/naive")
	}
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(t.TempDir(), "naive")
	build := exec.Command("go", "build", "-o", bin, "./examples/targets/naive")
	build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build naive: %v\n%s", err, out)
	}
	fuse := faultfs.Available() == nil
	for _, tc := range []struct {
		scenario string
		fail     []string // checks that must fail
		unknown  []string // checks that must be unknown
		// why is check: text its message (a violation's kind, or the reason
		// it is unknown) must contain, when the fault file system is here.
		why []string
	}{
		{"power-loss-enqueue", []string{"no-loss"}, nil, nil},
		{"clock-skew-lock", []string{"fencing"}, nil, nil},
		{"truncated-mid-file", []string{"integrity-reported", "error-is(corrupt)", "no-plaintext"}, nil, nil},
		{"restore-schema-mismatch", nil, []string{"error-is(schema-mismatch)", "faults-injected"}, nil},
		// No fsync: a crash state loses enqueues acknowledged before it.
		{"explore-enqueue", []string{"explore(enqueue)"}, nil, []string{"explore(enqueue): acknowledged-lost"}},
		{"explore-backup", nil, []string{"faults-injected"}, []string{"faults-injected: does not claim the backup request"}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			res := runTarget(t, tc.scenario, "'"+bin+"'")
			v := verdicts(res)
			if v["faults-injected"] == check.VerdictUnknown && len(tc.unknown) == 0 {
				t.Skipf("the fault could not be injected here (no FUSE?): %v", res.Notes)
			}
			for _, name := range tc.fail {
				if v[name] != check.VerdictFail {
					t.Errorf("%s: %s, want fail; checks %v", tc.scenario, v[name], v)
				}
			}
			for _, name := range tc.unknown {
				if v[name] != check.VerdictUnknown {
					t.Errorf("%s: %s, want unknown; checks %v", tc.scenario, v[name], v)
				}
			}
			for _, w := range tc.why {
				name, want, _ := strings.Cut(w, ": ")
				c := checkResult(res, name)
				text := c.Message
				for _, v := range c.Violations {
					text += " " + v.Kind
				}
				if fuse && !strings.Contains(text, want) {
					t.Errorf("%s: %s says %q, want %q", tc.scenario, name, text, want)
				}
			}
			if res.Target.Name != "boxstorm-naive" {
				t.Errorf("target %q, want boxstorm-naive", res.Target.Name)
			}
			if slices.Contains(res.Target.Capabilities, target.TypeRestore) {
				t.Errorf("naive claims restore: %v", res.Target.Capabilities)
			}
		})
	}
}

// TestTarget_PythonKeepsItsPromises: the Python example keeps what its
// open reply promises through the faults that test it: power losses under
// sync interval (op ids never reused), a failed fsync, ENOSPC, RLIMIT_FSIZE and kills around a
// key rotation. No check fails, and the checks of its promises pass.
func TestTarget_PythonKeepsItsPromises(t *testing.T) {
	if testing.Short() {
		t.Skip("runs scenarios through python3")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	_, file, _, _ := runtime.Caller(0)
	cmd := fmt.Sprintf("'%s' '%s'", py, filepath.Join(filepath.Dir(file), "..", "..", "examples", "targets", "python", "target.py"))
	for _, tc := range []struct {
		scenario string
		pass     []string // checks that must pass
	}{
		{"power-loss-interval", []string{"no-loss"}},
		{"repeated-power-loss-interval", []string{"no-loss"}},
		{"fsync-error", []string{"no-loss", "error-is(disk-full)"}},
		{"enospc", []string{"no-loss", "error-is(disk-full)"}},
		{"disk-full", []string{"error-is(disk-full)"}},
		{"crash-during-key-rotation", []string{"no-loss"}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			res := runTarget(t, tc.scenario, cmd)
			v := verdicts(res)
			if v["faults-injected"] == check.VerdictUnknown {
				t.Skipf("the fault could not be injected here (no FUSE?): %v", res.Notes)
			}
			for name, verdict := range v {
				if verdict == check.VerdictFail {
					t.Errorf("%s: %s fails; checks %v", tc.scenario, name, v)
				}
			}
			for _, name := range tc.pass {
				if v[name] != check.VerdictPass {
					t.Errorf("%s: %s is %s, want pass; checks %v", tc.scenario, name, v[name], v)
				}
			}
			if !slices.Contains(res.Target.Promises, target.PromiseDurable) {
				t.Errorf("result.json's target promises %v, want durable among them", res.Target.Promises)
			}
		})
	}
}
