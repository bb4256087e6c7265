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
	"github.com/boxstorm/boxstorm/harness/history"
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
	for name := range fault.HashTree(r.p.storeDir) {
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
// producer of the workload that used idempotency keys, as the same client
// (without the worker's prefix): it first retries every enqueue whose
// outcome it never learned, with the same key, payload and subject, as a
// real client would, then enqueues a few more ops that repeat earlier keys
// (those acknowledged before the crash included) at the workload's
// idempotency rate. Only in-flight enqueues at event index from or later
// are retried, and the extra enqueues are made only when more is set (a
// repeated kill resumes the producers in the next worker instead). It
// returns each producer's next enqueue number.
func (r *chaosRun) resumeProducers(ctx context.Context, from int, more bool) map[string]int64 {
	w := r.p.sc.Workload
	if w.Idempotency == 0 || (w.Kind != scenarios.WorkloadEnqueue && w.Kind != scenarios.WorkloadMixed) {
		return nil
	}
	// A producer's n-th enqueue (from 0) carries the payload of marker
	// "<client>-<n>" (see enqueue); the history keeps each client's calls
	// in order.
	type retry struct {
		marker string
		in     history.OpInput
	}
	next := map[string]int64{}
	inflight := map[string][]retry{}
	for i, e := range r.hist.Events() {
		client, ok := strings.CutPrefix(e.Client, workerClient+"/")
		if !ok || e.Kind != history.KindEnqueue || !strings.HasPrefix(client, "producer-") {
			continue
		}
		marker := fmt.Sprintf("%s-%d", client, next[client])
		next[client]++
		if i < from || !e.Crashed() || e.In.IdempotencyKey == "" {
			continue
		}
		if e.In.PayloadHash != history.HashPayload(payloadFor(marker, w.ValueSize)) {
			r.note("resume %s: in-flight enqueue %s does not carry its marker's payload; not retried", client, marker)
			continue
		}
		inflight[client] = append(inflight[client], retry{marker, e.In})
	}
	clients := make([]string, 0, len(next))
	for c := range next {
		clients = append(clients, c)
	}
	slices.Sort(clients)
	extra := min(200, max(20, w.Ops/10))
	if !more {
		extra = 0
	}
	retried, enqueued := 0, 0
	for i, client := range clients {
		n := next[client]
		for _, rt := range inflight[client] {
			_ = r.enqueueCall(ctx, client, payloadFor(rt.marker, w.ValueSize), rt.in)
			retried++
		}
		rng := rand.New(rand.NewPCG(r.p.opts.Seed, uint64(3000+i)))
		for range extra {
			if ctx.Err() != nil {
				return next
			}
			r.enqueue(ctx, client, &n, rng)
			enqueued++
		}
	}
	if more {
		r.note("after the kill, %d producers resumed: %d in-flight enqueues retried with their keys, %d more enqueued", len(clients), retried, enqueued)
	}
	r.retried += retried
	return next
}

// relocate copies or moves a sealed record to another box or key, with the
// store closed, and records the damage it did to each file and the
// relocation.
func (r *chaosRun) relocate(ctx context.Context, p fault.PlannedFault, ev *history.Fault) error {
	f := p.Fault
	if err := r.sess.close(); err != nil {
		ev.Detail["close_err"] = err.Error()
	}
	rel, d, err := fault.RelocateRecord(r.p.storeDir, f, p.Seed)
	ev.Detail["relocation"] = rel
	ev.Detail["damage"] = d
	if err != nil {
		return err
	}
	at := r.hist.Now()
	r.eff.Damage = append(r.eff.Damage, check.Damage{Index: p.Index, Box: f.To, Type: string(f.Type), Mode: f.Mode, Offset: d.Offset, At: at})
	if f.Mode == scenarios.RelocateMove && f.To != f.Box {
		r.eff.Damage = append(r.eff.Damage, check.Damage{Index: p.Index, Box: f.Box, Type: string(f.Type), Mode: f.Mode, Offset: rel.Source, At: at})
	}
	r.eff.Relocations = append(r.eff.Relocations, check.Relocation{Index: p.Index, From: rel.From, To: rel.To, Key: rel.Key, NewKey: rel.NewKey, Mode: rel.Mode, At: at})
	if p.AtOp() {
		if err := r.sess.open(ctx, nil); err != nil {
			ev.Detail["reopen_err"] = err.Error()
			ev.Detail["reopen_class"] = ErrorClass(err)
		}
	}
	return nil
}
