// Package reports writes and reads the reports of boxstorm's load and chaos
// runs. It takes histograms and results, never a store: the harness fills a
// [Run], and the writers here render it.
//
// # Formats
//
//   - .hgrm ([WriteHgrm], [ReadHgrm]): HdrHistogram percentile distribution
//     in milliseconds, one op per file, readable by HdrHistogram's plotter.
//   - .hlog ([NewHlog], [WriteHlog], [ReadHlog], [MergeHlogs]): HdrHistogram
//     interval log, one tag per op, the raw material every other report can
//     be rebuilt from ([Hlog.Run]).
//   - JSON summary ([Summarize], [WriteJSON], [ReadSummary]): versioned,
//     machine-readable; the input of baseline comparisons.
//   - Markdown ([WriteMarkdown], [WriteComparisonMarkdown]): for CI step
//     summaries.
//   - Text ([WriteText], [WriteComparisonText]): for a terminal.
//   - HTML ([WriteHTML]): one self-contained page with inline SVG charts.
//     [LatencyTimeChart] draws its latency-over-time chart, with injected
//     pauses shaded as [Band]s, for other pages to inline too: the chaos
//     report shades its faults with it.
//   - JUnit XML ([WriteJUnit]): chaos results for CI test reporters.
//
// Every writer takes an io.Writer; [WriteFile] puts any of them into a file
// atomically. docs/reports.md describes each format field by field.
//
// # Corrected and uncorrected latency
//
// Every op carries two histograms. Corrected latency runs from the op's
// intended start (open loop: op i at i/rate) to its return, so it includes
// any time the op waited because the system, or the load generator, was
// stalled: it is what a user arriving on schedule would have seen.
// Uncorrected latency is the service time from the op's actual start; a
// stall hides in it, because the ops that would have measured the stall
// were never issued (coordinated omission). Tables show the two side by
// side, and comparisons use the corrected one.
//
// # Units and percentiles
//
// Histograms hold nanoseconds. Human-readable outputs print milliseconds
// with three decimals; the JSON summary gives both. The reported
// percentiles are p50, p90, p99, p99.9, p99.99 and max
// ([ReportedPercentiles]), read by [ValuesAtPercentiles] with HdrHistogram's
// reference rule (Java's getValueAtPercentile, hdr-histogram-js): the
// bucket at count rank ⌈p/100·N⌉, at least 1, reported as its highest
// equivalent value. hdrhistogram-go's own ValueAtPercentile rounds the rank
// half up and reads the tail one value low: do not use it for a figure.
//
// # Comparing with a baseline
//
// [Compare] checks each op's corrected percentiles against a baseline
// summary under per-percentile [Thresholds] (by default every percentile
// may regress by [DefaultMaxRegression] percent). The result lists every
// percentile with its delta and verdict, and the ops found on one side
// only; [Comparison.Failed] is the exit-code decision.
//
// # Caveats
//
//   - Readers take a name for error messages and report bad input as a
//     [*ParseError] naming the file and line. They never panic, and bound
//     what they read (line length, histogram size).
//   - Merging interval logs is exact or fails: values that do not fit the
//     destination histogram are an [ErrMergeDropped] error, never a silent
//     loss. Record every shard with the same histogram geometry.
//   - An .hlog keeps histograms only: error, late-start and clamp counts
//     live in the JSON summary.
package reports
