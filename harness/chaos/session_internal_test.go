package chaos

import (
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/scenarios"
)

// Every open of a run uses the scenario's store options, the checkpoint
// period included: without it the explorations could not hold a checkpoint
// write between a commit's write and its fsync.
func TestSessionOptions_CarryScenarioStoreOptions(t *testing.T) {
	src := `version: 1
name: t
description: options
protection: power-loss-durability
store:
  sync: always
  stale_after: 30s
  failed_ops_alert: 7
  checkpoint_period: 5ms
workload:
  kind: enqueue
  producers: 1
  ops: 10
checks: [no-loss]
`
	sc, err := scenarios.Load("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := &session{p: newPlan(sc, RunOptions{Seed: 1}, t.TempDir())}
	o := s.options(0)
	if o.CheckpointPeriod != 5*time.Millisecond || o.StaleAfter != 30*time.Second || o.FailedOpsAlert != 7 {
		t.Errorf("options: CheckpointPeriod %v StaleAfter %v FailedOpsAlert %d, want 5ms 30s 7", o.CheckpointPeriod, o.StaleAfter, o.FailedOpsAlert)
	}
}
