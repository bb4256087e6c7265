package chaos_test

import (
	"path/filepath"
	"testing"

	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/scenarios"
)

// A repeated power loss cuts the power after every kill, each with a seed
// of its own, and records a machine-crash restart with its crash time for
// each; the workload resumes after each and every check holds. Against
// the store that acknowledges commits without an fsync, no-loss fails.
func TestRunScenario_RepeatedPowerLoss(t *testing.T) {
	if err := faultfs.Available(); err != nil {
		t.Skipf("the fault file system is unavailable: %v", err)
	}
	t.Parallel()
	res := runChaos(t, "repeated-power-loss", false, 1)
	if res.Verdict != check.VerdictPass {
		t.Fatalf("verdict %s, want pass:\n%s", res.Verdict, describe(res))
	}
	if res.Kills < 2 {
		t.Fatalf("kills = %d, want several:\n%s", res.Kills, describe(res))
	}
	events, err := history.ReadHistoryFile(filepath.Join(res.Dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	seeds := map[any]bool{}
	cuts, crashes, kills := 0, 0, 0
	for _, e := range events {
		switch {
		case e.Kind == history.KindStoreState && e.State.Restart == history.RestartMachine:
			crashes++
			if e.State.CrashAt == 0 {
				t.Errorf("machine-crash restart at %d without its crash time", e.Call)
			}
		case e.Kind == history.KindFault && e.Fault.Type == string(scenarios.FaultPowerLoss) && e.Fault.Phase == history.FaultKill:
			kills++
		case e.Kind == history.KindFault && e.Fault.Type == string(scenarios.FaultPowerLoss) && e.Fault.Phase == history.FaultDone:
			cuts++
			if e.Fault.Err != "" {
				t.Errorf("power cut failed: %s", e.Fault.Err)
			}
			seeds[e.Fault.Detail["seed"]] = true
		}
	}
	if kills != res.Kills || cuts != res.Kills || crashes != res.Kills {
		t.Errorf("kills %d in the result; %d power-loss kills, %d power cuts and %d machine-crash restarts in the history, want one each per kill", res.Kills, kills, cuts, crashes)
	}
	if len(seeds) != cuts {
		t.Errorf("%d distinct seeds over %d power cuts, want one each", len(seeds), cuts)
	}
	if got := checkVerdict(res, "idempotency"); got != check.VerdictPass {
		t.Errorf("idempotency: %s, want pass", got)
	}

	res = runChaos(t, "repeated-power-loss", true, 1)
	if !res.Caught() {
		t.Fatalf("canary %s not caught:\n%s", res.Protection, describe(res))
	}
	if got := checkVerdict(res, "no-loss"); got != check.VerdictFail {
		t.Fatalf("no-loss: %s, want fail:\n%s", got, describe(res))
	}
}
