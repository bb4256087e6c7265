package explore

// The explore step's checks against hand-made crash states: real stores in
// t.TempDir(), each built to break one promise, which the check must
// report.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

// testSession is a Session over a plain directory: the options of an
// always-sync run that protects protection, with that protection switched
// off for a canary. Only what a crash state's check uses is served.
type testSession struct {
	dir        string
	protection scenarios.Protection
	canary     bool
	// remote makes OpenDir return the store as a target would be seen:
	// a Backend that is not target.Local, read back with state.
	remote  bool
	backend target.Backend // Backend's answer
}

// remoteStore is a store in process that the explorer takes for a target:
// not a target.Local, and claiming the request types in claims.
type remoteStore struct {
	target.Local
	claims []string
}

func (r remoteStore) Name() string                           { return "test-remote" }
func (r remoteStore) Has(typ string) bool                    { return slices.Contains(r.claims, typ) }
func (s *testSession) Open(context.Context) error            { return nil }
func (s *testSession) Backend() target.Backend               { return s.backend }
func (s *testSession) Close() error                          { return nil }
func (s *testSession) Recover(context.Context, string) error { return nil }

// OpenDir opens dir in process, as a run without a target does.
func (s *testSession) OpenDir(ctx context.Context, dir string, gen int, key []byte) (target.Backend, error) {
	o := s.Options(gen)
	o.Key = store.KeyBytes(key)
	st, err := store.Open(ctx, dir, o)
	if err != nil {
		return nil, err
	}
	if s.remote {
		return remoteStore{Local: target.Local{Store: st}}, nil
	}
	return target.Local{Store: st}, nil
}
func (s *testSession) KeyGen() int   { return 0 }
func (s *testSession) SetKeyGen(int) {}
func (s *testSession) Key(gen int) []byte {
	return []byte(fmt.Sprintf("boxstorm-explore-test-key-gen-%02d", gen))
}
func (s *testSession) WrongKey() []byte              { return []byte("boxstorm-explore-wrong-test-key!") }
func (s *testSession) Migrations() []store.Migration { return nil }
func (s *testSession) AddSyntheticMigration()        {}
func (s *testSession) SchemaMarker() (string, string) {
	return testBox, "marker"
}
func (s *testSession) StoreDir() string                   { return s.dir }
func (s *testSession) BackupDir() string                  { return filepath.Join(s.dir, "backups") }
func (s *testSession) LatestBackup() (check.Backup, bool) { return check.Backup{}, false }
func (s *testSession) Erased(string)                      {}
func (s *testSession) Payload(marker string, size int) []byte {
	return append([]byte(marker+":"), make([]byte, max(size-len(marker)-1, 0))...)
}

func (s *testSession) Options(gen int) store.Options {
	o := store.Options{Key: store.KeyBytes(s.Key(gen)), Sync: store.SyncAlways}
	o.Recovery, _ = store.ParseRecoveryMode(string(scenarios.DefaultRecovery))
	if s.canary {
		o.Canary = string(s.protection)
	}
	return o
}

// testBox is the box the tests' records go in.
const testBox = "chaos_schema"

// testExplorer is an explorer of procedure proc for a run of an always-sync
// scenario that protects protection; canary runs it against that canary.
func testExplorer(t *testing.T, proc string, protection scenarios.Protection, canary bool) *explorer {
	t.Helper()
	s := &testSession{dir: filepath.Join(t.TempDir(), "base"), protection: protection, canary: canary}
	return &explorer{s: s, proc: proc, local: true, enqueued: map[string]bool{}, baseline: map[string]bool{}, payloads: map[string]string{}}
}

// crashState copies x's base store into a fresh directory, adds to it
// with fill, and returns it as a crash state at boundary. Every state of a
// test comes from the one base store, so they share its identity and
// metadata, as the states of one recording do.
func crashState(t *testing.T, x *explorer, boundary string, fill func(context.Context, *store.Store)) faultfs.CrashState {
	t.Helper()
	ctx := context.Background()
	o := x.s.(*testSession).Options(0)
	o.Canary = ""
	// The base store is made once, in the plan's directory.
	if _, err := os.Stat(x.s.StoreDir()); os.IsNotExist(err) {
		s, err := store.Open(ctx, x.s.StoreDir(), o)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "state-00001")
	if err := os.CopyFS(dir, os.DirFS(x.s.StoreDir())); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if fill != nil {
		fill(ctx, s)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return faultfs.CrashState{Index: 1, Dir: dir, Boundary: boundary}
}

// digestState is the digest of a crash state built with fill, read as the
// explorer reads a crash state.
func digestState(t *testing.T, x *explorer, fill func(context.Context, *store.Store)) storeDigest {
	t.Helper()
	cs := crashState(t, x, "end", fill)
	s, err := x.s.OpenDir(context.Background(), cs.Dir, 0, x.s.Key(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := digestOf(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func put(t *testing.T, keys ...string) func(context.Context, *store.Store) {
	return func(ctx context.Context, s *store.Store) {
		for _, k := range keys {
			if err := s.Put(ctx, testBox, k, []byte("v-"+k)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// wantViolation fails unless x found a violation of kind.
func wantViolation(t *testing.T, x *explorer, kind string) {
	t.Helper()
	var kinds []string
	for _, v := range x.vs {
		kinds = append(kinds, v.Kind)
		if v.Kind == kind && v.Severity == check.SeverityViolation {
			return
		}
	}
	t.Errorf("no %s violation; got %v", kind, kinds)
}

func TestExploreCheck_StepHalfDone(t *testing.T) {
	x := testExplorer(t, scenarios.ProcedureMigrate, scenarios.Protection("migration-atomicity"), false)
	x.old, x.new, x.newOK = digestState(t, x, put(t, "a")), digestState(t, x, put(t, "a", "b", "c")), true
	// Wholly old and wholly new states pass, in the middle of the step.
	for _, keys := range [][]string{{"a"}, {"a", "b", "c"}} {
		x.check(context.Background(), crashState(t, x, "after-rename", put(t, keys...)))
	}
	if x.nv != 0 {
		t.Fatalf("a wholly old or new state was reported: %v", x.vs)
	}
	x.check(context.Background(), crashState(t, x, "after-rename", put(t, "a", "b")))
	wantViolation(t, x, "half-step")
}

func TestExploreCheck_StepLostAtTheEnd(t *testing.T) {
	x := testExplorer(t, scenarios.ProcedureRotateKey, scenarios.Protection("step-atomicity"), false)
	x.old, x.new, x.newOK = digestState(t, x, put(t, "a")), digestState(t, x, put(t, "a", "b")), true
	// At the end, the procedure had returned: the old state is a loss.
	x.check(context.Background(), crashState(t, x, "end", put(t, "a")))
	wantViolation(t, x, "acknowledged-lost")
}

func TestExploreCheck_QueueLossAndHalfBatch(t *testing.T) {
	x := testExplorer(t, scenarios.ProcedureEnqueue, scenarios.Protection("power-loss-durability"), false)
	var kept store.Op
	cs := crashState(t, x, "end", func(ctx context.Context, s *store.Store) {
		var err error
		if kept, err = s.Enqueue(ctx, x.s.Payload("kept", 64), store.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Enqueue(ctx, x.s.Payload("stray", 64), store.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	x.calls = []ackRecord{
		{kind: "enqueue", ids: []string{kept.ID}, returned: 1},
		{kind: "enqueue", ids: []string{"op-acknowledged-then-gone"}, returned: 1},
		{kind: "batch", ids: []string{kept.ID, "op-never-written"}}, // failed: all or nothing
	}
	for _, c := range x.calls {
		for _, id := range c.ids {
			x.enqueued[id] = true
		}
	}
	x.check(context.Background(), cs)
	wantViolation(t, x, "acknowledged-lost")
	wantViolation(t, x, "half-transaction")
	wantViolation(t, x, "unexpected") // "stray" was never enqueued by the procedure
}

func TestExploreCheck_AckUndone(t *testing.T) {
	x := testExplorer(t, scenarios.ProcedureClaimAck, scenarios.Protection("power-loss-durability"), false)
	var op store.Op
	cs := crashState(t, x, "end", func(ctx context.Context, s *store.Store) {
		var err error
		if op, err = s.Enqueue(ctx, x.s.Payload("acked", 64), store.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	x.baseline[op.ID] = true
	x.calls = []ackRecord{{kind: "ack", ids: []string{op.ID}, returned: 1}}
	x.check(context.Background(), cs)
	wantViolation(t, x, "acknowledged-lost")
}

func TestExploreCheck_DoesNotOpen(t *testing.T) {
	x := testExplorer(t, scenarios.ProcedureBackup, scenarios.Protection("step-atomicity"), false)
	x.old = digestState(t, x, nil)
	cs := crashState(t, x, "before-fsync", put(t, "a"))
	if err := os.WriteFile(filepath.Join(cs.Dir, "keyring.json"), []byte("{torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	x.check(context.Background(), cs)
	wantViolation(t, x, "does-not-open")
	// The state is kept for a reader, as the crash left it.
	if _, err := os.Stat(filepath.Join(filepath.Dir(cs.Dir), fmt.Sprintf("violation-%05d", cs.Index), "keyring.json")); err != nil {
		t.Errorf("violating state not kept: %v", err)
	}
}

// A store that a wrong key opens and rewrites (the key-check canary, as
// Hive does) fails the wrong-key check on any crash state.
func TestExploreCheck_WrongKeyChangesBytes(t *testing.T) {
	x := testExplorer(t, scenarios.ProcedureBackup, scenarios.Protection(store.CanaryKeyCheck), true)
	x.old = digestState(t, x, put(t, "a"))
	x.check(context.Background(), crashState(t, x, "before-fsync", put(t, "a")))
	var kinds []string
	for _, v := range x.vs {
		kinds = append(kinds, v.Kind)
	}
	if !strings.Contains(strings.Join(kinds, " "), "wrong-key-") {
		t.Errorf("a wrong key opened and changed the store unreported: %v", kinds)
	}
}

// erase is a fill that erases each subject.
func erase(t *testing.T, subjects ...string) func(context.Context, *store.Store) {
	return func(ctx context.Context, s *store.Store) {
		for _, sub := range subjects {
			if _, err := s.Erase(ctx, sub); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Through a target a crash state is what state reads back: an erase that
// left part of the queue of before and part of after is half a step, and
// at the end of an erase that returned, the queue of before is a loss.
func TestExploreCheck_ThroughTargetHalfStep(t *testing.T) {
	x := testExplorer(t, scenarios.ProcedureErase, scenarios.Protection("step-atomicity"), false)
	x.s.(*testSession).remote, x.local = true, false
	// The base store every state is copied from holds a, b (subject-1)
	// and c (subject-2).
	crashState(t, x, "end", nil)
	base, err := store.Open(context.Background(), x.s.StoreDir(), x.s.(*testSession).Options(0))
	if err != nil {
		t.Fatal(err)
	}
	for i, sub := range []string{"", "subject-1", "subject-2"} {
		if _, err := base.Enqueue(context.Background(), x.s.Payload(fmt.Sprint(i), 64), store.EnqueueOptions{Subject: sub}); err != nil {
			t.Fatal(err)
		}
	}
	if err := base.Close(); err != nil {
		t.Fatal(err)
	}
	x.old, x.new, x.newOK = digestState(t, x, nil), digestState(t, x, erase(t, "subject-1", "subject-2")), true
	if len(x.old["pending"]) != 3 || len(x.new["pending"]) != 1 {
		t.Fatalf("the digests through a target are not the state's: old %v, new %v", x.old, x.new)
	}
	x.check(context.Background(), crashState(t, x, "after-rename", nil))
	x.check(context.Background(), crashState(t, x, "after-rename", erase(t, "subject-1", "subject-2")))
	if x.nv != 0 {
		t.Fatalf("a wholly old or new state was reported: %v", x.vs)
	}
	x.check(context.Background(), crashState(t, x, "after-rename", erase(t, "subject-2")))
	wantViolation(t, x, "half-step")
	x.nv, x.vs = 0, nil
	x.check(context.Background(), crashState(t, x, "end", nil))
	wantViolation(t, x, "acknowledged-lost")
}

// An op that reads back with another payload than it was enqueued with is
// reported, in process and through a target alike.
func TestExploreCheck_PayloadChanged(t *testing.T) {
	for _, remote := range []bool{false, true} {
		x := testExplorer(t, scenarios.ProcedureEnqueue, scenarios.Protection("power-loss-durability"), false)
		x.s.(*testSession).remote, x.local = remote, !remote
		var op store.Op
		cs := crashState(t, x, "end", func(ctx context.Context, s *store.Store) {
			var err error
			if op, err = s.Enqueue(ctx, x.s.Payload("swapped", 64), store.EnqueueOptions{}); err != nil {
				t.Fatal(err)
			}
		})
		x.enqueued[op.ID] = true
		x.payloads[op.ID] = payloadSum(x.s.Payload("enqueued", 64))
		x.calls = []ackRecord{{kind: "enqueue", ids: []string{op.ID}, returned: 1}}
		x.check(context.Background(), cs)
		wantViolation(t, x, "payload-changed")
	}
}

// Through a target, purge and migrate, and a procedure whose request the
// target does not claim, cannot be explored; the error says why.
func TestExploreClaims(t *testing.T) {
	for _, tc := range []struct {
		proc   string
		claims []string
		want   string // "" for no error
	}{
		{scenarios.ProcedurePurge, []string{target.TypeState}, "purge needs the reference store in process"},
		{scenarios.ProcedureMigrate, []string{target.TypeState, target.TypeMigrate}, "synthetic migrations cannot cross the protocol"},
		{scenarios.ProcedureBackup, []string{target.TypeState}, "test-remote does not claim the backup request"},
		{scenarios.ProcedureEnqueue, nil, "does not claim the state request"},
		{scenarios.ProcedureRecover, []string{target.TypeState, target.TypeRecover}, ""},
	} {
		x := testExplorer(t, tc.proc, scenarios.Protection("step-atomicity"), false)
		x.s.(*testSession).backend, x.local = remoteStore{claims: tc.claims}, false
		err := x.claims()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want no error", tc.proc, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, fault.ErrUnsupportedFault)):
			t.Errorf("%s: %v, want an unsupported fault saying %q", tc.proc, err, tc.want)
		}
	}
}
