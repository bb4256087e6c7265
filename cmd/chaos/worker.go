package main

import (
	"github.com/boxstorm/boxstorm/harness/chaos"
)

// workerCommand is the hidden worker mode. run() hands its arguments to
// chaos.WorkerMain before any flag parsing, so the entry has no Setup: it
// only keeps the name reserved in the table, out of the help and the
// did-you-mean suggestions.
var workerCommand = command{
	Hidden:  true,
	Summary: "internal: a worker child of a chaos run",
	Usage:   chaos.WorkerCommand + " --spec FILE [--failpoint NAME@N] [--process N] | --open-only --dir DIR",
}
