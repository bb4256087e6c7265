package check

import (
	"github.com/boxstorm/boxstorm/harness/history"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
)

// The queue state of the linearizability model. porcupine requires Step to
// be pure, and it caches every state it reaches, so a state that copied the
// whole queue on each step would cost time and memory quadratic in the
// queue's length. Items live instead in immutable chunks of mdlChunkSize: a
// step copies the chunk directory and the one chunk it changes, and shares
// the rest with the state it came from.

const mdlChunkSize = 32

// mdlItem is one op in the queue.
type mdlItem struct {
	id      string
	subject string
	h       uint64 // hash of id
	claimed bool   // claimed under the current token
}

// mdlChunk is an immutable run of items.
type mdlChunk struct {
	items   []mdlItem
	claimed int
}

// mdlQueue is an immutable queue state. Methods return new states.
type mdlQueue struct {
	chunks  []*mdlChunk
	n       int       // items
	claimed int       // claimed items
	failed  []mdlItem // failed_ops, sorted by id
	sum     uint64    // order-insensitive hash of items and failed ops
	// hi is the highest sequence number the queue is known to have handed
	// out (0: none known). The store numbers enqueues and retries in the
	// order it appends them, so an append that returned its number must
	// return one above hi; see pushSeq.
	hi uint64
}

func mdlHashID(id string) uint64 {
	f := fnv.New64a()
	f.Write([]byte(id))
	return f.Sum64()
}

// mdlMix is splitmix64's finalizer.
func mdlMix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func (it mdlItem) contrib() uint64 {
	if it.claimed {
		return mdlMix(it.h ^ 0x9e3779b97f4a7c15)
	}
	return mdlMix(it.h)
}

func mdlFailedContrib(it mdlItem) uint64 { return mdlMix(it.h ^ 0x5851f42d4c957f2d) }

func (q *mdlQueue) clone() *mdlQueue {
	c := *q
	c.chunks = append([]*mdlChunk(nil), q.chunks...)
	return &c
}

// push appends an unclaimed item.
func (q *mdlQueue) push(id, subject string) *mdlQueue {
	it := mdlItem{id: id, subject: subject, h: mdlHashID(id)}
	c := q.clone()
	if k := len(c.chunks) - 1; k >= 0 && len(c.chunks[k].items) < mdlChunkSize {
		old := c.chunks[k]
		items := make([]mdlItem, len(old.items), len(old.items)+1)
		copy(items, old.items)
		c.chunks[k] = &mdlChunk{items: append(items, it), claimed: old.claimed}
	} else {
		c.chunks = append(c.chunks, &mdlChunk{items: []mdlItem{it}})
	}
	c.n++
	c.sum += it.contrib()
	return c
}

// pushSeq appends an unclaimed item that the store numbered seq (0: not
// known), or reports false when seq shows the store appended it before an
// op the queue already holds: the store numbers appends in the order it
// makes them, so a linearization that puts this append after one numbered
// higher is not the store's. This is what keeps the search small:
// concurrent enqueues can be ordered only one way, the way their numbers
// say, instead of every way until a claim or a store state far later
// rules the order out.
func (q *mdlQueue) pushSeq(id, subject string, seq uint64) (*mdlQueue, bool) {
	if seq != 0 && seq <= q.hi {
		return q, false
	}
	c := q.push(id, subject)
	c.hi = max(c.hi, seq)
	return c, true
}

// head returns the position of the oldest unclaimed item.
func (q *mdlQueue) head() (ci, ii int, ok bool) {
	for ci, ch := range q.chunks {
		if ch.claimed == len(ch.items) {
			continue
		}
		for ii, it := range ch.items {
			if !it.claimed {
				return ci, ii, true
			}
		}
	}
	return 0, 0, false
}

// findClaimed returns the position of claimed item id. Claimed items are
// few, so it stops once it has seen them all.
func (q *mdlQueue) findClaimed(id string) (ci, ii int, ok bool) {
	seen := 0
	for ci, ch := range q.chunks {
		if ch.claimed == 0 {
			continue
		}
		for ii, it := range ch.items {
			if !it.claimed {
				continue
			}
			if it.id == id {
				return ci, ii, true
			}
			if seen++; seen == q.claimed {
				return 0, 0, false
			}
		}
	}
	return 0, 0, false
}

func (q *mdlQueue) at(ci, ii int) mdlItem { return q.chunks[ci].items[ii] }

// setClaimed returns q with the item at (ci, ii) claimed or not.
func (q *mdlQueue) setClaimed(ci, ii int, v bool) *mdlQueue {
	old := q.chunks[ci]
	if old.items[ii].claimed == v {
		return q
	}
	c := q.clone()
	items := append([]mdlItem(nil), old.items...)
	c.sum -= items[ii].contrib()
	items[ii].claimed = v
	c.sum += items[ii].contrib()
	d := 1
	if !v {
		d = -1
	}
	c.chunks[ci] = &mdlChunk{items: items, claimed: old.claimed + d}
	c.claimed += d
	return c
}

// remove returns q without the item at (ci, ii).
func (q *mdlQueue) remove(ci, ii int) *mdlQueue {
	old := q.chunks[ci]
	it := old.items[ii]
	c := q.clone()
	c.n--
	c.sum -= it.contrib()
	claimed := old.claimed
	if it.claimed {
		c.claimed--
		claimed--
	}
	if len(old.items) == 1 {
		c.chunks = append(c.chunks[:ci], c.chunks[ci+1:]...)
		return c
	}
	items := make([]mdlItem, 0, len(old.items)-1)
	items = append(append(items, old.items[:ii]...), old.items[ii+1:]...)
	c.chunks[ci] = &mdlChunk{items: items, claimed: claimed}
	return c
}

// voidClaims returns q with every claim void.
func (q *mdlQueue) voidClaims() *mdlQueue {
	if q.claimed == 0 {
		return q
	}
	c := q.clone()
	for ci, ch := range c.chunks {
		if ch.claimed == 0 {
			continue
		}
		items := append([]mdlItem(nil), ch.items...)
		for i := range items {
			if items[i].claimed {
				c.sum -= items[i].contrib()
				items[i].claimed = false
				c.sum += items[i].contrib()
			}
		}
		c.chunks[ci] = &mdlChunk{items: items}
	}
	c.claimed = 0
	return c
}

func (q *mdlQueue) failedIndex(id string) (int, bool) {
	i := sort.Search(len(q.failed), func(i int) bool { return q.failed[i].id >= id })
	return i, i < len(q.failed) && q.failed[i].id == id
}

// addFailed returns q with it in failed_ops.
func (q *mdlQueue) addFailed(it mdlItem) *mdlQueue {
	i, ok := q.failedIndex(it.id)
	if ok {
		return q
	}
	it.claimed = false
	c := q.clone()
	f := make([]mdlItem, 0, len(q.failed)+1)
	f = append(append(append(f, q.failed[:i]...), it), q.failed[i:]...)
	c.failed = f
	c.sum += mdlFailedContrib(it)
	return c
}

// removeFailed returns q without failed op id, and the op.
func (q *mdlQueue) removeFailed(id string) (*mdlQueue, mdlItem, bool) {
	i, ok := q.failedIndex(id)
	if !ok {
		return q, mdlItem{}, false
	}
	it := q.failed[i]
	c := q.clone()
	f := make([]mdlItem, 0, len(q.failed)-1)
	c.failed = append(append(f, q.failed[:i]...), q.failed[i+1:]...)
	c.sum -= mdlFailedContrib(it)
	return c, it, true
}

// erase returns q without any op of subject.
func (q *mdlQueue) erase(subject string) *mdlQueue {
	c := q
	for ci := len(c.chunks) - 1; ci >= 0; ci-- {
		for ii := len(c.chunks[ci].items) - 1; ii >= 0; ii-- {
			if c.chunks[ci].items[ii].subject == subject {
				c = c.remove(ci, ii)
			}
		}
	}
	for _, it := range q.failed {
		if it.subject == subject {
			c, _, _ = c.removeFailed(it.id)
		}
	}
	return c
}

// each calls fn for every item in order until it returns false.
func (q *mdlQueue) each(fn func(mdlItem) bool) {
	for _, ch := range q.chunks {
		for _, it := range ch.items {
			if !fn(it) {
				return
			}
		}
	}
}

// equal compares two queue states.
func (q *mdlQueue) equal(o *mdlQueue) bool {
	if q == o {
		return true
	}
	if q == nil || o == nil {
		return false
	}
	if q.n != o.n || q.claimed != o.claimed || q.sum != o.sum || q.hi != o.hi || len(q.failed) != len(o.failed) {
		return false
	}
	for i := range q.failed {
		if q.failed[i].id != o.failed[i].id {
			return false
		}
	}
	// Walk both in step; chunks they share are skipped whole.
	ci, ii, cj, ij := 0, 0, 0, 0
	for ci < len(q.chunks) && cj < len(o.chunks) {
		if ii == 0 && ij == 0 && q.chunks[ci] == o.chunks[cj] {
			ci++
			cj++
			continue
		}
		a, b := q.chunks[ci].items[ii], o.chunks[cj].items[ij]
		if a.id != b.id || a.claimed != b.claimed {
			return false
		}
		if ii++; ii == len(q.chunks[ci].items) {
			ci, ii = ci+1, 0
		}
		if ij++; ij == len(o.chunks[cj].items) {
			cj, ij = cj+1, 0
		}
	}
	return true
}

// mdlQueueFrom builds a queue of unclaimed items from a store state.
func mdlQueueFrom(pending, failed []history.StateOp, subject func(history.StateOp) string) *mdlQueue {
	q := &mdlQueue{}
	for _, op := range pending {
		q = q.push(op.ID, subject(op))
		q.hi = max(q.hi, op.Seq)
	}
	for _, op := range failed {
		q = q.addFailed(mdlItem{id: op.ID, subject: subject(op), h: mdlHashID(op.ID)})
		q.hi = max(q.hi, op.Seq)
	}
	return q
}

// matches reports whether q holds exactly the ops of a store state, pending
// in the same order.
func (q *mdlQueue) matches(pending, failed []history.StateOp) bool {
	if q.n != len(pending) || len(q.failed) != len(failed) {
		return false
	}
	i, ok := 0, true
	q.each(func(it mdlItem) bool {
		ok = it.id == pending[i].ID
		i++
		return ok
	})
	if !ok {
		return false
	}
	for _, op := range failed {
		if _, found := q.failedIndex(op.ID); !found {
			return false
		}
	}
	return true
}

// String renders the queue for porcupine's visualization.
func (q *mdlQueue) String() string {
	if q == nil {
		return "queue unknown"
	}
	var b strings.Builder
	b.WriteString("[")
	i := 0
	q.each(func(it mdlItem) bool {
		if i > 0 {
			b.WriteString(" ")
		}
		if i == 8 {
			b.WriteString("…")
			return false
		}
		b.WriteString(it.id)
		if it.claimed {
			b.WriteString("*")
		}
		i++
		return true
	})
	b.WriteString("]")
	if q.n > 8 {
		b.WriteString(" (" + strconv.Itoa(q.n) + " ops)")
	}
	if len(q.failed) > 0 {
		b.WriteString(" failed:" + strconv.Itoa(len(q.failed)))
	}
	return b.String()
}
