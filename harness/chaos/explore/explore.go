package explore

// An explore step: setup, one recorded run of the procedure, then the
// exploration of its recording.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

// Result is what one explore step explored: result.json's
// explorations, with the bound it ran under.
type Result struct {
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

// Step is one explore fault of the plan: which procedure, under what bound.
type Step struct {
	// Index is the fault's index in the schedule: Result.Fault.
	Index int
	// Procedure is the procedure run once and explored
	// (scenarios.Procedure*).
	Procedure string
	// States bounds the crash states explored (the fault's states).
	States int
	// Seed seeds the sampling of crash states.
	Seed uint64
	// Dir receives the crash states and keeps the first that violate:
	// <scenario>/explore-NN.
	Dir string
}

// Run runs an explore step: it brings the store of s to where st's
// procedure starts, marks m, runs the procedure once, takes m's recording
// and checks every crash state faultfs.Explore builds from it. detail
// receives the fault event's details (procedure, procedure_err,
// crash_states, recorded_ops).
//
// res is never nil, so that a run lists an exploration that failed early.
// cr is the explore(<procedure>) check, nil when Run returned before
// exploring (err then says why). An error wrapping
// fault.ErrUnsupportedFault means the step could not be injected.
func Run(ctx context.Context, s Session, m Recorder, st Step, detail map[string]any) (res *Result, cr *check.CheckResult, err error) {
	x := &explorer{s: s, proc: st.Procedure, keyGen: s.KeyGen(), enqueued: map[string]bool{}, baseline: map[string]bool{}, payloads: map[string]string{}}
	res = &Result{Fault: st.Index, Procedure: st.Procedure, MaxStates: st.States, MaxStatesPerBoundary: faultfs.DefaultMaxStatesPerBoundary, Seed: st.Seed}
	if err := s.Open(ctx); err != nil {
		return res, nil, fmt.Errorf("explore: store does not open: %v: %w", err, fault.ErrUnsupportedFault)
	}
	_, x.local = s.Backend().(target.Local)
	if err := x.claims(); err != nil {
		return res, nil, err
	}
	if err := x.setup(ctx); err != nil {
		return res, nil, fmt.Errorf("explore %s: setup: %w", st.Procedure, err)
	}
	if err := m.Mark(ctx); err != nil {
		return res, nil, fmt.Errorf("explore: %w", err)
	}
	x.markNs = time.Now().UnixNano()
	perr := x.run(ctx)
	x.newOK = perr == nil
	detail["procedure"] = st.Procedure
	if perr != nil {
		detail["procedure_err"] = perr.Error()
	}
	if cur := s.Backend(); cur != nil {
		if x.new, err = digestOf(ctx, cur); err != nil {
			return res, nil, fmt.Errorf("explore: read the store after %s: %w", st.Procedure, err)
		}
	}
	rec, err := m.Recording(ctx)
	if err != nil {
		return res, nil, fmt.Errorf("explore: %w", err)
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
	res.MaxStatesPerBoundary = min(max(st.States/points, 1), faultfs.DefaultMaxStatesPerBoundary)
	if err := os.MkdirAll(st.Dir, 0o755); err != nil {
		return res, nil, err
	}
	exp, err := faultfs.Explore(ctx, rec, faultfs.ExploreOptions{Dir: st.Dir, MaxStatesPerBoundary: res.MaxStatesPerBoundary, MaxStates: st.States, Seed: st.Seed},
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
	detail["crash_states"] = res.States
	detail["recorded_ops"] = res.RecordedOps
	name := "explore(" + st.Procedure + ")"
	switch {
	case err != nil:
		cr = &check.CheckResult{Name: name, Verdict: check.VerdictUnknown, Message: "exploration failed: " + err.Error()}
	case x.nv > 0:
		cr = &check.CheckResult{Name: name, Verdict: check.VerdictFail, Violations: x.vs,
			Message: fmt.Sprintf("%d violations in %d crash states of %s (%d recorded operations)", x.nv, res.States, st.Procedure, res.RecordedOps)}
	case res.States == 0:
		cr = &check.CheckResult{Name: name, Verdict: check.VerdictUnknown, Message: "no crash state was explored"}
	default:
		read := "every record read"
		if !x.local {
			read = "started the target on it, its state read back"
		}
		cr = &check.CheckResult{Name: name, Verdict: check.VerdictPass,
			Message: fmt.Sprintf("%d crash states of %s (%d recorded operations, %d crash points, %d core states, the rest at most %d per point, seed %d): each opened, %s, wholly old or new, nothing acknowledged lost, a wrong key changed nothing",
				res.States, st.Procedure, res.RecordedOps, res.CrashPoints, res.CoreStates, res.MaxStatesPerBoundary, st.Seed, read)}
	}
	return res, cr, err
}

// explorer is one explore step in progress.
type explorer struct {
	s         Session
	proc      string
	local     bool // the store is in process (target.Local), not a target
	old, new  storeDigest
	newOK     bool // the procedure returned success
	keyGen    int  // the key generation before the procedure
	calls     []ackRecord
	enqueued  map[string]bool   // every op id an enqueue of the procedure may have made
	baseline  map[string]bool   // pending op ids before the procedure (all durable)
	payloads  map[string]string // op id → payloadSum of the payload it was enqueued with
	mu        sync.Mutex        // guards calls, enqueued and payloads while the procedure runs
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

// claims refuses, as a step that cannot be injected, a procedure the store
// cannot run here: through a target, purge and migrate (no protocol form),
// and a procedure whose request, or the state request every crash state
// is read back with, the target does not claim.
func (x *explorer) claims() error {
	if x.local {
		return nil
	}
	switch x.proc {
	case scenarios.ProcedurePurge:
		return fmt.Errorf("explore purge needs the reference store in process, not a target: the protocol has no purge request: %w", fault.ErrUnsupportedFault)
	case scenarios.ProcedureMigrate:
		return fmt.Errorf("explore migrate needs the reference store in process, not a target: its synthetic migrations cannot cross the protocol: %w", fault.ErrUnsupportedFault)
	}
	rem, ok := x.s.Backend().(interface {
		Name() string
		Has(typ string) bool
	})
	if !ok {
		return nil
	}
	for _, typ := range []string{fault.TargetRequest(scenarios.FaultType(x.proc)), target.TypeState} { // a procedure is named as its step
		if typ != "" && !rem.Has(typ) {
			return fmt.Errorf("the target %s does not claim the %s request: %w", rem.Name(), typ, fault.ErrUnsupportedFault)
		}
	}
	return nil
}

// enqueue enqueues the op with marker through s, noting its payload.
func (x *explorer) enqueue(ctx context.Context, s target.Backend, marker string) (store.Op, error) {
	p := x.s.Payload(marker, 64)
	op, err := s.Enqueue(ctx, p, store.EnqueueOptions{})
	x.mu.Lock()
	x.payloads[op.ID] = payloadSum(p)
	x.mu.Unlock()
	return op, err
}

// setup brings the store to where the procedure starts, before the mark.
func (x *explorer) setup(ctx context.Context) error {
	s := x.s.Backend()
	switch x.proc {
	case scenarios.ProcedureClaimAck, scenarios.ProcedurePurge:
		for i := range exploreWorkers * explorePerWork {
			if _, err := x.enqueue(ctx, s, fmt.Sprintf("explore-setup-%d", i)); err != nil {
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
			if _, err := x.enqueue(ctx, s, fmt.Sprintf("explore-after-backup-%d", i)); err != nil {
				return err
			}
		}
	case scenarios.ProcedureMigrate:
		if _, err := s.Migrate(ctx, nil); err != nil {
			return err
		}
		v, err := s.(target.Local).SchemaVersion()
		if err != nil {
			return err
		}
		box, key := x.s.SchemaMarker()
		if err := s.Put(ctx, box, key, []byte(fmt.Sprintf("v%d", v))); err != nil {
			return err
		}
		x.s.AddSyntheticMigration()
	case scenarios.ProcedureRecover:
		if err := x.s.Close(); err != nil {
			return err
		}
		f := scenarios.Fault{Type: scenarios.FaultTruncate, Box: store.BoxPending, Mode: scenarios.TruncateMidFile}
		if _, err := fault.DamageBox(x.s.StoreDir(), f, 1); err != nil {
			return err
		}
		// The damage is on the disk before the procedure starts: a crash
		// state without it would be the undamaged store, not the old one.
		fh, err := os.Open(filepath.Join(x.s.StoreDir(), store.BoxPending+".db"))
		if err != nil {
			return err
		}
		defer fh.Close()
		return fh.Sync()
	}
	var err error
	if x.old, err = digestOf(ctx, s); err != nil {
		return err
	}
	st, err := s.State(ctx)
	if err != nil {
		return err
	}
	for _, op := range st.Pending {
		x.baseline[op.ID] = true
		x.payloads[op.ID] = payloadSum(op.Payload)
	}
	return nil
}

// run carries out the procedure once, recording what it acknowledged.
func (x *explorer) run(ctx context.Context) error {
	s := x.s.Backend()
	switch x.proc {
	case scenarios.ProcedureEnqueue:
		return x.enqueueLoad(ctx, s)
	case scenarios.ProcedureClaimAck:
		return x.claimAckLoad(ctx, s)
	case scenarios.ProcedureBackup:
		_, err := s.BackupFile(ctx, filepath.Join(x.s.BackupDir(), "explore-backup.tar.age"))
		return err
	case scenarios.ProcedureRestore:
		b, ok := x.s.LatestBackup()
		if !ok {
			return errors.New("no backup")
		}
		_, err := s.RestoreFile(ctx, b.Path, x.s.Key(b.KeyGen), 0)
		return err
	case scenarios.ProcedureMigrate:
		_, err := s.Migrate(ctx, x.s.Migrations())
		return err
	case scenarios.ProcedureRotateKey:
		gen := x.s.KeyGen() + 1
		_, err := s.RotateKey(ctx, x.s.Key(gen))
		if err == nil {
			x.s.SetKeyGen(gen)
		}
		return err
	case scenarios.ProcedureErase:
		_, err := s.Erase(ctx, "subject-0")
		if err == nil {
			x.s.Erased("subject-0")
		}
		return err
	case scenarios.ProcedureRecover:
		b, ok := x.s.LatestBackup()
		if !ok {
			return errors.New("no backup")
		}
		return x.s.Recover(ctx, b.Path)
	case scenarios.ProcedureRebuildIndex:
		_, err := s.RebuildIndex(ctx)
		return err
	case scenarios.ProcedurePurge:
		_, err := s.(target.Local).PurgeFailed(ctx, store.PurgeOptions{OlderThan: time.Millisecond, ArchivePath: filepath.Join(x.s.BackupDir(), "explore-purge.tar.age")})
		return err
	}
	return fmt.Errorf("procedure %q: %w", x.proc, fault.ErrUnsupportedFault)
}

// enqueueLoad is the enqueue procedure: concurrent enqueues and batches.
// In process a batch is one transaction, all of it or none; a target has
// no batch request (target.Remote sends a batch's enqueues at once), so
// there each op of a batch is an enqueue of its own, acknowledged once
// the whole batch returned.
func (x *explorer) enqueueLoad(ctx context.Context, s target.Backend) error {
	var wg sync.WaitGroup
	for w := range exploreWorkers {
		wg.Go(func() {
			for i := range explorePerWork {
				var recs []ackRecord
				if i%2 == 1 {
					var ps [][]byte
					for j := range exploreBatch {
						ps = append(ps, x.s.Payload(fmt.Sprintf("explore-%d-%d-%d", w, i, j), 64))
					}
					ops, err := s.EnqueueBatch(ctx, ps)
					rec := ackRecord{kind: "batch"}
					for j, op := range ops {
						rec.ids = append(rec.ids, op.ID)
						x.mu.Lock()
						x.payloads[op.ID] = payloadSum(ps[j])
						x.mu.Unlock()
					}
					if err == nil {
						rec.returned = time.Now().UnixNano()
					}
					recs = append(recs, rec)
					if !x.local {
						recs = nil
						for _, op := range ops {
							if op.ID != "" {
								recs = append(recs, ackRecord{kind: "enqueue", ids: []string{op.ID}, returned: time.Now().UnixNano()})
							}
						}
					}
				} else {
					op, err := x.enqueue(ctx, s, fmt.Sprintf("explore-%d-%d", w, i))
					rec := ackRecord{kind: "enqueue", ids: []string{op.ID}}
					if err == nil {
						rec.returned = time.Now().UnixNano()
					}
					recs = append(recs, rec)
				}
				x.mu.Lock()
				for _, rec := range recs {
					x.calls = append(x.calls, rec)
					for _, id := range rec.ids {
						x.enqueued[id] = true
					}
				}
				x.mu.Unlock()
			}
		})
	}
	wg.Wait()
	return nil
}

// claimAckLoad is the claim-ack procedure: concurrent claims, each acked.
func (x *explorer) claimAckLoad(ctx context.Context, s target.Backend) error {
	lease, err := s.AcquireLock(ctx, store.LockRequest{Owner: "explore"})
	if err != nil {
		return err
	}
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
				x.mu.Lock()
				x.calls = append(x.calls, rec)
				x.mu.Unlock()
			}
		})
	}
	wg.Wait()
	return s.ReleaseLock(ctx, lease.Token)
}
