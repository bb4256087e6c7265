// Package chaos runs boxstorm's chaos scenarios: it creates a store,
// drives a scenario's workload against it, injects the scenario's faults
// at their logical positions, reads the final state, runs the scenario's
// checks and writes the scenario's results. cmd/chaos is built on it.
//
// # Basics
//
//	res, err := chaos.RunScenario(ctx, sc, chaos.RunOptions{Seed: 42, Quick: true, OutDir: "out/run"})
//	// res.Verdict is pass, fail or unknown; res.Checks says why.
//	entry := res.Entry() // one row of the run's reports (package reports)
//
// Where things live: a run is four parts, each in its own file. The plan
// (plan.go) is the scenario, its options and its fault schedule; the
// store session (session.go) opens, closes and reopens the store with the
// run's key generation and migrations; the recorder is a
// history.History, through which every call, procedure and fault is
// recorded (record.go maps store errors onto outcomes and classes); the
// effects record is a check.Effects the faults fill in (damage, backups,
// restores, erased subjects, relocated records, corruption errors and
// repairs seen). The
// runner (chaos.go) ties them together; its workload is workload.go, fault
// injection faults.go and faults_index.go (the schedule and file damage in
// chaos/fault), what happens around a restart (producers resuming with
// their idempotency keys, a wrong-key open before the reopen) and the
// relocate fault restart.go, the crash worker worker.go, processor
// processes procs.go (their socket's wire and server in chaos/proc), the
// fault file system under the store faultfs.go and crash-state
// exploration explore.go (the explorer itself in chaos/explore); checks.go
// maps scenario checks onto package check, whose state checks judge the effects record; report.go
// writes the scenario's files. A new fault is a scenarios fault type,
// planned in chaos/fault, injected in faults.go, and if a check must judge
// what it did, recorded in check.Effects.
//
// # Guarantees
//
//   - Reproducible schedules: the fault schedule is a function of the
//     scenario and the seed only (fault.Schedule). Positions are op counts and
//     step numbers, op_between positions are drawn from the seed, and every
//     random choice a fault makes (the offset of a cut, the bits it flips)
//     comes from a per-fault seed recorded in faults.jsonl. The same seed
//     gives a byte-identical faults.jsonl on any machine; replaying a run
//     with its seed replays its schedule. Thread interleavings are not
//     replayed: they are the variable the checks must survive.
//   - Faults at an op position run with the workload stopped: the op gate
//     hands out op numbers, and the worker that would take number N waits
//     until ops 0..N-1 have returned, runs the faults at N, then lets every
//     worker go on. Step faults run after the workload, in order.
//   - Honest verdicts: a check that cannot be evaluated (porcupine timed
//     out, the final state is unreadable, the fault it needs could not be
//     injected, nothing exercised it) is reported as unknown, never as a
//     pass, and makes the scenario unknown. A fault the harness could not
//     inject adds the check faults-injected with verdict unknown.
//   - Checks can fail: every scenario names the protection it exercises,
//     and with RunOptions.Canary the store runs with that protection
//     switched off (store.Options.Canary). The tests prove that scenarios
//     report a violation against their known-bad target.
//
// # Fault model
//
// File damage (truncate, bitflip, garbage, nul-run) is done with the store
// closed; the store is then opened again, for the rest of the workload or
// for the next step. A kill or a disk-full fault moves the workload and the
// steps into a worker child: the chaos binary run as `chaos __worker`
// ([WorkerMain]), which records into a history.History whose Sink is its
// stdout, on the harness's clock, and the harness follows that stream into
// its own history (docs/worker-protocol.md, docs/history.md), so the
// parent keeps every call the child made up to the SIGKILL, with calls in
// flight recorded as never returned (outcome unknown). A kill with a
// failpoint passes --failpoint <name>@<n> to the child, which arms it:
// the store SIGKILLs the process at the n-th hit, where n is the fault's op
// position for an op fault and 1 for a step. The parent then reopens the
// store, records what the crash left as a store-state event, and, for a
// workload that claims, drains the queue as a restarted processor would
// (taking over the dead worker's lease with a clock StaleAfter ahead), so
// redeliveries after the crash are in the history. Then it runs the
// remaining steps and the checks. After a single kill the producers retry
// what they never heard back from; a kill or power-loss with every or
// count (kills.go) resumes the whole workload in a new worker after each
// crash, the same clients with the same idempotency keys.
// Disk full sets RLIMIT_FSIZE in the child to the largest store file plus
// the fault's limit, with SIGXFSZ ignored, so writes fail with EFBIG. A
// second open from another process runs `chaos __worker --open-only`.
//
// A scenario with a fault the fault file system serves (power-loss,
// fsync-error, enospc, slow-io, explore) runs its store directory on a
// harness/faultfs mount served by `chaos __faultfs`, unmounted when the
// scenario ends on every path; a worker child attaches to the same server
// (workerSpec.FaultFS). A power loss SIGKILLs the worker, which records
// the kill (phase "kill") first; the harness then cuts the power of the
// mount, reopens the store on what a disk would hold, and records the
// store-state event as a machine-crash restart with CrashAt set to the
// kill's time, from which no-loss applies the sync mode's promise; a
// repeated power loss does so after each of its kills, each seeded anew
// from the fault's seed (killSeed). Faults
// record through the run's history like any other; result.json's kills
// counts the "kill" events (SIGKILLs and power losses) and crash_states
// the crash states explore steps opened and checked.
//
// Each processor has its own clock (a skew is an offset on it), its own
// lease, and hands the lock over every 50 claims so skewed clocks meet.
// workload.processes adds processors in other processes: `chaos __worker
// --process N` runs the same processor loop. The store holds an exclusive
// flock on its directory, so these children cannot open it while the
// harness has it open; the harness serves its open store and its op gate
// to them over a Unix socket in the scenario's directory (package
// chaos/proc; docs/worker-protocol.md has the wire), so they stop at op
// positions with the goroutines. Each child records its calls as Proc
// "process-N", client "proc-processor-N", on the harness's clock, and
// streams them on stdout like a crash worker; the harness merges them into
// the one history. A child that crashes, writes a line that is not an
// event or outlives the harness's processors by 30 s is reported in the
// notes and makes faults-injected unknown.
// Stall and clock-skew faults target processor goroutines only. A
// stall puts the processor to sleep while it holds its lease and a claim,
// as a GC pause or a stopped VM would; until the stalled processor has
// the lock, every holder hands it over after each claim, so the stall
// comes soon whatever the number of processors. A refused acquire is
// retried after 2 ms, doubling to 16 ms, so waiting processors do not
// swamp the history. Handler failures fail a seeded fraction of claims
// with Store.Fail.
//
// # Targets
//
// With RunOptions.Target the session's store is a target.Remote (each open
// starts the target, each close ends it) instead of target.Local; what that
// changes for kills, steps and checks is in docs/target-protocol.md.
//
// # Checks
//
// no-loss, no-unexpected, duplicates, fifo, fencing and linearizable run
// the history checkers of package check over the run's calls, with a store-state event after
// a crash and at the end. no-loss after a restore is judged by the runner:
// ops acknowledged before the restored backup must survive, and the ops
// acknowledged after it, with an audit marker written right after the
// backup, must be wholly there or wholly gone. no-plaintext scans every
// file of the store directory and the backups for the payload prefix every
// harness payload starts with. integrity-reported wants each damage either
// refused at open with a corruption error naming the box and a file
// offset, or repaired with a quarantine copy that exists and an audit
// entry. alert-fired reads Store.Stats. error-is(<name>) maps each name to
// the store's sentinel errors ([ErrorClass]) and, for wrong keys and
// schema mismatches, also compares hashes of the live files before and
// after. The runner adds migration-atomicity to scenarios with migrate
// steps (synthetic migrations append their version to one record, which
// must list every version up to the schema version) and fifo-probe to
// fifo-order scenarios whose workload claims nothing.
//
// # Caveats
//
//   - Latency in a chaos run is the service time of each call, from the
//     history; chaos runs are closed loops. Thresholds are enforced in full
//     runs and only advisory (unknown) in --quick runs.
//   - Processor processes reach the store through the harness, not
//     through their own open: their store calls cross a socket, which
//     adds a round trip to each, and a processor's clock reading travels
//     with the call. A process killed for an unreadable event line may
//     have made a call the history misses.
//   - Index damage is made as real processes leave it (faults_index.go);
//     dangling-ids is not injected. integrity-reported wants the next open
//     to detect it; a rebuild-index step finding it is noted, not counted.
//   - rotate-key's batch is ignored: Store.RotateKey has no batch option.
//   - A failpoint armed at @n counts hits from the process start, not from
//     the fault's position; for the enqueue failpoint the two agree.
//   - porcupine's search is exponential in overlapping calls; a timeout is
//     unknown, and large histories often time out.
package chaos
