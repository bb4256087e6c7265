// Package fuzz holds the go test -fuzz targets of boxstorm's store; those
// of the text formats the tools read are in fuzz/formats. It has no API:
// the targets are in its _test.go files, their seed corpora under
// testdata/fuzz/<Target>/, and the fixture store some of them damage or
// restore into under testdata/store/. docs/fuzzing.md says how to run a
// target, how to keep a crasher, and what each target guards.
//
// `go test ./fuzz/...` replays every corpus file as a regular test.
// `go generate ./fuzz/` rebuilds the fixture store and the seed-* corpus
// files of both packages with fuzz/internal/gencorpus; crashers kept by
// hand are left alone.
package fuzz

//go:generate go run ./internal/gencorpus
