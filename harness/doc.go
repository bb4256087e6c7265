// Package harness is boxstorm's load and chaos harness. It holds no code:
// the harness is the packages below it, each with one role, and imports
// run one way between them (chaos → check → history; load stands alone).
//
//   - [github.com/boxstorm/boxstorm/harness/history]: the event type, the
//     recorder, and the JSON-lines reader and writer: the one format in
//     which the runner, its crash worker and its processor processes all
//     record (docs/history.md). Every other harness package speaks it.
//   - [github.com/boxstorm/boxstorm/harness/check]: the checkers and
//     porcupine models, pure functions over a history, and the state checks,
//     pure functions over a history, a chaos run's record of fault effects
//     (Effects) and its final state. A new checker goes here, with a test
//     that feeds it hand-made bad input.
//   - [github.com/boxstorm/boxstorm/harness/load]: the load engine, clocks,
//     pauses, histograms and store workloads behind cmd/loadgen. A new
//     workload goes here. It imports no chaos or check code.
//   - [github.com/boxstorm/boxstorm/harness/chaos]: the scenario runner
//     behind cmd/chaos: workload, fault injection, worker and processor
//     processes, per-scenario results. A new fault is planned in
//     chaos/fault and injected in chaos (faults.go).
//   - [github.com/boxstorm/boxstorm/harness/chaos/fault]: the fault
//     schedule (which fault runs when, from the seed) and file damage.
//   - [github.com/boxstorm/boxstorm/harness/chaos/proc]: the wire of the
//     processor socket, its server and its client (docs/worker-protocol.md).
//   - [github.com/boxstorm/boxstorm/harness/chaos/explore]: the
//     crash-state explorer of explore steps; a new explore procedure goes
//     here.
//
// chaos imports its subpackages (fault, proc, explore); they never import
// chaos.
//
// The run's reports (summary, Markdown, HTML, JUnit) are written by
// package reports, which imports no harness package.
package harness
