// Package load is the harness's load engine: it runs a workload against a
// store, open or closed loop, and measures latency into HDR histograms.
// cmd/loadgen is built on it; it imports no chaos or check code.
//
// # Basics
//
//	w, err := load.NewStoreWorkload(ctx, s, load.WorkloadCycle, load.StoreWorkloadOptions{})
//	e := load.NewEngine(w)
//	e.Mode, e.Rate, e.Duration = load.OpenLoop, 2000, time.Minute
//	res, err := e.Run(ctx) // res.ReportRun() feeds package reports
//
// A [Workload] hands each worker its next [Op]; [Mix] and [Single] build
// one from ops, and [NewWorkload] builds the store workloads
// ([StoreWorkloads] lists them) over a [Backend]. A new workload is a
// Workload: a store workload goes in workloads.go, named in StoreWorkloads.
//
// # Backends
//
// A [Backend] is the few calls the store workloads make. The reference
// store serves in process ([NewStoreBackend]; [NewStoreWorkload] is the
// shortcut). Any store behind the target protocol (docs/target-protocol.md)
// serves as a [TargetBackend], a thin wrapper over the same
// [github.com/boxstorm/boxstorm/harness/target.Remote] chaos drives:
//
//	rem, err := target.Dial(ctx, target.RemoteConfig{Command: "storectl serve", Dir: dir, Key: masterKey,
//		Settings: &target.Settings{Sync: "always"}})
//	b, err := load.NewTargetBackend(rem) // b.Close closes rem
//	rt, err := b.MeasureRoundTrip(ctx, target.DefaultRoundTrips) // what the protocol adds
//	w, err := load.NewWorkload(ctx, b, load.WorkloadCycle, opts)
//
// Each op is one request, and every busy worker has one in flight, so the
// target's concurrency and group commit are measured, plus the round trip.
// A refusal is an op error, counted by its class ([TargetBackend.Errors]);
// a request that gets no reply (the target exited, broke the protocol or
// did not answer in time) is counted as [ClassTransport] and closes
// [TargetBackend.Broken], so the caller can stop the run.
//
// # Guarantees
//
//   - Open loop corrects for coordinated omission: latency counts from
//     each op's intended start; the service time is reported beside it.
//   - Each worker records into its own histograms, merged per interval;
//     a merge that drops values fails the run
//     ([github.com/boxstorm/boxstorm/reports.ErrMergeDropped]).
//   - A warm-up period runs first and is excluded from the results.
//   - A [Pause] stalls every op that starts in its window until the window
//     ends; the wait counts in both latencies, as a stall of the store
//     would.
//
// # Caveats
//
//   - The [Clock] is injectable for tests; [SystemClock] spins the last
//     [DefaultSpin] before an intended start, which costs CPU.
//   - Values above the histograms' highest trackable value are clamped
//     ([RecordClamped]) and counted, not dropped.
package load
