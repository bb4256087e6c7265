package target_test

import (
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/target"
)

// pythonTarget is the command line of the Python example target, or a
// skip when python3 is not installed.
func pythonTarget(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the Python example target cannot run")
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "examples", "targets", "python", "target.py")
	return "'" + py + "' '" + script + "'"
}

// call sends req and fails the test on a transport error.
func call(t *testing.T, c *target.Client, req target.Request) target.Reply {
	t.Helper()
	rep, err := c.Call(testCtx(t), req)
	if err != nil {
		t.Fatalf("%s: %v", req.Type, err)
	}
	return rep
}

func startPython(t *testing.T) *target.Client {
	t.Helper()
	c, err := target.Start(testCtx(t), pythonTarget(t), target.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The example is what people copy: its settings, repairs, corrupt
// locations and restore checks must do what its docstring says.
func TestPythonTarget_Settings(t *testing.T) {
	t.Parallel()
	c := startPython(t)
	dir := t.TempDir()
	open := target.Request{Type: target.TypeOpen, Version: target.ProtocolVersion, Dir: dir,
		Settings: &target.Settings{Sync: "never", StaleAfterMS: 1000, FailedOpsAlert: 1}}
	if rep := call(t, c, open); rep.Error != nil {
		t.Fatalf("open: %v", rep.Error)
	}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	a := call(t, c, target.Request{Type: target.TypeAcquire, Owner: "a", Now: t0})
	// stale_after_ms 1000: two seconds later the lease is stale.
	b := call(t, c, target.Request{Type: target.TypeAcquire, Owner: "b", Now: t0.Add(2 * time.Second)})
	if b.Outcome != target.OutcomeOK || b.Token <= a.Token {
		t.Fatalf("acquire after stale_after_ms: %+v, want a new token above %d", b, a.Token)
	}
	for _, p := range []string{"p1", "p2"} {
		call(t, c, target.Request{Type: target.TypeEnqueue, Payload: []byte(p)})
		op := call(t, c, target.Request{Type: target.TypeClaim, Token: b.Token}).Op
		if op == nil {
			t.Fatalf("claim of %s: no op", p)
		}
		call(t, c, target.Request{Type: target.TypeFail, Token: b.Token, OpID: op.ID, Reason: "test"})
	}
	st := call(t, c, target.Request{Type: target.TypeState}).State
	if st == nil || st.FailedOps != 2 || len(st.Failed) != 2 || string(st.Failed[0].Payload) != "p1" {
		t.Fatalf("state: %+v, want failed [p1 p2]", st)
	}
	if len(st.Alerts) != 1 || !strings.Contains(st.Alerts[0], "threshold 1") {
		t.Errorf("alerts %q, want one naming failed_ops_alert 1", st.Alerts)
	}
	if !slices.Contains(st.Audit, "stale_lock_recovered") {
		t.Errorf("audit %q, want stale_lock_recovered", st.Audit)
	}
	rep := call(t, c, target.Request{Type: target.TypeOpen, Version: target.ProtocolVersion, Dir: t.TempDir(), Settings: &target.Settings{Sync: "sometimes"}})
	if rep.Error == nil {
		t.Errorf("open with sync %q: no error", "sometimes")
	}
}

func TestPythonTarget_TornTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startPython(t)
	open := target.Request{Type: target.TypeOpen, Version: target.ProtocolVersion, Dir: dir}
	call(t, c, open)
	call(t, c, target.Request{Type: target.TypeEnqueue, Payload: []byte("p1")})
	call(t, c, target.Request{Type: target.TypeClose})
	journal := filepath.Join(dir, "journal.jsonl")
	before, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	torn := append(before, `{"k":"enq","id":"op-`...)
	if err := os.WriteFile(journal, torn, 0o600); err != nil {
		t.Fatal(err)
	}

	strict := open
	strict.Settings = &target.Settings{Recovery: "strict"}
	rep := call(t, c, strict)
	if rep.Error == nil || rep.Error.Class != target.ClassCorrupt || rep.Error.Box != "journal" ||
		rep.Error.Offset == nil || *rep.Error.Offset != int64(len(before)) {
		t.Fatalf("strict open of a torn tail: %+v, want corrupt in journal at offset %d", rep.Error, len(before))
	}

	rep = call(t, c, open)
	if rep.Error != nil || len(rep.Repairs) != 1 {
		t.Fatalf("open of a torn tail: %+v, want one repair", rep)
	}
	r := rep.Repairs[0]
	if r.Offset != int64(len(before)) || r.DroppedBytes != int64(len(torn)-len(before)) {
		t.Errorf("repair %+v, want offset %d, %d bytes dropped", r, len(before), len(torn)-len(before))
	}
	if q, err := os.ReadFile(r.Quarantine); err != nil || string(q) != string(torn) {
		t.Errorf("quarantine %s: %v; want the journal as it was", r.Quarantine, err)
	}
	st := call(t, c, target.Request{Type: target.TypeState}).State
	if st == nil || len(st.Pending) != 1 || !slices.Contains(st.Audit, "box_repaired") {
		t.Errorf("state after the repair: %+v, want [p1] pending and box_repaired", st)
	}
}

func TestPythonTarget_RestoreChecks(t *testing.T) {
	t.Parallel()
	c := startPython(t)
	key := hex.EncodeToString(make([]byte, 32)) // the target's development key
	other := strings.Repeat("01", 32)
	backup := filepath.Join(t.TempDir(), "b")
	call(t, c, target.Request{Type: target.TypeOpen, Version: target.ProtocolVersion, Dir: t.TempDir()})
	call(t, c, target.Request{Type: target.TypeEnqueue, Payload: []byte("p1")})
	if rep := call(t, c, target.Request{Type: target.TypeBackup, Path: backup}); rep.Error != nil {
		t.Fatalf("backup: %v", rep.Error)
	}
	for _, tc := range []struct {
		name  string
		req   target.Request
		class string
	}{
		{"another backup key", target.Request{BackupKey: other}, target.ClassWrongKey},
		{"another schema", target.Request{ExpectedSchema: 9}, target.ClassSchemaMismatch},
		{"its own key and schema", target.Request{BackupKey: key, ExpectedSchema: 1}, ""},
	} {
		tc.req.Type, tc.req.Path = target.TypeRestore, backup
		rep := call(t, c, tc.req)
		if got := target.ErrorClass(errOf(rep)); got != tc.class {
			t.Errorf("%s: class %q (%v), want %q", tc.name, got, rep.Error, tc.class)
		}
	}
}

// errOf is a reply's error as an error, nil when it has none.
func errOf(rep target.Reply) error {
	if rep.Error == nil {
		return nil
	}
	return rep.Error
}

// The open reply lists exactly what the example keeps: not encrypted,
// since its journal is plain text.
func TestPythonTarget_Promises(t *testing.T) {
	t.Parallel()
	c := startPython(t)
	rep := call(t, c, target.Request{Type: target.TypeOpen, Version: target.ProtocolVersion, Dir: t.TempDir()})
	if rep.Error != nil {
		t.Fatalf("open: %v", rep.Error)
	}
	got := slices.Sorted(slices.Values(rep.Promises))
	want := []string{target.PromiseDurable, target.PromiseExclusive, target.PromiseFenced, target.PromiseIntegrity, target.PromiseKeyed}
	if !slices.Equal(got, want) {
		t.Errorf("promises %q, want %q", got, want)
	}
}

// It promises integrity: a flipped bit inside an acknowledged line (one
// JSON would still parse) is refused as corrupt at that line's offset,
// not served, and verify finds it too.
func TestPythonTarget_ChecksumRefusesDamage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startPython(t)
	open := target.Request{Type: target.TypeOpen, Version: target.ProtocolVersion, Dir: dir}
	call(t, c, open)
	for _, p := range []string{"p1", "p2", "p3"} {
		call(t, c, target.Request{Type: target.TypeEnqueue, Payload: []byte(p)})
	}
	call(t, c, target.Request{Type: target.TypeClose})
	journal := filepath.Join(dir, "journal.jsonl")
	b, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	// The second line's payload: "cDI=" (p2) becomes "bDI=" (l2).
	second := strings.IndexByte(string(b), '\n') + 1
	at := second + strings.Index(string(b[second:]), `"p":"cDI="`) + len(`"p":"`)
	b[at] ^= 0x01
	if err := os.WriteFile(journal, b, 0o600); err != nil {
		t.Fatal(err)
	}
	rep := call(t, c, open)
	if rep.Error == nil || rep.Error.Class != target.ClassCorrupt || rep.Error.Box != "journal" ||
		rep.Error.Offset == nil || *rep.Error.Offset != int64(second) {
		t.Fatalf("open of a flipped bit: %+v, want corrupt in journal at offset %d", rep.Error, second)
	}
}

// A write the file system refuses (EFBIG under RLIMIT_FSIZE, as chaos's
// disk-full does) is disk-full, leaves the journal whole and is not
// applied: after a reopen without the limit the store has exactly what
// was acknowledged.
func TestPythonTarget_DiskFullIsNotAcknowledged(t *testing.T) {
	t.Parallel()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit is not installed")
	}
	dir := t.TempDir()
	c := startPython(t)
	open := target.Request{Type: target.TypeOpen, Version: target.ProtocolVersion, Dir: dir}
	call(t, c, open)
	call(t, c, target.Request{Type: target.TypeEnqueue, Payload: []byte("p1")})
	call(t, c, target.Request{Type: target.TypeClose})
	fi, err := os.Stat(filepath.Join(dir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// Room for part of one more line: the next write is cut short.
	limited, err := target.Start(testCtx(t), fmt.Sprintf("'%s' --fsize=%d %s", prlimit, fi.Size()+40, pythonTarget(t)),
		target.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { limited.Close() })
	if rep := call(t, limited, open); rep.Error != nil {
		t.Fatalf("open under the limit: %v", rep.Error)
	}
	acked := []string{"p1"}
	full := 0
	for _, p := range []string{"p2", "p3", "p4"} {
		rep := call(t, limited, target.Request{Type: target.TypeEnqueue, Payload: []byte(p)})
		switch {
		case rep.Error == nil:
			acked = append(acked, p)
		case rep.Error.Class == target.ClassDiskFull:
			full++
		default:
			t.Errorf("enqueue %s: %v, want success or disk-full", p, rep.Error)
		}
	}
	if full == 0 {
		t.Fatalf("no enqueue failed as disk-full past RLIMIT_FSIZE")
	}
	call(t, limited, target.Request{Type: target.TypeClose})
	if rep := call(t, c, open); rep.Error != nil || len(rep.Repairs) != 0 {
		t.Fatalf("reopen: %+v, want a whole journal that needs no repair", rep)
	}
	st := call(t, c, target.Request{Type: target.TypeState}).State
	var got []string
	for _, op := range st.Pending {
		got = append(got, string(op.Payload))
	}
	if !slices.Equal(got, acked) {
		t.Errorf("pending %q after the reopen, want what was acknowledged, %q", got, acked)
	}
}
