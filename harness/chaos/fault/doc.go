// Package fault plans a chaos scenario's faults and damages store files.
//
// # Basics
//
//	plan := fault.Schedule(sc, seed) // one PlannedFault per scenario fault
//	b, _ := fault.MarshalSchedule(plan) // faults.jsonl
//	d, err := fault.DamageBox(dir, f, p.Seed) // truncate, bitflip, garbage, nul-run
//
// [Schedule] is a function of the scenario and the seed only: positions
// are op counts and step numbers, op_between positions are drawn from the
// seed, and every random choice a fault makes comes from its per-fault
// seed. The same seed gives a byte-identical faults.jsonl on any machine.
// [DamageBox] changes a closed box's file and says what it did ([Damage]:
// the offset and length), so a check can ask whether the store noticed.
//
// # Adding a fault
//
// A fault type is declared in package scenarios (with its fields and
// their validation), planned here (its parameters in faults.jsonl), and
// injected by the chaos runner (harness/chaos, faults.go), which owns the
// store and the workload. A fault the runner cannot inject as written
// fails with [ErrUnsupportedFault], and the checks that need it report
// unknown.
//
// # Caveats
//
//   - Damage is done with the store closed; the runner reopens it.
//   - The schedule says where a fault runs, not when: wall-clock times of
//     the faults are in the run's results (fault events), not here.
package fault
