// Package scenarios holds boxstorm's chaos scenario scripts and their
// loader.
//
// A scenario is a YAML file, one per file, that says how to open the
// store, what load to drive, which faults to inject and when, and which
// checks must hold afterwards. The files are data: they can be read and
// written without Go. docs/scenarios.md is the full reference for the
// format; this package is its only reader. The package imports neither
// the store nor the harness.
//
// # Loading
//
// [Load] parses and validates one file's bytes, [LoadFile] reads one from
// disk, and [Builtin] and [Lookup] load the scenarios shipped in this
// directory, which are embedded so that the chaos tool needs no files at
// run time. A loaded [Scenario] has every default filled in and every
// value checked; [Scenario.Quick] scales it down for a --quick run.
//
// # Validation
//
// Unknown fields, values of the wrong type and values out of range are
// rejected, and so are combinations that cannot work, such as a restore
// with no backup before it or a fifo check on a workload that claims
// nothing. Every error is an [*Error] that names the file, the line and
// the field's path, and usually carries a hint:
//
//	clock-skew-lock.yaml:22: field faults[1].offset: "-5 min" is not a duration; durations take a unit, as in 500ms, 2s or 5m
//
// No input makes the loader panic; files larger than [MaxSize] are refused
// before they are parsed.
//
// # Logical positions
//
// A fault's position is an op count or a step number, never a wall time,
// so the same seed always gives the same fault schedule. Steps run after
// the workload, in increasing order; the fault list is written in the
// order the faults run.
//
// # Backwards compatibility
//
// Every file starts with "version: 1". A change that would make an
// existing file mean something else gets a new version number; the loader
// refuses versions it does not know with an error wrapping
// [ErrUnsupportedVersion].
package scenarios
