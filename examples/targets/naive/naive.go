package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/boxstorm/boxstorm/harness/target"
)

// Names the open reply gives, and the files in the open's dir.
const (
	targetName    = "boxstorm-naive"
	targetVersion = "v1"
	queueFile     = "queue.jsonl"
	kvFile        = "kv.json"
)

// defaultStaleAfter is how long a lease lives without a heartbeat when the
// open's settings do not say, as the reference store's default.
const defaultStaleAfter = 2 * time.Minute

// errLocked is what a second open of a directory gets.
var errLocked = errors.New("the store directory is held by another open")

// Op states. An op never leaves the maps: done and failed ops keep their
// idempotency keys.
const (
	statePending = iota
	stateFailed
	stateDone
)

// record is one line of queue.jsonl.
type record struct {
	Op       string         `json:"op"` // enqueue, ack, fail or audit
	ID       string         `json:"id,omitempty"`
	Seq      uint64         `json:"seq,omitempty"`
	Payload  []byte         `json:"payload,omitempty"`
	Idem     string         `json:"idem,omitempty"`
	Subject  string         `json:"subject,omitempty"`
	Reason   string         `json:"reason,omitempty"`   // fail
	Attempts int            `json:"attempts,omitempty"` // fail
	Event    string         `json:"event,omitempty"`    // audit
	Fields   map[string]any `json:"fields,omitempty"`   // audit
	At       time.Time      `json:"at,omitzero"`
}

// op is a queued op and what this process knows of it.
type op struct {
	target.Op
	state     int
	reason    string
	claimed   bool   // in memory only
	claimedBy string // the lease holder when it was claimed ("" for none)
}

// lease is the processing lock, in memory only.
type lease struct {
	owner     string
	heartbeat time.Time
	token     uint64
}

// naive is the target. One mutex serialises everything, so the order of
// lines in queue.jsonl is the order of the changes in memory.
type naive struct {
	log *slog.Logger

	mu     sync.Mutex
	tokens uint64 // the last token granted; starts at 0 in every process

	open       bool
	dir        string
	q          *os.File
	unlock     func() error
	staleAfter time.Duration
	order      []*op // every op, in seq order
	byID       map[string]*op
	idem       map[string]*op
	seq        uint64
	audit      []string
	kv         map[string]map[string][]byte
	lock       *lease
}

var _ target.Handler = (*naive)(nil)

// capabilities are the request types it answers.
func capabilities() []string {
	return append(target.CoreTypes(), target.TypeState, target.TypeExport, target.TypeAudit)
}

// Handle answers one request.
func (n *naive) Handle(ctx context.Context, req target.Request) (target.Reply, error) {
	if !slices.Contains(capabilities(), req.Type) {
		return target.Reply{}, fmt.Errorf("%q: %w", req.Type, target.ErrUnsupported)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch req.Type {
	case target.TypeOpen:
		return n.openLocked(ctx, req)
	case target.TypeClose:
		return target.Reply{}, n.closeLocked()
	}
	if !n.open {
		return target.Reply{}, target.Errorf(target.ClassOther, "%s: the store is not open; send open first", req.Type)
	}
	switch req.Type {
	case target.TypeEnqueue:
		return n.enqueue(req)
	case target.TypeClaim:
		return n.claim()
	case target.TypeAck, target.TypeFail:
		return n.complete(req)
	case target.TypeAcquire:
		return n.acquire(req)
	case target.TypeHeartbeat:
		l, err := n.leaseOf(req)
		if err != nil {
			return target.Reply{}, err
		}
		l.heartbeat = callerNow(req)
		return target.Reply{}, nil
	case target.TypeRelease:
		if _, err := n.leaseOf(req); err != nil {
			return target.Reply{}, err
		}
		n.lock = nil
		return target.Reply{}, nil
	case target.TypeGet:
		v, ok := n.kv[req.Box][req.Key]
		if !ok {
			return target.Reply{Outcome: target.OutcomeNotFound}, nil
		}
		return target.Reply{Value: v}, nil
	case target.TypePut:
		return target.Reply{}, n.put(req)
	case target.TypeState:
		return n.state(), nil
	case target.TypeExport:
		if req.Subject == "" {
			return target.Reply{}, target.Errorf(target.ClassOther, "export: no subject")
		}
		rep := target.Reply{Ops: []target.Op{}}
		for _, o := range n.order {
			if o.state != stateDone && o.Subject == req.Subject {
				rep.Ops = append(rep.Ops, o.Op)
			}
		}
		return rep, nil
	case target.TypeAudit:
		if req.Event == "" {
			return target.Reply{}, target.Errorf(target.ClassOther, "audit: no event")
		}
		if err := n.appendLocked(record{Op: "audit", Event: req.Event, Fields: req.Fields, At: time.Now().UTC()}); err != nil {
			return target.Reply{}, err
		}
		n.audit = append(n.audit, req.Event)
		return target.Reply{}, nil
	}
	return target.Reply{}, fmt.Errorf("%q: %w", req.Type, target.ErrUnsupported)
}

// openLocked opens the store in req.Dir: it takes the directory's flock,
// reads kv.json and replays queue.jsonl, skipping what does not parse.
func (n *naive) openLocked(ctx context.Context, req target.Request) (target.Reply, error) {
	if req.Version != target.ProtocolVersion {
		return target.Reply{}, target.Errorf(target.ClassUnsupported, "protocol version %d: this target speaks %d", req.Version, target.ProtocolVersion)
	}
	if n.open {
		return target.Reply{}, target.Errorf(target.ClassLocked, "open %s: this target has %s open already", req.Dir, n.dir)
	}
	if req.Dir == "" {
		return target.Reply{}, target.Errorf(target.ClassOther, "open: no dir")
	}
	// req.MasterKey is ignored on purpose: nothing is encrypted.
	if err := os.MkdirAll(req.Dir, 0o700); err != nil {
		return target.Reply{}, fmt.Errorf("open: %w", err)
	}
	unlock, err := lockDir(req.Dir)
	if errors.Is(err, errLocked) {
		return target.Reply{}, target.Errorf(target.ClassLocked, "open %s: %v", req.Dir, err)
	}
	if err != nil {
		return target.Reply{}, fmt.Errorf("open: %w", err)
	}
	n.dir, n.unlock = req.Dir, unlock
	n.order, n.byID, n.idem, n.seq, n.audit, n.kv, n.lock = nil, map[string]*op{}, map[string]*op{}, 0, nil, map[string]map[string][]byte{}, nil
	n.staleAfter = defaultStaleAfter
	if s := req.Settings; s != nil && s.StaleAfterMS > 0 {
		n.staleAfter = time.Duration(s.StaleAfterMS) * time.Millisecond
	}
	if err := n.load(ctx); err != nil {
		unlock()
		return target.Reply{}, err
	}
	q, err := os.OpenFile(filepath.Join(req.Dir, queueFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		unlock()
		return target.Reply{}, fmt.Errorf("open: %w", err)
	}
	n.q, n.open = q, true
	n.log.Info("opened", "dir", req.Dir, "ops", len(n.order))
	return target.Reply{Version: target.ProtocolVersion, Target: targetName, TargetVer: targetVersion, Capabilities: capabilities()}, nil
}

// load reads kv.json and replays queue.jsonl. What does not parse is
// skipped without a word: that is one of this target's flaws.
func (n *naive) load(ctx context.Context) error {
	b, err := os.ReadFile(filepath.Join(n.dir, kvFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("open: %w", err)
	}
	if len(b) > 0 && json.Unmarshal(b, &n.kv) != nil {
		n.kv = map[string]map[string][]byte{}
	}
	b, err = os.ReadFile(filepath.Join(n.dir, queueFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("open: %w", err)
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("open: %w", err)
		}
		var r record
		if json.Unmarshal(line, &r) != nil {
			continue
		}
		n.apply(r)
	}
	return nil
}

// apply makes one record's change in memory.
func (n *naive) apply(r record) {
	switch r.Op {
	case "enqueue":
		if r.ID == "" || n.byID[r.ID] != nil {
			return
		}
		o := &op{Op: target.Op{ID: r.ID, Seq: r.Seq, IdempotencyKey: r.Idem, Payload: r.Payload, Subject: r.Subject}}
		n.order = append(n.order, o)
		n.byID[o.ID] = o
		if o.IdempotencyKey != "" && n.idem[o.IdempotencyKey] == nil {
			n.idem[o.IdempotencyKey] = o
		}
		n.seq = max(n.seq, r.Seq)
	case "ack":
		if o := n.byID[r.ID]; o != nil {
			o.state = stateDone
		}
	case "fail":
		if o := n.byID[r.ID]; o != nil {
			o.state, o.reason, o.Attempts = stateFailed, r.Reason, r.Attempts
		}
	case "audit":
		n.audit = append(n.audit, r.Event)
	}
}

// appendLocked appends r to queue.jsonl with one write(2), and no fsync.
func (n *naive) appendLocked(r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Op, err)
	}
	if _, err := n.q.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("%s: writing %s: %w", r.Op, queueFile, err)
	}
	return nil
}

func (n *naive) enqueue(req target.Request) (target.Reply, error) {
	if k := req.IdempotencyKey; k != "" && n.idem[k] != nil {
		o := n.idem[k].Op
		o.Duplicate = true
		return target.Reply{Op: &o}, nil
	}
	seq := n.seq + 1
	r := record{Op: "enqueue", ID: fmt.Sprintf("%020d", seq), Seq: seq, Payload: req.Payload, Idem: req.IdempotencyKey, Subject: req.Subject}
	if err := n.appendLocked(r); err != nil {
		return target.Reply{}, err
	}
	n.apply(r)
	o := n.byID[r.ID].Op
	return target.Reply{Op: &o}, nil
}

// holder is the owner of the lease, or "" when none is held.
func (n *naive) holder() string {
	if n.lock == nil {
		return ""
	}
	return n.lock.owner
}

// claim hands out the oldest pending op not claimed under the current
// lease holder. The token is not looked at: no fencing.
func (n *naive) claim() (target.Reply, error) {
	h := n.holder()
	for _, o := range n.order {
		if o.state != statePending || (o.claimed && o.claimedBy == h) {
			continue
		}
		o.claimed, o.claimedBy = true, h
		c := o.Op
		return target.Reply{Op: &c}, nil
	}
	return target.Reply{Outcome: target.OutcomeEmpty}, nil
}

// complete acks or fails a claimed op, whoever claimed it: the token is
// not looked at.
func (n *naive) complete(req target.Request) (target.Reply, error) {
	o := n.byID[req.OpID]
	if o == nil {
		return target.Reply{Outcome: target.OutcomeNotFound}, nil
	}
	if o.state != statePending || !o.claimed {
		return target.Reply{Outcome: target.OutcomeNotClaimed}, nil
	}
	r := record{Op: req.Type, ID: o.ID}
	if req.Type == target.TypeFail {
		r.Reason, r.Attempts = req.Reason, o.Attempts+1
	}
	if err := n.appendLocked(r); err != nil {
		return target.Reply{}, err
	}
	n.apply(r)
	return target.Reply{}, nil
}

// callerNow is the caller's clock, or this machine's when it sent none.
func callerNow(req target.Request) time.Time {
	if req.Now.IsZero() {
		return time.Now()
	}
	return req.Now
}

// acquire grants the lease unless another owner's is live by the
// caller's clock. The token comes from a counter that starts again in
// every process.
func (n *naive) acquire(req target.Request) (target.Reply, error) {
	now := callerNow(req)
	if l := n.lock; l != nil && l.owner != req.Owner && now.Sub(l.heartbeat) < n.staleAfter {
		return target.Reply{Outcome: target.OutcomeLockHeld}, nil
	}
	n.tokens++
	n.lock = &lease{owner: req.Owner, heartbeat: now, token: n.tokens}
	return target.Reply{Token: n.tokens}, nil
}

// leaseOf is the lease req's token holds: heartbeat and release do check
// their token, as a lease must.
func (n *naive) leaseOf(req target.Request) (*lease, error) {
	if n.lock == nil || n.lock.token != req.Token {
		return nil, target.Errorf(target.ClassStaleToken, "%s: token %d does not hold the lock", req.Type, req.Token)
	}
	return n.lock, nil
}

// put rewrites kv.json in place: truncate, then write, no rename.
func (n *naive) put(req target.Request) error {
	if req.Box == "" || req.Key == "" {
		return target.Errorf(target.ClassOther, "put: box and key are required")
	}
	box := n.kv[req.Box]
	if box == nil {
		box = map[string][]byte{}
		n.kv[req.Box] = box
	}
	old, had := box[req.Key]
	box[req.Key] = req.Payload
	b, err := json.Marshal(n.kv)
	if err == nil {
		err = os.WriteFile(filepath.Join(n.dir, kvFile), b, 0o600)
	}
	if err != nil {
		if had {
			box[req.Key] = old
		} else {
			delete(box, req.Key)
		}
		return fmt.Errorf("put: %w", err)
	}
	return nil
}

// state is the queue as held in memory, in seq order.
func (n *naive) state() target.Reply {
	s := &target.State{Pending: []target.Op{}, Failed: []target.Op{}, Audit: slices.Clone(n.audit)}
	for _, o := range n.order {
		switch o.state {
		case statePending:
			s.Pending = append(s.Pending, o.Op)
		case stateFailed:
			s.Failed = append(s.Failed, o.Op)
		}
	}
	s.FailedOps = len(s.Failed)
	return target.Reply{State: s}
}

func (n *naive) closeLocked() error {
	if !n.open {
		return nil
	}
	n.open = false
	err := n.q.Close()
	if uerr := n.unlock(); err == nil {
		err = uerr
	}
	n.order, n.byID, n.idem, n.kv, n.lock = nil, nil, nil, nil, nil
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// close closes the store if it is open, when serving ends.
func (n *naive) close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closeLocked()
}
