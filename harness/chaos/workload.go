package chaos

// The chaos workload: producers and processors driving the store while an
// op gate stops them at each op position to inject that position's faults.
// Every store call goes through the recorder.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/chaos/proc"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

// plaintextPrefix starts every payload the harness enqueues, so that the
// no-plaintext check can look for it in files and backups.
const plaintextPrefix = "BXSTORM-PLAINTEXT:"

// payloadFor returns the payload of the op with the given marker: the
// prefix, the marker, then filler derived from the marker, size bytes in
// all. The no-unexpected check regenerates it to compare what it reads.
func payloadFor(marker string, size int) []byte {
	b := make([]byte, 0, max(size, len(plaintextPrefix)+len(marker)+1))
	b = append(b, plaintextPrefix...)
	b = append(b, marker...)
	b = append(b, ':')
	h := fnv.New64a()
	_, _ = h.Write([]byte(marker))
	rng := rand.New(rand.NewPCG(h.Sum64(), 7))
	const hex = "0123456789abcdef"
	for len(b) < size {
		b = append(b, hex[rng.UintN(16)])
	}
	return b[:size]
}

func subjectFor(marker string, subjects int) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(marker))
	return fmt.Sprintf("subject-%d", h.Sum32()%uint32(max(subjects, 1)))
}

// skewClock is one processor's clock: the system clock plus an offset a
// clock-skew fault sets.
type skewClock struct{ off atomic.Int64 }

func (c *skewClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// controls are what faults turn in a running workload: each goroutine
// processor's clock and stall request, and the handler failure rate.
type controls struct {
	clocks   []*skewClock
	stallReq []atomic.Int64 // per processor: the stall requested, in ns
	stalls   atomic.Int32   // stalls requested and not yet served
	failRate atomic.Uint64  // the handler failure rate times 1e9 (a rate of 0.25 is 250_000_000)
}

func newControls(processors int) *controls {
	c := &controls{clocks: make([]*skewClock, processors), stallReq: make([]atomic.Int64, processors)}
	for i := range c.clocks {
		c.clocks[i] = &skewClock{}
	}
	return c
}

// requestStall asks processor p to stall for d at its next claim.
func (c *controls) requestStall(p int, d time.Duration) {
	c.stalls.Add(1)
	if c.stallReq[p].Swap(int64(d)) > 0 {
		c.stalls.Add(-1)
	}
}

func (c *controls) setFailRate(rate float64) { c.failRate.Store(uint64(rate * 1e9)) }

func (c *controls) handlerFailRate() float64 { return float64(c.failRate.Load()) / 1e9 }

// workers is the shared state of one workload run.
type workers struct {
	r             *chaosRun
	gate          *fault.Gate
	producersDone atomic.Bool
	stalls        atomic.Int32
	lastProgress  atomic.Int64 // unix ns of the last successful claim
	start         time.Time    // when the producers started, for workload.rate
}

func (r *chaosRun) runWorkload(ctx context.Context, opFaults []fault.PlannedFault) error {
	w := r.p.sc.Workload
	ws := &workers{r: r}
	if w.Kind == scenarios.WorkloadClaim {
		// Index faults before the first claim land in the middle of the
		// prefilled queue, so that claims must get past them in order.
		var early, rest []fault.PlannedFault
		for _, p := range opFaults {
			if p.Op == 0 && (p.Type == scenarios.FaultCorruptIndex || p.Type == scenarios.FaultMalformedTimestamps) {
				early = append(early, p)
			} else {
				rest = append(rest, p)
			}
		}
		half := w.Ops
		if len(early) > 0 {
			half = w.Ops / 2
		}
		if err := r.prefill(ctx, 0, half); err != nil {
			return err
		}
		for _, p := range early {
			r.applyFault(ctx, p)
		}
		if err := r.prefill(ctx, half, w.Ops); err != nil {
			return err
		}
		opFaults = rest
	}
	ws.gate = fault.NewGate(w.Ops, opFaults, func(p fault.PlannedFault) { r.applyFault(ctx, p) })
	if w.Kind == scenarios.WorkloadNone {
		ws.gate.Finish()
		return nil
	}
	ws.lastProgress.Store(time.Now().UnixNano())
	ws.start = time.Now()
	var prod, proc sync.WaitGroup
	if w.Kind == scenarios.WorkloadEnqueue || w.Kind == scenarios.WorkloadMixed {
		for i := range w.Producers {
			prod.Go(func() { ws.producer(ctx, i) })
		}
	}
	var procs *procSet
	if w.Kind != scenarios.WorkloadEnqueue {
		for i := range w.Processors {
			proc.Go(func() { ws.processor(ctx, i) })
		}
		procs = r.startProcs(ctx, ws)
	}
	prod.Wait()
	ws.producersDone.Store(true)
	proc.Wait()
	if procs != nil {
		procs.wait()
	}
	ws.gate.Finish()
	return ctx.Err()
}

// prefill fills the queue for a claim workload, untimed, and records the
// enqueues so the checks know them.
func (r *chaosRun) prefill(ctx context.Context, from, to int64) error {
	const chunk = 500
	s, err := r.sess.current()
	if err != nil {
		return fmt.Errorf("prefill: %w", err)
	}
	client := r.client("prefill")
	for i := from; i < to; i += chunk {
		m := min(chunk, to-i)
		payloads := make([][]byte, m)
		calls := make([]int, m)
		for j := range m {
			payloads[j] = payloadFor(fmt.Sprintf("prefill-%d", i+j), r.p.sc.Workload.ValueSize)
			calls[j] = r.hist.Call(client, history.KindEnqueue, "", history.OpInput{PayloadHash: history.HashPayload(payloads[j])})
		}
		ops, err := s.EnqueueBatch(ctx, payloads)
		for j, c := range calls {
			var out history.OpOutput
			if err == nil {
				out = history.OpOutput{OpID: ops[j].ID, Seq: ops[j].Seq}
			}
			r.hist.Return(c, result(out, err))
		}
		if err != nil {
			return fmt.Errorf("prefill: %w", err)
		}
	}
	return nil
}

func (ws *workers) producer(ctx context.Context, i int) {
	r := ws.r
	client := fmt.Sprintf("producer-%d", i)
	rng := rand.New(rand.NewPCG(r.p.opts.Seed, uint64(i)+uint64(r.segment)<<32))
	n := r.resume[client]
	for ctx.Err() == nil {
		k, ok := ws.gate.Begin(true)
		if !ok {
			return
		}
		ws.pace(ctx, k)
		r.enqueue(ctx, client, &n, rng)
		ws.gate.End()
	}
}

// pace holds op number k of an open-loop workload (workload.rate) until its
// arrival time, k/rate after the producers started, so that a run spans
// the wall time its rate says: a power loss under sync interval must come
// several intervals in for the interval's promise to be tested.
func (ws *workers) pace(ctx context.Context, k int64) {
	rate := ws.r.p.sc.Workload.Rate
	if rate <= 0 {
		return
	}
	at := ws.start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
	sleepCtx(ctx, time.Until(at))
}

// enqueue makes client's n-th enqueue (counting its enqueues from 0), with
// a payload and subject derived from client and n, and an idempotency key
// that repeats an earlier one of the client's at the workload's rate.
func (r *chaosRun) enqueue(ctx context.Context, client string, n *int64, rng *rand.Rand) {
	w := r.p.sc.Workload
	marker := fmt.Sprintf("%s-%d", client, *n)
	payload := payloadFor(marker, w.ValueSize)
	in := history.OpInput{PayloadHash: history.HashPayload(payload), Subject: subjectFor(marker, w.Subjects)}
	if w.Idempotency > 0 && rng != nil {
		k := *n
		if *n > 0 && rng.Float64() < w.Idempotency {
			k = rng.Int64N(*n)
		}
		in.IdempotencyKey = fmt.Sprintf("idem-%s-%d", client, k)
	}
	*n++
	_ = r.enqueueCall(ctx, client, payload, in)
}

// enqueueCall records one enqueue of payload by client, with the
// idempotency key and subject of in (whose PayloadHash is payload's).
func (r *chaosRun) enqueueCall(ctx context.Context, client string, payload []byte, in history.OpInput) error {
	return record(r.hist, r.client(client), history.KindEnqueue, in, func() (history.OpOutput, error) {
		s, err := r.queue()
		if err != nil {
			return history.OpOutput{}, err
		}
		op, err := s.Enqueue(ctx, payload, store.EnqueueOptions{IdempotencyKey: in.IdempotencyKey, Subject: in.Subject})
		return history.OpOutput{OpID: op.ID, Seq: op.Seq, Duplicate: op.Duplicate}, err
	})
}

// queueStore is the part of the store a processor calls (proc.Queue).
type queueStore = proc.Queue

// queue returns what the run's processors call: the remote store in a
// processor process, the open store otherwise.
func (r *chaosRun) queue() (queueStore, error) {
	if r.remote != nil {
		return r.remote, nil
	}
	s, err := r.sess.current()
	if err != nil {
		return nil, err
	}
	return s, nil
}

// call records one queue or lock call of client: a claim records the op
// it returned.
func (r *chaosRun) call(client string, kind history.OpKind, in history.OpInput, do func(s queueStore) (store.Op, error)) (store.Op, error) {
	var op store.Op
	err := record(r.hist, r.client(client), kind, in, func() (history.OpOutput, error) {
		s, err := r.queue()
		if err != nil {
			return history.OpOutput{}, err
		}
		op, err = do(s)
		if err != nil || kind != history.KindClaim {
			return history.OpOutput{}, err
		}
		out := history.OpOutput{OpID: op.ID, Seq: op.Seq, Subject: op.Subject}
		if op.Payload != nil {
			out.PayloadHash = history.HashPayload(op.Payload)
		}
		return out, nil
	})
	return op, err
}

// acquire records one AcquireLock call of client, with the caller's clock
// reading it carried and the token it returned.
func (r *chaosRun) acquire(ctx context.Context, client string, req store.LockRequest) (store.Lease, error) {
	var lease store.Lease
	err := record(r.hist, r.client(client), history.KindAcquire, history.OpInput{Owner: req.Owner, Clock: clockReading(req.Clock)}, func() (history.OpOutput, error) {
		s, err := r.queue()
		if err != nil {
			return history.OpOutput{}, err
		}
		lease, err = s.AcquireLock(ctx, req)
		return history.OpOutput{Token: lease.Token}, err
	})
	return lease, err
}

// procEnv is what one processor loop needs from the workload around it:
// the op gate, when to stop, its stalls and the handler failure rate.
// Processor goroutines use the workload's state directly (localProc); a
// processor process asks the harness over the run's socket (proc.Client).
type procEnv interface {
	// begin waits for the op gate and takes a ticket, counted or not;
	// false means the run is over. end gives the ticket back.
	begin(counted bool) bool
	end()
	// done reports that producers are done and no stall is pending; idle
	// that, and that nothing was claimed for a while.
	done() bool
	idle() bool
	// progress notes a successful claim.
	progress()
	failRate() float64
	// stallPending reports a stall requested for this processor; stall
	// serves it; dropStall cancels it when the processor stops.
	stallPending() bool
	stall(ctx context.Context)
	dropStall()
	// yield reports a stall requested for another processor, which waits
	// for the lock to serve it: the holder hands the lock over at once.
	yield() bool
}

// localProc is the procEnv of processor goroutine p.
type localProc struct {
	ws *workers
	p  int
}

func (l localProc) begin(counted bool) bool {
	_, ok := l.ws.gate.Begin(counted)
	return ok
}
func (l localProc) end()               { l.ws.gate.End() }
func (l localProc) done() bool         { return l.ws.done() }
func (l localProc) idle() bool         { return l.ws.idle() }
func (l localProc) progress()          { l.ws.lastProgress.Store(time.Now().UnixNano()) }
func (l localProc) failRate() float64  { return l.ws.r.ctl.handlerFailRate() }
func (l localProc) stallPending() bool { return l.ws.r.ctl.stallReq[l.p].Load() > 0 }
func (l localProc) stall(ctx context.Context) {
	l.ws.stall(ctx, l.p)
}
func (l localProc) yield() bool { return l.ws.stallWaiting(l.p) }
func (l localProc) dropStall() {
	if l.ws.r.ctl.stallReq[l.p].Swap(0) > 0 {
		l.ws.r.ctl.stalls.Add(-1)
	}
}

// stallWaiting reports a stall requested for a processor other than p
// (every processor when p is -1) and not yet served.
func (ws *workers) stallWaiting(p int) bool {
	for i := range ws.r.ctl.stallReq {
		if i != p && ws.r.ctl.stallReq[i].Load() > 0 {
			return true
		}
	}
	return false
}

// done reports that the processors may stop: claim and cycle workloads
// have no producers, so they are done from the start and stop at their op
// count or an empty queue.
func (ws *workers) done() bool {
	return ws.producersDone.Load() && ws.r.ctl.stalls.Load() == 0
}

// idle reports that processors may stop: producers are done, no stall is
// pending and nothing was claimed for a while.
func (ws *workers) idle() bool {
	return ws.done() && time.Since(time.Unix(0, ws.lastProgress.Load())) > 300*time.Millisecond
}

func (ws *workers) processor(ctx context.Context, p int) {
	r := ws.r
	client := fmt.Sprintf("processor-%d", p)
	rng := rand.New(rand.NewPCG(r.p.opts.Seed, uint64(1000+p)))
	r.processorLoop(ctx, localProc{ws: ws, p: p}, client, r.ctl.clocks[p], rng)
}

// processorLoop is one processor, a goroutine of the harness or a
// processor process: it acquires the lock with its own clock, claims, acks
// or fails with its fencing token, heartbeats every 10 claims and hands
// the lock over every 50, until env says the run is over. While a stall
// waits for another processor, it hands the lock over after each claim
// and whenever the queue is empty, so that the stall happens soon, while
// the stalled processor holds the lock, whatever the number of
// processors.
func (r *chaosRun) processorLoop(ctx context.Context, env procEnv, client string, clock store.Clock, rng *rand.Rand) {
	kind := r.p.sc.Workload.Kind
	var n int64 // enqueues made, for cycle workloads
	var token uint64
	claims, refused := 0, 0
	defer func() {
		env.dropStall()
		if token != 0 {
			_, _ = r.call(client, history.KindRelease, history.OpInput{Token: token}, func(s queueStore) (store.Op, error) {
				return store.Op{}, s.ReleaseLock(ctx, token)
			})
		}
	}()
	for ctx.Err() == nil {
		if token == 0 {
			if !env.begin(false) {
				return
			}
			lease, err := r.acquire(ctx, client, store.LockRequest{Owner: client, Clock: clock})
			env.end()
			if err != nil {
				if env.idle() {
					return
				}
				// The lock is held: try again soon, but not so often
				// that failed acquires swamp the history, whatever the
				// number of processors: 2ms, doubling to 16ms, jittered.
				refused++
				sleepCtx(ctx, acquireBackoff(refused, rng))
				continue
			}
			token, refused = lease.Token, 0
		}
		counted := kind == scenarios.WorkloadClaim || kind == scenarios.WorkloadCycle
		if !env.begin(counted) {
			return
		}
		if kind == scenarios.WorkloadCycle {
			r.enqueue(ctx, client, &n, rng)
		}
		op, err := r.call(client, history.KindClaim, history.OpInput{Token: token}, func(s queueStore) (store.Op, error) { return s.Claim(ctx, token) })
		env.end()
		if err != nil {
			switch {
			case errors.Is(err, store.ErrStaleToken):
				token = 0
			case errors.Is(err, store.ErrEmpty) && env.yield():
				if !env.begin(false) {
					return
				}
				_, _ = r.call(client, history.KindRelease, history.OpInput{Token: token}, func(s queueStore) (store.Op, error) {
					return store.Op{}, s.ReleaseLock(ctx, token)
				})
				token = 0
				env.end()
				sleepCtx(ctx, maxAcquireBackoff)
			case errors.Is(err, store.ErrEmpty) && env.stallPending():
				env.stall(ctx)
			case env.done() && (errors.Is(err, store.ErrEmpty) || env.idle()):
				return
			default:
				sleepCtx(ctx, 500*time.Microsecond)
			}
			continue
		}
		env.progress()
		if env.stallPending() {
			env.stall(ctx)
		}
		if !env.begin(false) {
			return
		}
		if rate := env.failRate(); rate > 0 && rng.Float64() < rate {
			_, err = r.call(client, history.KindFail, history.OpInput{Token: token, OpID: op.ID}, func(s queueStore) (store.Op, error) {
				return s.Fail(ctx, token, op.ID, "chaos: injected handler failure")
			})
		} else {
			_, err = r.call(client, history.KindAck, history.OpInput{Token: token, OpID: op.ID}, func(s queueStore) (store.Op, error) {
				return store.Op{}, s.Ack(ctx, token, op.ID)
			})
		}
		claims++
		if err == nil && claims%10 == 0 {
			_, err = r.call(client, history.KindHeartbeat, history.OpInput{Token: token, Clock: clockReading(clock)}, func(s queueStore) (store.Op, error) {
				return store.Op{}, s.Heartbeat(ctx, token, clock)
			})
		}
		yield := env.yield()
		handOver := err == nil && (claims%50 == 0 || yield)
		if handOver { // so every processor holds the lock and skewed clocks meet
			old := token
			_, err = r.call(client, history.KindRelease, history.OpInput{Token: old}, func(s queueStore) (store.Op, error) {
				return store.Op{}, s.ReleaseLock(ctx, old)
			})
			if err == nil && r.p.judgesFencing() { // a late heartbeat, as from a timer not yet stopped: stale-token
				_, _ = r.call(client, history.KindHeartbeat, history.OpInput{Token: old, Clock: clockReading(clock)}, func(s queueStore) (store.Op, error) {
					return store.Op{}, s.Heartbeat(ctx, old, clock)
				})
			}
			token = 0
		}
		env.end()
		if errors.Is(err, store.ErrStaleToken) {
			token = 0
		}
		switch {
		case yield && token == 0:
			// Give the processor that waits a chance at the lock.
			sleepCtx(ctx, maxAcquireBackoff)
		case handOver && r.p.sc.Workload.Processors+r.p.sc.Workload.Processes > 1:
			sleepCtx(ctx, handOverPause) // or the releaser takes the lock straight back
		}
	}
}

// maxAcquireBackoff is the longest wait after a refused acquire.
const maxAcquireBackoff = 16 * time.Millisecond

// handOverPause is how long a processor that handed the lock over waits
// before it asks again: past the longest jittered backoff (1.25 ×
// maxAcquireBackoff), so a waiting processor asks first.
const handOverPause = maxAcquireBackoff * 3 / 2

// acquireBackoff is the wait after the n-th refused acquire in a row.
func acquireBackoff(n int, rng *rand.Rand) time.Duration {
	d := min(2*time.Millisecond<<min(n-1, 3), maxAcquireBackoff)
	return d - d/4 + time.Duration(rng.Int64N(int64(d/2)))
}

// stall pauses processor p, heartbeats included, as a GC pause or a
// stopped VM would, while it holds its lease and maybe a claim.
func (ws *workers) stall(ctx context.Context, p int) {
	d := ws.r.ctl.stallReq[p].Swap(0)
	if d <= 0 {
		return
	}
	sleepCtx(ctx, time.Duration(d))
	ws.r.ctl.stalls.Add(-1)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
