package check

import (
	"fmt"
	"github.com/boxstorm/boxstorm/harness/history"
	"sort"
	"strings"
	"time"
)

// Checkers judge a recorded history (and, for no-plaintext, the files a run
// left). Each is a pure function that returns a CheckResult; none reads a
// store, so each can be shown a known-bad history and must fail it. See
// docs/checkers.md.

// The checker names, as scenario files spell them in `checks`.
const (
	CheckerLinearizable   = "linearizable"
	CheckerNoLoss         = "no-loss"
	CheckerNoUnexpected   = "no-unexpected"
	CheckerDuplicates     = "duplicates"
	CheckerFIFO           = "fifo"
	CheckerFencing        = "fencing"
	CheckerNoPlaintext    = "no-plaintext"
	CheckerNoResurrection = "no-resurrection"
)

// Verdict is a checker's conclusion.
type Verdict string

// The verdicts. Unknown is never a pass: the checker could not decide (a
// porcupine timeout, a file it could not read, no final state to compare).
const (
	VerdictPass    Verdict = "pass"
	VerdictFail    Verdict = "fail"
	VerdictUnknown Verdict = "unknown"
)

// Severity says whether a finding fails the check.
type Severity string

// The severities. Only SeverityViolation fails a check; the others are
// reported so a reader sees what happened.
const (
	// SeverityViolation: the store broke its contract.
	SeverityViolation Severity = "violation"
	// SeverityExpected: a loss the sync mode does not promise to prevent,
	// such as an acknowledged op lost in a machine crash under SyncNever.
	SeverityExpected Severity = "expected"
	// SeverityInfo: allowed behaviour worth counting, such as a redelivery.
	SeverityInfo Severity = "info"
)

// Location is a place in a file.
type Location struct {
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
}

// Violation is one finding, with the smallest slice of history that shows
// it.
type Violation struct {
	Kind     string                 `json:"kind"` // e.g. "lost", "double-completion"; docs/checkers.md lists them
	Severity Severity               `json:"severity"`
	OpID     string                 `json:"op_id,omitempty"`
	Message  string                 `json:"message"`
	Events   []history.HistoryEvent `json:"events,omitempty"`
	Where    *Location              `json:"where,omitempty"` // no-plaintext: where the bytes are
}

// CheckResult is what a checker concluded.
type CheckResult struct {
	Name       string      `json:"name"`
	Verdict    Verdict     `json:"verdict"`
	Message    string      `json:"message"`
	Violations []Violation `json:"violations,omitempty"`
	// Artifacts lists files the checker wrote, such as the porcupine
	// visualization of a history that is not linearizable.
	Artifacts []string `json:"artifacts,omitempty"`
}

// String renders "name: verdict: message".
func (r CheckResult) String() string {
	return fmt.Sprintf("%s: %s: %s", r.Name, r.Verdict, r.Message)
}

// Durability is the store's sync mode, spelled as store.SyncMode.String
// spells it: Durability(s.SyncMode().String()).
type Durability string

// The durability modes.
const (
	DurabilityAlways   Durability = "always"
	DurabilityInterval Durability = "interval"
	DurabilityNever    Durability = "never"
)

// DefaultCheckTimeout is how long the linearizable checker lets porcupine
// search before it reports Unknown.
const DefaultCheckTimeout = 10 * time.Second

// chkMaxListed bounds the violations a result lists per severity; the message
// still counts all of them.
const chkMaxListed = 50

// CheckOptions are the parameters of the history checkers. Each checker
// reads the fields it documents and ignores the rest.
type CheckOptions struct {
	// Durability is the sync mode the run used ("" means always). With
	// always, any acknowledged op lost is a violation; with interval or
	// never, a loss in a machine crash is reported as expected (see
	// no-loss).
	Durability Durability
	// SyncInterval is the fsync period under DurabilityInterval: an op
	// acknowledged more than twice SyncInterval before a machine crash
	// (with StoreState.CrashAt known) must survive it. One period is the
	// wait for the next background fsync, the other is that fsync's own
	// time: a crash while it runs loses what it would have covered.
	SyncInterval time.Duration
	// Timeout bounds porcupine's search (linearizable);
	// DefaultCheckTimeout when zero.
	Timeout time.Duration
	// VisualizeDir, when set, is where linearizable writes
	// linearizable.html, porcupine's visualization, for a history that is
	// not linearizable.
	VisualizeDir string
	// Markers maps a privacy subject to byte strings that only its payloads
	// contain, for no-resurrection.
	Markers map[string][][]byte
}

// mustSurvive reports whether a write acknowledged at time ack must survive
// the restart described by st.
func (o CheckOptions) mustSurvive(st *history.StoreState, ack int64) bool {
	if st.Restart != history.RestartMachine {
		return true
	}
	switch o.Durability {
	case DurabilityAlways, "":
		return true
	case DurabilityInterval:
		return st.CrashAt != 0 && o.SyncInterval > 0 && ack < st.CrashAt-2*int64(o.SyncInterval)
	}
	return false
}

// mustSurviveAll reports whether every write acknowledged before the
// restart described by st must survive it.
func (o CheckOptions) mustSurviveAll(st *history.StoreState) bool {
	return st.Restart != history.RestartMachine || o.Durability == DurabilityAlways || o.Durability == ""
}

// chkFindings gathers findings and turns them into a CheckResult.
type chkFindings struct {
	name    string
	listed  map[Severity]int
	counts  map[Severity]int
	kinds   map[Severity]map[string]int
	vs      []Violation
	unknown []string
}

func newChkFindings(name string) *chkFindings {
	return &chkFindings{name: name, listed: map[Severity]int{}, counts: map[Severity]int{}, kinds: map[Severity]map[string]int{}}
}

// tally counts v without listing it.
func (c *chkFindings) tally(v Violation) {
	c.counts[v.Severity]++
	if c.kinds[v.Severity] == nil {
		c.kinds[v.Severity] = map[string]int{}
	}
	c.kinds[v.Severity][v.Kind]++
}

// add counts v and lists it, up to chkMaxListed per severity.
func (c *chkFindings) add(v Violation) {
	c.tally(v)
	if c.listed[v.Severity] < chkMaxListed {
		c.listed[v.Severity]++
		c.vs = append(c.vs, v)
	}
}

// undecided records why the checker cannot pass; without a violation the
// verdict is then Unknown.
func (c *chkFindings) undecided(format string, args ...any) {
	c.unknown = append(c.unknown, fmt.Sprintf(format, args...))
}

func (c *chkFindings) result(summary string) CheckResult {
	r := CheckResult{Name: c.name, Verdict: VerdictPass}
	var parts []string
	if n := c.counts[SeverityViolation]; n > 0 {
		r.Verdict = VerdictFail
		parts = append(parts, fmt.Sprintf("%d violation%s (%s)", n, chkPlural(n), chkKindList(c.kinds[SeverityViolation])))
	} else if len(c.unknown) > 0 {
		r.Verdict = VerdictUnknown
	}
	if len(c.unknown) > 0 {
		parts = append(parts, "undecided: "+strings.Join(c.unknown, "; "))
	}
	for _, s := range []Severity{SeverityExpected, SeverityInfo} {
		if n := c.counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s (%s)", n, s, chkKindList(c.kinds[s])))
		}
	}
	if summary != "" {
		parts = append(parts, summary)
	}
	if len(c.vs) < c.counts[SeverityViolation]+c.counts[SeverityExpected]+c.counts[SeverityInfo] {
		parts = append(parts, fmt.Sprintf("the first %d of each severity are listed", chkMaxListed))
	}
	r.Message = strings.Join(parts, "; ")
	// Violations first, so a reader of a long list sees them at once.
	sort.SliceStable(c.vs, func(i, j int) bool { return chkSevRank(c.vs[i].Severity) < chkSevRank(c.vs[j].Severity) })
	r.Violations = c.vs
	return r
}

func chkSevRank(s Severity) int {
	switch s {
	case SeverityViolation:
		return 0
	case SeverityExpected:
		return 1
	}
	return 2
}

func chkKindList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(keys, ", ")
}

func chkPlural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// chkBadHistory is the result for a history the checker cannot judge.
func chkBadHistory(name string, err error) CheckResult {
	return CheckResult{Name: name, Verdict: VerdictUnknown, Message: "cannot judge the history: " + err.Error()}
}

// chkHistory is a history prepared for the checkers: sorted by call time, with
// each op id traced to the enqueue that created it.
type chkHistory struct {
	ev []history.HistoryEvent
	// origin maps an op id to the position in ev of the enqueue that
	// created it: an enqueue that returned it, or a crashed or failed
	// enqueue matched to it by idempotency key or payload hash.
	origin map[string]int
	// resolved maps the position of a crashed or failed enqueue to the op
	// id it is known to have created.
	resolved map[int]string
	subject  map[string]string // op id -> privacy subject, when known
	queues   []string          // queue names, sorted
}

// chkPrepare validates and indexes a history. It does not change events.
func chkPrepare(events []history.HistoryEvent) (*chkHistory, error) {
	ev := make([]history.HistoryEvent, len(events))
	copy(ev, events)
	for i := range ev {
		if err := ev[i].Validate(); err != nil {
			return nil, err
		}
		if ev[i].Kind != history.KindStoreState && ev[i].Crashed() {
			ev[i].Return = history.ReturnUnknown
		}
	}
	sort.SliceStable(ev, func(i, j int) bool {
		if ev[i].Call != ev[j].Call {
			return ev[i].Call < ev[j].Call
		}
		return ev[i].Index < ev[j].Index
	})
	h := &chkHistory{ev: ev, origin: map[string]int{}, resolved: map[int]string{}, subject: map[string]string{}}
	queues := map[string]bool{}
	// Ops created by an enqueue that said so.
	for i, e := range ev {
		switch e.Kind {
		case history.KindEnqueue, history.KindClaim, history.KindAck, history.KindFail, history.KindRetry, history.KindStoreState:
			queues[e.Queue] = true
		}
		if e.Kind == history.KindEnqueue && e.Out.Outcome == history.OutcomeOK && e.Out.OpID != "" {
			if j, ok := h.origin[e.Out.OpID]; !ok || ev[j].Out.Duplicate && !e.Out.Duplicate {
				h.origin[e.Out.OpID] = i
			}
			if e.In.Subject != "" {
				h.subject[e.Out.OpID] = e.In.Subject
			}
		}
	}
	// An op whose only ok enqueues are duplicates was created by a call
	// that did not return ok: match it to one by idempotency key, then any
	// other observed op by payload hash.
	type seen struct {
		hash, key, subject string
	}
	observed := map[string]*seen{}
	var order []string
	note := func(id, hash, key, subject string) {
		if id == "" {
			return
		}
		s := observed[id]
		if s == nil {
			s = &seen{}
			observed[id] = s
			order = append(order, id)
		}
		if s.hash == "" {
			s.hash = hash
		}
		if s.key == "" {
			s.key = key
		}
		if s.subject == "" {
			s.subject = subject
		}
	}
	for _, e := range ev {
		switch e.Kind {
		case history.KindEnqueue:
			if e.Out.Outcome == history.OutcomeOK && e.Out.Duplicate {
				note(e.Out.OpID, "", e.In.IdempotencyKey, "")
			}
		case history.KindClaim:
			if e.Out.Outcome == history.OutcomeOK {
				note(e.Out.OpID, e.Out.PayloadHash, "", e.Out.Subject)
			}
		case history.KindAck, history.KindFail, history.KindRetry:
			if e.Out.Outcome == history.OutcomeOK {
				note(e.In.OpID, "", "", "")
			}
		case history.KindStoreState:
			for _, list := range [][]history.StateOp{e.State.Pending, e.State.Failed} {
				for _, op := range list {
					note(op.ID, op.PayloadHash, "", op.Subject)
				}
			}
		}
	}
	// Candidates, indexed by idempotency key and by payload hash.
	byKey, byHash := map[string][]int{}, map[string][]int{}
	for i, e := range ev {
		if e.Kind == history.KindEnqueue && e.Out.Outcome != history.OutcomeOK {
			if e.In.IdempotencyKey != "" {
				byKey[e.In.IdempotencyKey] = append(byKey[e.In.IdempotencyKey], i)
			}
			if e.In.PayloadHash != "" {
				byHash[e.In.PayloadHash] = append(byHash[e.In.PayloadHash], i)
			}
		}
	}
	used := map[int]bool{}
	match := func(id string, candidates []int) {
		for _, i := range candidates {
			if used[i] {
				continue
			}
			used[i] = true
			h.resolved[i] = id
			h.origin[id] = i
			if subj := ev[i].In.Subject; subj != "" {
				h.subject[id] = subj
			}
			return
		}
	}
	for _, pass := range []int{0, 1} {
		for _, id := range order {
			if h.created(id) {
				continue
			}
			s := observed[id]
			if pass == 0 && s.key != "" {
				match(id, byKey[s.key])
			}
			if pass == 1 && s.hash != "" {
				match(id, byHash[s.hash])
			}
		}
	}
	for id, s := range observed {
		if _, ok := h.subject[id]; !ok && s.subject != "" {
			h.subject[id] = s.subject
		}
	}
	for q := range queues {
		h.queues = append(h.queues, q)
	}
	sort.Strings(h.queues)
	return h, nil
}

// created reports whether some enqueue in the history created op id: one
// that returned it as new, or a crashed or failed one matched to it.
func (h *chkHistory) created(id string) bool {
	j, ok := h.origin[id]
	return ok && !(h.ev[j].Out.Outcome == history.OutcomeOK && h.ev[j].Out.Duplicate)
}

// lastStates returns the last store-state event of each queue.
func (h *chkHistory) lastStates() map[string]int {
	last := map[string]int{}
	for i, e := range h.ev {
		if e.Kind == history.KindStoreState {
			last[e.Queue] = i
		}
	}
	return last
}

// chkDefinite reports whether an outcome says for sure what a call did.
// Unknown and other errors may or may not have taken effect.
func chkDefinite(o history.Outcome) bool {
	return o != history.OutcomeUnknown && o != history.OutcomeError
}

// chkStateSet indexes a store state's op ids.
type chkStateSet struct {
	pending, failed, done map[string]bool
}

func newChkStateSet(st *history.StoreState) chkStateSet {
	s := chkStateSet{pending: map[string]bool{}, failed: map[string]bool{}, done: map[string]bool{}}
	for _, op := range st.Pending {
		s.pending[op.ID] = true
	}
	for _, op := range st.Failed {
		s.failed[op.ID] = true
	}
	for _, d := range st.Done {
		s.done[d] = true
	}
	return s
}

func (s chkStateSet) has(id string) bool { return s.pending[id] || s.failed[id] || s.done[id] }

// chkIsRestart reports whether e is a store-state event after a restart.
func chkIsRestart(e history.HistoryEvent) bool {
	return e.Kind == history.KindStoreState && e.State.Restart != history.RestartNone
}

// slice returns copies of the events at the given positions, in history
// order, without repeats: the evidence of a violation.
func (h *chkHistory) slice(pos ...int) []history.HistoryEvent {
	sort.Ints(pos)
	var out []history.HistoryEvent
	last := -1
	for _, p := range pos {
		if p < 0 || p == last {
			continue
		}
		last = p
		out = append(out, h.ev[p])
	}
	return out
}
