package chaos

// Repeated kills, as Jepsen's nemesis does them: a kill or power-loss fault
// with every set kills a worker child (a power loss then cuts the power of
// the fault file system under the store, seeded anew for each), the
// harness reopens the store and records what the crash left, the producers
// retry what they never heard back from with the same idempotency keys, a
// processor takes over the dead worker's lease and drains the queue, and a
// new worker resumes the same clients' workload until the next crash,
// every ops later.

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/scenarios"
)

// repeatedKill returns the schedule's repeating kill or power loss (Every).
func (p *plan) repeatedKill() (fault.PlannedFault, bool) {
	for _, f := range p.faults {
		if f.Type.Repeats() && f.Fault.Every > 0 && f.AtOp() {
			return f, true
		}
	}
	return fault.PlannedFault{}, false
}

// runKills runs the workload in workers killed by kf, one after another:
// the first at kf's op, each next one kf.Fault.Every ops into its own
// segment, until kf.Fault.Count kills have fired (when set) or the
// workload's ops are done. After each kill of a power-loss fault the power
// is cut too (killSeed), and the restart is a machine crash. The steps
// after the workload run once the last worker is gone.
func (r *chaosRun) runKills(ctx context.Context, kf fault.PlannedFault) error {
	w := r.p.sc.Workload
	at := max(kf.Op, 1)
	var done int64
	kills := 0
	resume := map[string]int64{}
	for seg := 0; ctx.Err() == nil; seg++ {
		left := w.Ops - done
		if left < at || (kf.Fault.Count > 0 && kills >= kf.Fault.Count) {
			break
		}
		spec := r.spec()
		spec.Scenario = r.segmentScenario(kf, left, at)
		spec.Resume, spec.Segment = resume, seg
		fp := ""
		if kf.Fault.Failpoint != "" && r.p.opts.Target == "" {
			fp = fmt.Sprintf("%s@%d", kf.Fault.Failpoint, at)
		}
		since := r.hist.Len()
		if err := r.startWorker(ctx, spec, fp, since); err != nil {
			return err
		}
		if !r.killed {
			r.note("repeated kill %d did not fire: the worker finished its %d ops", kills+1, left)
			break
		}
		kills++
		done += at
		at = kf.Fault.Every
		restart := history.RestartProcess
		if kf.Type == scenarios.FaultPowerLoss {
			kill, ok := r.powerLossKill(since)
			if !ok {
				r.note("repeated power loss %d: the worker died without reaching it; no power cut", kills)
			} else if r.cutPower(ctx, kf, killSeed(kf.Seed, kills), kill.Time) {
				restart = history.RestartMachine
			}
		}
		r.sess.opened = 0
		if err := r.sess.open(ctx, nil); err != nil {
			r.note("open after kill %d: %v", kills, err)
			return nil
		}
		// What the crash left, before the producers and the drain change it.
		r.observe(ctx, restart)
		r.sess.opened = 1
		if next := r.resumeProducers(ctx, since, false); next != nil {
			resume = next
		}
		r.drain(ctx)
		if err := r.sess.close(); err != nil {
			return fmt.Errorf("close store after kill %d: %w", kills, err)
		}
	}
	r.note("repeated %s: %d workers killed over %d ops; %d in-flight enqueues retried with their keys", kf.Type, kills, done, r.retried)
	if err := r.sess.open(ctx, nil); err != nil {
		r.note("open after the last kill: %v", err)
	}
	for _, p := range r.p.faults {
		if !p.AtOp() {
			r.applyFault(ctx, p)
		}
	}
	return nil
}

// killSeed is the seed of the n-th crash (from 1) of a repeated fault: each
// power loss keeps its own seeded subset of the unsynced writes.
func killSeed(seed uint64, n int) uint64 {
	return rand.New(rand.NewPCG(seed, uint64(n))).Uint64()
}

// segmentScenario is what one resumed worker runs: left ops, the kill at
// op at and no other op fault, nor any step.
func (r *chaosRun) segmentScenario(kf fault.PlannedFault, left, at int64) *scenarios.Scenario {
	sc := *r.p.sc
	sc.Workload.Ops = left
	k := kf.Fault
	k.Every, k.Count = 0, 0
	k.At = scenarios.Position{Kind: scenarios.AtOp, Op: at, OpMax: at}
	sc.Faults = []scenarios.Fault{k}
	return &sc
}
