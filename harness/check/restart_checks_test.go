package check_test

import (
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
)

// lockAt is an acquire by client at history times [call, ret] with the
// client's clock reading clk (seconds since an arbitrary epoch).
func (b *histBuilder) lockAt(client string, call, ret int64, clk float64, out history.OpOutput) *histBuilder {
	return b.add(client, history.KindAcquire, call, ret, history.OpInput{Owner: client, Clock: secs(clk)}, out)
}

func (b *histBuilder) beatAt(client string, call, ret int64, tok uint64, clk float64, o history.Outcome) *histBuilder {
	return b.add(client, history.KindHeartbeat, call, ret, history.OpInput{Token: tok, Clock: secs(clk)}, history.OpOutput{Outcome: o})
}

func (b *histBuilder) release(client string, call, ret int64, tok uint64, o history.Outcome) *histBuilder {
	return b.add(client, history.KindRelease, call, ret, history.OpInput{Token: tok}, history.OpOutput{Outcome: o})
}

// secs turns seconds into a Unix-nanosecond clock reading far from zero.
func secs(s float64) int64 { return 1_700_000_000_000_000_000 + int64(s*1e9) }

func granted(tok uint64) history.OpOutput { return okOut(history.OpOutput{Token: tok}) }

var lockHeld = history.OpOutput{Outcome: history.OutcomeLockHeld, Err: "lock held"}

func TestCheckLockTakeover(t *testing.T) {
	const stale = 2 * time.Second
	ms := int64(time.Millisecond)
	tests := []struct {
		name    string
		h       *histBuilder
		verdict check.Verdict
		kind    string
	}{
		{"takeover-after-stale", new(histBuilder).
			lockAt("p1", 0, ms, 100, granted(1)).
			beatAt("p1", 10*ms, 11*ms, 1, 100.5, history.OutcomeOK).
			lockAt("p2", 20*ms, 21*ms, 101, lockHeld).
			lockAt("p2", 3000*ms, 3001*ms, 102.6, granted(2)),
			check.VerdictPass, ""},
		// The canary's bug: a takeover after half of stale_after.
		{"takeover-after-half", new(histBuilder).
			lockAt("p1", 0, ms, 100, granted(1)).
			beatAt("p1", 10*ms, 11*ms, 1, 100.5, history.OutcomeOK).
			lockAt("p2", 1600*ms, 1601*ms, 101.6, granted(2)),
			check.VerdictFail, "early-takeover"},
		// Judged by the heartbeat, not the acquire: 2.1 s after the
		// acquire is only 1.1 s after the heartbeat.
		{"takeover-before-heartbeat-stale", new(histBuilder).
			lockAt("p1", 0, ms, 100, granted(1)).
			beatAt("p1", 1000*ms, 1001*ms, 1, 101, history.OutcomeOK).
			lockAt("p2", 2100*ms, 2101*ms, 102.1, granted(2)),
			check.VerdictFail, "early-takeover"},
		// A skewed asker: its clock runs 5 minutes ahead, so by its clock
		// the lease is long stale. The store judges by the asker's clock:
		// allowed (fencing keeps the old holder's writes out).
		{"skewed-asker-by-its-clock", new(histBuilder).
			lockAt("p1", 0, ms, 100, granted(1)).
			lockAt("p2", 10*ms, 11*ms, 100.01+300, granted(2)),
			check.VerdictPass, ""},
		// The holder released: no lease to respect.
		{"after-release", new(histBuilder).
			lockAt("p1", 0, ms, 100, granted(1)).
			release("p1", 5*ms, 6*ms, 1, history.OutcomeOK).
			lockAt("p2", 10*ms, 11*ms, 100.01, granted(2)),
			check.VerdictUnknown, ""},
		// A release that never returned may have taken effect.
		{"after-unknown-release", new(histBuilder).
			lockAt("p1", 0, ms, 100, granted(1)).
			release("p1", 5*ms, history.ReturnUnknown, 1, history.OutcomeUnknown).
			lockAt("p2", 10*ms, 11*ms, 100.01, granted(2)),
			check.VerdictUnknown, ""},
		// The reading the store used may be up to the call's duration
		// later than the one recorded: a slow acquire is given the benefit.
		{"slow-call-benefit", new(histBuilder).
			lockAt("p1", 0, ms, 100, granted(1)).
			lockAt("p2", 1000*ms, 2500*ms, 101, granted(2)),
			check.VerdictPass, ""},
		// The same owner may take its own lock again.
		{"same-owner", new(histBuilder).
			lockAt("p1", 0, ms, 100, granted(1)).
			lockAt("p1", 10*ms, 11*ms, 100.01, granted(2)),
			check.VerdictUnknown, ""},
		{"uncontested", new(histBuilder).
			lockAt("p1", 0, ms, 100, granted(1)),
			check.VerdictUnknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := check.CheckLockTakeover(tt.h.events(), stale)
			wantCheck(t, r, tt.verdict, check.SeverityViolation, tt.kind)
			if r.Name != check.CheckerLockTakeover || r.Message == "" {
				t.Errorf("result without name or message: %+v", r)
			}
		})
	}
}

func (b *histBuilder) enqKey(client string, call, ret int64, key, id string, dup bool) *histBuilder {
	return b.add(client, history.KindEnqueue, call, ret,
		history.OpInput{PayloadHash: history.HashPayload([]byte(key)), IdempotencyKey: key},
		okOut(history.OpOutput{OpID: id, Duplicate: dup}))
}

func TestCheckIdempotency(t *testing.T) {
	crashedEnq := func(b *histBuilder, key string, call int64) *histBuilder {
		return b.add("producer-1", history.KindEnqueue, call, history.ReturnUnknown,
			history.OpInput{PayloadHash: history.HashPayload([]byte(key)), IdempotencyKey: key}, history.OpOutput{Outcome: history.OutcomeUnknown})
	}
	tests := []struct {
		name    string
		h       *histBuilder
		opts    check.CheckOptions
		verdict check.Verdict
		kind    string
	}{
		{"repeat-across-restart", new(histBuilder).
			enqKey("producer-1", 0, 1, "k1", "op-1", false).
			state(5, history.RestartProcess, "op-1").
			enqKey("producer-1", 10, 11, "k1", "op-1", true),
			optsAlways, check.VerdictPass, ""},
		// The canary's bug: the key was kept in memory only.
		{"forgotten-after-restart", new(histBuilder).
			enqKey("producer-1", 0, 1, "k1", "op-1", false).
			state(5, history.RestartProcess, "op-1").
			enqKey("producer-1", 10, 11, "k1", "op-2", false),
			optsAlways, check.VerdictFail, "new-op-after-restart"},
		{"forgotten-after-clean-reopen", new(histBuilder).
			enqKey("producer-1", 0, 1, "k1", "op-1", false).
			state(5, history.RestartClean, "op-1").
			enqKey("producer-2", 10, 11, "k1", "op-2", false),
			optsAlways, check.VerdictFail, "new-op-after-restart"},
		{"ignored-without-restart", new(histBuilder).
			enqKey("producer-1", 0, 1, "k1", "op-1", false).
			enqKey("producer-1", 10, 11, "k1", "op-2", false),
			optsAlways, check.VerdictFail, "new-op"},
		{"not-flagged", new(histBuilder).
			enqKey("producer-1", 0, 1, "k1", "op-1", false).
			enqKey("producer-1", 10, 11, "k1", "op-1", false),
			optsAlways, check.VerdictFail, "not-duplicate"},
		// A retry of a call that never returned: whichever op the first ok
		// enqueue names is the key's op from then on.
		{"retry-of-crashed-call", crashedEnq(new(histBuilder), "k1", 0).
			state(5, history.RestartProcess).
			enqKey("producer-1", 10, 11, "k1", "op-7", false).
			enqKey("producer-1", 20, 21, "k1", "op-7", true),
			optsAlways, check.VerdictPass, ""},
		// Under sync never a machine crash may lose the first enqueue and
		// its key with it.
		{"machine-crash-may-forget-under-never", new(histBuilder).
			enqKey("producer-1", 0, 1, "k1", "op-1", false).
			state(5, history.RestartMachine).
			enqKey("producer-1", 10, 11, "k1", "op-2", false),
			optsNever, check.VerdictUnknown, ""},
		{"machine-crash-must-remember-under-always", new(histBuilder).
			enqKey("producer-1", 0, 1, "k1", "op-1", false).
			state(5, history.RestartMachine, "op-1").
			enqKey("producer-1", 10, 11, "k1", "op-2", false),
			optsAlways, check.VerdictFail, "new-op-after-restart"},
		{"no-repeats", new(histBuilder).
			enqKey("producer-1", 0, 1, "k1", "op-1", false),
			optsAlways, check.VerdictUnknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := check.CheckIdempotency(tt.h.events(), tt.opts)
			wantCheck(t, r, tt.verdict, check.SeverityViolation, tt.kind)
			if r.Name != check.CheckerIdempotency || r.Message == "" {
				t.Errorf("result without name or message: %+v", r)
			}
		})
	}
}
