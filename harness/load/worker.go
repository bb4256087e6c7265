package load

// The measuring loops: the open-loop pacer, the workers, and the collector
// that merges the workers' interval histograms.

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/boxstorm/boxstorm/reports"
)

// run is the state of one Engine.Run. All times are offsets from t0.
type run struct {
	e                *Engine
	clock            Clock
	logger           *slog.Logger
	workers          int
	interval         time.Duration
	progressInterval time.Duration

	t0        time.Time
	warm      time.Duration // start of the measured window
	end       time.Duration // end of the measured window; MaxInt64 when stopping by op count
	period    float64       // open loop: nanoseconds between intended starts
	pauses    []window
	pausesEnd time.Duration // end of the last pause; 0 without pauses
	lastK     int64         // index of the last interval of a timed run; -1 when stopping by op count

	cancel  context.CancelCauseFunc
	stop    atomic.Bool  // set once the run's context is done
	claimed atomic.Int64 // closed loop: measured ops claimed, for Engine.Ops
	failMu  sync.Mutex
	failErr error

	chunks chan chunk
	hists  sync.Pool // dense histograms cycling between workers and collector
	ws     []*worker
}

type window struct{ start, end time.Duration }

func newRun(e *Engine) *run {
	r := &run{
		e:                e,
		clock:            e.Clock,
		logger:           e.Logger,
		workers:          e.Workers,
		interval:         e.Interval,
		progressInterval: e.ProgressInterval,
		warm:             e.Warmup,
		end:              time.Duration(math.MaxInt64),
		lastK:            -1,
	}
	if r.clock == nil {
		r.clock = SystemClock{Spin: DefaultSpin}
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	if r.workers == 0 {
		r.workers = DefaultWorkers
	}
	if r.interval == 0 {
		r.interval = DefaultInterval
	}
	if r.progressInterval == 0 {
		r.progressInterval = DefaultProgressInterval
	}
	if e.Duration > 0 {
		r.end = e.Warmup + e.Duration
		r.lastK = int64((e.Duration - 1) / r.interval)
	}
	if e.Mode == OpenLoop {
		r.period = 1e9 / e.Rate
	}
	for _, p := range e.Pauses {
		w := window{start: e.Warmup + p.At, end: e.Warmup + p.At + p.For}
		r.pauses = append(r.pauses, w)
		r.pausesEnd = max(r.pausesEnd, w.end)
	}
	r.hists.New = func() any { return NewHistogram() }
	return r
}

func (r *run) now() time.Duration { return r.clock.Now().Sub(r.t0) }

func (r *run) getHist() *hdrhistogram.Histogram { return r.hists.Get().(*hdrhistogram.Histogram) }

// fail stops the run with err; the first error wins.
func (r *run) fail(err error) {
	r.failMu.Lock()
	if r.failErr == nil {
		r.failErr = err
	}
	r.failMu.Unlock()
	r.cancel(err)
}

func (r *run) failure() error {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	return r.failErr
}

func (r *run) run(parent context.Context) (*LoadResult, error) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	r.cancel = cancel
	r.chunks = make(chan chunk, 4*r.workers)
	col := &collector{r: r, ops: map[string]*opAcc{}, maxK: -1}
	collected := make(chan struct{})
	go func() {
		col.run(r.chunks)
		close(collected)
	}()

	r.ws = make([]*worker, r.workers)
	for i := range r.ws {
		r.ws[i] = &worker{
			r:   r,
			id:  i,
			rng: rand.New(rand.NewPCG(r.e.Seed, uint64(i))),
		}
	}
	r.t0 = r.clock.Now()
	for _, w := range r.ws {
		w.next = r.warm + r.interval
	}

	finished := make(chan struct{})
	var helpers sync.WaitGroup
	helpers.Go(func() {
		select {
		case <-ctx.Done():
			r.stop.Store(true)
		case <-finished:
		}
	})
	if r.e.Progress != nil {
		helpers.Go(func() { r.reportProgress(finished) })
	}

	var wg sync.WaitGroup
	if r.e.Mode == OpenLoop {
		// A buffer of one slot per worker lets a backlog (after a stall)
		// drain in parallel instead of through one hand-off at a time.
		slots := make(chan time.Duration, r.workers)
		for _, w := range r.ws {
			wg.Go(func() { w.open(ctx, slots) })
		}
		r.pace(ctx, slots)
	} else {
		for _, w := range r.ws {
			wg.Go(func() { w.closed(ctx) })
		}
	}
	wg.Wait()
	close(finished)
	helpers.Wait()
	close(r.chunks)
	<-collected

	res := r.result(col)
	if r.e.Progress != nil {
		p := r.snapshot()
		p.Final = true
		r.e.Progress(p)
	}
	if err := r.failure(); err != nil {
		return res, err
	}
	if err := parent.Err(); err != nil {
		return res, fmt.Errorf("load run interrupted %v into the measured window: %w", res.Elapsed, err)
	}
	return res, nil
}

// pace is the open loop's dispatcher. Slot i is intended to start at
// i×period; pace sleeps until that time and hands the slot to whichever
// worker is free. When all are busy it blocks, and the slots that fall due
// meanwhile are handed out late but keep their intended times: none is
// skipped or re-timed, so latency measured from the intended start stays
// exact, and a stall shows in full in the corrected histogram however few
// workers there are. (Per-worker schedules, slot i to worker i mod N, would
// also be exact but queue ops behind one slow op while other workers idle,
// and would spin one goroutine per worker near each deadline.)
func (r *run) pace(ctx context.Context, slots chan<- time.Duration) {
	defer close(slots)
	var measured int64
	for i := int64(0); ; i++ {
		off := r.slot(i)
		if off >= r.end {
			return
		}
		if off >= r.warm {
			measured++
			if r.e.Ops > 0 && measured > r.e.Ops {
				return
			}
		}
		if err := r.clock.SleepUntil(ctx, r.t0.Add(off)); err != nil {
			return
		}
		select {
		case slots <- off:
		case <-ctx.Done():
			return
		}
	}
}

// slot returns slot i's intended start.
func (r *run) slot(i int64) time.Duration {
	return time.Duration(float64(i) * r.period)
}

// slotsBefore returns how many slots are intended to start before off.
func (r *run) slotsBefore(off time.Duration) int64 {
	n := int64(math.Ceil(float64(off) / r.period))
	for n > 0 && r.slot(n-1) >= off {
		n--
	}
	for r.slot(n) < off {
		n++
	}
	return n
}

// gate holds an op that starts inside a pause until the pause ends.
func (r *run) gate(ctx context.Context, at time.Duration) error {
	for {
		held := false
		for _, p := range r.pauses {
			if at >= p.start && at < p.end {
				if err := r.clock.SleepUntil(ctx, r.t0.Add(p.end)); err != nil {
					return err
				}
				at, held = r.now(), true
				break
			}
		}
		if !held {
			return nil
		}
	}
}

// worker measures ops. Its histograms and counters are its own; at each
// interval boundary it hands them to the collector and takes fresh ones.
type worker struct {
	r    *run
	id   int
	rng  *rand.Rand
	ops  []*opRec
	k    int64         // interval being recorded
	next time.Duration // end of interval k
	last time.Duration // latest completion recorded
	n    int64         // measured ops completed

	done atomic.Int64 // n, published for progress reports
	_    [64]byte     // keep workers' hot fields on separate cache lines
}

// opRec is one op's measurements by one worker during one interval.
type opRec struct {
	name                         string
	corr, unc                    *hdrhistogram.Histogram
	count, errors, late, clamped int64
	firstErr                     error
}

// chunk is what a worker hands over at an interval boundary.
type chunk struct {
	k   int64
	ops []opRec
}

func (w *worker) open(ctx context.Context, slots <-chan time.Duration) {
	defer w.flush()
	for intended := range slots {
		if w.r.stop.Load() {
			return
		}
		w.exec(ctx, intended, w.r.now(), intended >= w.r.warm)
	}
}

func (w *worker) closed(ctx context.Context) {
	defer w.flush()
	r := w.r
	for !r.stop.Load() {
		start := r.now()
		if start >= r.end {
			return
		}
		measured := start >= r.warm
		if measured && r.e.Ops > 0 && r.claimed.Add(1) > r.e.Ops {
			return
		}
		w.exec(ctx, start, start, measured)
	}
}

// exec performs one op intended to start at intended and actually started
// at actual.
func (w *worker) exec(ctx context.Context, intended, actual time.Duration, measured bool) {
	r := w.r
	op := r.e.Workload.Next(w.id, w.rng)
	if actual < r.pausesEnd {
		if err := r.gate(ctx, actual); err != nil {
			return // cancelled while paused: the op never ran
		}
	}
	err := callOp(ctx, op)
	done := r.now()
	if measured {
		w.record(op.Name, intended, actual, done, err)
	}
}

// callOp calls op.Do, turning a panic into an error.
func callOp(ctx context.Context, op Op) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: op %q: %v\n%s", ErrOpPanicked, op.Name, p, debug.Stack())
		}
	}()
	return op.Do(ctx)
}

func (w *worker) record(name string, intended, actual, done time.Duration, err error) {
	if done >= w.next {
		w.rotate(done)
	}
	rec := w.lookup(name)
	if rec == nil {
		return
	}
	if RecordClamped(rec.corr, done-intended)+RecordClamped(rec.unc, done-actual) > 0 {
		rec.clamped++
	}
	rec.count++
	if err != nil {
		rec.errors++
		if rec.firstErr == nil {
			rec.firstErr = err
		}
	}
	if actual-intended > w.r.e.LateTolerance {
		rec.late++
	}
	w.last = max(w.last, done)
	w.n++
	w.done.Store(w.n)
}

func (w *worker) lookup(name string) *opRec {
	for _, rec := range w.ops {
		if rec.name == name {
			return rec
		}
	}
	if err := reports.ValidateOpName(name); err != nil {
		w.r.fail(fmt.Errorf("%w: %w", ErrInvalidOp, err))
		return nil
	}
	rec := &opRec{name: name, corr: w.r.getHist(), unc: w.r.getHist()}
	w.ops = append(w.ops, rec)
	return rec
}

// rotate hands over the current interval and moves to the one holding done.
// In a timed run, ops that return after the measured window ends belong to
// its last interval, which stretches to hold them; otherwise a sliver of an
// interval would show a meaningless throughput.
func (w *worker) rotate(done time.Duration) {
	w.flush()
	w.k = int64((done - w.r.warm) / w.r.interval)
	w.next = w.r.warm + time.Duration(w.k+1)*w.r.interval
	if last := w.r.lastK; last >= 0 && w.k >= last {
		w.k, w.next = last, time.Duration(math.MaxInt64)
	}
}

func (w *worker) flush() {
	c := chunk{k: w.k}
	for _, rec := range w.ops {
		if rec.count == 0 {
			continue
		}
		c.ops = append(c.ops, *rec)
		*rec = opRec{name: rec.name, corr: w.r.getHist(), unc: w.r.getHist()}
	}
	if len(c.ops) > 0 {
		w.r.chunks <- c
	}
}

// collector merges the workers' chunks into interval histograms and per-op
// totals. It runs in its own goroutine and owns everything it holds.
type collector struct {
	r    *run
	ops  map[string]*opAcc
	maxK int64
}

type opAcc struct {
	corr, unc             *hdrhistogram.Histogram
	ivs                   []*ivAcc // by interval index
	errors, late, clamped int64
	loggedErr             bool
}

type ivAcc struct {
	corr, unc *hdrhistogram.PackedHistogram
}

func newPacked() *hdrhistogram.PackedHistogram {
	return hdrhistogram.NewPacked(HistogramLowest, HistogramHighest, HistogramSigFigs)
}

func (c *collector) run(in <-chan chunk) {
	for ch := range in {
		for i := range ch.ops {
			c.add(ch.k, &ch.ops[i])
		}
	}
}

func (c *collector) add(k int64, o *opRec) {
	acc := c.ops[o.name]
	if acc == nil {
		acc = &opAcc{corr: NewHistogram(), unc: NewHistogram()}
		c.ops[o.name] = acc
	}
	for int64(len(acc.ivs)) <= k {
		acc.ivs = append(acc.ivs, nil)
	}
	iv := acc.ivs[k]
	if iv == nil {
		iv = &ivAcc{corr: newPacked(), unc: newPacked()}
		acc.ivs[k] = iv
	}
	dropped := iv.corr.MergeFrom(o.corr) + iv.unc.MergeFrom(o.unc) + acc.corr.Merge(o.corr) + acc.unc.Merge(o.unc)
	if dropped != 0 {
		c.r.fail(fmt.Errorf("%w: op %q, interval %d: %d values lost: every histogram must come from NewHistogram", reports.ErrMergeDropped, o.name, k, dropped))
	}
	acc.errors += o.errors
	acc.late += o.late
	acc.clamped += o.clamped
	if o.firstErr != nil && !acc.loggedErr {
		acc.loggedErr = true
		c.r.logger.Warn("load op failed; further errors of this op are counted, not logged", "op", o.name, "err", o.firstErr)
	}
	c.maxK = max(c.maxK, k)
	o.corr.Reset()
	o.unc.Reset()
	c.r.hists.Put(o.corr)
	c.r.hists.Put(o.unc)
}

func (r *run) snapshot() Progress {
	p := Progress{Elapsed: r.now() - r.warm, Duration: r.e.Duration, Total: r.e.Ops}
	if r.e.Mode == OpenLoop && r.e.Duration > 0 {
		n := r.slotsBefore(r.end) - r.slotsBefore(r.warm)
		if p.Total == 0 || n < p.Total {
			p.Total = n
		}
	}
	for _, w := range r.ws {
		p.Done += w.done.Load()
	}
	return p
}

func (r *run) reportProgress(finished <-chan struct{}) {
	t := time.NewTicker(r.progressInterval)
	defer t.Stop()
	for {
		select {
		case <-finished:
			return
		case <-t.C:
			r.e.Progress(r.snapshot())
		}
	}
}
