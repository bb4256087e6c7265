package load

import (
	"context"
	"errors"
	"fmt"
	"github.com/boxstorm/boxstorm/opname"
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/boxstorm/boxstorm/store"
)

// Store workload names, as loadgen's --workload takes them.
const (
	WorkloadEnqueue         = "enqueue"
	WorkloadCycle           = "cycle"
	WorkloadMixed           = "mixed"
	WorkloadClaim           = "claim"
	WorkloadKVA             = "kv-a"
	WorkloadKVB             = "kv-b"
	WorkloadKVC             = "kv-c"
	WorkloadBackupUnderLoad = "backup-under-load"
)

// StoreWorkloads lists the store workloads with a line on each.
var StoreWorkloads = []struct{ Name, Description string }{
	{WorkloadEnqueue, "enqueue only"},
	{WorkloadCycle, "enqueue, claim, ack"},
	{WorkloadMixed, "producers plus processors contending for the processing lock"},
	{WorkloadClaim, "claim and ack from a prefilled queue"},
	{WorkloadKVA, "YCSB A: 50% get, 50% update over a data box, zipfian keys"},
	{WorkloadKVB, "YCSB B: 95% get, 5% update, zipfian keys"},
	{WorkloadKVC, "YCSB C: 100% get, zipfian keys"},
	{WorkloadBackupUnderLoad, "cycle, with worker 0 taking backups back to back"},
}

// StoreWorkloadOptions size a store workload.
type StoreWorkloadOptions struct {
	Workers   int   // the engine's worker count; per-worker state is sized by it
	ValueSize int   // payload and value size in bytes
	Records   int   // kv-*: records in the data box; claim: ops to prefill
	Seed      int64 // payload bytes
}

// KVBox is the data box the kv-* workloads use.
const KVBox = "usertable"

// NewStoreWorkload builds a named workload over the store s in process; it
// is NewWorkload over NewStoreBackend(s).
func NewStoreWorkload(ctx context.Context, s *store.Store, name string, o StoreWorkloadOptions) (Workload, error) {
	return NewWorkload(ctx, NewStoreBackend(s), name, o)
}

// NewWorkload builds a named store workload over b and prefills what it
// needs (the queue for claim, the data box for kv-*).
func NewWorkload(ctx context.Context, s Backend, name string, o StoreWorkloadOptions) (Workload, error) {
	if o.Workers <= 0 || o.ValueSize < 0 {
		return nil, fmt.Errorf("workload %s: workers %d, value size %d: %w", name, o.Workers, o.ValueSize, ErrInvalidConfig)
	}
	value := make([]byte, o.ValueSize)
	var seed [32]byte
	seed[0], seed[1] = byte(o.Seed), byte(o.Seed>>8)
	_, _ = rand.NewChaCha8(seed).Read(value)
	lease := &sharedLease{s: s}
	ws := make([]*storeWorker, o.Workers)
	for i := range ws {
		ws[i] = newStoreWorker(s, i, value, lease, o.Records)
	}
	switch name {
	case WorkloadEnqueue:
		return WorkloadFunc(func(w int, _ *rand.Rand) Op { return ws[w].enqueueOp }), nil
	case WorkloadCycle:
		return WorkloadFunc(func(w int, _ *rand.Rand) Op { return ws[w].nextCycle() }), nil
	case WorkloadBackupUnderLoad:
		return WorkloadFunc(func(w int, _ *rand.Rand) Op {
			if w == 0 && o.Workers > 1 {
				return ws[w].backupOp
			}
			return ws[w].nextCycle()
		}), nil
	case WorkloadClaim:
		if err := prefillQueue(ctx, s, value, o.Records); err != nil {
			return nil, err
		}
		return WorkloadFunc(func(w int, _ *rand.Rand) Op { return ws[w].nextDrain() }), nil
	case WorkloadMixed:
		return WorkloadFunc(func(w int, _ *rand.Rand) Op {
			if w%2 == 0 {
				return ws[w].enqueueOp
			}
			return ws[w].nextProcessor()
		}), nil
	case WorkloadKVA, WorkloadKVB, WorkloadKVC:
		if o.Records <= 1 {
			return nil, fmt.Errorf("workload %s: records %d, want at least 2: %w", name, o.Records, ErrInvalidConfig)
		}
		if err := prefillKV(ctx, s, value, o.Records); err != nil {
			return nil, err
		}
		readPct := map[string]int{WorkloadKVA: 50, WorkloadKVB: 95, WorkloadKVC: 100}[name]
		return WorkloadFunc(func(w int, rng *rand.Rand) Op { return ws[w].nextKV(rng, readPct) }), nil
	}
	return nil, fmt.Errorf("workload %q: unknown; want one of enqueue, cycle, mixed, claim, kv-a, kv-b, kv-c, backup-under-load: %w", name, ErrInvalidConfig)
}

// sharedLease is the processing lock held on behalf of every worker of a
// cycle workload: one processor with many threads.
type sharedLease struct {
	s     Backend
	once  sync.Once
	token uint64
	err   error
}

func (l *sharedLease) get(ctx context.Context) (uint64, error) {
	l.once.Do(func() {
		l.token, l.err = l.s.Acquire(ctx, "loadgen")
		if l.err == nil && l.token == 0 {
			l.err = fmt.Errorf("acquire the processing lock as loadgen: another owner holds it")
		}
	})
	return l.token, l.err
}

// storeWorker holds one worker's state and its prebuilt ops, so Next
// allocates nothing.
type storeWorker struct {
	s       Backend
	id      int
	value   []byte
	lease   *sharedLease
	records int

	claimed string // op id claimed and not yet acked
	step    int

	// mixed: this worker's own processor identity and lease
	owner string
	token uint64
	acks  int

	key  []byte
	zipf *rand.Zipf

	enqueueOp, claimOp, ackOp, backupOp, acquireOp, releaseOp, getOp, updateOp Op
}

func newStoreWorker(s Backend, id int, value []byte, lease *sharedLease, records int) *storeWorker {
	w := &storeWorker{s: s, id: id, value: value, lease: lease, records: records, owner: "processor-" + strconv.Itoa(id)}
	w.enqueueOp = Op{Name: opname.Enqueue, Do: w.enqueue}
	w.claimOp = Op{Name: opname.Claim, Do: w.claim}
	w.ackOp = Op{Name: opname.Ack, Do: w.ack}
	w.backupOp = Op{Name: opname.Backup, Do: w.backup}
	w.acquireOp = Op{Name: opname.Acquire, Do: w.acquire}
	w.releaseOp = Op{Name: opname.Release, Do: w.release}
	w.getOp = Op{Name: opname.Get, Do: w.get}
	w.updateOp = Op{Name: opname.Update, Do: w.update}
	return w
}

func (w *storeWorker) enqueue(ctx context.Context) error {
	return w.s.Enqueue(ctx, w.value)
}

// nextCycle yields enqueue, claim, ack, enqueue, ...
func (w *storeWorker) nextCycle() Op {
	w.step = (w.step + 1) % 3
	switch {
	case w.step == 2:
		return w.claimOp
	case w.step == 0 && w.claimed != "":
		return w.ackOp
	}
	w.step = 1
	return w.enqueueOp
}

// nextDrain yields claim, ack, claim, ack, ...
func (w *storeWorker) nextDrain() Op {
	if w.claimed != "" {
		return w.ackOp
	}
	return w.claimOp
}

func (w *storeWorker) tokenFor(ctx context.Context) (uint64, error) {
	if w.token != 0 {
		return w.token, nil
	}
	return w.lease.get(ctx)
}

func (w *storeWorker) claim(ctx context.Context) error {
	token, err := w.tokenFor(ctx)
	if err != nil {
		return err
	}
	id, err := w.s.Claim(ctx, token)
	if err != nil {
		if errors.Is(err, ErrStaleToken) {
			w.token = 0
		}
		return err
	}
	w.claimed = id // "" when there was nothing to claim: not a failure of the store
	return nil
}

func (w *storeWorker) ack(ctx context.Context) error {
	token, err := w.tokenFor(ctx)
	if err != nil {
		return err
	}
	id := w.claimed
	w.claimed = ""
	if err := w.s.Ack(ctx, token, id); err != nil {
		if errors.Is(err, ErrStaleToken) {
			w.token = 0
		}
		return err
	}
	w.acks++
	return nil
}

func (w *storeWorker) backup(ctx context.Context) error {
	return w.s.Backup(ctx)
}

// processorBatch is how many ops a mixed-workload processor acks before it
// releases the lock to the others.
const processorBatch = 100

// nextProcessor: acquire; claim/ack up to processorBatch; release; again.
func (w *storeWorker) nextProcessor() Op {
	switch {
	case w.token == 0:
		return w.acquireOp
	case w.claimed != "":
		return w.ackOp
	case w.acks >= processorBatch:
		return w.releaseOp
	}
	return w.claimOp
}

func (w *storeWorker) acquire(ctx context.Context) error {
	token, err := w.s.Acquire(ctx, w.owner)
	if err != nil || token == 0 {
		return err // a lock held by another is the point of the workload, not an error
	}
	w.token, w.acks = token, 0
	return nil
}

func (w *storeWorker) release(ctx context.Context) error {
	token := w.token
	w.token, w.acks = 0, 0
	err := w.s.Release(ctx, token)
	if errors.Is(err, ErrStaleToken) {
		return nil
	}
	return err
}

func kvKey(buf []byte, i uint64) []byte {
	buf = append(buf[:0], "user"...)
	return strconv.AppendUint(buf, i, 10)
}

func (w *storeWorker) nextKV(rng *rand.Rand, readPct int) Op {
	if w.zipf == nil {
		w.zipf = rand.NewZipf(rng, 1.1, 1, uint64(w.records-1))
	}
	w.key = kvKey(w.key, w.zipf.Uint64())
	if rng.IntN(100) < readPct {
		return w.getOp
	}
	return w.updateOp
}

func (w *storeWorker) get(ctx context.Context) error {
	return w.s.Get(ctx, KVBox, string(w.key))
}

func (w *storeWorker) update(ctx context.Context) error {
	return w.s.Put(ctx, KVBox, string(w.key), w.value)
}

// prefillBatch is how many records one prefill transaction writes.
const prefillBatch = 4096

func prefillQueue(ctx context.Context, s Backend, value []byte, n int) error {
	batch := make([][]byte, 0, prefillBatch)
	for i := 0; i < n; i++ {
		batch = append(batch, value)
		if len(batch) == prefillBatch || i == n-1 {
			if err := s.EnqueueBatch(ctx, batch); err != nil {
				return fmt.Errorf("prefill queue: %w", err)
			}
			batch = batch[:0]
		}
	}
	return nil
}

func prefillKV(ctx context.Context, s Backend, value []byte, n int) error {
	recs := make(map[string][]byte, prefillBatch)
	var key []byte
	for i := 0; i < n; i++ {
		key = kvKey(key, uint64(i))
		recs[string(key)] = value
		if len(recs) == prefillBatch || i == n-1 {
			if err := s.PutBatch(ctx, KVBox, recs); err != nil {
				return fmt.Errorf("prefill %s: %w", KVBox, err)
			}
			clear(recs)
		}
	}
	return nil
}
