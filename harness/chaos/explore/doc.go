// Package explore is the chaos runner's crash-state explorer: an explore
// step runs one procedure once on the fault file system, recording every
// mutating operation, then opens the store on each crash state the
// recording allows (faultfs.Explore, after ALICE and CrashMonkey) and
// checks it. The states are plain directories: checking them needs no
// FUSE.
//
// # Basics
//
//	res, cr, err := explore.Run(ctx, sess, mount, explore.Step{
//		Index: 3, Procedure: scenarios.ProcedureMigrate, States: 400, Seed: seed,
//		Dir: filepath.Join(scenarioDir, "explore-03"),
//	}, ev.Detail)
//	// res: result.json's explorations entry; cr: the explore(migrate) check.
//
// The run it belongs to is a [Session]: its store session (open, close,
// recover, the key of a key generation, and opening a crash state's
// directory), its directories and latest backup, its migrations, and
// where an erasure is noted. The package chaos implements it over its
// runner; chaos imports explore, never the other way.
//
// # In process and through a target
//
// The store is a target.Backend, so the same explorer serves the
// reference store in process (target.Local) and a target driven through
// the protocol (*target.Remote, chaos run --target): the procedure runs
// through the Backend, and Session.OpenDir opens each crash state with
// store.Open, or by starting the run's target command on it. In process
// a state's content is every record of every box; through a target it is
// what the state request reads back (pending ops with payload and seq,
// their FIFO order, failed ops with attempts, the schema version), which
// is what the checks below compare. Through a target purge and migrate
// are not explored (no protocol request; synthetic migrations cannot
// cross the protocol), nor a procedure whose request (backup, restore,
// erase, rotate-key, rebuild-index, recover) or state the target does not
// claim: the step cannot be injected, and the error says why.
//
// # What a crash state must show
//
// Each state is first opened with a wrong key, which must fail and change
// no byte; then with the key generation before the procedure, or the next
// one after a rotation. It must open (a recover procedure's state may
// still be refused as corrupt: wholly old), and its content must read.
// For enqueue and claim-ack, the queue must hold every op an enqueue
// acknowledged before the crash, with the payload it was enqueued with (in
// process a batch wholly or not at all; through a target a batch's
// enqueues are separate requests, each judged alone), no ack acknowledged
// before the crash may be undone, and nothing may appear that no enqueue
// made. For the other procedures the store's content must be wholly that
// before the procedure or wholly that after it; at the end of a procedure
// that returned success, wholly that after it.
//
// The first three states with a violation are kept as the crash left
// them, as violation-NNNNN beside the step's states; an exploration stops
// at 20 violations (Result.Truncated). docs/faults.md describes the bound
// and the core states.
//
// # Adding a procedure
//
// A procedure is a scenarios.Procedure* name: its setup (before the mark)
// and its one run go in explore.go; a procedure whose promise is not
// "wholly old or wholly new" gets its own check in crashstate.go, as the
// queue procedures have.
package explore
