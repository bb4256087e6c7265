package harness_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness"
)

type historyCheck func([]harness.HistoryEvent) harness.CheckResult

func checkWith(fn func([]harness.HistoryEvent, harness.CheckOptions) harness.CheckResult, o harness.CheckOptions) historyCheck {
	return func(evs []harness.HistoryEvent) harness.CheckResult { return fn(evs, o) }
}

var (
	optsAlways = harness.CheckOptions{Durability: harness.DurabilityAlways, Timeout: 5 * time.Second}
	optsNever  = harness.CheckOptions{Durability: harness.DurabilityNever, Timeout: 5 * time.Second}
)

// TestCheckers_KnownBad runs every history checker against the correct
// memStore, which must pass, and against the memStore with one protection
// switched off, which the checker must fail with the named violation.
func TestCheckers_KnownBad(t *testing.T) {
	tests := []struct {
		name    string
		check   historyCheck
		history []harness.HistoryEvent
		verdict harness.Verdict
		sev     harness.Severity
		kind    string
	}{
		{"no-loss/good", checkWith(harness.CheckNoLoss, optsAlways), memWorkload(), harness.VerdictPass, "", ""},
		{"no-loss/drop-on-crash", checkWith(harness.CheckNoLoss, optsAlways), memWorkload(bugDropOnCrash), harness.VerdictFail, harness.SeverityViolation, "lost"},
		{"no-loss/machine-crash-always", checkWith(harness.CheckNoLoss, optsAlways), memMachineCrash(harness.DurabilityNever), harness.VerdictFail, harness.SeverityViolation, "lost"},
		{"no-loss/machine-crash-optsNever-is-expected", checkWith(harness.CheckNoLoss, optsNever), memMachineCrash(harness.DurabilityNever), harness.VerdictPass, harness.SeverityExpected, "lost"},
		{"no-loss/machine-crash-synced", checkWith(harness.CheckNoLoss, optsAlways), memMachineCrash(harness.DurabilityAlways), harness.VerdictPass, "", ""},

		{"no-unexpected/good", harness.CheckNoUnexpected, memWorkload(), harness.VerdictPass, "", ""},
		{"no-unexpected/fabricate", harness.CheckNoUnexpected, memWorkload(bugFabricate), harness.VerdictFail, harness.SeverityViolation, "unexpected"},
		{"no-unexpected/wrong-payload", harness.CheckNoUnexpected, memWorkload(bugWrongPayload), harness.VerdictFail, harness.SeverityViolation, "wrong-payload"},

		{"duplicates/good-has-redelivery", checkWith(harness.CheckDuplicates, optsAlways), memWorkload(), harness.VerdictPass, harness.SeverityInfo, "redelivery"},
		{"duplicates/double-ack", checkWith(harness.CheckDuplicates, optsAlways), memWorkload(bugDoubleAck), harness.VerdictFail, harness.SeverityViolation, "double-completion"},
		{"duplicates/ignore-idempotency", checkWith(harness.CheckDuplicates, optsAlways), memWorkload(bugIgnoreIdem), harness.VerdictFail, harness.SeverityViolation, "idempotency"},
		{"duplicates/claim-twice", checkWith(harness.CheckDuplicates, optsAlways), memWorkload(bugClaimTwice), harness.VerdictFail, harness.SeverityViolation, "double-claim"},

		{"fifo/good", harness.CheckFIFO, memWorkload(), harness.VerdictPass, "", ""},
		{"fifo/lifo", harness.CheckFIFO, memWorkload(bugLIFO), harness.VerdictFail, harness.SeverityViolation, "fifo"},

		{"fencing/good", harness.CheckFencing, memWorkload(), harness.VerdictPass, "", ""},
		{"fencing/accept-stale", harness.CheckFencing, memWorkload(bugAcceptStale), harness.VerdictFail, harness.SeverityViolation, "stale-write"},
		{"fencing/reuse-token", harness.CheckFencing, memWorkload(bugReuseToken), harness.VerdictFail, harness.SeverityViolation, "token-reused"},
		{"fencing/token-backwards", harness.CheckFencing, memWorkload(bugTokenBackward), harness.VerdictFail, harness.SeverityViolation, "token-order"},

		{"linearizable/good", checkWith(harness.CheckLinearizable, optsAlways), memWorkload(), harness.VerdictPass, "", ""},
		{"linearizable/lifo", checkWith(harness.CheckLinearizable, optsAlways), memWorkload(bugLIFO), harness.VerdictFail, harness.SeverityViolation, "not-linearizable"},
		{"linearizable/accept-stale", checkWith(harness.CheckLinearizable, optsAlways), memWorkload(bugAcceptStale), harness.VerdictFail, harness.SeverityViolation, "not-linearizable"},
		{"linearizable/drop-on-crash", checkWith(harness.CheckLinearizable, optsAlways), memWorkload(bugDropOnCrash), harness.VerdictFail, harness.SeverityViolation, "not-linearizable"},
		{"linearizable/double-ack", checkWith(harness.CheckLinearizable, optsAlways), memWorkload(bugDoubleAck), harness.VerdictFail, harness.SeverityViolation, "not-linearizable"},
		{"linearizable/reuse-token", checkWith(harness.CheckLinearizable, optsAlways), memWorkload(bugReuseToken), harness.VerdictFail, harness.SeverityViolation, "not-linearizable"},
		{"linearizable/no-erase", checkWith(harness.CheckLinearizable, optsAlways), memWorkload(bugNoErase), harness.VerdictFail, harness.SeverityViolation, "not-linearizable"},
		{"linearizable/machine-crash-never", checkWith(harness.CheckLinearizable, optsNever), memMachineCrash(harness.DurabilityNever), harness.VerdictPass, "", ""},
		{"linearizable/machine-crash-always", checkWith(harness.CheckLinearizable, optsAlways), memMachineCrash(harness.DurabilityNever), harness.VerdictFail, harness.SeverityViolation, "not-linearizable"},

		{"no-resurrection/good", checkWith(harness.CheckNoResurrection, harness.CheckOptions{Markers: map[string][][]byte{"carol": {[]byte("carol-secret")}}}), memWorkload(), harness.VerdictPass, "", ""},
		{"no-resurrection/no-erase", checkWith(harness.CheckNoResurrection, harness.CheckOptions{Markers: map[string][][]byte{"carol": {[]byte("carol-secret")}}}), memWorkload(bugNoErase), harness.VerdictFail, harness.SeverityViolation, "resurrected"},
		{"no-resurrection/without-erase-is-unknown", checkWith(harness.CheckNoResurrection, optsAlways), memMachineCrash(harness.DurabilityAlways), harness.VerdictUnknown, "", ""},
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
		verdict harness.Verdict
		sev     harness.Severity
		kind    string
	}{
		{"fifo/concurrent-enqueues-either-order", harness.CheckFIFO,
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 30, "A").enq("b", 20, 40, "B").
				claim("p", 50, 60, 1, "B").claim("p", 70, 80, 1, "A"),
			harness.VerdictPass, "", ""},
		{"fifo/sequential-enqueues-reordered", harness.CheckFIFO,
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").enq("b", 30, 40, "B").
				claim("p", 50, 60, 1, "B").claim("p", 70, 80, 1, "A"),
			harness.VerdictFail, harness.SeverityViolation, "fifo"},
		{"fifo/redelivered-op-may-come-later", harness.CheckFIFO,
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").enq("b", 30, 40, "B").
				claim("p", 50, 60, 1, "A").acquire("q", 70, 80, 2).claim("q", 90, 100, 2, "A").claim("q", 110, 120, 2, "B"),
			harness.VerdictPass, "", ""},
		{"fifo/voided-claim-must-come-first-again", harness.CheckFIFO,
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").enq("b", 30, 40, "B").
				claim("p", 50, 60, 1, "A").acquire("q", 70, 80, 2).claim("q", 90, 100, 2, "B"),
			harness.VerdictFail, harness.SeverityViolation, "fifo"},
		{"fifo/crashed-claim-is-not-judged", harness.CheckFIFO,
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").enq("b", 30, 40, "B").
				add("p", harness.KindClaim, 50, 0, harness.OpInput{Token: 1}, harness.OpOutput{Outcome: harness.OutcomeUnknown}).
				claim("p", 70, 80, 1, "B"),
			harness.VerdictPass, "", ""},
		{"no-loss/crashed-enqueue-need-not-survive", checkWith(harness.CheckNoLoss, optsAlways),
			new(histBuilder).add("a", harness.KindEnqueue, 10, 0, harness.OpInput{PayloadHash: "h"}, harness.OpOutput{Outcome: harness.OutcomeUnknown}).
				state(100, harness.RestartProcess),
			harness.VerdictPass, "", ""},
		{"no-loss/no-final-state-is-unknown", checkWith(harness.CheckNoLoss, optsAlways),
			new(histBuilder).enq("a", 10, 20, "A"),
			harness.VerdictUnknown, "", ""},
		{"no-loss/maybe-acked-by-crashed-ack", checkWith(harness.CheckNoLoss, optsAlways),
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").claim("p", 30, 40, 1, "A").
				add("p", harness.KindAck, 50, 0, harness.OpInput{Token: 1, OpID: "A"}, harness.OpOutput{Outcome: harness.OutcomeUnknown}).
				state(100, harness.RestartProcess),
			harness.VerdictPass, harness.SeverityInfo, "maybe-acked"},
		{"no-unexpected/crashed-enqueue-explains-op", harness.CheckNoUnexpected,
			new(histBuilder).acquire("p", 0, 1, 1).
				add("a", harness.KindEnqueue, 10, 0, harness.OpInput{PayloadHash: harness.HashPayload([]byte("A"))}, harness.OpOutput{Outcome: harness.OutcomeUnknown}).
				state(100, harness.RestartProcess, "A").acquire("p", 110, 120, 2).claim("p", 130, 140, 2, "A"),
			harness.VerdictPass, "", ""},
		{"no-unexpected/claimed-before-enqueued", harness.CheckNoUnexpected,
			new(histBuilder).acquire("p", 0, 1, 1).claim("p", 10, 20, 1, "A").enq("a", 30, 40, "A"),
			harness.VerdictFail, harness.SeverityViolation, "before-enqueue"},
		{"linearizable/crashed-enqueue-may-take-effect", checkWith(harness.CheckLinearizable, optsAlways),
			new(histBuilder).acquire("p", 0, 1, 1).
				add("a", harness.KindEnqueue, 10, 0, harness.OpInput{PayloadHash: harness.HashPayload([]byte("A"))}, harness.OpOutput{Outcome: harness.OutcomeUnknown}).
				state(100, harness.RestartProcess, "A").claim("p", 130, 140, 1, "A"),
			harness.VerdictPass, "", ""},
		{"linearizable/crashed-enqueue-may-not", checkWith(harness.CheckLinearizable, optsAlways),
			new(histBuilder).acquire("p", 0, 1, 1).
				add("a", harness.KindEnqueue, 10, 0, harness.OpInput{PayloadHash: "h"}, harness.OpOutput{Outcome: harness.OutcomeUnknown}).
				state(100, harness.RestartProcess).claim("p", 130, 140, 1, ""),
			harness.VerdictPass, "", ""},
		{"linearizable/concurrent-enqueues-either-order", checkWith(harness.CheckLinearizable, optsAlways),
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 30, "A").enq("b", 20, 40, "B").
				claim("p", 50, 60, 1, "B").claim("p", 70, 80, 1, "A"),
			harness.VerdictPass, "", ""},
		{"linearizable/empty-while-op-waits", checkWith(harness.CheckLinearizable, optsAlways),
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").claim("p", 30, 40, 1, ""),
			harness.VerdictFail, harness.SeverityViolation, "not-linearizable"},
		{"linearizable/token-not-plus-one", checkWith(harness.CheckLinearizable, optsAlways),
			new(histBuilder).acquire("p", 0, 1, 4).acquire("q", 10, 20, 6),
			harness.VerdictFail, harness.SeverityViolation, "not-linearizable"},
		{"linearizable/ack-unclaimed-op", checkWith(harness.CheckLinearizable, optsAlways),
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").ack("p", 30, 40, 1, "A", harness.OutcomeOK),
			harness.VerdictFail, harness.SeverityViolation, "not-linearizable"},
		{"fencing/write-after-release", harness.CheckFencing,
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").
				add("p", harness.KindRelease, 30, 40, harness.OpInput{Token: 1}, okOut(harness.OpOutput{})).
				claim("p", 50, 60, 1, "A"),
			harness.VerdictFail, harness.SeverityViolation, "released-token-write"},
		{"fencing/concurrent-acquire-is-not-stale", harness.CheckFencing,
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").
				acquire("q", 30, 60, 2).claim("p", 40, 50, 1, "A"),
			harness.VerdictPass, "", ""},
		{"duplicates/completed-then-delivered", checkWith(harness.CheckDuplicates, optsAlways),
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").claim("p", 30, 40, 1, "A").
				ack("p", 50, 60, 1, "A", harness.OutcomeOK).state(70, harness.RestartProcess, "A").
				acquire("p", 80, 90, 2).claim("p", 100, 110, 2, "A"),
			harness.VerdictFail, harness.SeverityViolation, "delivered-after-ack"},
		{"duplicates/completed-then-delivered-after-unsynced-machine-crash", checkWith(harness.CheckDuplicates, optsNever),
			new(histBuilder).acquire("p", 0, 1, 1).enq("a", 10, 20, "A").claim("p", 30, 40, 1, "A").
				ack("p", 50, 60, 1, "A", harness.OutcomeOK).state(70, harness.RestartMachine, "A").
				acquire("p", 80, 90, 2).claim("p", 100, 110, 2, "A"),
			harness.VerdictPass, harness.SeverityExpected, "delivered-after-ack"},
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
	r := harness.CheckLinearizable(b.events(), harness.CheckOptions{Timeout: 50 * time.Millisecond})
	if r.Verdict != harness.VerdictUnknown {
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
	r := harness.CheckLinearizable(memWorkload(bugLIFO), harness.CheckOptions{VisualizeDir: dir})
	wantCheck(t, r, harness.VerdictFail, harness.SeverityViolation, "not-linearizable")
	if len(r.Artifacts) != 1 {
		t.Fatalf("artifacts %v, want the visualization", r.Artifacts)
	}
	b, err := os.ReadFile(r.Artifacts[0])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := filepath.Base(r.Artifacts[0]), harness.VisualizationFile; got != want {
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
	r := harness.CheckLinearizable(b.events(), harness.CheckOptions{Timeout: 20 * time.Second})
	if r.Verdict != harness.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Message)
	}
	t.Logf("%d calls in %s", 2*n+1, time.Since(start))
}

// TestCheckResult_JSON: results, with their evidence, encode as JSON that
// reads back, history events included.
func TestCheckResult_JSON(t *testing.T) {
	r := harness.CheckNoLoss(memWorkload(bugDropOnCrash), optsAlways)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back harness.CheckResult
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

// TestCheckers_BadHistoryIsUnknown: a malformed history is optsNever a pass.
func TestCheckers_BadHistoryIsUnknown(t *testing.T) {
	bad := new(histBuilder).enq("a", 20, 10, "A").events() // returns before its call
	checks := map[string]historyCheck{
		"no-loss":         checkWith(harness.CheckNoLoss, optsAlways),
		"no-unexpected":   harness.CheckNoUnexpected,
		"duplicates":      checkWith(harness.CheckDuplicates, optsAlways),
		"fifo":            harness.CheckFIFO,
		"fencing":         harness.CheckFencing,
		"linearizable":    checkWith(harness.CheckLinearizable, optsAlways),
		"no-resurrection": checkWith(harness.CheckNoResurrection, optsAlways),
	}
	for name, check := range checks {
		t.Run(name, func(t *testing.T) {
			r := check(bad)
			if r.Verdict != harness.VerdictUnknown || !strings.Contains(r.Message, "before its call") {
				t.Errorf("got %s: %s", r.Verdict, r.Message)
			}
		})
	}
}

// TestCheckNoLoss_Interval: under interval durability, a machine crash may
// lose what was acknowledged in the last SyncInterval before it, and
// nothing older.
func TestCheckNoLoss_Interval(t *testing.T) {
	b := new(histBuilder).enq("p", 10, 20, "old").enq("p", 900, 910, "recent")
	b.evs = append(b.evs, harness.HistoryEvent{Index: 2, Client: "harness", Kind: harness.KindStoreState, Call: 1000, Return: 1000,
		State: &harness.StoreState{Restart: harness.RestartMachine, CrashAt: 950, Pending: []harness.StateOp{}}})
	o := harness.CheckOptions{Durability: harness.DurabilityInterval, SyncInterval: 100}
	r := harness.CheckNoLoss(b.events(), o)
	wantCheck(t, r, harness.VerdictFail, harness.SeverityViolation, "lost")
	for _, v := range r.Violations {
		want := map[string]harness.Severity{"old": harness.SeverityViolation, "recent": harness.SeverityExpected}[v.OpID]
		if v.Severity != want {
			t.Errorf("op %s: %s, want %s", v.OpID, v.Severity, want)
		}
	}
	if len(r.Violations) != 2 {
		t.Errorf("%d findings, want 2:\n%s", len(r.Violations), dumpFindings(r))
	}
	// The linearizable model cannot tell which ops the interval covered,
	// so it takes the state as it is.
	wantCheck(t, harness.CheckLinearizable(b.events(), o), harness.VerdictPass, "", "")
}
