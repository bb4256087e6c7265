package target_test

import (
	"bytes"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

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

// A target that does not promise keyed and ignores the key conforms: its
// wrong-key row is "not promised", not a failure.
func TestConform_UnpromisedIsNotAFailure(t *testing.T) {
	t.Parallel()
	cmd, o := self(t, "nokey-unpromised")
	o.Env = append(o.Env, "BOXSTORM_FAKE_KEY="+hex.EncodeToString(store.NewKey()))
	rep := conform(t, cmd, o)
	if !rep.Passed() {
		var out bytes.Buffer
		rep.WriteFailures(&out)
		t.Fatalf("a target failing only what it does not promise does not conform:\n%s", out.String())
	}
	i := slices.IndexFunc(rep.Checks, func(c target.Check) bool { return c.Name == "error "+target.ClassWrongKey })
	if i < 0 || rep.Checks[i].Result != target.ResultNotPromised {
		t.Errorf("wrong-key row %+v, want %q", rep.Checks[i], target.ResultNotPromised)
	}
}

func TestConform_PythonTarget(t *testing.T) {
	t.Parallel()
	rep := conform(t, pythonTarget(t), target.Options{})
	var out bytes.Buffer
	rep.WriteFailures(&out)
	if !rep.Passed() {
		t.Fatalf("the Python target does not conform:\n%s", out.String())
	}
	// The harness's reads: chaos judges the final state only through them.
	for _, typ := range []string{target.TypeState, target.TypeExport, target.TypeAudit} {
		if !slices.Contains(rep.Capabilities, typ) {
			t.Errorf("the Python target does not claim %s", typ)
		}
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

// Conform of a target that stops answering or exits must end, failing,
// with the reason and the target's name, and must not hang.
func TestConform_BrokenTargetsFail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ mode, msg string }{
		{"silent", "no reply within"},
		{"dies", "fake: giving up after open"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			cmd, o := self(t, tc.mode)
			o.Timeout, o.CloseGrace = time.Second, time.Second
			rep := conform(t, cmd, o)
			if rep.Passed() {
				t.Fatalf("a %s target conforms", tc.mode)
			}
			var out bytes.Buffer
			rep.WriteFailures(&out)
			for _, want := range []string{tc.msg, cmd} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("failures do not say %q:\n%s", want, out.String())
				}
			}
		})
	}
}
