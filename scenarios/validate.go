// This file turns the raw decoded fields into a Scenario: it fills in
// defaults and checks every value, alone and against the others, reporting
// the first problem with its line and field path.

package scenarios

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	boxRE       = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	failpointRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*(/[a-z0-9]+(-[a-z0-9]+)*)+$`)
	subjectRE   = regexp.MustCompile(`^subject-(0|[1-9][0-9]{0,8})$`)
	errorIsRE   = regexp.MustCompile(`^error-is\(([^()]*)\)$`)
)

// build validates raw and returns the scenario it describes.
func (s *source) build(r *rawScenario) (*Scenario, *Error) {
	sc := &Scenario{File: s.file, Version: CurrentVersion}
	var err *Error
	if sc.Name, err = s.name(r.Name); err != nil {
		return nil, err
	}
	if sc.Description, err = s.description(r.Description); err != nil {
		return nil, err
	}
	if sc.Protection, err = oneOf(s, "protection", r.Protection, Protections(), ""); err != nil {
		return nil, err
	}
	if sc.Store, err = s.store(r.Store); err != nil {
		return nil, err
	}
	if r.Workload == nil {
		return nil, s.fail("workload", "missing", "add workload: {kind: none} for a scenario without load", nil)
	}
	if sc.Workload, err = s.workload(r.Workload); err != nil {
		return nil, err
	}
	if sc.Faults, err = s.faults(r.Faults, sc.Workload); err != nil {
		return nil, err
	}
	if sc.Checks, err = s.checks(r.Checks, sc.Workload, sc.Faults); err != nil {
		return nil, err
	}
	if sc.Thresholds, err = s.thresholds(r.Thresholds); err != nil {
		return nil, err
	}
	return sc, nil
}

func (s *source) name(v *string) (string, *Error) {
	base := filepath.Base(s.file)
	for _, ext := range []string{".yaml", ".yml"} {
		base = strings.TrimSuffix(base, ext)
	}
	if v == nil {
		return "", s.fail("name", "missing", "add name: "+base, nil)
	}
	if !nameRE.MatchString(*v) {
		return "", s.fail("name", quote(*v)+" is not a valid name",
			"use lowercase letters and digits in words joined by -, as in truncated-tail", nil)
	}
	if *v != base {
		return "", s.fail("name", fmt.Sprintf("%s does not match the file name %s", quote(*v), quote(filepath.Base(s.file))),
			fmt.Sprintf("set name: %s, or rename the file to %s.yaml", base, *v), nil)
	}
	return *v, nil
}

func (s *source) description(v *string) (string, *Error) {
	if v == nil || strings.TrimSpace(*v) == "" {
		return "", s.fail("description", "missing", "say in one line what the scenario does", nil)
	}
	d := strings.TrimSpace(*v)
	if strings.ContainsAny(d, "\r\n") {
		return "", s.fail("description", "must be one line",
			"chaos list prints it on one line; shorten it or use a folded scalar (>)", nil)
	}
	return d, nil
}

func (s *source) store(r *rawStore) (StoreOptions, *Error) {
	if r == nil {
		r = &rawStore{}
	}
	var (
		o   StoreOptions
		err *Error
	)
	if o.Sync, err = oneOf(s, "store.sync", r.Sync, []Sync{SyncAlways, SyncInterval, SyncNever}, DefaultSync); err != nil {
		return o, err
	}
	switch {
	case o.Sync == SyncInterval:
		if o.SyncInterval, err = s.duration("store.sync_interval", r.SyncInterval, DefaultSyncInterval, time.Millisecond, time.Minute); err != nil {
			return o, err
		}
	case s.has("store.sync_interval"):
		return o, s.fail("store.sync_interval", fmt.Sprintf("does not apply with sync: %s", o.Sync),
			"remove it, or set sync: interval", nil)
	}
	recoveries := []Recovery{RecoveryStrict, RecoveryTolerateTornTail, RecoveryPointInTime, RecoverySkipDamaged}
	if o.Recovery, err = oneOf(s, "store.recovery", r.Recovery, recoveries, DefaultRecovery); err != nil {
		return o, err
	}
	if o.StaleAfter, err = s.duration("store.stale_after", r.StaleAfter, DefaultStaleAfter, time.Millisecond, 24*time.Hour); err != nil {
		return o, err
	}
	alert, err := s.integer("store.failed_ops_alert", r.FailedOpsAlert, DefaultFailedOpsAlert, 1, 1_000_000)
	if err != nil {
		return o, err
	}
	o.FailedOpsAlert = int(alert)
	// The bounds are the store's (store.MinCheckpointPeriod and
	// store.MaxCheckpointPeriod); this package does not import the store.
	o.CheckpointPeriod, err = s.duration("store.checkpoint_period", r.CheckpointPeriod, DefaultCheckpointPeriod, time.Millisecond, time.Hour)
	return o, err
}

func (s *source) workload(r *rawWorkload) (Workload, *Error) {
	var (
		w   Workload
		err *Error
		n   int64
	)
	kinds := []WorkloadKind{WorkloadEnqueue, WorkloadCycle, WorkloadMixed, WorkloadClaim, WorkloadNone}
	if w.Kind, err = oneOf(s, "workload.kind", r.Kind, kinds, ""); err != nil {
		return w, err
	}
	if n, err = s.integer("workload.producers", r.Producers, 0, 0, MaxWorkers); err != nil {
		return w, err
	}
	w.Producers = int(n)
	if n, err = s.integer("workload.processors", r.Processors, 0, 0, MaxWorkers); err != nil {
		return w, err
	}
	w.Processors = int(n)
	if n, err = s.integer("workload.processes", r.Processes, 0, 0, MaxProcesses); err != nil {
		return w, err
	}
	w.Processes = int(n)
	if err := s.workers(w); err != nil {
		return w, err
	}

	if w.Kind == WorkloadNone {
		for _, f := range []string{"ops", "quick_ops", "idempotency", "rate", "value_size", "subjects"} {
			if s.has("workload." + f) {
				return w, s.fail("workload."+f, "does not apply to kind none",
					"remove it, or choose a kind that runs ops", nil)
			}
		}
		return w, nil
	}
	if r.Ops == nil {
		return w, s.fail("workload.ops", "missing", "say how many ops a full run makes, such as ops: 10000", nil)
	}
	if w.Ops, err = s.integer("workload.ops", r.Ops, 0, 1, MaxOps); err != nil {
		return w, err
	}
	if w.QuickOps, err = s.integer("workload.quick_ops", r.QuickOps, min(w.Ops, DefaultQuickOps), 1, w.Ops); err != nil {
		return w, err
	}
	if n, err = s.integer("workload.value_size", r.ValueSize, DefaultValueSize, 1, MaxValueSize); err != nil {
		return w, err
	}
	w.ValueSize = int(n)
	if w.Idempotency, err = s.fraction("workload.idempotency", r.Idempotency, 0, true); err != nil {
		return w, err
	}
	if w.Rate, err = s.float("workload.rate", r.Rate, 0, 0, 10_000_000); err != nil {
		return w, err
	}
	if n, err = s.integer("workload.subjects", r.Subjects, DefaultSubjects, 1, 1_000_000); err != nil {
		return w, err
	}
	w.Subjects = int(n)
	return w, nil
}

// workers checks that the kind has the workers it needs and none it
// would leave idle.
func (s *source) workers(w Workload) *Error {
	need := func(field string, n int) *Error {
		if n < 1 {
			return s.fail("workload."+field, fmt.Sprintf("kind %s needs at least one of them", w.Kind),
				fmt.Sprintf("set %s: 1 or more", field), nil)
		}
		return nil
	}
	idle := func(field string, n int) *Error {
		if n != 0 {
			return s.fail("workload."+field, fmt.Sprintf("kind %s runs none of them", w.Kind),
				"remove it, or choose another kind: "+kindWorkers, nil)
		}
		return nil
	}
	var checks []*Error
	switch w.Kind {
	case WorkloadEnqueue:
		checks = []*Error{need("producers", w.Producers), idle("processors", w.Processors), idle("processes", w.Processes)}
	case WorkloadClaim, WorkloadCycle:
		checks = []*Error{idle("producers", w.Producers), need("processors", w.Processors)}
	case WorkloadMixed:
		checks = []*Error{need("producers", w.Producers), need("processors", w.Processors)}
	case WorkloadNone:
		checks = []*Error{idle("producers", w.Producers), idle("processors", w.Processors), idle("processes", w.Processes)}
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}

const kindWorkers = "enqueue runs producers, claim and cycle run processors, mixed runs both"

// faultFields lists, for each fault type, the fields it takes besides
// type and at.
var faultFields = map[FaultType][]string{
	FaultTruncate:            {"box", "mode"},
	FaultBitflip:             {"box", "count"},
	FaultGarbage:             {"box", "bytes"},
	FaultNULRun:              {"box", "length"},
	FaultClockSkew:           {"processor", "offset"},
	FaultStall:               {"processor", "duration"},
	FaultHandlerFailure:      {"rate"},
	FaultKill:                {"failpoint", "every", "count"},
	FaultWrongKey:            {"during"},
	FaultSchemaMismatch:      {"delta"},
	FaultDiskFull:            {"limit"},
	FaultSecondOpen:          {"from"},
	FaultBackup:              {},
	FaultRestore:             {},
	FaultRotateKey:           {"batch"},
	FaultMigrate:             {"count"},
	FaultErase:               {"subject"},
	FaultCorruptIndex:        {"mode", "count"},
	FaultMalformedTimestamps: {"count"},
	FaultReopen:              {"recovery"},
	FaultRecover:             {},
	FaultRebuildIndex:        {},
	FaultRelocate:            {"box", "to", "mode"},
	FaultPowerLoss:           {"mode", "every", "count"},
	FaultFsyncError:          {"nth", "sticky"},
	FaultENOSPC:              {"budget"},
	FaultSlowIO:              {"median", "p99"},
	FaultExplore:             {"procedure", "states"},
}

// faultSchedule carries what later fault steps are checked against.
type faultSchedule struct {
	w          Workload
	lastOp     int64 // the previous op position's upper bound, or -1
	lastStep   int   // the previous step number, or 0
	lastPath   string
	backupSeen bool
}

func (s *source) faults(raw []rawFault, w Workload) ([]Fault, *Error) {
	sched := &faultSchedule{w: w, lastOp: -1}
	faults := make([]Fault, 0, len(raw))
	for i := range raw {
		f, err := s.fault(indexPath("faults", i), &raw[i], sched)
		if err != nil {
			return nil, err
		}
		faults = append(faults, f)
	}
	for i, f := range faults {
		if !f.Type.Repeats() || f.Every == 0 {
			continue
		}
		for j, g := range faults {
			if j != i && g.At.Kind != AtStep {
				return nil, s.fail(indexPath("faults", j)+".at", fmt.Sprintf("a repeated %s must be the only fault at an op position", f.Type),
					fmt.Sprintf("move this fault to a step, or drop every and count from the %s", f.Type), nil)
			}
		}
	}
	return faults, nil
}

func (s *source) fault(p string, r *rawFault, sched *faultSchedule) (Fault, *Error) {
	var (
		f   Fault
		err *Error
	)
	if f.Type, err = oneOf(s, p+".type", r.Type, FaultTypes(), ""); err != nil {
		return f, err
	}
	allowed := faultFields[f.Type]
	for _, field := range yamlFields(typeOfRawFault) {
		if field == "type" || field == "at" || slices.Contains(allowed, field) || !s.has(p+"."+field) {
			continue
		}
		takes := "nothing besides type and at"
		if len(allowed) > 0 {
			takes = strings.Join(allowed, ", ") + " besides type and at"
		}
		return f, s.fail(p+"."+field, fmt.Sprintf("does not apply to type %s", f.Type),
			fmt.Sprintf("%s takes %s", f.Type, takes), nil)
	}
	if f.At, err = s.position(p+".at", r.At, sched); err != nil {
		return f, err
	}

	w := sched.w
	needBackup := func() *Error {
		if !sched.backupSeen {
			return s.fail(p+".type", fmt.Sprintf("%s needs a backup, and no earlier step takes one", f.Type),
				"add a backup step before it", nil)
		}
		return nil
	}
	processor := func(field string, v *int64, def int64) (int, *Error) {
		if w.Processors == 0 {
			return 0, s.fail(p+".type", fmt.Sprintf("%s targets a processor, and the workload runs none", f.Type),
				"set workload.processors, with a kind that claims ops", nil)
		}
		n, err := s.integer(p+"."+field, v, def, 0, int64(w.Processors-1))
		return int(n), err
	}
	var n int64
	switch f.Type {
	case FaultTruncate:
		if f.Box, err = s.box(p, r.Box); err != nil {
			return f, err
		}
		f.Mode, err = oneOf(s, p+".mode", r.Mode, []string{TruncateTail, TruncateBehindCheckpoint, TruncateMidFile}, "")
	case FaultRelocate:
		if f.Box, err = s.box(p, r.Box); err != nil {
			return f, err
		}
		to := r.To
		if to == nil {
			to = r.Box
		}
		if f.To, err = s.box(p, to); err != nil {
			return f, err
		}
		f.Mode, err = oneOf(s, p+".mode", r.Mode, []string{RelocateCopy, RelocateMove}, RelocateCopy)
	case FaultBitflip:
		if f.Box, err = s.box(p, r.Box); err != nil {
			return f, err
		}
		n, err = s.integer(p+".count", r.Count, 1, 1, 1<<20)
		f.Count = int(n)
	case FaultGarbage:
		if f.Box, err = s.box(p, r.Box); err != nil {
			return f, err
		}
		if err = s.required(p+".bytes", r.Bytes == nil, "such as bytes: 64"); err != nil {
			return f, err
		}
		n, err = s.integer(p+".bytes", r.Bytes, 0, 1, MaxValueSize)
		f.Bytes = int(n)
	case FaultNULRun:
		if f.Box, err = s.box(p, r.Box); err != nil {
			return f, err
		}
		if err = s.required(p+".length", r.Length == nil, "such as length: 40"); err != nil {
			return f, err
		}
		n, err = s.integer(p+".length", r.Length, 0, 1, MaxValueSize)
		f.Length = int(n)
	case FaultClockSkew:
		if err = s.required(p+".processor", r.Processor == nil, "such as processor: 0"); err != nil {
			return f, err
		}
		if f.Processor, err = processor("processor", r.Processor, 0); err != nil {
			return f, err
		}
		f.Offset, err = s.offset(p+".offset", r.Offset)
	case FaultStall:
		if f.Processor, err = processor("processor", r.Processor, 0); err != nil {
			return f, err
		}
		if err = s.required(p+".duration", r.Duration == nil, "such as duration: 3s"); err != nil {
			return f, err
		}
		f.Duration, err = s.duration(p+".duration", r.Duration, 0, time.Millisecond, time.Hour)
	case FaultHandlerFailure:
		if !w.claims() {
			return f, s.fail(p+".type", fmt.Sprintf("handler-failure needs a workload that claims ops, and kind %s does not", w.Kind),
				"use kind claim, cycle or mixed", nil)
		}
		if err = s.required(p+".rate", r.Rate == nil, "such as rate: 0.5"); err != nil {
			return f, err
		}
		f.Rate, err = s.fraction(p+".rate", r.Rate, 0, false)
	case FaultKill:
		if r.Failpoint != nil && !failpointRE.MatchString(*r.Failpoint) {
			err = s.fail(p+".failpoint", quote(*r.Failpoint)+" is not a failpoint name",
				"failpoints are named area/point, as in enqueue/after-write-before-sync", nil)
		} else if r.Failpoint != nil {
			f.Failpoint = *r.Failpoint
		}
		if err == nil {
			err = s.repeatKill(p, r, &f, w)
		}
	case FaultWrongKey:
		if f.During, err = oneOf(s, p+".during", r.During, []string{DuringOpen, DuringRestore}, ""); err != nil {
			return f, err
		}
		if f.During == DuringRestore {
			err = needBackup()
		}
	case FaultSchemaMismatch:
		if err = needBackup(); err != nil {
			return f, err
		}
		n, err = s.integer(p+".delta", r.Delta, 1, -1000, 1000)
		if err == nil && n == 0 {
			err = s.fail(p+".delta", "must not be 0", "a mismatch needs another schema version, such as delta: 1", nil)
		}
		f.Delta = int(n)
	case FaultDiskFull:
		if err = s.required(p+".limit", r.Limit == nil, "such as limit: 65536, the bytes the files may still grow by"); err != nil {
			return f, err
		}
		f.Limit, err = s.integer(p+".limit", r.Limit, 0, 0, 1<<40)
	case FaultSecondOpen:
		f.From, err = oneOf(s, p+".from", r.From, []string{FromOtherProcess, FromSameProcess}, FromOtherProcess)
	case FaultBackup:
		sched.backupSeen = true
	case FaultRestore, FaultRecover:
		err = needBackup()
	case FaultRotateKey:
		n, err = s.integer(p+".batch", r.Batch, 0, 1, 1_000_000)
		f.Batch = int(n)
	case FaultMigrate:
		n, err = s.integer(p+".count", r.Count, 1, 1, 100)
		f.Count = int(n)
	case FaultErase:
		f.Subject, err = s.subject(p+".subject", r.Subject, w)
	case FaultCorruptIndex:
		if f.Mode, err = oneOf(s, p+".mode", r.Mode, []string{IndexMissingIDs, IndexDanglingIDs}, ""); err != nil {
			return f, err
		}
		n, err = s.integer(p+".count", r.Count, 1, 1, 1<<20)
		f.Count = int(n)
	case FaultMalformedTimestamps:
		n, err = s.integer(p+".count", r.Count, 1, 1, 1<<20)
		f.Count = int(n)
	case FaultReopen:
		recoveries := []Recovery{RecoveryStrict, RecoveryTolerateTornTail, RecoveryPointInTime, RecoverySkipDamaged}
		if r.Recovery != nil {
			f.Recovery, err = oneOf(s, p+".recovery", r.Recovery, recoveries, "")
		}
	case FaultRebuildIndex:
	case FaultPowerLoss:
		f.Mode, err = oneOf(s, p+".mode", r.Mode, []string{PowerLossUnsynced, PowerLossTorn}, PowerLossUnsynced)
		if err == nil {
			err = s.repeatKill(p, r, &f, w)
		}
	case FaultFsyncError:
		n, err = s.integer(p+".nth", r.Nth, 1, 1, 1_000_000)
		f.Nth = int(n)
		if r.Sticky != nil {
			f.Sticky = *r.Sticky
		}
	case FaultENOSPC:
		if err = s.required(p+".budget", r.Budget == nil, "such as budget: 65536, the bytes the store may still write"); err != nil {
			return f, err
		}
		f.Budget, err = s.integer(p+".budget", r.Budget, 0, 0, 1<<40)
	case FaultSlowIO:
		if err = s.required(p+".median", r.Median == nil, "such as median: 2ms"); err != nil {
			return f, err
		}
		if f.Median, err = s.duration(p+".median", r.Median, 0, time.Microsecond, 10*time.Second); err != nil {
			return f, err
		}
		if f.P99, err = s.duration(p+".p99", r.P99, 0, time.Microsecond, time.Minute); err != nil {
			return f, err
		}
		if f.P99 != 0 && f.P99 < f.Median {
			err = s.fail(p+".p99", fmt.Sprintf("%v is below the median %v", f.P99, f.Median),
				"set p99 at least as large as median, or leave it out for a fixed delay", nil)
		}
	case FaultExplore:
		if f.At.Kind != AtStep {
			return f, s.fail(p+".at", "explore runs as a step, after the workload",
				"use at: {step: N}", nil)
		}
		if err = s.required(p+".procedure", r.Procedure == nil, "such as procedure: migrate"); err != nil {
			return f, err
		}
		if f.Procedure, err = oneOf(s, p+".procedure", r.Procedure, Procedures(), ""); err != nil {
			return f, err
		}
		if (f.Procedure == ProcedureRestore || f.Procedure == ProcedureRecover) && !sched.backupSeen {
			return f, s.fail(p+".procedure", fmt.Sprintf("%s needs a backup, and no earlier step takes one", f.Procedure),
				"add a backup step before it", nil)
		}
		if f.Procedure == ProcedureErase {
			f.Subject = "subject-0"
		}
		n, err = s.integer(p+".states", r.States, DefaultExploreStates, 1, MaxExploreStates)
		f.States = int(n)
	}
	return f, err
}

var typeOfRawFault = reflect.TypeFor[rawFault]()

// claims reports whether the workload's processors claim ops.
func (w Workload) claims() bool {
	return w.Kind == WorkloadClaim || w.Kind == WorkloadCycle || w.Kind == WorkloadMixed
}

// position checks one fault's at, and that it comes after the previous
// fault's: the list is the order the faults run in.
func (s *source) position(p string, r *rawAt, sched *faultSchedule) (Position, *Error) {
	var pos Position
	if r == nil {
		return pos, s.fail(p, "missing", atHint, nil)
	}
	var set []string
	for _, f := range []string{"op", "op_between", "step"} {
		if s.has(p + "." + f) {
			set = append(set, f)
		}
	}
	switch len(set) {
	case 0:
		return pos, s.fail(p, "names no position", atHint, nil)
	case 1:
	default:
		return pos, s.fail(p+"."+set[1], fmt.Sprintf("%s and %s are both set", set[0], set[1]), "choose one; "+atHint, nil)
	}
	w := sched.w
	opPosition := func(field string) *Error {
		if w.Kind == WorkloadNone {
			return s.fail(p+"."+field, "the workload is none, so there are no ops to count", "use {step: N}", nil)
		}
		return nil
	}
	var err *Error
	switch set[0] {
	case "op":
		if err = opPosition("op"); err != nil {
			return pos, err
		}
		pos.Kind = AtOp
		if pos.Op, err = s.integer(p+".op", r.Op, 0, 0, w.Ops); err != nil {
			return pos, err
		}
		pos.OpMax = pos.Op
	case "op_between":
		if err = opPosition("op_between"); err != nil {
			return pos, err
		}
		if len(r.OpBetween) != 2 {
			return pos, s.fail(p+".op_between", fmt.Sprintf("want 2 op counts, got %d", len(r.OpBetween)), atHint, nil)
		}
		pos.Kind = AtOpBetween
		pos.Op, pos.OpMax = r.OpBetween[0], r.OpBetween[1]
		switch {
		case pos.Op < 0:
			return pos, s.failf(p+".op_between", "the lower bound %d is negative", pos.Op)
		case pos.OpMax > w.Ops:
			return pos, s.fail(p+".op_between", fmt.Sprintf("the upper bound %d is above workload.ops, %d", pos.OpMax, w.Ops), "", nil)
		case pos.Op > pos.OpMax:
			return pos, s.fail(p+".op_between", fmt.Sprintf("the lower bound %d is above the upper bound %d", pos.Op, pos.OpMax), "write [lower, upper]", nil)
		}
	case "step":
		var n int64
		if n, err = s.integer(p+".step", r.Step, 0, 1, 1_000_000); err != nil {
			return pos, err
		}
		pos.Kind, pos.Step = AtStep, int(n)
	}

	order := "list faults in the order they run"
	switch {
	case pos.Kind != AtStep && sched.lastStep > 0:
		return pos, s.fail(p, fmt.Sprintf("%s comes after %s at %s", pos, sched.lastPath, Position{Kind: AtStep, Step: sched.lastStep}),
			"steps run after the workload; "+order, nil)
	case pos.Kind != AtStep && pos.Op < sched.lastOp:
		return pos, s.fail(p, fmt.Sprintf("%s is before %s, which runs at op %d", pos, sched.lastPath, sched.lastOp), order, nil)
	case pos.Kind == AtStep && pos.Step <= sched.lastStep:
		return pos, s.fail(p, fmt.Sprintf("step %d is not after %s's step %d", pos.Step, sched.lastPath, sched.lastStep),
			"number steps in increasing order; "+order, nil)
	}
	if pos.Kind == AtStep {
		sched.lastStep = pos.Step
	} else {
		sched.lastOp = pos.OpMax
	}
	sched.lastPath = strings.TrimSuffix(p, ".at")
	return pos, nil
}

func (s *source) box(p string, v *string) (string, *Error) {
	if v == nil {
		return "", s.fail(p+".box", "missing", "name the box file to damage, such as box: pending_ops", nil)
	}
	if !boxRE.MatchString(*v) {
		return "", s.fail(p+".box", quote(*v)+" is not a box name",
			"box names are lowercase letters, digits and _, as in pending_ops", nil)
	}
	return *v, nil
}

func (s *source) subject(path string, v *string, w Workload) (string, *Error) {
	if v == nil {
		return "", s.fail(path, "missing", "name a subject, such as subject: subject-7", nil)
	}
	hint := fmt.Sprintf("the workload's subjects are subject-0 to subject-%d", w.Subjects-1)
	if w.Kind == WorkloadNone {
		return "", s.fail(path, "the workload is none, so there is no subject to erase", "choose a workload that enqueues ops", nil)
	}
	m := subjectRE.FindStringSubmatch(*v)
	if m == nil {
		return "", s.fail(path, quote(*v)+" is not a subject name", hint, nil)
	}
	if n, _ := strconv.Atoi(m[1]); n >= w.Subjects {
		return "", s.fail(path, quote(*v)+" is not among the workload's subjects", hint, nil)
	}
	return *v, nil
}

// errorSources says which fault types can provoke each error an error-is
// check expects.
var errorSources = map[ErrorName][]FaultType{
	ErrorWrongKey:       {FaultWrongKey},
	ErrorCorrupt:        {FaultTruncate, FaultBitflip, FaultGarbage, FaultNULRun, FaultCorruptIndex, FaultMalformedTimestamps, FaultRelocate},
	ErrorLocked:         {FaultSecondOpen},
	ErrorStaleToken:     {FaultClockSkew, FaultStall},
	ErrorSchemaMismatch: {FaultSchemaMismatch},
	ErrorDiskFull:       {FaultDiskFull, FaultENOSPC, FaultFsyncError},
	ErrorBackupInvalid:  {FaultRestore, FaultRecover},
}

func (s *source) checks(raw []string, w Workload, faults []Fault) ([]Check, *Error) {
	if len(raw) == 0 {
		return nil, s.fail("checks", "missing", "list the checkers that must hold, such as checks: [no-loss, no-unexpected]", nil)
	}
	has := func(types ...FaultType) bool {
		return slices.ContainsFunc(faults, func(f Fault) bool { return slices.Contains(types, f.Type) })
	}
	var damage []FaultType
	for _, t := range FaultTypes() {
		if t.IsDamage() {
			damage = append(damage, t)
		}
	}
	checks := make([]Check, 0, len(raw))
	for i, v := range raw {
		p := indexPath("checks", i)
		c, err := s.check(p, v)
		if err != nil {
			return nil, err
		}
		if slices.Contains(checks, c) {
			return nil, s.fail(p, fmt.Sprintf("%s is listed twice", c), "remove one", nil)
		}
		var need []FaultType
		switch c.Name {
		case CheckErrorIs:
			need = errorSources[c.Error]
		case CheckIntegrityReported:
			need = damage
		case CheckNoResurrection:
			need = []FaultType{FaultErase}
		case CheckAlertFired:
			need = []FaultType{FaultHandlerFailure, FaultMigrate}
		case CheckFencing, CheckFIFO, CheckDuplicates:
			if !w.claims() {
				return nil, s.fail(p, fmt.Sprintf("%s needs a workload that claims ops, and kind %s does not", c, w.Kind),
					"use kind claim, cycle or mixed, or remove the check", nil)
			}
		case CheckLockTakeover:
			if !w.claims() {
				return nil, s.fail(p, fmt.Sprintf("%s needs processors that take the lock, and kind %s runs none", c, w.Kind),
					"use kind claim, cycle or mixed, or remove the check", nil)
			}
		case CheckIdempotency:
			if w.Idempotency == 0 || (w.Kind != WorkloadEnqueue && w.Kind != WorkloadMixed && w.Kind != WorkloadCycle) {
				return nil, s.fail(p, "idempotency needs enqueues that repeat idempotency keys", "set workload.idempotency above 0, or remove the check", nil)
			}
		case CheckLinearizable:
			if w.Kind == WorkloadNone {
				return nil, s.fail(p, "linearizable needs a workload, and kind is none", "remove the check", nil)
			}
		}
		if need != nil && !has(need...) {
			return nil, s.fail(p, fmt.Sprintf("no fault step can make %s hold or fail", c),
				fmt.Sprintf("add a step of type %s, or remove the check", orList(need)), nil)
		}
		checks = append(checks, c)
	}
	return checks, nil
}

func (s *source) check(p, v string) (Check, *Error) {
	if m := errorIsRE.FindStringSubmatch(v); m != nil {
		name := m[1]
		e, err := oneOf(s, p, &name, ErrorNames(), "")
		return Check{Name: CheckErrorIs, Error: e}, err
	}
	if strings.HasPrefix(v, string(CheckErrorIs)) {
		return Check{}, s.fail(p, quote(v)+" is not a valid error-is check",
			"write error-is(<name>) with <name> one of: "+joinValues(ErrorNames()), nil)
	}
	plain := slices.DeleteFunc(CheckNames(), func(c CheckName) bool { return c == CheckErrorIs })
	name, err := oneOf(s, p, &v, plain, "")
	if err != nil {
		err.Hint += ", or error-is(<name>)"
	}
	return Check{Name: name}, err
}

func (s *source) thresholds(raw map[string]map[string]string) ([]Threshold, *Error) {
	// Go maps have no order: visit the ops in file order so that the
	// first error in the file is the one reported.
	ops := make([]string, 0, len(raw))
	for op := range raw {
		ops = append(ops, op)
	}
	byLine := func(parent string) func(a, b string) int {
		return func(a, b string) int {
			return cmp.Or(cmp.Compare(s.line(joinPath(parent, a)), s.line(joinPath(parent, b))), strings.Compare(a, b))
		}
	}
	slices.SortFunc(ops, byLine("thresholds"))
	var out []Threshold
	for _, opKey := range ops {
		opPath := joinPath("thresholds", opKey)
		op, err := oneOf(s, opPath, &opKey, OpNames(), "")
		if err != nil {
			return nil, err
		}
		pcts := make([]string, 0, len(raw[opKey]))
		for pct := range raw[opKey] {
			pcts = append(pcts, pct)
		}
		slices.SortFunc(pcts, byLine(opPath))
		var limits []Threshold
		for _, pctKey := range pcts {
			pctPath := joinPath(opPath, pctKey)
			pct, err := oneOf(s, pctPath, &pctKey, Percentiles(), "")
			if err != nil {
				return nil, err
			}
			v := raw[opKey][pctKey]
			limit, err := s.duration(pctPath, &v, 0, time.Microsecond, time.Hour)
			if err != nil {
				return nil, err
			}
			limits = append(limits, Threshold{Op: op, Percentile: pct, Limit: limit})
		}
		slices.SortFunc(limits, func(a, b Threshold) int {
			return cmp.Compare(a.Percentile.Percent(), b.Percentile.Percent())
		})
		for i := 1; i < len(limits); i++ {
			lo, hi := limits[i-1], limits[i]
			if hi.Limit < lo.Limit {
				return nil, s.fail(joinPath(opPath, string(hi.Percentile)),
					fmt.Sprintf("%v is below %s's %v", hi.Limit, lo.Percentile, lo.Limit),
					"a higher percentile cannot have a lower limit", nil)
			}
		}
		out = append(out, limits...)
	}
	slices.SortStableFunc(out, func(a, b Threshold) int {
		return cmp.Compare(slices.Index(OpNames(), a.Op), slices.Index(OpNames(), b.Op))
	})
	return out, nil
}

// Field helpers. Each returns def when the field is absent, and an *Error
// at the field's line when its value is out of range.

func (s *source) required(path string, missing bool, example string) *Error {
	if missing {
		return s.fail(path, "missing", "add it, "+example, nil)
	}
	return nil
}

func oneOf[T ~string](s *source, path string, v *string, allowed []T, def T) (T, *Error) {
	if v == nil {
		if def == "" {
			return "", s.fail(path, "missing", "one of: "+joinValues(allowed), nil)
		}
		return def, nil
	}
	if slices.Contains(allowed, T(*v)) {
		return T(*v), nil
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	hint := "one of: " + joinValues(allowed)
	if near := nearest(*v, names); near != "" {
		hint = fmt.Sprintf("did you mean %q? %s", near, hint)
	}
	return "", s.fail(path, quote(*v)+" is not allowed", hint, nil)
}

func (s *source) integer(path string, v *int64, def, lo, hi int64) (int64, *Error) {
	if v == nil {
		return def, nil
	}
	switch {
	case *v < lo && lo == 0:
		return 0, s.fail(path, fmt.Sprintf("%d is negative", *v), fmt.Sprintf("use a number from 0 to %d", hi), nil)
	case *v < lo:
		return 0, s.fail(path, fmt.Sprintf("must be at least %d, got %d", lo, *v), fmt.Sprintf("use a number from %d to %d", lo, hi), nil)
	case *v > hi:
		return 0, s.fail(path, fmt.Sprintf("must be at most %d, got %d", hi, *v), fmt.Sprintf("use a number from %d to %d", lo, hi), nil)
	}
	return *v, nil
}

func (s *source) float(path string, v *float64, def, lo, hi float64) (float64, *Error) {
	if v == nil {
		return def, nil
	}
	if math.IsNaN(*v) || *v < lo || *v > hi {
		return 0, s.fail(path, fmt.Sprintf("%v is out of range", *v), fmt.Sprintf("use a number from %v to %v", lo, hi), nil)
	}
	return *v, nil
}

// fraction accepts a number from 0 to 1; zero only if zeroOK.
func (s *source) fraction(path string, v *float64, def float64, zeroOK bool) (float64, *Error) {
	f, err := s.float(path, v, def, 0, 1)
	if err != nil {
		err.Hint = "use a fraction from 0 to 1, such as 0.25"
		return 0, err
	}
	if v != nil && f == 0 && !zeroOK {
		return 0, s.fail(path, "must be above 0", "use a fraction above 0 and at most 1, such as 0.25", nil)
	}
	return f, nil
}

func (s *source) duration(path string, v *string, def, lo, hi time.Duration) (time.Duration, *Error) {
	if v == nil {
		return def, nil
	}
	d, err := time.ParseDuration(*v)
	if err != nil {
		return 0, s.fail(path, quote(*v)+" is not a duration", durationHint, fmt.Errorf("parse duration: %w", err))
	}
	if d < lo || d > hi {
		return 0, s.fail(path, fmt.Sprintf("%v is out of range", d), fmt.Sprintf("use a duration from %v to %v", lo, hi), nil)
	}
	return d, nil
}

// offset parses a signed, non-zero clock offset such as +5m or -5m.
func (s *source) offset(path string, v *string) (time.Duration, *Error) {
	if v == nil {
		return 0, s.fail(path, "missing", "give a signed duration, such as offset: +5m or offset: -5m", nil)
	}
	d, err := s.duration(path, v, 0, -24*time.Hour, 24*time.Hour)
	if err != nil {
		return 0, err
	}
	if d == 0 {
		return 0, s.fail(path, "must not be 0", "a skew needs an offset, such as +5m or -5m", nil)
	}
	return d, nil
}

func joinValues[T ~string](vs []T) string {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = string(v)
	}
	return strings.Join(names, ", ")
}

func orList(types []FaultType) string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = string(t)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// repeatKill checks the every and count of a kill or a power loss (each
// power loss kills the store's process too): it repeats only at an op
// position, in a workload whose producers can resume, and count alone
// spreads its kills evenly over the ops after the first.
func (s *source) repeatKill(p string, r *rawFault, f *Fault, w Workload) *Error {
	if r.Every == nil && r.Count == nil {
		return nil
	}
	field := p + ".every"
	if r.Every == nil {
		field = p + ".count"
	}
	switch {
	case f.At.Kind == AtStep:
		return s.fail(field, fmt.Sprintf("a %s at a step cannot repeat", f.Type), fmt.Sprintf("put the first %s at an op position, such as at: {op: 100}", f.Type), nil)
	case w.Kind != WorkloadEnqueue && w.Kind != WorkloadMixed:
		return s.fail(field, fmt.Sprintf("a repeated %s needs producers to resume, and kind %s has none", f.Type, w.Kind), "use kind enqueue or mixed", nil)
	}
	count, err := s.integer(p+".count", r.Count, 0, 1, MaxKills)
	if err != nil {
		return err
	}
	f.Count = int(count)
	if r.Every == nil {
		f.Every = max(1, (w.Ops-f.At.OpMax)/count)
		return nil
	}
	f.Every, err = s.integer(field, r.Every, 0, 1, w.Ops)
	return err
}

// MaxKills is the most kills one repeated kill or power-loss fault may
// fire.
const MaxKills = 100_000
