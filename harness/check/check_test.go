package check_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
)

type historyCheck func([]history.HistoryEvent) check.CheckResult

func checkWith(fn func([]history.HistoryEvent, check.CheckOptions) check.CheckResult, o check.CheckOptions) historyCheck {
	return func(evs []history.HistoryEvent) check.CheckResult { return fn(evs, o) }
}

var (
	optsAlways = check.CheckOptions{Durability: check.DurabilityAlways, Timeout: 5 * time.Second}
	optsNever  = check.CheckOptions{Durability: check.DurabilityNever, Timeout: 5 * time.Second}
)

// TestCheckers_KnownBad runs every history checker against the correct
// memStore, which must pass, and against the memStore with one protection
// switched off, which the checker must fail with the named violation.
func TestCheckers_KnownBad(t *testing.T) {
	tests := []struct {
		name    string
		check   historyCheck
		history []history.HistoryEvent
		verdict check.Verdict
		sev     check.Severity
		kind    string
	}{
		{"no-loss/good", checkWith(check.CheckNoLoss, optsAlways), memWorkload(), check.VerdictPass, "", ""},
		{"no-loss/drop-on-crash", checkWith(check.CheckNoLoss, optsAlways), memWorkload(bugDropOnCrash), check.VerdictFail, check.SeverityViolation, "lost"},
		{"no-loss/machine-crash-always", checkWith(check.CheckNoLoss, optsAlways), memMachineCrash(check.DurabilityNever), check.VerdictFail, check.SeverityViolation, "lost"},
		{"no-loss/machine-crash-optsNever-is-expected", checkWith(check.CheckNoLoss, optsNever), memMachineCrash(check.DurabilityNever), check.VerdictPass, check.SeverityExpected, "lost"},
		{"no-loss/machine-crash-synced", checkWith(check.CheckNoLoss, optsAlways), memMachineCrash(check.DurabilityAlways), check.VerdictPass, "", ""},

		{"no-unexpected/good", check.CheckNoUnexpected, memWorkload(), check.VerdictPass, "", ""},
		{"no-unexpected/fabricate", check.CheckNoUnexpected, memWorkload(bugFabricate), check.VerdictFail, check.SeverityViolation, "unexpected"},
		{"no-unexpected/wrong-payload", check.CheckNoUnexpected, memWorkload(bugWrongPayload), check.VerdictFail, check.SeverityViolation, "wrong-payload"},

		{"duplicates/good-has-redelivery", checkWith(check.CheckDuplicates, optsAlways), memWorkload(), check.VerdictPass, check.SeverityInfo, "redelivery"},
		{"duplicates/double-ack", checkWith(check.CheckDuplicates, optsAlways), memWorkload(bugDoubleAck), check.VerdictFail, check.SeverityViolation, "double-completion"},
		{"duplicates/ignore-idempotency", checkWith(check.CheckDuplicates, optsAlways), memWorkload(bugIgnoreIdem), check.VerdictFail, check.SeverityViolation, "idempotency"},
		{"duplicates/claim-twice", checkWith(check.CheckDuplicates, optsAlways), memWorkload(bugClaimTwice), check.VerdictFail, check.SeverityViolation, "double-claim"},

		{"fifo/good", check.CheckFIFO, memWorkload(), check.VerdictPass, "", ""},
		{"fifo/lifo", check.CheckFIFO, memWorkload(bugLIFO), check.VerdictFail, check.SeverityViolation, "fifo"},

		{"fencing/good", check.CheckFencing, memWorkload(), check.VerdictPass, "", ""},
		{"fencing/accept-stale", check.CheckFencing, memWorkload(bugAcceptStale), check.VerdictFail, check.SeverityViolation, "stale-write"},
		{"fencing/reuse-token", check.CheckFencing, memWorkload(bugReuseToken), check.VerdictFail, check.SeverityViolation, "token-reused"},
		{"fencing/token-backwards", check.CheckFencing, memWorkload(bugTokenBackward), check.VerdictFail, check.SeverityViolation, "token-order"},

		{"linearizable/good", checkWith(check.CheckLinearizable, optsAlways), memWorkload(), check.VerdictPass, "", ""},
		{"linearizable/lifo", checkWith(check.CheckLinearizable, optsAlways), memWorkload(bugLIFO), check.VerdictFail, check.SeverityViolation, "not-linearizable"},
		{"linearizable/accept-stale", checkWith(check.CheckLinearizable, optsAlways), memWorkload(bugAcceptStale), check.VerdictFail, check.SeverityViolation, "not-linearizable"},
		{"linearizable/drop-on-crash", checkWith(check.CheckLinearizable, optsAlways), memWorkload(bugDropOnCrash), check.VerdictFail, check.SeverityViolation, "not-linearizable"},
		{"linearizable/double-ack", checkWith(check.CheckLinearizable, optsAlways), memWorkload(bugDoubleAck), check.VerdictFail, check.SeverityViolation, "not-linearizable"},
		{"linearizable/reuse-token", checkWith(check.CheckLinearizable, optsAlways), memWorkload(bugReuseToken), check.VerdictFail, check.SeverityViolation, "not-linearizable"},
		{"linearizable/no-erase", checkWith(check.CheckLinearizable, optsAlways), memWorkload(bugNoErase), check.VerdictFail, check.SeverityViolation, "not-linearizable"},
		{"linearizable/machine-crash-never", checkWith(check.CheckLinearizable, optsNever), memMachineCrash(check.DurabilityNever), check.VerdictPass, "", ""},
		{"linearizable/machine-crash-always", checkWith(check.CheckLinearizable, optsAlways), memMachineCrash(check.DurabilityNever), check.VerdictFail, check.SeverityViolation, "not-linearizable"},

		{"no-resurrection/good", checkWith(check.CheckNoResurrection, check.CheckOptions{Markers: map[string][][]byte{"carol": {[]byte("carol-secret")}}}), memWorkload(), check.VerdictPass, "", ""},
		{"no-resurrection/no-erase", checkWith(check.CheckNoResurrection, check.CheckOptions{Markers: map[string][][]byte{"carol": {[]byte("carol-secret")}}}), memWorkload(bugNoErase), check.VerdictFail, check.SeverityViolation, "resurrected"},
		{"no-resurrection/without-erase-is-unknown", checkWith(check.CheckNoResurrection, optsAlways), memMachineCrash(check.DurabilityAlways), check.VerdictUnknown, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.check(tt.history)
			wantCheck(t, r, tt.verdict, tt.sev, tt.kind)
			if r.Name == "" || r.Message == "" {
				t.Errorf("result without name or message: %+v", r)
			}
		})
	}
}

// TestCheckers_HandBuilt covers what the memStore cannot produce: overlap,
// crashed calls and histories that start in the middle.
func TestCheckers_HandBuilt(t *testing.T) {
	tests := []struct {
		name    string
		check   historyCheck
		history *histBuilder
		verdict check.Verdict
		sev     check.Severity
		kind    string
	}{
		{"fifo/concurrent-enqueues-either-order", check.CheckFIFO,
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 30, "A").enq("b", 20, 40, "B").
				claim("p", 50, 60, 1, "B").claim("p", 70, 80, 1, "A"),
			check.VerdictPass, "", ""},
		{"fifo/sequential-enqueues-reordered", check.CheckFIFO,
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").enq("b", 30, 40, "B").
				claim("p", 50, 60, 1, "B").claim("p", 70, 80, 1, "A"),
			check.VerdictFail, check.SeverityViolation, "fifo"},
		{"fifo/redelivered-op-may-come-later", check.CheckFIFO,
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").enq("b", 30, 40, "B").
				claim("p", 50, 60, 1, "A").acquire("q", 70, 80, 2).claim("q", 90, 100, 2, "A").claim("q", 110, 120, 2, "B"),
			check.VerdictPass, "", ""},
		{"fifo/voided-claim-must-come-first-again", check.CheckFIFO,
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").enq("b", 30, 40, "B").
				claim("p", 50, 60, 1, "A").acquire("q", 70, 80, 2).claim("q", 90, 100, 2, "B"),
			check.VerdictFail, check.SeverityViolation, "fifo"},
		{"fifo/crashed-claim-is-not-judged", check.CheckFIFO,
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").enq("b", 30, 40, "B").
				add("p", history.KindClaim, 50, 0, history.OpInput{Token: 1}, history.OpOutput{Outcome: history.OutcomeUnknown}).
				claim("p", 70, 80, 1, "B"),
			check.VerdictPass, "", ""},
		{"no-loss/crashed-enqueue-need-not-survive", checkWith(check.CheckNoLoss, optsAlways),
			new(histBuilder).add("a", history.KindEnqueue, 10, 0, history.OpInput{PayloadHash: "h"}, history.OpOutput{Outcome: history.OutcomeUnknown}).
				state(100, history.RestartProcess),
			check.VerdictPass, "", ""},
		{"no-loss/no-final-state-is-unknown", checkWith(check.CheckNoLoss, optsAlways),
			new(histBuilder).enq("a", 10, 20, "A"),
			check.VerdictUnknown, "", ""},
		{"no-loss/maybe-acked-by-crashed-ack", checkWith(check.CheckNoLoss, optsAlways),
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").claim("p", 30, 40, 1, "A").
				add("p", history.KindAck, 50, 0, history.OpInput{Token: 1, OpID: "A"}, history.OpOutput{Outcome: history.OutcomeUnknown}).
				state(100, history.RestartProcess),
			check.VerdictPass, check.SeverityInfo, "maybe-acked"},
		{"no-unexpected/crashed-enqueue-explains-op", check.CheckNoUnexpected,
			new(histBuilder).acquire("p", 0, 1, 1).
				add("a", history.KindEnqueue, 10, 0, history.OpInput{PayloadHash: history.HashPayload([]byte("A"))}, history.OpOutput{Outcome: history.OutcomeUnknown}).
				state(100, history.RestartProcess, "A").acquire("p", 110, 120, 2).claim("p", 130, 140, 2, "A"),
			check.VerdictPass, "", ""},
		{"no-unexpected/claimed-before-enqueued", check.CheckNoUnexpected,
			new(histBuilder).acquire("p", 0, 1, 1).claim("p", 10, 20, 1, "A").enq("a", 30, 40, "A"),
			check.VerdictFail, check.SeverityViolation, "before-enqueue"},
		{"linearizable/crashed-enqueue-may-take-effect", checkWith(check.CheckLinearizable, optsAlways),
			new(histBuilder).acquire("p", 0, 1, 1).
				add("a", history.KindEnqueue, 10, 0, history.OpInput{PayloadHash: history.HashPayload([]byte("A"))}, history.OpOutput{Outcome: history.OutcomeUnknown}).
				state(100, history.RestartProcess, "A").claim("p", 130, 140, 1, "A"),
			check.VerdictPass, "", ""},
		{"linearizable/crashed-enqueue-may-not", checkWith(check.CheckLinearizable, optsAlways),
			new(histBuilder).acquire("p", 0, 1, 1).
				add("a", history.KindEnqueue, 10, 0, history.OpInput{PayloadHash: "h"}, history.OpOutput{Outcome: history.OutcomeUnknown}).
				state(100, history.RestartProcess).claim("p", 130, 140, 1, ""),
			check.VerdictPass, "", ""},
		{"linearizable/concurrent-enqueues-either-order", checkWith(check.CheckLinearizable, optsAlways),
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 30, "A").enq("b", 20, 40, "B").
				claim("p", 50, 60, 1, "B").claim("p", 70, 80, 1, "A"),
			check.VerdictPass, "", ""},
		{"linearizable/empty-while-op-waits", checkWith(check.CheckLinearizable, optsAlways),
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").claim("p", 30, 40, 1, ""),
			check.VerdictFail, check.SeverityViolation, "not-linearizable"},
		{"linearizable/token-not-plus-one", checkWith(check.CheckLinearizable, optsAlways),
			new(histBuilder).acquire("p", 0, 1, 4).acquire("q", 10, 20, 6),
			check.VerdictFail, check.SeverityViolation, "not-linearizable"},
		{"linearizable/ack-unclaimed-op", checkWith(check.CheckLinearizable, optsAlways),
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").ack("p", 30, 40, 1, "A", history.OutcomeOK),
			check.VerdictFail, check.SeverityViolation, "not-linearizable"},
		{"fencing/write-after-release", check.CheckFencing,
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").
				add("p", history.KindRelease, 30, 40, history.OpInput{Token: 1}, okOut(history.OpOutput{})).
				claim("p", 50, 60, 1, "A"),
			check.VerdictFail, check.SeverityViolation, "released-token-write"},
		{"fencing/concurrent-acquire-is-not-stale", check.CheckFencing,
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").
				acquire("q", 30, 60, 2).claim("p", 40, 50, 1, "A"),
			check.VerdictPass, "", ""},
		{"duplicates/completed-then-delivered", checkWith(check.CheckDuplicates, optsAlways),
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").claim("p", 30, 40, 1, "A").
				ack("p", 50, 60, 1, "A", history.OutcomeOK).state(70, history.RestartProcess, "A").
				acquire("p", 80, 90, 2).claim("p", 100, 110, 2, "A"),
			check.VerdictFail, check.SeverityViolation, "delivered-after-ack"},
		{"duplicates/completed-then-delivered-after-unsynced-machine-crash", checkWith(check.CheckDuplicates, optsNever),
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").claim("p", 30, 40, 1, "A").
				ack("p", 50, 60, 1, "A", history.OutcomeOK).state(70, history.RestartMachine, "A").
				acquire("p", 80, 90, 2).claim("p", 100, 110, 2, "A"),
			check.VerdictPass, check.SeverityExpected, "delivered-after-ack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCheck(t, tt.check(tt.history.events()), tt.verdict, tt.sev, tt.kind)
		})
	}
}

// TestCheckLinearizable_TimeoutIsUnknown builds a history porcupine cannot
// settle quickly: 40 concurrent enqueues claimed in reverse call order. The
// history is linearizable, but finding the one order takes a search through
// permutations, so a tiny timeout must give Unknown, optsNever Pass.
func TestCheckLinearizable_TimeoutIsUnknown(t *testing.T) {
	b := new(histBuilder).acquire("p", 0, 1, 1)
	const n = 40
	ids := make([]string, n)
	for i := range n {
		ids[i] = "op-" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		b.enq("producer", int64(10+i), 1000, ids[i])
	}
	for i := range n {
		at := int64(2000 + 20*i)
		b.claim("p", at, at+10, 1, ids[n-1-i])
	}
	start := time.Now()
	r := check.CheckLinearizable(b.events(), check.CheckOptions{Timeout: 50 * time.Millisecond})
	if r.Verdict != check.VerdictUnknown {
		t.Fatalf("verdict %s, want unknown: %s", r.Verdict, r.Message)
	}
	if !strings.Contains(r.Message, "timed out") {
		t.Errorf("message %q does not say it timed out", r.Message)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s to give up after a 50ms timeout", d)
	}
}

// TestCheckLinearizable_Visualization writes porcupine's HTML for an
// illegal history and names the stuck call.
func TestCheckLinearizable_Visualization(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "viz")
	r := check.CheckLinearizable(memWorkload(bugLIFO), check.CheckOptions{VisualizeDir: dir})
	wantCheck(t, r, check.VerdictFail, check.SeverityViolation, "not-linearizable")
	if len(r.Artifacts) != 1 {
		t.Fatalf("artifacts %v, want the visualization", r.Artifacts)
	}
	b, err := os.ReadFile(r.Artifacts[0])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := filepath.Base(r.Artifacts[0]), check.VisualizationFile; got != want {
		t.Errorf("artifact %s, want %s", got, want)
	}
	if !strings.Contains(string(b), "<html") || len(b) < 1000 {
		t.Errorf("visualization does not look like HTML (%d bytes)", len(b))
	}
	if v := r.Violations[0]; !strings.Contains(v.Message, "queue \"\"") || !strings.Contains(v.Message, "no linearization gets past") {
		t.Errorf("message %q does not name the partition and the stuck call", v.Message)
	}
}

// TestCheckLinearizable_Large checks that a long, correct history with
// overlapping calls is judged quickly: the model shares state between
// steps instead of copying the queue.
func TestCheckLinearizable_Large(t *testing.T) {
	if testing.Short() {
		t.Skip("long history")
	}
	b := new(histBuilder).acquire("p", 0, 1, 1)
	const n = 5000
	at := int64(10)
	for i := range n {
		// Pairs of overlapping enqueues; the queue grows to n ops.
		id := "op-" + strings.Repeat("x", i%3) + string(rune('0'+i%10)) + "-" + strconv.Itoa(i)
		b.enq("producer-"+strconv.Itoa(i%2), at, at+15, id)
		at += 10
	}
	ids := make([]string, 0, n)
	for _, e := range b.events()[1:] {
		ids = append(ids, e.Out.OpID)
	}
	// Claims in enqueue order, except that each overlapping pair may swap:
	// claim them in call order, which is one valid linearization.
	for _, id := range ids {
		b.claim("p", at, at+5, 1, id)
		at += 10
	}
	start := time.Now()
	r := check.CheckLinearizable(b.events(), check.CheckOptions{Timeout: 20 * time.Second})
	if r.Verdict != check.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Message)
	}
	t.Logf("%d calls in %s", 2*n+1, time.Since(start))
}

// TestCheckResult_JSON: results, with their evidence, encode as JSON that
// reads back, history events included.
func TestCheckResult_JSON(t *testing.T) {
	r := check.CheckNoLoss(memWorkload(bugDropOnCrash), optsAlways)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back check.CheckResult
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got, want := back.Violations[0].Events[0].String(), r.Violations[0].Events[0].String(); got != want {
		t.Errorf("event after a JSON round trip: %s, want %s", got, want)
	}
	if !strings.Contains(string(b), `"verdict":"fail"`) {
		t.Errorf("JSON lacks the verdict: %s", b)
	}
}

// TestCheckers_BadHistoryIsUnknown: a malformed history is never a pass.
func TestCheckers_BadHistoryIsUnknown(t *testing.T) {
	bad := new(histBuilder).enq("a", 20, 10, "A").events() // returns before its call
	checks := map[string]historyCheck{
		"no-loss":         checkWith(check.CheckNoLoss, optsAlways),
		"no-unexpected":   check.CheckNoUnexpected,
		"duplicates":      checkWith(check.CheckDuplicates, optsAlways),
		"fifo":            check.CheckFIFO,
		"fencing":         check.CheckFencing,
		"linearizable":    checkWith(check.CheckLinearizable, optsAlways),
		"no-resurrection": checkWith(check.CheckNoResurrection, optsAlways),
	}
	for name, run := range checks {
		t.Run(name, func(t *testing.T) {
			r := run(bad)
			if r.Verdict != check.VerdictUnknown || !strings.Contains(r.Message, "before its call") {
				t.Errorf("got %s: %s", r.Verdict, r.Message)
			}
		})
	}
}

// TestCheckNoLoss_Interval: under interval durability, a machine crash may
// lose what was acknowledged in the last two SyncIntervals before it (the
// wait for the next fsync and the fsync itself), and nothing older.
func TestCheckNoLoss_Interval(t *testing.T) {
	b := new(histBuilder).enq("p", 10, 20, "old").enq("p", 760, 770, "in-flight-sync").enq("p", 900, 910, "recent")
	b.evs = append(b.evs, history.HistoryEvent{Index: 3, Client: "harness", Kind: history.KindStoreState, Call: 1000, Return: 1000,
		State: &history.StoreState{Restart: history.RestartMachine, CrashAt: 950, Pending: []history.StateOp{}}})
	o := check.CheckOptions{Durability: check.DurabilityInterval, SyncInterval: 100}
	r := check.CheckNoLoss(b.events(), o)
	wantCheck(t, r, check.VerdictFail, check.SeverityViolation, "lost")
	for _, v := range r.Violations {
		want := map[string]check.Severity{"old": check.SeverityViolation, "in-flight-sync": check.SeverityExpected, "recent": check.SeverityExpected}[v.OpID]
		if v.Severity != want {
			t.Errorf("op %s: %s, want %s", v.OpID, v.Severity, want)
		}
	}
	if len(r.Violations) != 3 {
		t.Errorf("%d findings, want 3:\n%s", len(r.Violations), dumpFindings(r))
	}
	// The linearizable model cannot tell which ops the interval covered,
	// so it takes the state as it is.
	wantCheck(t, check.CheckLinearizable(b.events(), o), check.VerdictPass, "", "")
}
