package target_test

import (
	"bytes"
	"encoding/hex"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/store"
)

func conform(t *testing.T, cmd string, o target.Options) *target.ConformReport {
	t.Helper()
	rep, err := target.Conform(testCtx(t), target.ConformConfig{Command: cmd, WorkDir: t.TempDir(), Options: o})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestConform_StoreTarget(t *testing.T) {
	t.Parallel()
	cmd, o := self(t, "store")
	o.Env = append(o.Env, "BOXSTORM_FAKE_KEY="+hex.EncodeToString(store.NewKey()))
	rep := conform(t, cmd, o)
	var out bytes.Buffer
	rep.WriteFailures(&out)
	if !rep.Passed() {
		t.Fatalf("the reference store does not conform:\n%s", out.String())
	}
	if got, want := len(rep.Capabilities), len(target.CoreTypes())+len(target.OptionalTypes()); got != want {
		t.Errorf("capabilities %d, want %d", got, want)
	}
}

// A target that ignores the master key fails wrong-key and nothing else:
// the store it opened under the random key must not fail the reopen as
// locked.
func TestConform_IgnoredKeyFailsOnlyWrongKey(t *testing.T) {
	t.Parallel()
	cmd, o := self(t, "nokey")
	o.Env = append(o.Env, "BOXSTORM_FAKE_KEY="+hex.EncodeToString(store.NewKey()))
	rep := conform(t, cmd, o)
	var failed []string
	for _, c := range rep.Checks {
		if c.Result == target.ResultFail {
			failed = append(failed, c.Name+": "+c.Got)
		}
	}
	if len(failed) != 1 || !strings.HasPrefix(failed[0], "error wrong-key: ") {
		t.Errorf("failed checks %q, want only error wrong-key", failed)
	}
}

func TestConform_PythonTarget(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the Python example target cannot run")
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "examples", "targets", "python", "target.py")
	rep := conform(t, "'"+py+"' '"+script+"'", target.Options{})
	var out bytes.Buffer
	rep.WriteFailures(&out)
	if !rep.Passed() {
		t.Fatalf("the Python target does not conform:\n%s", out.String())
	}
}

// A target that answers everything with an empty success must fail, and
// the failure must name the request, what was sent and what came back.
func TestConform_FailureSaysWhat(t *testing.T) {
	t.Parallel()
	cmd, o := self(t, "echo")
	rep := conform(t, cmd, o)
	if rep.Passed() {
		t.Fatal("a target that answers nothing conforms")
	}
	var out bytes.Buffer
	rep.WriteFailures(&out)
	for _, want := range []string{"FAIL open", `sent: {"dir":`, `"type":"open","version":1}`, "want: version 1", "got:  "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("failures do not say %q:\n%s", want, out.String())
		}
	}
}

func TestConform_GarbageTargetFails(t *testing.T) {
	t.Parallel()
	cmd, o := self(t, "garbage")
	rep := conform(t, cmd, o)
	if rep.Passed() {
		t.Fatal("a target that prints garbage conforms")
	}
	var out bytes.Buffer
	rep.WriteFailures(&out)
	if !strings.Contains(out.String(), "not a JSON reply") {
		t.Errorf("failures do not name the garbage:\n%s", out.String())
	}
}
