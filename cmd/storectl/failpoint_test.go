package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/boxstorm/boxstorm/internal/testutil"
)

// envName is the variable that, before failpoints moved to
// internal/failpoint, armed one in every binary that linked the store. It is
// spelled in two halves so this test binary, which clitest also runs as
// storectl, does not carry it whole either.
var envName = "BOXSTORM_" + "FAILPOINT"

// buildTool builds the command in ../name into dir.
func buildTool(t *testing.T, dir, name string) string { return testutil.BuildTool(t, dir, name) }

// TestNoFailpointInProductionBinaries builds storectl and loadgen, which
// must never arm a store failpoint: neither binary holds the name of the
// old failpoint variable, and storectl run with that variable set to a
// failpoint it passes through still enqueues, instead of killing itself.
func TestNoFailpointInProductionBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds storectl and loadgen")
	}
	t.Parallel()
	bin := t.TempDir()
	for _, name := range []string{"storectl", "loadgen"} {
		exe := buildTool(t, bin, name)
		b, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(envName)) {
			t.Errorf("%s contains the string %s", name, envName)
		}
		// The scan itself can fail: the failpoint names are in the binary,
		// because the store calls its failpoints by name.
		if !bytes.Contains(b, []byte("enqueue/after-write-before-sync")) {
			t.Errorf("%s does not contain a failpoint name: the string scan is broken", name)
		}
	}

	storectl := filepath.Join(bin, "storectl")
	work := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(storectl, args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), envName+"=enqueue/after-write-before-sync")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				t.Fatalf("storectl %s was killed by %v: a failpoint fired\n%s", strings.Join(args, " "), ws.Signal(), out)
			}
		}
		if err != nil {
			t.Fatalf("storectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("keygen", "k")
	run("--dir", "st", "--key-file", "k", "init")
	if out := run("--dir", "st", "--key-file", "k", "enqueue", "--count", "3", "--payload", "p"); !strings.Contains(out, "3 enqueued, 0 duplicates") {
		t.Fatalf("enqueue printed %q", out)
	}
	if out := run("--dir", "st", "--key-file", "k", "stats", "--json"); !strings.Contains(out, `"pending_ops.count": 3,`) {
		t.Fatalf("after three enqueues, stats printed %q", out)
	}
}
