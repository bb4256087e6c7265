// Package check holds the harness's checkers: pure functions over a
// history (package history) that never look at a store, so each can be
// shown a history a correct store could never produce and must fail it.
//
// # Basics
//
//	r := check.CheckNoLoss(events, check.CheckOptions{Durability: check.DurabilityAlways})
//	if r.Verdict != check.VerdictPass { ... r.Violations ... }
//
// Every checker returns a [CheckResult] with a [Verdict]: pass, fail or
// unknown. Unknown is never a pass: the history was malformed, porcupine
// timed out, or nothing exercised the property. Each finding
// ([Violation]) carries its kind, a [Severity] and the smallest slice of
// history that shows it.
//
// The checkers: [CheckNoLoss], [CheckNoUnexpected], [CheckDuplicates],
// [CheckFIFO], [CheckFencing], [CheckNoResurrection] and
// [CheckLinearizable] (porcupine, with the queue and lock models in
// model.go and model_queue.go) over a history; [CheckNoPlaintext] over
// the files of a store directory. docs/checkers.md says what each proves
// and which bad history its test feeds it.
//
// # State checks
//
// A chaos run also judges what its own steps did, from plain data it
// hands over: an [Effects] record (damage done, index faults, backups,
// restores, erased subjects, corruption errors and repairs the store
// reported) and a [FinalState] (what the store held at the end). The state
// checks [CheckIntegrityReported], [CheckErrorIs],
// [CheckStaleTokenRefused], [CheckDiskFull], [CheckRestoreWhole] and
// [CheckMigrationAtomicity] are pure functions of those and the history;
// state_test.go feeds each hand-made good and bad fixtures.
// [ForgiveTornTails] adjusts a history for a torn-tail cut before the
// history checkers judge it.
//
// # Adding a checker
//
// A checker is a function of the history (and options) to a CheckResult,
// in its own file, with a Checker* name as scenario files spell it. Its
// test builds bad histories by hand (fixture_test.go has a builder and an
// in-memory queue with switchable protections) and asserts the verdict.
//
// # Caveats
//
//   - porcupine's search is exponential in overlapping calls: a timeout is
//     unknown, and large histories often time out. Partitioning by queue
//     keeps most histories small.
//   - A call that never returned may or may not have taken effect; the
//     checkers read it both ways, and a loss under a relaxed sync mode is
//     reported with severity expected, not as a violation.
package check
