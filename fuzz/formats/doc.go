// Package formats holds the go test -fuzz targets of the text formats
// boxstorm's tools read: scenario scripts (FuzzScenarioScript) and latency
// reports, .hlog, .hgrm and JSON summaries (FuzzReportReaders). Like
// package fuzz it has no API; the targets are in its _test.go files and
// their seed corpora under testdata/fuzz/<Target>/, written by
// `go generate ./fuzz/`.
//
// They live apart from the store's targets because go test -fuzz
// instruments every package a test binary links: the chart code that
// package reports brings in (gonum/plot and its fonts) more than doubled
// the coverage counters of the store targets, which every exec snapshots
// and the coordinator ships to each worker, and cost those targets a fifth
// of their execs per second.
package formats
