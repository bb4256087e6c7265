package chaos

// Crash-state exploration: an explore step runs one procedure once on the
// fault file system, recording every mutating operation, then opens the
// store on each crash state the recording allows (faultfs.Explore, after
// ALICE and CrashMonkey) and checks it. The states are plain directories:
// checking them needs no FUSE.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

// ExploreResult is what one explore step explored: result.json's
// explorations, with the bound it ran under.
type ExploreResult struct {
	Fault                int    `json:"fault"`
	Procedure            string `json:"procedure"`
	MaxStates            int    `json:"max_states"`
	MaxStatesPerBoundary int    `json:"max_states_per_boundary"`
	Seed                 uint64 `json:"seed"`
	RecordedOps          int    `json:"recorded_ops"`
	CrashPoints          int    `json:"crash_points"`
	States               int    `json:"states"`
	CoreStates           int    `json:"core_states"` // of States, each crash point's core states, built whatever the bound
	Duplicates           int    `json:"duplicates"`
	Truncated            bool   `json:"truncated,omitempty"`
	Violations           int    `json:"violations"`
}

// exploreLoad is the small concurrent load of the enqueue and claim-ack
// procedures.
const (
	exploreWorkers = 3
	explorePerWork = 4
	exploreBatch   = 3
)

// maxExploreViolations stops an exploration that has found this many.
const maxExploreViolations = 20

var errEnoughViolations = errors.New("enough violations")

// ackRecord is one call of a recorded procedure and when it returned, on
// the wall clock the fault file system stamps operations with.
type ackRecord struct {
	kind     string // "enqueue", "batch", "ack"
	ids      []string
	returned int64 // Unix ns; 0 if it failed
}

// storeDigest is a store's logical content: box → key → sha256 of the
// plaintext. The audit log is left out: its entries follow a procedure's
// steps in their own commits.
type storeDigest map[string]map[string]string

func (d storeDigest) equal(o storeDigest) bool {
	if len(d) != len(o) {
		return false
	}
	for b, m := range d {
		om, ok := o[b]
		if !ok || len(om) != len(m) {
			return false
		}
		for k, v := range m {
			if om[k] != v {
				return false
			}
		}
	}
	return true
}

// diff describes how d differs from o, briefly.
func (d storeDigest) diff(o storeDigest) string {
	var out []string
	boxes := map[string]bool{}
	for b := range d {
		boxes[b] = true
	}
	for b := range o {
		boxes[b] = true
	}
	for b := range boxes {
		added, removed, changed := 0, 0, 0
		var first string
		for k, v := range d[b] {
			ov, ok := o[b][k]
			switch {
			case !ok:
				added++
			case ov != v:
				changed++
			default:
				continue
			}
			first = min(first, k)
			if first == "" {
				first = k
			}
		}
		for k := range o[b] {
			if _, ok := d[b][k]; !ok {
				removed++
				if first == "" {
					first = k
				}
			}
		}
		if added+removed+changed > 0 {
			out = append(out, fmt.Sprintf("%s +%d -%d ~%d (such as %q)", b, added, removed, changed, first))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// digest reads every record of every box of s.
func digest(ctx context.Context, s *store.Store) (storeDigest, error) {
	names := slices.Clone(store.SystemBoxes())
	ents, err := os.ReadDir(s.Dir())
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".db"); ok && !e.IsDir() && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	d := storeDigest{}
	for _, name := range names {
		if name == store.BoxAudit {
			continue
		}
		recs, err := s.Records(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("box %s: %w", name, err)
		}
		m := map[string]string{}
		for _, rec := range recs {
			sum := sha256.Sum256(rec.Value)
			m[rec.Key] = hex.EncodeToString(sum[:8])
		}
		d[name] = m
	}
	return d, nil
}

// explorer is one explore step in progress.
type explorer struct {
	r         *chaosRun
	proc      string
	old, new  storeDigest
	newOK     bool // the procedure returned success
	keyGen    int  // the key generation before the procedure
	calls     []ackRecord
	enqueued  map[string]bool // every op id an enqueue of the procedure may have made
	baseline  map[string]bool // pending op ids before the procedure (all durable)
	markNs    int64
	opTimes   []int64
	vs        []check.Violation
	nv        int
	checkedOK int
	kept      int // crash states kept for a reader
}

// maxKeptStates is how many crash states with a violation an explore step
// keeps in its directory.
const maxKeptStates = 3

func (x *explorer) violate(kind, state, format string, args ...any) {
	x.nv++
	if len(x.vs) < 50 {
		x.vs = append(x.vs, check.Violation{Kind: kind, Severity: check.SeverityViolation, Message: state + ": " + fmt.Sprintf(format, args...)})
	}
}

// explore runs an explore step.
func (r *chaosRun) explore(ctx context.Context, p fault.PlannedFault, ev *history.Fault) error {
	if r.ff == nil || r.ff.mount == nil {
		return fmt.Errorf("explore: %w: %w", errNoFaultFS, fault.ErrUnsupportedFault)
	}
	f := p.Fault
	x := &explorer{r: r, proc: f.Procedure, keyGen: r.sess.keyGen, enqueued: map[string]bool{}, baseline: map[string]bool{}}
	res := &ExploreResult{Fault: p.Index, Procedure: f.Procedure, MaxStates: f.States, MaxStatesPerBoundary: faultfs.DefaultMaxStatesPerBoundary, Seed: p.Seed}
	r.ff.explorations = append(r.ff.explorations, res)
	if err := r.sess.open(ctx, nil); err != nil {
		return fmt.Errorf("explore: store does not open: %v: %w", err, fault.ErrUnsupportedFault)
	}
	if err := x.setup(ctx); err != nil {
		return fmt.Errorf("explore %s: setup: %w", f.Procedure, err)
	}
	m := r.ff.mount
	if err := m.Mark(ctx); err != nil {
		return fmt.Errorf("explore: %w", err)
	}
	x.markNs = time.Now().UnixNano()
	perr := x.run(ctx)
	x.newOK = perr == nil
	ev.Detail["procedure"] = f.Procedure
	if perr != nil {
		ev.Detail["procedure_err"] = perr.Error()
	}
	if s, err := r.sess.current(); err == nil {
		if x.new, err = digest(ctx, s); err != nil {
			return fmt.Errorf("explore: read the store after %s: %w", f.Procedure, err)
		}
	}
	rec, err := m.Recording(ctx)
	if err != nil {
		return fmt.Errorf("explore: %w", err)
	}
	for _, op := range rec.Ops {
		x.opTimes = append(x.opTimes, op.Time)
	}
	res.RecordedOps = len(rec.Ops)
	// Spread the bound over the crash points, so that a small bound still
	// reaches the procedure's last steps: at least 1 state per point, at
	// most the package's default.
	points := 1
	for _, op := range rec.Ops {
		if op.Kind == faultfs.OpFsync || op.Kind == faultfs.OpFsyncDir || op.Kind == faultfs.OpRename {
			points++
		}
	}
	res.MaxStatesPerBoundary = min(max(f.States/points, 1), faultfs.DefaultMaxStatesPerBoundary)
	dir := filepath.Join(r.p.dir, fmt.Sprintf("explore-%02d", p.Index))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	exp, err := faultfs.Explore(ctx, rec, faultfs.ExploreOptions{Dir: dir, MaxStatesPerBoundary: res.MaxStatesPerBoundary, MaxStates: f.States, Seed: p.Seed},
		func(ctx context.Context, cs faultfs.CrashState) error {
			x.check(ctx, cs)
			if x.nv >= maxExploreViolations {
				return errEnoughViolations
			}
			return nil
		})
	if exp != nil {
		res.States, res.CoreStates, res.Duplicates, res.Truncated, res.CrashPoints = exp.States, exp.CoreStates, exp.Duplicates, exp.Truncated, len(exp.Boundaries)
	}
	if errors.Is(err, errEnoughViolations) {
		res.Truncated, err = true, nil
	}
	res.Violations = x.nv
	ev.Detail["crash_states"] = res.States
	ev.Detail["recorded_ops"] = res.RecordedOps
	name := "explore(" + f.Procedure + ")"
	var cr check.CheckResult
	switch {
	case err != nil:
		cr = check.CheckResult{Name: name, Verdict: check.VerdictUnknown, Message: "exploration failed: " + err.Error()}
	case x.nv > 0:
		cr = check.CheckResult{Name: name, Verdict: check.VerdictFail, Violations: x.vs,
			Message: fmt.Sprintf("%d violations in %d crash states of %s (%d recorded operations)", x.nv, res.States, f.Procedure, res.RecordedOps)}
	case res.States == 0:
		cr = check.CheckResult{Name: name, Verdict: check.VerdictUnknown, Message: "no crash state was explored"}
	default:
		cr = check.CheckResult{Name: name, Verdict: check.VerdictPass,
			Message: fmt.Sprintf("%d crash states of %s (%d recorded operations, %d crash points, %d core states, the rest at most %d per point, seed %d): each opened, every record read, wholly old or new, nothing acknowledged lost, a wrong key changed nothing",
				res.States, f.Procedure, res.RecordedOps, res.CrashPoints, res.CoreStates, res.MaxStatesPerBoundary, p.Seed)}
	}
	r.ff.checks = append(r.ff.checks, cr)
	return err
}

// setup brings the store to where the procedure starts, before the mark.
func (x *explorer) setup(ctx context.Context) error {
	r := x.r
	s := r.sess.st
	switch x.proc {
	case scenarios.ProcedureClaimAck, scenarios.ProcedurePurge:
		for i := range exploreWorkers * explorePerWork {
			if _, err := s.Enqueue(ctx, payloadFor(fmt.Sprintf("explore-setup-%d", i), 64), store.EnqueueOptions{}); err != nil {
				return err
			}
		}
		if x.proc == scenarios.ProcedurePurge {
			lease, err := s.AcquireLock(ctx, store.LockRequest{Owner: "explore"})
			if err != nil {
				return err
			}
			for range 4 {
				op, err := s.Claim(ctx, lease.Token)
				if err != nil {
					return err
				}
				if _, err := s.Fail(ctx, lease.Token, op.ID, "explore"); err != nil {
					return err
				}
			}
			if err := s.ReleaseLock(ctx, lease.Token); err != nil {
				return err
			}
			time.Sleep(2 * time.Millisecond) // older than the purge's retention
		}
	case scenarios.ProcedureRestore:
		for i := range 3 {
			if _, err := s.Enqueue(ctx, payloadFor(fmt.Sprintf("explore-after-backup-%d", i), 64), store.EnqueueOptions{}); err != nil {
				return err
			}
		}
	case scenarios.ProcedureMigrate:
		if _, err := s.Migrate(ctx); err != nil {
			return err
		}
		v, err := s.SchemaVersion()
		if err != nil {
			return err
		}
		if err := s.Put(ctx, synthBox, synthKey, []byte(fmt.Sprintf("v%d", v))); err != nil {
			return err
		}
		r.sess.registerSynthetic(r.sess.synth + 1)
	case scenarios.ProcedureRecover:
		if err := r.sess.close(); err != nil {
			return err
		}
		f := scenarios.Fault{Type: scenarios.FaultTruncate, Box: store.BoxPending, Mode: scenarios.TruncateMidFile}
		if _, err := fault.DamageBox(r.p.storeDir, f, 1); err != nil {
			return err
		}
		// The damage is on the disk before the procedure starts: a crash
		// state without it would be the undamaged store, not the old one.
		fh, err := os.Open(filepath.Join(r.p.storeDir, store.BoxPending+".db"))
		if err != nil {
			return err
		}
		defer fh.Close()
		return fh.Sync()
	}
	var err error
	if x.old, err = digest(ctx, s); err != nil {
		return err
	}
	ops, err := s.PendingOps(ctx)
	if err != nil {
		return err
	}
	for _, op := range ops {
		x.baseline[op.ID] = true
	}
	return nil
}

// run carries out the procedure once, recording what it acknowledged.
func (x *explorer) run(ctx context.Context) error {
	r := x.r
	s := r.sess.st
	switch x.proc {
	case scenarios.ProcedureEnqueue:
		return x.enqueueLoad(ctx, s)
	case scenarios.ProcedureClaimAck:
		return x.claimAckLoad(ctx, s)
	case scenarios.ProcedureBackup:
		_, err := s.BackupFile(ctx, filepath.Join(r.p.backupDir(), "explore-backup.tar.age"))
		return err
	case scenarios.ProcedureRestore:
		b, ok := r.latestBackup()
		if !ok {
			return errors.New("no backup")
		}
		fh, err := os.Open(b.Path)
		if err != nil {
			return err
		}
		defer fh.Close()
		_, err = s.Restore(ctx, fh, store.RestoreOptions{BackupKey: store.KeyBytes(chaosKey(b.KeyGen))})
		return err
	case scenarios.ProcedureMigrate:
		_, err := s.MigrateWith(ctx, r.sess.migrations)
		return err
	case scenarios.ProcedureRotateKey:
		_, err := s.RotateKey(ctx, store.KeyBytes(chaosKey(r.sess.keyGen+1)))
		if err == nil {
			r.sess.keyGen++
		}
		return err
	case scenarios.ProcedureErase:
		_, err := s.Erase(ctx, "subject-0")
		if err == nil {
			r.eff.Erased = append(r.eff.Erased, "subject-0")
		}
		return err
	case scenarios.ProcedureRecover:
		b, ok := r.latestBackup()
		if !ok {
			return errors.New("no backup")
		}
		st, _, err := store.RecoverCorrupted(ctx, r.p.storeDir, b.Path, r.sess.options(r.sess.keyGen))
		if err == nil {
			r.sess.adopt(st)
		}
		return err
	case scenarios.ProcedureRebuildIndex:
		_, err := s.RebuildIndex(ctx)
		return err
	case scenarios.ProcedurePurge:
		_, err := s.PurgeFailed(ctx, store.PurgeOptions{OlderThan: time.Millisecond, ArchivePath: filepath.Join(r.p.backupDir(), "explore-purge.tar.age")})
		return err
	}
	return fmt.Errorf("procedure %q: %w", x.proc, fault.ErrUnsupportedFault)
}

func (x *explorer) enqueueLoad(ctx context.Context, s *store.Store) error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range exploreWorkers {
		wg.Go(func() {
			for i := range explorePerWork {
				var rec ackRecord
				if i%2 == 1 {
					// A batch is one transaction: all of it or none.
					var ps [][]byte
					for j := range exploreBatch {
						ps = append(ps, payloadFor(fmt.Sprintf("explore-%d-%d-%d", w, i, j), 64))
					}
					ops, err := s.EnqueueBatch(ctx, ps)
					rec = ackRecord{kind: "batch"}
					for _, op := range ops {
						rec.ids = append(rec.ids, op.ID)
					}
					if err == nil {
						rec.returned = time.Now().UnixNano()
					}
				} else {
					op, err := s.Enqueue(ctx, payloadFor(fmt.Sprintf("explore-%d-%d", w, i), 64), store.EnqueueOptions{})
					rec = ackRecord{kind: "enqueue", ids: []string{op.ID}}
					if err == nil {
						rec.returned = time.Now().UnixNano()
					}
				}
				mu.Lock()
				x.calls = append(x.calls, rec)
				for _, id := range rec.ids {
					x.enqueued[id] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return nil
}

func (x *explorer) claimAckLoad(ctx context.Context, s *store.Store) error {
	lease, err := s.AcquireLock(ctx, store.LockRequest{Owner: "explore"})
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range exploreWorkers {
		wg.Go(func() {
			for range explorePerWork {
				op, err := s.Claim(ctx, lease.Token)
				if err != nil {
					return
				}
				rec := ackRecord{kind: "ack", ids: []string{op.ID}}
				if err := s.Ack(ctx, lease.Token, op.ID); err == nil {
					rec.returned = time.Now().UnixNano()
				}
				mu.Lock()
				x.calls = append(x.calls, rec)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return s.ReleaseLock(ctx, lease.Token)
}

// crashNs is the latest time a crash state is known to come after: the
// time of the last operation it had issued.
func (x *explorer) crashNs(cs faultfs.CrashState) int64 {
	if cs.OpIndex <= 0 || cs.OpIndex > len(x.opTimes) {
		return x.markNs
	}
	return x.opTimes[cs.OpIndex-1]
}

// openOptions are the options a crash state is opened with.
func (x *explorer) openOptions(gen int) store.Options {
	o := x.r.sess.options(gen)
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return o
}

// check opens the store on one crash state and checks it.
func (x *explorer) check(ctx context.Context, cs faultfs.CrashState) {
	where := fmt.Sprintf("crash state %d (%s after op %d, kept %d/%d names, %d/%d sectors)", cs.Index, cs.Boundary, cs.OpIndex, cs.KeptNames, cs.PendingNames, cs.KeptPieces, cs.PendingPieces)
	// The first states with a violation are kept, as the crash left them,
	// for a reader to open: explore-NN/violation-<state>.
	nv := x.nv
	keep := filepath.Join(filepath.Dir(cs.Dir), fmt.Sprintf("violation-%05d", cs.Index))
	if x.kept < maxKeptStates {
		_ = os.CopyFS(keep, os.DirFS(cs.Dir))
		defer func() {
			if x.nv == nv {
				_ = os.RemoveAll(keep)
			} else {
				x.kept++
			}
		}()
	}
	// A wrong key changes no byte, before anything else touches the state.
	before := fault.HashTree(cs.Dir)
	wo := x.openOptions(x.keyGen)
	wo.Key = store.KeyBytes(wrongKey)
	if s, err := store.Open(ctx, cs.Dir, wo); err == nil {
		_ = s.Close()
		x.violate("wrong-key-opened", where, "the store opened with a wrong key")
	}
	if changed := fault.ChangedFiles(before, fault.HashTree(cs.Dir)); len(changed) > 0 {
		x.violate("wrong-key-changed", where, "an open with a wrong key changed the files: %s", strings.Join(changed, ", "))
	}
	var s *store.Store
	var err error
	for _, gen := range []int{x.keyGen, x.keyGen + 1} {
		s, err = store.Open(ctx, cs.Dir, x.openOptions(gen))
		if err == nil || !errors.Is(err, store.ErrWrongKey) {
			break
		}
	}
	if err != nil {
		if x.proc == scenarios.ProcedureRecover && errors.Is(err, store.ErrCorrupt) {
			return // the damage recover was to repair: wholly old
		}
		x.violate("does-not-open", where, "%v", err)
		return
	}
	defer s.Close()
	d, err := digest(ctx, s)
	if err != nil {
		x.violate("record-unreadable", where, "%v", err)
		return
	}
	switch x.proc {
	case scenarios.ProcedureEnqueue, scenarios.ProcedureClaimAck:
		x.checkQueue(ctx, s, cs, where)
		return
	}
	isNew := x.new != nil && d.equal(x.new)
	isOld := x.old != nil && d.equal(x.old)
	switch {
	case cs.Boundary == "end" && x.newOK && !isNew:
		x.violate("acknowledged-lost", where, "%s returned success, yet the state after it differs from its result: %s", x.proc, d.diff(x.new))
	case !isNew && !isOld && x.proc == scenarios.ProcedureRecover:
		x.violate("half-step", where, "%s left the store neither damaged nor recovered: %s", x.proc, d.diff(x.new))
	case !isNew && !isOld:
		msg := "vs old: " + d.diff(x.old)
		if x.new != nil {
			msg += "; vs new: " + d.diff(x.new)
		}
		x.violate("half-step", where, "%s left the store neither wholly old nor wholly new: %s", x.proc, msg)
	}
}

// checkQueue: every enqueue acknowledged before the crash is there, whole
// (a batch is one transaction), no ack acknowledged before the crash is
// undone, and nothing appears that no enqueue made.
func (x *explorer) checkQueue(ctx context.Context, s *store.Store, cs faultfs.CrashState, where string) {
	ops, err := s.PendingOps(ctx)
	if err != nil {
		x.violate("record-unreadable", where, "pending ops: %v", err)
		return
	}
	pending := map[string]bool{}
	for _, op := range ops {
		pending[op.ID] = true
		if !x.enqueued[op.ID] && !x.baseline[op.ID] {
			x.violate("unexpected", where, "op %s was never enqueued", op.ID)
		}
	}
	at := x.crashNs(cs)
	if cs.Boundary == "end" {
		at = 1<<63 - 1
	}
	for id := range x.baseline {
		acked := slices.ContainsFunc(x.calls, func(c ackRecord) bool { return c.kind == "ack" && c.ids[0] == id })
		if !acked && !pending[id] {
			x.violate("acknowledged-lost", where, "op %s, durable before the procedure, is gone", id)
		}
	}
	for _, c := range x.calls {
		in := 0
		for _, id := range c.ids {
			if pending[id] {
				in++
			}
		}
		switch c.kind {
		case "enqueue", "batch":
			if c.returned != 0 && c.returned < at && in < len(c.ids) {
				x.violate("acknowledged-lost", where, "%s of %v returned before the crash, and %d of its %d ops are gone", c.kind, c.ids, len(c.ids)-in, len(c.ids))
			} else if c.kind == "batch" && in != 0 && in != len(c.ids) {
				x.violate("half-transaction", where, "batch %v is half visible: %d of %d ops", c.ids, in, len(c.ids))
			}
		case "ack":
			if c.returned != 0 && c.returned < at && in > 0 {
				x.violate("acknowledged-lost", where, "ack of %s returned before the crash, and the op is pending again", c.ids[0])
			}
		}
	}
	x.checkedOK++
}
