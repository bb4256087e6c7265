package chaos

// What the runner does around restarts and with records that moved: the
// caller's clock readings for lock-takeover, producers that resume after a
// kill and retry with the same idempotency keys, a wrong-key open against
// what a killed procedure left pending, and relocated records.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/opname"
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

// clockReading is the reading of a processor's clock a lock call carries
// (the store's clock, the system clock, when c is nil), in Unix ns: taken
// before the call, so the store's own reading is at most the call's
// duration later.
func clockReading(c store.Clock) int64 {
	if c == nil {
		return time.Now().UnixNano()
	}
	return c.Now().UnixNano()
}

// beforeReopen runs, before the store is reopened after a killed worker, a
// wrong-key open that is the next step: it must meet the swap journal or
// staging the kill left pending, which the reopen would finish.
func (r *chaosRun) beforeReopen(ctx context.Context, rest []fault.PlannedFault) []fault.PlannedFault {
	if !r.killed || len(rest) == 0 || rest[0].Type != scenarios.FaultWrongKey || rest[0].Fault.During != scenarios.DuringOpen {
		return rest
	}
	var pending []string
	for name := range fault.HashTree(r.storeDir) {
		if strings.HasPrefix(name, "swap-journal") || strings.HasPrefix(name, ".") {
			pending = append(pending, name)
		}
	}
	sort.Strings(pending)
	if len(pending) == 0 {
		r.note("wrong-key after the kill: no swap journal or staging was pending")
	} else {
		r.note("wrong-key after the kill, with pending: %s", strings.Join(pending, ", "))
	}
	r.applyFault(ctx, rest[0])
	return rest[1:]
}

// resumeProducers resumes, after a killed worker and the reopen, each
// producer of the workload that used idempotency keys, as the same client:
// it first retries every enqueue whose outcome it never learned, with the
// same key and payload, as a real client would, then enqueues a few more
// ops that repeat earlier keys (those acknowledged before the crash
// included) at the workload's idempotency rate.
func (r *chaosRun) resumeProducers(ctx context.Context) {
	w := r.sc.Workload
	if w.Idempotency == 0 || (w.Kind != scenarios.WorkloadEnqueue && w.Kind != scenarios.WorkloadMixed) {
		return
	}
	ops, _ := r.rec.snapshot()
	next := map[string]int64{}
	inflight := map[string][]*ChaosOp{}
	for _, o := range ops {
		if o.Op != opname.Enqueue || !strings.HasPrefix(o.Client, "producer-") {
			continue
		}
		next[o.Client] = max(next[o.Client], o.N+1)
		if !o.Returned() && o.Key != "" {
			inflight[o.Client] = append(inflight[o.Client], o)
		}
	}
	clients := make([]string, 0, len(next))
	for c := range next {
		clients = append(clients, c)
	}
	slices.Sort(clients)
	more := min(200, max(20, w.Ops/10))
	retried, enqueued := 0, 0
	for i, client := range clients {
		n := next[client]
		for _, o := range inflight[client] {
			rec := &ChaosOp{Client: client, N: n, Op: opname.Enqueue, Marker: o.Marker, Subject: o.Subject, Key: o.Key}
			n++
			r.rec.begin(rec)
			var op store.Op
			s, err := r.queue()
			if err == nil {
				op, err = s.Enqueue(ctx, payloadFor(o.Marker, w.ValueSize), store.EnqueueOptions{IdempotencyKey: o.Key, Subject: o.Subject})
			}
			if err == nil {
				rec.ID, rec.Seq, rec.Dup = op.ID, op.Seq, op.Duplicate
			}
			r.rec.end(rec, err)
			retried++
		}
		rng := rand.New(rand.NewPCG(r.opts.Seed, uint64(3000+i)))
		for range more {
			if ctx.Err() != nil {
				return
			}
			r.enqueue(ctx, client, &n, rng)
			enqueued++
		}
	}
	r.note("after the kill, %d producers resumed: %d in-flight enqueues retried with their keys, %d more enqueued", len(clients), retried, enqueued)
}

// relocate copies or moves a sealed record to another box or key, with the
// store closed, and records the damage it did to each file.
func (r *chaosRun) relocate(ctx context.Context, p fault.PlannedFault, ev *FaultEvent) error {
	f := p.Fault
	if err := r.close(); err != nil {
		ev.Detail["close_err"] = err.Error()
	}
	rel, d, err := fault.RelocateRecord(r.storeDir, f, p.Seed)
	ev.Detail["relocation"] = rel
	ev.Detail["damage"] = d
	if err != nil {
		return err
	}
	at := r.rec.now()
	r.damage = append(r.damage, damageRecord{Index: p.Index, Box: f.To, Kind: f.Type, Mode: f.Mode, Damage: d, At: at})
	if f.Mode == scenarios.RelocateMove && f.To != f.Box {
		r.damage = append(r.damage, damageRecord{Index: p.Index, Box: f.Box, Kind: f.Type, Mode: f.Mode,
			Damage: fault.Damage{Box: f.Box, File: f.Box + ".db", Offset: rel.Source}, At: at})
	}
	r.relocations = append(r.relocations, rel)
	if p.AtOp() {
		if err := r.open(ctx, nil); err != nil {
			ev.Detail["reopen_err"] = err.Error()
			ev.Detail["reopen_class"] = ErrorClass(err)
		}
	}
	return nil
}

// checkRelocations: no relocated record was served under its new key: no
// claim returned it and no final state lists it.
func (r *chaosRun) checkRelocations(fs *finalState) []check.Violation {
	var vs []check.Violation
	ops, _ := r.rec.snapshot()
	for _, rel := range r.relocations {
		if !strings.HasPrefix(rel.NewKey, "op/") {
			continue
		}
		id := strings.TrimPrefix(rel.NewKey, "op/")
		served := ""
		for _, o := range ops {
			if o.Op == opname.Claim && o.OK() && o.ID == id && (rel.To == store.BoxPending || rel.NewKey != rel.Key) {
				served = fmt.Sprintf("claim by %s returned it", o.Client)
				break
			}
		}
		if fs.err == nil && served == "" {
			switch rel.To {
			case store.BoxPending:
				if rel.NewKey != rel.Key && slices.ContainsFunc(fs.pending, func(op store.Op) bool { return op.ID == id }) {
					served = "the final state lists it as pending"
				}
			case store.BoxFailed:
				if slices.ContainsFunc(fs.failed, func(op store.Op) bool { return op.ID == id }) {
					served = "the final state lists it as failed"
				}
			}
		}
		if served != "" {
			vs = append(vs, check.Violation{Kind: "relocated-served", Severity: check.SeverityViolation, OpID: id,
				Message: fmt.Sprintf("the record %s of %s, put under %s in %s, was served: %s", rel.Key, rel.From, rel.NewKey, rel.To, served)})
		}
	}
	return vs
}
