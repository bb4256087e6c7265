// Command loadgen measures the latency of boxstorm's reference store under
// load and renders the results as reports.
//
// Usage:
//
//	loadgen COMMAND [flags] [args]
//
// The commands:
//
//	run        run a workload against a store and write its reports
//	report     render the reports again from a run directory or .hlog files
//	compare    compare a run with a baseline; exit 1 on a regression
//	merge      merge the run.hlog files of shards exactly
//	workloads  list the workloads
//	help       show the usage of loadgen or of a command
//
// With no flags, "loadgen run" runs the cycle workload (enqueue, claim, ack)
// in an open loop at 500 ops/s for 20 s after a 2 s warm-up, against a
// temporary store with a fresh random key and fsync on every commit, and
// writes its reports to out/loadgen-<UTC time>/. Latency is measured from each
// op's intended start, correcting for coordinated omission; the uncorrected
// service time is reported beside it. docs/reports.md describes every file.
//
// Every run prints its seed; --seed replays the same op sequence per worker.
//
// With --faultfs the store runs on the fault file system (harness/faultfs,
// docs/faults.md), a FUSE mount served by loadgen itself re-executed as its
// hidden __faultfs subcommand; --slow-io MEDIAN[,P99] also delays its writes
// and fsyncs by seeded log-normal draws. Both need root and /dev/fuse and
// fail without them. docs/performance.md gives the mount's overhead.
//
// With --target CMD the store is another process, in any language, that
// speaks the target protocol (docs/target-protocol.md), such as
// "storectl serve": loadgen starts it, opens the run's store directory in
// it with the run's key and --sync mode, times 200 round trips of a cheap
// request and then drives the workload through it, one request in flight
// per busy worker. The reports name the target, show the protocol's round
// trip beside the latencies, and count failed requests by error class.
//
// Exit codes: 0 success; 1 a failed run (the store did not open, the
// target did not start, open or answer, a report could not be written, the
// run was interrupted) or a regression against the baseline; 2 a usage
// error. Errors are printed as "loadgen: error: …",
// usually followed by "loadgen: hint: …".
//
// Run "loadgen --help" for the command list and "loadgen help COMMAND" for a
// command's flags and examples.
package main
