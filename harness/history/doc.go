// Package history is the record the harness judges: every queue and lock
// call it made, with its client, its call and return times, its input and
// its output, the runbook procedures it called (open, backup, restore,
// migrate...), the faults it injected, and what it found in the store
// after a crash and at the end. The chaos runner, its crash worker and its
// processor processes all record through it, and the checkers (package
// check) read nothing else.
//
// # Basics
//
// A [History] is an append-only, concurrency-safe recorder:
//
//	h := history.NewHistory(history.HistoryOptions{})
//	i := h.Call("processor-0", history.KindClaim, "", history.OpInput{Token: 7})
//	op, err := s.Claim(ctx, 7)
//	h.Return(i, history.OpOutput{Outcome: history.OutcomeOK, OpID: op.ID})
//	events := h.Events()
//
// Until Return is called, an event reads as never returned: its Return is
// [ReturnUnknown] and its outcome [OutcomeUnknown]. A process that is
// killed leaves such events behind, and the checkers treat them as calls
// that may or may not have taken effect.
//
// Times are nanoseconds since the run started, from a monotonic clock.
// Processes that record one history between them use [ClockSince] with a
// start from [MonotonicNanos] (CLOCK_MONOTONIC, shared by every process
// on the machine). A child streams its history through a Sink, and the
// parent records it into its own as it arrives with [History.Follow];
// [MergeHistories] joins histories recorded apart by call time.
//
// # Format
//
// [WriteHistory] and [ReadHistory] use JSON lines (history.jsonl), version
// [HistoryFormatVersion]: a call and its return may be one line or two, so
// a recorder with a Sink streams each as it happens. docs/history.md
// documents the format with an example, docs/checkers.md every field.
//
// # Caveats
//
//   - Payloads are never recorded, only [HashPayload] of them.
//   - ReadHistory rejects an unknown kind or outcome, a return before its
//     call, and a torn last line ([ErrTornHistory]); a reader that wants
//     the prefix of a killed process's stream gets it with the error.
package history
