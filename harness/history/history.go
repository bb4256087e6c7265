package history

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/boxstorm/boxstorm/opname"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// The history is what the checkers judge: every queue and lock call the
// harness made, with its client, its call and return times, its input and
// its output, plus what the harness saw in the store after a crash. The
// checkers never look at a store, only at a history, so the tests can feed
// them histories a correct store could never produce.

// OpKind names the store call, or the observation, an event records. The
// calls are named as everywhere else (package opname).
type OpKind string

// The kinds of history events.
const (
	KindEnqueue   OpKind = opname.Enqueue   // Store.Enqueue; In: PayloadHash, IdempotencyKey, Subject; Out: OpID, Seq, Duplicate
	KindClaim     OpKind = opname.Claim     // Store.Claim; In: Token; Out: OpID, Seq, PayloadHash, Subject
	KindAck       OpKind = opname.Ack       // Store.Ack; In: Token, OpID
	KindFail      OpKind = opname.Fail      // Store.Fail; In: Token, OpID
	KindRetry     OpKind = opname.Retry     // Store.Retry; In: OpID; Out: OpID, Seq
	KindAcquire   OpKind = opname.Acquire   // Store.AcquireLock; In: Owner, Clock; Out: Token
	KindHeartbeat OpKind = opname.Heartbeat // Store.Heartbeat; In: Token, Clock
	KindRelease   OpKind = opname.Release   // Store.ReleaseLock; In: Token
	KindErase     OpKind = opname.Erase     // Store.Erase; In: Subject
	// KindStoreState is not a call: it is what the harness found in the
	// store (HistoryEvent.State), typically after a crash and a reopen, and
	// always at the end of a run.
	KindStoreState OpKind = "store-state"
	// KindFault is not a call either: a fault the harness injected started,
	// finished or killed its process (HistoryEvent.Fault). Call and Return
	// are the moment it happened.
	KindFault OpKind = "fault"
)

// The runbook procedures a chaos run records, besides the queue and lock
// calls. The queue and lock checkers ignore them; the chaos runner's
// state checks (error-is, restore-whole) and its latency figures read
// them. A failed call has Out.Err and Out.ErrClass.
const (
	KindOpen         OpKind = opname.Open         // store.Open; In: WrongKey
	KindSecondOpen   OpKind = opname.SecondOpen   // store.Open of a store already open, from this process or another
	KindClose        OpKind = opname.Close        // Store.Close
	KindBackup       OpKind = opname.Backup       // Store.Backup; In: Backup (the file written)
	KindRestore      OpKind = opname.Restore      // Store.Restore; In: Backup, WrongKey
	KindRotateKey    OpKind = opname.RotateKey    // Store.RotateKey
	KindMigrate      OpKind = opname.Migrate      // Store.MigrateWith
	KindRecover      OpKind = opname.Recover      // store.RecoverCorrupted; In: Backup
	KindRebuildIndex OpKind = opname.RebuildIndex // Store.RebuildIndex
)

var histKinds = []OpKind{KindEnqueue, KindClaim, KindAck, KindFail, KindRetry, KindAcquire, KindHeartbeat, KindRelease, KindErase, KindStoreState, KindFault,
	KindOpen, KindSecondOpen, KindClose, KindBackup, KindRestore, KindRotateKey, KindMigrate, KindRecover, KindRebuildIndex}

// observation reports whether events of kind k are observations (store
// states, faults) rather than calls: they have no output and return when
// they are called.
func (k OpKind) observation() bool { return k == KindStoreState || k == KindFault }

// Valid reports whether k is one of the kinds above.
func (k OpKind) Valid() bool {
	for _, v := range histKinds {
		if k == v {
			return true
		}
	}
	return false
}

// Outcome classifies how a call returned. The harness maps the store's
// sentinel errors onto it (errors.Is); docs/checkers.md has the table.
type Outcome string

// The outcomes of a call.
const (
	OutcomeOK         Outcome = "ok"
	OutcomeEmpty      Outcome = "empty"       // ErrEmpty: nothing claimable
	OutcomeStaleToken Outcome = "stale-token" // ErrStaleToken
	OutcomeNotClaimed Outcome = "not-claimed" // ErrNotClaimed
	OutcomeLockHeld   Outcome = "lock-held"   // ErrLockHeld
	OutcomeNotFound   Outcome = "not-found"   // ErrNotFound, e.g. Retry of an op that is not failed
	// OutcomeUnknown means the call never returned: its process died, or
	// the caller gave up on it. It may or may not have taken effect, at
	// any time after its call and before the next restart of the store
	// (see Return).
	OutcomeUnknown Outcome = "unknown"
	// OutcomeError is any other error, with its text in OpOutput.Err. The
	// checkers assume such a call may or may not have taken effect.
	OutcomeError Outcome = "error"
)

var histOutcomes = []Outcome{OutcomeOK, OutcomeEmpty, OutcomeStaleToken, OutcomeNotClaimed, OutcomeLockHeld, OutcomeNotFound, OutcomeUnknown, OutcomeError}

// Valid reports whether o is one of the outcomes above.
func (o Outcome) Valid() bool {
	for _, v := range histOutcomes {
		if o == v {
			return true
		}
	}
	return false
}

// ReturnUnknown is the Return time of a call that never returned: porcupine
// reads it as "returned after everything else".
const ReturnUnknown int64 = math.MaxInt64

// OpInput is what a call was given. Fields a kind does not take stay empty.
type OpInput struct {
	OpID           string `json:"op_id,omitempty"`           // ack, fail, retry: the op
	PayloadHash    string `json:"payload_hash,omitempty"`    // enqueue: HashPayload of the payload
	IdempotencyKey string `json:"idempotency_key,omitempty"` // enqueue
	Subject        string `json:"subject,omitempty"`         // enqueue, erase: the privacy subject
	Token          uint64 `json:"token,omitempty"`           // claim, ack, fail, heartbeat, release: the fencing token
	Owner          string `json:"owner,omitempty"`           // acquire: the lock owner; the client when empty
	Backup         string `json:"backup,omitempty"`          // backup, restore, recover: the backup file
	WrongKey       bool   `json:"wrong_key,omitempty"`       // open, restore: made with a key that opens nothing
	// Clock is the caller's own clock reading, in Unix nanoseconds, taken
	// at the call (acquire, heartbeat): the reading that travels with the
	// call, by which the store judges staleness and stamps the heartbeat.
	// The store reads that clock during the call, so its reading lies
	// between Clock and Clock plus the call's duration. 0: not recorded
	// (histories from before the field read as such).
	Clock int64 `json:"clock,omitempty"`
}

// OpOutput is how a call returned.
type OpOutput struct {
	Outcome     Outcome `json:"outcome"`
	OpID        string  `json:"op_id,omitempty"`        // enqueue, claim, retry: the op returned
	Seq         uint64  `json:"seq,omitempty"`          // enqueue, claim, retry: its sequence number
	PayloadHash string  `json:"payload_hash,omitempty"` // claim: HashPayload of the payload returned
	Subject     string  `json:"subject,omitempty"`      // claim: the op's subject
	Token       uint64  `json:"token,omitempty"`        // acquire: the fencing token granted
	Duplicate   bool    `json:"duplicate,omitempty"`    // enqueue: the idempotency key was known
	Err         string  `json:"err,omitempty"`          // the error text, for any outcome but ok
	// ErrClass names the error as a scenario's error-is check does
	// (wrong-key, corrupt, disk-full...; "other" for the rest), when the
	// recorder classified it.
	ErrClass string `json:"err_class,omitempty"`
}

// Fault is what a fault the harness injected did: the payload of a
// KindFault event. A fault has a "start" and a "done" event; a kill fault
// may add "kill", the moment its process died.
type Fault struct {
	Index int    `json:"index"` // the fault's position in the scenario's schedule; -1 for the runner's own
	Type  string `json:"type"`  // the scenario's fault type: truncate, kill, backup...
	Phase string `json:"phase"` // "start", "done" or "kill"
	Err   string `json:"err,omitempty"`
	Class string `json:"class,omitempty"` // Err's class, as ErrClass
	// Detail is what the fault did, by name (the damage, a report, a
	// path); values read back from JSON are JSON's types.
	Detail map[string]any `json:"detail,omitempty"`
	// Skipped says why the fault could not be injected; the checks that
	// depend on it are then unknown.
	Skipped string `json:"skipped,omitempty"`
}

// Fault phases.
const (
	FaultStart = "start"
	FaultDone  = "done"
	FaultKill  = "kill"
)

// RestartKind says what came before a store-state observation.
type RestartKind string

// The restart kinds. A restart (anything but RestartNone) voids every
// claim, because the store keeps claims in memory only.
const (
	// RestartNone: the store was observed while open; nothing restarted.
	RestartNone RestartKind = ""
	// RestartClean: the store was closed and reopened.
	RestartClean RestartKind = "clean"
	// RestartProcess: the process holding the store was killed (SIGKILL)
	// and the store reopened. Writes that reached the kernel survive in
	// every sync mode.
	RestartProcess RestartKind = "process-crash"
	// RestartMachine: a machine crash or power loss was simulated (the
	// files cut back to what was fsynced). Only SyncAlways promises that
	// acknowledged writes survive it.
	RestartMachine RestartKind = "machine-crash"
)

// StateOp is one op as the harness found it in the store.
type StateOp struct {
	ID          string `json:"id"`
	Seq         uint64 `json:"seq,omitempty"`
	PayloadHash string `json:"payload_hash,omitempty"`
	Subject     string `json:"subject,omitempty"`
	// Payload is the decrypted payload, when the harness chose to keep it
	// (the final state of an erasure scenario), for marker checks.
	Payload []byte `json:"payload,omitempty"`
}

// ObservedLock is the processing lock as the harness found it.
type ObservedLock struct {
	Token uint64 `json:"token"`
	Held  bool   `json:"held"`
	Owner string `json:"owner,omitempty"`
}

// StoreState is what the harness found in the store: the payload of a
// KindStoreState event. The last store-state event of a queue is that
// queue's final state for the checkers.
type StoreState struct {
	Restart RestartKind `json:"restart,omitempty"`
	// CrashAt is when the crash happened, in the history's clock, when
	// known (0 otherwise). It lets no-loss judge SyncInterval's promise.
	CrashAt int64     `json:"crash_at,omitempty"`
	Pending []StateOp `json:"pending"`          // pending_ops, in FIFO order
	Failed  []StateOp `json:"failed,omitempty"` // failed_ops
	// Done lists ops whose completion the store recorded, when the harness
	// can tell (nil: not observed).
	Done []string `json:"done,omitempty"`
	// Lock is the processing lock, when observed.
	Lock *ObservedLock `json:"lock,omitempty"`
	// Subjects counts the ops Store.Export returned per subject, for the
	// subjects the harness asked about (erased ones, typically).
	Subjects map[string]int `json:"subjects,omitempty"`
}

// HistoryEvent is one call, or one observation, in a history.
type HistoryEvent struct {
	Index  int    // position in the history, from 0
	Client string // who made the call: "producer-3", "processor-1", "proc-pid-1234"
	Kind   OpKind
	Queue  string // queue name; "" is the store's queue. Lock events ignore it.
	Call   int64  // call time, in nanoseconds since the run started, from a monotonic clock
	// Return is the return time, or ReturnUnknown. A call whose outcome is
	// OutcomeUnknown is treated as never having returned, whatever Return
	// says.
	Return int64
	In     OpInput
	Out    OpOutput
	State  *StoreState // KindStoreState only
	Fault  *Fault      // KindFault only
}

// Crashed reports whether the call never returned (OutcomeUnknown).
func (e HistoryEvent) Crashed() bool { return e.Out.Outcome == OutcomeUnknown }

// String renders the event on one line, for messages.
func (e HistoryEvent) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s %s", e.Index, e.Client, e.Kind)
	if e.Queue != "" {
		fmt.Fprintf(&b, "(%s)", e.Queue)
	}
	ret := "?"
	if e.Return != ReturnUnknown && !e.Crashed() {
		ret = fmt.Sprint(e.Return)
	}
	fmt.Fprintf(&b, " [%d,%s]", e.Call, ret)
	in := e.In
	if in.Token != 0 {
		fmt.Fprintf(&b, " token=%d", in.Token)
	}
	if in.OpID != "" {
		fmt.Fprintf(&b, " op=%s", in.OpID)
	}
	if in.IdempotencyKey != "" {
		fmt.Fprintf(&b, " key=%s", in.IdempotencyKey)
	}
	if in.Subject != "" {
		fmt.Fprintf(&b, " subject=%s", in.Subject)
	}
	if in.Owner != "" {
		fmt.Fprintf(&b, " owner=%s", in.Owner)
	}
	if e.Kind == KindFault {
		if f := e.Fault; f != nil {
			fmt.Fprintf(&b, " %s #%d %s", f.Type, f.Index, f.Phase)
			if f.Skipped != "" {
				fmt.Fprintf(&b, " skipped (%s)", f.Skipped)
			}
			if f.Err != "" {
				fmt.Fprintf(&b, " (%s)", f.Err)
			}
		}
		return b.String()
	}
	if e.Kind == KindStoreState {
		if st := e.State; st != nil {
			fmt.Fprintf(&b, " restart=%q pending=%d failed=%d", st.Restart, len(st.Pending), len(st.Failed))
			if st.Lock != nil {
				fmt.Fprintf(&b, " lock=%d", st.Lock.Token)
			}
		}
		return b.String()
	}
	out := e.Out
	fmt.Fprintf(&b, " -> %s", out.Outcome)
	if out.OpID != "" {
		fmt.Fprintf(&b, " op=%s", out.OpID)
	}
	if out.Token != 0 {
		fmt.Fprintf(&b, " token=%d", out.Token)
	}
	if out.Duplicate {
		b.WriteString(" duplicate")
	}
	if out.Err != "" {
		fmt.Fprintf(&b, " (%s)", out.Err)
	}
	return b.String()
}

// Validate reports the first thing wrong with one event: an unknown kind or
// outcome, a return before the call, a store-state event without a state.
func (e HistoryEvent) Validate() error {
	switch {
	case !e.Kind.Valid():
		return fmt.Errorf("event #%d: field kind: unknown kind %q: %w", e.Index, e.Kind, ErrBadHistory)
	case e.Kind == KindStoreState && e.State == nil:
		return fmt.Errorf("event #%d: field state: a store-state event needs a state: %w", e.Index, ErrBadHistory)
	case e.Kind != KindStoreState && e.State != nil:
		return fmt.Errorf("event #%d: field state: only store-state events carry a state: %w", e.Index, ErrBadHistory)
	case (e.Kind == KindFault) != (e.Fault != nil):
		return fmt.Errorf("event #%d: field fault: only a fault event carries a fault, and it must: %w", e.Index, ErrBadHistory)
	case !e.Kind.observation() && !e.Out.Outcome.Valid():
		return fmt.Errorf("event #%d: field out.outcome: unknown outcome %q: %w", e.Index, e.Out.Outcome, ErrBadHistory)
	case !e.Crashed() && e.Return < e.Call:
		return fmt.Errorf("event #%d: field ret: returns at %d, before its call at %d: %w", e.Index, e.Return, e.Call, ErrBadHistory)
	}
	return nil
}

// HashPayload is the payload digest histories record (OpInput.PayloadHash,
// OpOutput.PayloadHash): 16 bytes of SHA-256, in hex. Histories never hold
// payloads themselves.
func HashPayload(payload []byte) string {
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:16])
}

// Errors of the history recorder and reader. Match them with errors.Is.
var (
	// ErrBadHistory marks a history that cannot be read or judged: a
	// malformed line, an unknown kind, a return before its call. Reader
	// errors are *HistoryError values that name the file and line.
	ErrBadHistory = errors.New("bad history")
	// ErrTornHistory marks a history file whose last line is incomplete, as
	// a killed process leaves it. ReadHistory still returns every event
	// before that line, so a caller may accept it knowingly.
	ErrTornHistory = errors.New("history ends in an incomplete line")
	// ErrHistoryMisuse is what History.Err reports after a Return for a
	// call that was never made or already returned.
	ErrHistoryMisuse = errors.New("history recorder misused")
)

// HistoryOptions configure NewHistory.
type HistoryOptions struct {
	// Clock returns nanoseconds since the run started, from a monotonic
	// clock. By default it is time.Since(the call to NewHistory). Processes
	// that record one history between them use ClockSince with a start
	// from MonotonicNanos, which all processes on a machine share.
	Clock func() int64
	// Sink, when set, receives every call and every return as a JSON line
	// the moment it happens (see ReadHistory), so a process that is killed
	// leaves its history behind, ending in calls that never returned. Give
	// it an unbuffered writer such as an *os.File: each line is one Write.
	Sink io.Writer
}

// History is an append-only, concurrency-safe recorder of calls and
// observations. Make one with NewHistory.
type History struct {
	mu       sync.Mutex
	clock    func() int64
	sink     io.Writer
	events   []HistoryEvent
	returned []bool
	err      error
}

// NewHistory returns an empty history.
func NewHistory(o HistoryOptions) *History {
	clock := o.Clock
	if clock == nil {
		start := time.Now()
		clock = func() int64 { return int64(time.Since(start)) }
	}
	return &History{clock: clock, sink: o.Sink}
}

// Call records the start of a call and returns its index, for Return. Until
// Return is called the event reads as crashed (OutcomeUnknown).
func (h *History) Call(client string, kind OpKind, queue string, in OpInput) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	// The clock is read under the lock so that indexes follow call times.
	ev := HistoryEvent{
		Index: len(h.events), Client: client, Kind: kind, Queue: queue,
		Call: h.clock(), Return: ReturnUnknown, In: in,
		Out: OpOutput{Outcome: OutcomeUnknown},
	}
	h.events = append(h.events, ev)
	h.returned = append(h.returned, false)
	h.emitLocked(histWireFrom(ev, histPhaseCall))
	return ev.Index
}

// Return records how call i returned. An empty Outcome is read as
// OutcomeOK when out.Err is empty and OutcomeError otherwise.
func (h *History) Return(i int, out OpOutput) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.clock()
	if i < 0 || i >= len(h.events) || h.returned[i] || h.events[i].Kind.observation() {
		if h.err == nil {
			h.err = fmt.Errorf("return for call %d: %w", i, ErrHistoryMisuse)
		}
		return
	}
	if out.Outcome == "" {
		out.Outcome = OutcomeOK
		if out.Err != "" {
			out.Outcome = OutcomeError
		}
	}
	h.returned[i] = true
	ev := &h.events[i]
	ev.Return, ev.Out = max(now, ev.Call), out
	h.emitLocked(histWireFrom(*ev, histPhaseReturn))
}

// RecordState records what the harness found in the store, now.
func (h *History) RecordState(client, queue string, st StoreState) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.clock()
	return h.appendLocked(HistoryEvent{Client: client, Kind: KindStoreState, Queue: queue, Call: now, Return: now, State: &st})
}

// RecordFault records a fault event, now.
func (h *History) RecordFault(client string, f Fault) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.clock()
	return h.appendLocked(HistoryEvent{Client: client, Kind: KindFault, Call: now, Return: now, Fault: &f})
}

// Now reads the recorder's clock: the time a call made now would carry.
func (h *History) Now() int64 { return h.clock() }

// Seal stops the history for good: every later call to it blocks, for the
// rest of the process's life. A child about to be killed seals its history
// after its kill event, so that nothing it does while it dies reaches the
// stream its parent follows.
func (h *History) Seal() { h.mu.Lock() }

// Record appends a whole event, with the times it carries (an event from
// another recorder, say), and returns its index. Its Index is replaced.
func (h *History) Record(ev HistoryEvent) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.appendLocked(ev)
}

func (h *History) appendLocked(ev HistoryEvent) int {
	ev.Index = len(h.events)
	h.events = append(h.events, ev)
	h.returned = append(h.returned, true)
	h.emitLocked(histWireFrom(ev, histPhaseWhole))
	return ev.Index
}

func (h *History) emitLocked(w histWire) {
	if h.sink == nil || h.err != nil {
		return
	}
	line, err := histMarshalLine(w)
	if err == nil {
		_, err = h.sink.Write(line)
	}
	if err != nil {
		h.err = fmt.Errorf("history sink: %w", err)
	}
}

// Events returns a copy of the history in index order. Calls that have not
// returned read as crashed: OutcomeUnknown, Return ReturnUnknown.
func (h *History) Events() []HistoryEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return histClone(h.events)
}

// Len returns the number of events recorded.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events)
}

// Err returns the first error the recorder met: a failed Sink write, or a
// misuse (ErrHistoryMisuse). Recording goes on after it.
func (h *History) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// WriteTo writes the history as JSON lines, one whole event per line: the
// history.jsonl of a run. It implements io.WriterTo.
func (h *History) WriteTo(w io.Writer) (int64, error) {
	return histWriteEvents(w, h.Events())
}

// MergeHistories joins histories recorded apart on one clock (by the
// harness and its worker processes, say) into one, ordered by call time,
// with Index renumbered.
func MergeHistories(parts ...[]HistoryEvent) []HistoryEvent {
	var all []HistoryEvent
	for _, p := range parts {
		all = append(all, p...)
	}
	all = histClone(all)
	sort.SliceStable(all, func(i, j int) bool { return all[i].Call < all[j].Call })
	for i := range all {
		all[i].Index = i
	}
	return all
}

func histClone(evs []HistoryEvent) []HistoryEvent {
	out := make([]HistoryEvent, len(evs))
	copy(out, evs)
	for i := range out {
		if st := out[i].State; st != nil {
			c := *st
			out[i].State = &c
		}
		if f := out[i].Fault; f != nil {
			c := *f
			out[i].Fault = &c
		}
	}
	return out
}

// ClockSince returns a history clock that reads MonotonicNanos()-start.
// Processes on one machine that share start record comparable times.
func ClockSince(start int64) func() int64 {
	return func() int64 { return MonotonicNanos() - start }
}
