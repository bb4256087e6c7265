package target

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Results of a conformance check.
const (
	ResultPass       = "pass"
	ResultFail       = "FAIL"
	ResultNotClaimed = "not claimed"
	// ResultNotPromised is an error-class check a target failed whose
	// promise (Promises) it does not make: not a failure, not a pass.
	ResultNotPromised = "not promised"
)

// ConformConfig configures Conform.
type ConformConfig struct {
	// Command is the target's command line (see SplitCommand).
	Command string
	// WorkDir holds the store directories and backup files Conform
	// creates; it must exist.
	WorkDir string
	// Options start each target process.
	Options Options
}

// Check is one row of a conformance run: a request type or an error
// class, what was sent, what came back, and the verdict.
type Check struct {
	Name   string `json:"name"`   // request type, or "error <class>"
	Result string `json:"result"` // ResultPass, ResultFail, ResultNotClaimed or ResultNotPromised
	Want   string `json:"want,omitempty"`
	Sent   string `json:"sent,omitempty"`
	Got    string `json:"got,omitempty"`
}

// ConformReport is the result of Conform.
type ConformReport struct {
	Command       string   `json:"command"`
	Target        string   `json:"target"`
	TargetVersion string   `json:"target_version"`
	Capabilities  []string `json:"capabilities"`
	Promises      []string `json:"promises,omitempty"`
	Checks        []Check  `json:"checks"`
}

// Passed reports whether no check failed.
func (r *ConformReport) Passed() bool {
	return !slices.ContainsFunc(r.Checks, func(c Check) bool { return c.Result == ResultFail })
}

// WriteMatrix writes the conformance matrix: one row per request type
// and error class, with its result.
func (r *ConformReport) WriteMatrix(w io.Writer) {
	fmt.Fprintf(w, "target %s %s (%s)\n", r.Target, r.TargetVersion, r.Command)
	if len(r.Promises) > 0 {
		fmt.Fprintf(w, "promises %s\n", strings.Join(r.Promises, ", "))
	} else {
		fmt.Fprintf(w, "promises all (none listed)\n")
	}
	for _, c := range r.rows() {
		fmt.Fprintf(w, "  %-24s %s\n", c.Name, c.Result)
	}
}

// rows merges the checks by name: a name fails when any of its checks did.
func (r *ConformReport) rows() []Check {
	var out []Check
	for _, c := range r.Checks {
		i := slices.IndexFunc(out, func(o Check) bool { return o.Name == c.Name })
		switch {
		case i < 0:
			out = append(out, c)
		case c.Result == ResultFail:
			out[i] = c
		}
	}
	return out
}

// WriteFailures writes each failed check: which request, what was sent,
// what was wanted and what came back.
func (r *ConformReport) WriteFailures(w io.Writer) {
	for _, c := range r.Checks {
		if c.Result != ResultFail {
			continue
		}
		fmt.Fprintf(w, "FAIL %s\n  want: %s\n  sent: %s\n  got:  %s\n", c.Name, c.Want, c.Sent, c.Got)
	}
}

// conformer runs checks against one target process at a time.
type conformer struct {
	cfg  ConformConfig
	rep  *ConformReport
	c    *Client
	dead error // the session's client broke; later checks in it are not run
}

// Conform checks that the target answers every core request type and
// every optional one it claims, and that it produces the error classes
// wrong-key, locked, stale-token, unsupported (and backup-invalid when it
// claims restore). The returned error is for a run that could not be
// set up; a target that misbehaves gives a report that did not pass.
func Conform(ctx context.Context, cfg ConformConfig) (*ConformReport, error) {
	if cfg.WorkDir == "" {
		return nil, fmt.Errorf("conform: no work directory")
	}
	k := &conformer{cfg: cfg, rep: &ConformReport{Command: cfg.Command}}
	if err := k.core(ctx); err != nil {
		return nil, err
	}
	for _, typ := range OptionalTypes() {
		if !slices.Contains(k.rep.Capabilities, typ) {
			continue
		}
		if err := k.optional(ctx, typ); err != nil {
			return nil, err
		}
	}
	return k.rep, nil
}

func (k *conformer) start(ctx context.Context) error {
	c, err := Start(ctx, k.cfg.Command, k.cfg.Options)
	if err != nil {
		return fmt.Errorf("conform: %w", err)
	}
	k.c, k.dead = c, nil
	return nil
}

// stop ends a session: the target must exit when its stdin closes.
func (k *conformer) stop() {
	if k.dead != nil {
		k.c.Close()
		return
	}
	err := k.c.Close()
	ch := Check{Name: "exit on end of input", Result: ResultPass, Want: "the target exits with status 0 when its stdin closes", Sent: "end of stdin"}
	if err != nil {
		ch.Result, ch.Got = ResultFail, err.Error()
	}
	k.add(ch)
}

func (k *conformer) add(c Check) { k.rep.Checks = append(k.rep.Checks, c) }

// expect sends req and checks the reply with ok, which returns "" when the
// reply is what want describes, else what is wrong.
func (k *conformer) expect(ctx context.Context, name string, req Request, want string, ok func(Reply) string) (Reply, bool) {
	ch := Check{Name: name, Want: want, Sent: show(req)}
	if k.dead != nil {
		ch.Result, ch.Got = ResultFail, "not run: "+k.dead.Error()
		k.add(ch)
		return Reply{}, false
	}
	rep, err := k.c.Call(ctx, req)
	if err != nil {
		k.dead = err
		ch.Result, ch.Got = ResultFail, err.Error()
		k.add(ch)
		return rep, false
	}
	ch.Got = show(rep)
	if why := ok(rep); why != "" {
		ch.Result, ch.Got = ResultFail, ch.Got+" ("+why+")"
		k.add(ch)
		return rep, false
	}
	ch.Result = ResultPass
	k.add(ch)
	return rep, true
}

// promised turns the check just made, if it failed, into "not promised"
// when the target does not make promise p: conformance holds a target to
// the protocol, and to the promises it makes.
func (k *conformer) promised(p string) {
	last := &k.rep.Checks[len(k.rep.Checks)-1]
	if last.Result == ResultFail && k.dead == nil && !(Info{Promises: k.rep.Promises}).Makes(p) {
		last.Result = ResultNotPromised
	}
}

// show renders a request or reply as its JSON line, without the id.
func show(v any) string {
	b, _ := json.Marshal(v)
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		delete(m, "id")
		b, _ = json.Marshal(m)
	}
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

func success(rep Reply) string {
	if rep.Error != nil {
		return "an error"
	}
	return ""
}

func wantOutcome(o string) func(Reply) string {
	return func(rep Reply) string {
		if rep.Error != nil || rep.Outcome != o {
			return fmt.Sprintf("want outcome %q", o)
		}
		return ""
	}
}

func wantClass(class string) func(Reply) string {
	return func(rep Reply) string {
		if rep.Error == nil || rep.Error.Class != class {
			return "want error class " + class
		}
		return ""
	}
}

func randomKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (k *conformer) newDir(name string) string {
	return filepath.Join(k.cfg.WorkDir, name)
}

// core checks the core request types and the error classes every target
// produces, in one session on one store directory.
func (k *conformer) core(ctx context.Context) error {
	if err := k.start(ctx); err != nil {
		return err
	}
	dir := k.newDir("core")
	openReq := Request{Type: TypeOpen, Version: ProtocolVersion, Dir: dir}
	rep, ok := k.expect(ctx, TypeOpen, openReq, fmt.Sprintf("version %d and capabilities naming every core request type", ProtocolVersion), func(r Reply) string {
		if r.Error != nil {
			return "an error"
		}
		if r.Version != ProtocolVersion {
			return fmt.Sprintf("version %d", r.Version)
		}
		var missing []string
		for _, t := range CoreTypes() {
			if !slices.Contains(r.Capabilities, t) {
				missing = append(missing, t)
			}
		}
		if len(missing) > 0 {
			return "capabilities miss " + strings.Join(missing, ", ")
		}
		return ""
	})
	k.rep.Target, k.rep.TargetVersion, k.rep.Capabilities, k.rep.Promises = rep.Target, rep.TargetVer, rep.Capabilities, rep.Promises
	if !ok {
		k.dead = fmt.Errorf("open failed")
		k.stop()
		return nil
	}

	k.expect(ctx, TypePut, Request{Type: TypePut, Box: "conform", Key: "k1", Payload: []byte("v1")}, "success", success)
	k.expect(ctx, TypeGet, Request{Type: TypeGet, Box: "conform", Key: "k1"}, `value "v1"`, func(r Reply) string {
		if r.Error != nil || string(r.Value) != "v1" {
			return "wrong value"
		}
		return ""
	})
	k.expect(ctx, TypeGet, Request{Type: TypeGet, Box: "conform", Key: "missing"}, "outcome not-found", wantOutcome(OutcomeNotFound))

	var op1, op2 string
	r1, _ := k.expect(ctx, TypeEnqueue, Request{Type: TypeEnqueue, Payload: []byte("p1"), IdempotencyKey: "i1"}, "an op with an id", func(r Reply) string {
		if r.Error != nil || r.Op == nil || r.Op.ID == "" {
			return "no op id"
		}
		return ""
	})
	if r1.Op != nil {
		op1 = r1.Op.ID
	}
	k.expect(ctx, TypeEnqueue, Request{Type: TypeEnqueue, Payload: []byte("p1"), IdempotencyKey: "i1"}, "the first op again (idempotency key i1 repeated)", func(r Reply) string {
		if r.Error != nil || r.Op == nil || r.Op.ID != op1 {
			return "want op id " + op1
		}
		return ""
	})
	r2, _ := k.expect(ctx, TypeEnqueue, Request{Type: TypeEnqueue, Payload: []byte("p2"), IdempotencyKey: "i2"}, "a new op", func(r Reply) string {
		if r.Error != nil || r.Op == nil || r.Op.ID == "" || r.Op.ID == op1 {
			return "want a new op id"
		}
		return ""
	})
	if r2.Op != nil {
		op2 = r2.Op.ID
	}

	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ra, _ := k.expect(ctx, TypeAcquire, Request{Type: TypeAcquire, Owner: "conform-a", Now: t0}, "a fencing token above 0", func(r Reply) string {
		if r.Error != nil || r.Token == 0 || r.Outcome != OutcomeOK {
			return "no token"
		}
		return ""
	})
	t1 := ra.Token
	k.expect(ctx, TypeAcquire, Request{Type: TypeAcquire, Owner: "conform-b", Now: t0.Add(time.Second)}, "outcome lock-held (conform-a holds a live lease)", wantOutcome(OutcomeLockHeld))
	k.expect(ctx, TypeHeartbeat, Request{Type: TypeHeartbeat, Token: t1, Now: t0.Add(2 * time.Second)}, "success", success)
	k.expect(ctx, TypeClaim, Request{Type: TypeClaim, Token: t1}, "the first op, "+op1+", with payload p1 (FIFO)", func(r Reply) string {
		if r.Error != nil || r.Op == nil || r.Op.ID != op1 || string(r.Op.Payload) != "p1" {
			return "want op " + op1
		}
		return ""
	})
	k.expect(ctx, TypeAck, Request{Type: TypeAck, Token: t1, OpID: op1}, "success", success)
	k.expect(ctx, TypeClaim, Request{Type: TypeClaim, Token: t1}, "the second op, "+op2, func(r Reply) string {
		if r.Error != nil || r.Op == nil || r.Op.ID != op2 {
			return "want op " + op2
		}
		return ""
	})
	k.expect(ctx, TypeFail, Request{Type: TypeFail, Token: t1, OpID: op2, Reason: "conform"}, "success", success)
	k.expect(ctx, TypeClaim, Request{Type: TypeClaim, Token: t1}, "outcome empty (the failed op waits for its retry)", wantOutcome(OutcomeEmpty))
	k.expect(ctx, TypeRelease, Request{Type: TypeRelease, Token: t1, Now: t0.Add(3 * time.Second)}, "success", success)
	k.expect(ctx, "error "+ClassStaleToken, Request{Type: TypeClaim, Token: t1}, "error class stale-token (the token of a lease just released, before anyone acquires)", wantClass(ClassStaleToken))
	k.promised(PromiseFenced)
	rb, _ := k.expect(ctx, TypeAcquire, Request{Type: TypeAcquire, Owner: "conform-b", Now: t0.Add(4 * time.Second)}, fmt.Sprintf("a token above %d after the release", t1), func(r Reply) string {
		if r.Error != nil || r.Token <= t1 {
			return "the token did not grow"
		}
		return ""
	})
	k.expect(ctx, "error "+ClassStaleToken, Request{Type: TypeClaim, Token: t1}, "error class stale-token (token of the released lease)", wantClass(ClassStaleToken))
	k.promised(PromiseFenced)
	k.expect(ctx, TypeRelease, Request{Type: TypeRelease, Token: rb.Token, Now: t0.Add(5 * time.Second)}, "success", success)
	k.expect(ctx, "error "+ClassLocked, openReq, "error class locked (the store is open already)", wantClass(ClassLocked))
	k.promised(PromiseExclusive)
	k.expect(ctx, "error "+ClassUnsupported, Request{Type: "conform-no-such-request"}, "error class unsupported", wantClass(ClassUnsupported))
	for _, typ := range OptionalTypes() {
		if slices.Contains(k.rep.Capabilities, typ) {
			continue
		}
		k.add(Check{Name: typ, Result: ResultNotClaimed})
		k.expect(ctx, "error "+ClassUnsupported, Request{Type: typ}, "error class unsupported ("+typ+" is not claimed)", wantClass(ClassUnsupported))
	}
	k.expect(ctx, TypeClose, Request{Type: TypeClose}, "success", success)
	wk, _ := k.expect(ctx, "error "+ClassWrongKey, Request{Type: TypeOpen, Version: ProtocolVersion, Dir: dir, MasterKey: randomKey()}, "error class wrong-key (a random master key)", wantClass(ClassWrongKey))
	k.promised(PromiseKeyed)
	if k.dead == nil && wk.Error == nil {
		// The target opened the store under the random key: close it
		// again, so that the reopen below is judged on its own rather
		// than failed as locked.
		if _, err := k.c.Call(ctx, Request{Type: TypeClose}); err != nil {
			k.dead = err
		}
	}
	k.expect(ctx, TypeOpen, openReq, "success (reopen with the target's own key)", success)
	k.expect(ctx, TypeGet, Request{Type: TypeGet, Box: "conform", Key: "k1"}, `value "v1" after close and reopen`, func(r Reply) string {
		if r.Error != nil || string(r.Value) != "v1" {
			return "wrong value"
		}
		return ""
	})
	k.expect(ctx, TypeClose, Request{Type: TypeClose}, "success", success)
	k.stop()
	return nil
}

// optional checks one claimed optional request type in its own session.
func (k *conformer) optional(ctx context.Context, typ string) error {
	if err := k.start(ctx); err != nil {
		return err
	}
	defer k.stop()
	dir := k.newDir(typ)
	if _, ok := k.expect(ctx, TypeOpen, Request{Type: TypeOpen, Version: ProtocolVersion, Dir: dir}, "success", success); !ok {
		return nil
	}
	k.expect(ctx, TypePut, Request{Type: TypePut, Box: "conform", Key: "k1", Payload: []byte("v1")}, "success", success)
	k.expect(ctx, TypeEnqueue, Request{Type: TypeEnqueue, Payload: []byte("p1"), IdempotencyKey: "i1", Subject: "subject-1"}, "success", success)
	backup := filepath.Join(k.cfg.WorkDir, typ+".backup")
	switch typ {
	case TypeBackup:
		k.expect(ctx, typ, Request{Type: typ, Path: backup}, "success and a backup file at path", func(r Reply) string {
			if r.Error != nil {
				return "an error"
			}
			if st, err := os.Stat(backup); err != nil || st.Size() == 0 {
				return "no backup file"
			}
			return ""
		})
	case TypeRestore:
		if slices.Contains(k.rep.Capabilities, TypeBackup) {
			k.expect(ctx, TypeBackup, Request{Type: TypeBackup, Path: backup}, "success", success)
			k.expect(ctx, typ, Request{Type: typ, Path: backup}, "success (a backup the target made)", success)
		}
		bad := filepath.Join(k.cfg.WorkDir, "garbage.backup")
		if err := os.WriteFile(bad, bytes.Repeat([]byte("not a backup\n"), 8), 0o600); err != nil {
			return fmt.Errorf("conform: %w", err)
		}
		k.expect(ctx, "error "+ClassBackupInvalid, Request{Type: typ, Path: bad}, "error class backup-invalid (a file of garbage)", wantClass(ClassBackupInvalid))
		k.promised(PromiseIntegrity)
	case TypeRotateKey:
		k.expect(ctx, typ, Request{Type: typ, NewMasterKey: randomKey()}, "success", success)
		k.expect(ctx, TypeGet, Request{Type: TypeGet, Box: "conform", Key: "k1"}, `value "v1" after rotate-key`, func(r Reply) string {
			if r.Error != nil || string(r.Value) != "v1" {
				return "wrong value"
			}
			return ""
		})
	case TypeErase:
		k.expect(ctx, typ, Request{Type: typ, Subject: "subject-1"}, "success", success)
		if slices.Contains(k.rep.Capabilities, TypeExport) {
			k.expect(ctx, typ, Request{Type: TypeExport, Subject: "subject-1"}, "export of subject-1 after its erase: no op", func(r Reply) string {
				if r.Error != nil || len(r.Ops) != 0 {
					return "the erased subject's op is still there"
				}
				return ""
			})
		}
	case TypeRecover:
		if !slices.Contains(k.rep.Capabilities, TypeBackup) {
			k.add(Check{Name: typ, Result: ResultFail, Want: "recover is checked with a backup the target makes", Got: "the target claims recover but not backup"})
			break
		}
		k.expect(ctx, TypeBackup, Request{Type: TypeBackup, Path: backup}, "success", success)
		k.expect(ctx, TypeClose, Request{Type: TypeClose}, "success", success)
		k.expect(ctx, typ, Request{Type: typ, Version: ProtocolVersion, Dir: dir, Path: backup}, "success: the store opens from a healthy directory, nothing to rebuild", success)
		k.expect(ctx, TypeGet, Request{Type: TypeGet, Box: "conform", Key: "k1"}, `value "v1" after recover`, func(r Reply) string {
			if r.Error != nil || string(r.Value) != "v1" {
				return "wrong value"
			}
			return ""
		})
	case TypeState:
		k.expect(ctx, typ, Request{Type: typ}, `state with the one pending op, payload "p1"`, func(r Reply) string {
			if r.Error != nil || r.State == nil {
				return "no state"
			}
			if len(r.State.Pending) != 1 || string(r.State.Pending[0].Payload) != "p1" {
				return "want pending [p1]"
			}
			return ""
		})
	case TypeExport:
		k.expect(ctx, typ, Request{Type: typ, Subject: "subject-1"}, `ops: the one op of subject-1`, func(r Reply) string {
			if r.Error != nil || len(r.Ops) != 1 || string(r.Ops[0].Payload) != "p1" {
				return "want ops [p1]"
			}
			return ""
		})
	case TypeAudit:
		k.expect(ctx, typ, Request{Type: typ, Event: "conform", Fields: map[string]any{"n": 1}}, "success", success)
		if slices.Contains(k.rep.Capabilities, TypeState) {
			k.expect(ctx, TypeState, Request{Type: TypeState}, `state whose audit log ends with "conform"`, func(r Reply) string {
				if r.Error != nil || r.State == nil || len(r.State.Audit) == 0 || r.State.Audit[len(r.State.Audit)-1] != "conform" {
					return "the audit entry is not in the state's audit"
				}
				return ""
			})
		}
	default: // migrate, verify, rebuild-index take no arguments
		k.expect(ctx, typ, Request{Type: typ}, "success", success)
	}
	k.expect(ctx, TypeClose, Request{Type: TypeClose}, "success", success)
	return nil
}
