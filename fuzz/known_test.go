package fuzz_test

import (
	"flag"
	"testing"
)

// strict turns the known issues below back into failures: run
// `go test ./fuzz/ -strict` to see whether they are fixed.
var strict = flag.Bool("strict", false, "fail on the known issues of known_test.go instead of skipping the inputs that hit them")

// knownIssues are bugs the fuzz targets found in other packages and that
// are not fixed yet. An input that hits one is skipped (unless -strict), so
// that the default run passes and fuzzing goes on looking for new bugs; the
// corpus keeps a seed that reproduces each. Delete an entry, and the check
// that uses it, when the bug is fixed.
var knownIssues = map[string]string{}

// knownIssue skips the current input as a hit of known issue id, unless
// -strict is set.
func knownIssue(t *testing.T, id string) {
	t.Helper()
	desc, ok := knownIssues[id]
	if !ok {
		t.Fatalf("unknown known issue %q", id)
	}
	if !*strict {
		t.Skipf("known issue %s: %s", id, desc)
	}
}
