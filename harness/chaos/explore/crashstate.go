package explore

// The checks of one crash state.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/faultfs"
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

// crashNs is the latest time a crash state is known to come after: the
// time of the last operation it had issued.
func (x *explorer) crashNs(cs faultfs.CrashState) int64 {
	if cs.OpIndex <= 0 || cs.OpIndex > len(x.opTimes) {
		return x.markNs
	}
	return x.opTimes[cs.OpIndex-1]
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
	// A wrong key changes no byte, before anything else touches the state
	// (when the store promises to refuse one: Session.WrongKey).
	if wk := x.s.WrongKey(); wk != nil {
		before := fault.HashTree(cs.Dir)
		if s, err := x.s.OpenDir(ctx, cs.Dir, x.keyGen, wk); err == nil {
			_ = s.Close()
			x.violate("wrong-key-opened", where, "the store opened with a wrong key")
		}
		if changed := fault.ChangedFiles(before, fault.HashTree(cs.Dir)); len(changed) > 0 {
			x.violate("wrong-key-changed", where, "an open with a wrong key changed the files: %s", strings.Join(changed, ", "))
		}
	}
	var s target.Backend
	var err error
	for _, gen := range []int{x.keyGen, x.keyGen + 1} {
		s, err = x.s.OpenDir(ctx, cs.Dir, gen, x.s.Key(gen))
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
	d, err := digestOf(ctx, s)
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
// (a batch in process is one transaction), no ack acknowledged before the
// crash is undone, nothing appears that no enqueue made, and every op
// there has the payload it was enqueued with. The queue is read back with
// state, in process and through a target alike.
func (x *explorer) checkQueue(ctx context.Context, s target.Backend, cs faultfs.CrashState, where string) {
	st, err := s.State(ctx)
	if err != nil {
		x.violate("record-unreadable", where, "state: %v", err)
		return
	}
	pending := map[string]bool{}
	for _, op := range st.Pending {
		pending[op.ID] = true
		if !x.enqueued[op.ID] && !x.baseline[op.ID] {
			x.violate("unexpected", where, "op %s was never enqueued", op.ID)
		} else if sum, ok := x.payloads[op.ID]; ok && sum != payloadSum(op.Payload) {
			x.violate("payload-changed", where, "op %s reads back with another payload than it was enqueued with", op.ID)
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
