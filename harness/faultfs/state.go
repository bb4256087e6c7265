package faultfs

// The server's state: the modelled disk, the armed faults, the recording and
// the counters, behind one mutex that also orders the operations.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// PowerLossMode says what a power loss keeps of the unsynced operations.
type PowerLossMode string

// The power-loss modes.
const (
	// LoseUnsynced keeps only what is durable.
	LoseUnsynced PowerLossMode = "lose-unsynced"
	// Torn keeps what is durable plus a seeded prefix of the unsynced name
	// operations and a seeded subset of the unsynced writes' sectors.
	Torn PowerLossMode = "torn"
)

// Delay is a latency distribution: log-normal with the given median and
// 99th percentile. A zero P99 means a fixed delay of Median.
type Delay struct {
	Median time.Duration `json:"median_ns"`
	P99    time.Duration `json:"p99_ns"`
}

// Stats counts what the file system has seen since it was started.
type Stats struct {
	Ops           int64 `json:"ops"` // mutating operations recorded, fsyncs included
	Writes        int64 `json:"writes"`
	BytesWritten  int64 `json:"bytes_written"`
	Fsyncs        int64 `json:"fsyncs"` // of files and directories
	FsyncErrors   int64 `json:"fsync_errors"`
	ENOSPCErrors  int64 `json:"enospc_errors"`
	DelayedOps    int64 `json:"delayed_ops"`
	PowerLosses   int64 `json:"power_losses"`
	UnsyncedOps   int64 `json:"unsynced_ops"`   // pending, now
	UnsyncedBytes int64 `json:"unsynced_bytes"` // pending write bytes, now
	RecordedOps   int64 `json:"recorded_ops"`   // in the recording since the mark
}

type faults struct {
	fsyncFail   int64 // the n-th fsync from arming fails (0: off)
	fsyncSticky bool
	fsyncSeen   int64
	budget      int64 // bytes writable before ENOSPC (<0: off)
	used        int64
	delay       Delay
	rng         *rand.Rand
}

type state struct {
	mu      sync.Mutex
	backing string
	disk    disk
	inoMu   sync.Mutex        // guards inos and nextID; taken inside mu
	inos    map[uint64]uint64 // backing inode number → model id
	nextID  uint64
	rec     *Recording // nil unless marked
	faults  faults
	stats   Stats
}

func newState(backing string) (*state, error) {
	s := &state{backing: backing, faults: faults{budget: -1}}
	t, err := ReadTree(backing)
	if err != nil {
		return nil, err
	}
	if err := s.adopt(t); err != nil {
		return nil, err
	}
	return s, nil
}

// adopt makes t, which the backing directory now holds, the durable state,
// and maps the backing inode numbers to t's ids.
func (s *state) adopt(t *Tree) error {
	s.inoMu.Lock()
	defer s.inoMu.Unlock()
	s.disk = disk{durable: t}
	s.inos = map[uint64]uint64{}
	for id := range t.Inodes {
		s.nextID = max(s.nextID, id)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(s.backing, &st); err != nil {
		return fmt.Errorf("faultfs: stat %s: %w", s.backing, err)
	}
	s.inos[st.Ino] = t.Root
	return t.walk(func(rel string, id uint64, _ *Inode) error {
		if err := syscall.Lstat(filepath.Join(s.backing, rel), &st); err != nil {
			return fmt.Errorf("faultfs: stat %s: %w", rel, err)
		}
		s.inos[st.Ino] = id
		return nil
	})
}

// idOf returns the model id of a backing inode, allocating one for an inode
// the model has not seen.
func (s *state) idOf(ino uint64) uint64 {
	s.inoMu.Lock()
	defer s.inoMu.Unlock()
	if id, ok := s.inos[ino]; ok {
		return id
	}
	return s.freshLocked(ino)
}

// fresh allocates a new model id for a backing inode.
func (s *state) fresh(ino uint64) uint64 {
	s.inoMu.Lock()
	defer s.inoMu.Unlock()
	return s.freshLocked(ino)
}

func (s *state) freshLocked(ino uint64) uint64 {
	s.nextID++
	s.inos[ino] = s.nextID
	return s.nextID
}

// record appends o to the model and the recording. The caller holds mu.
func (s *state) record(o Op) {
	o.Time = time.Now().UnixNano()
	s.stats.Ops++
	s.disk.record(o)
	if s.rec != nil {
		s.rec.Ops = append(s.rec.Ops, o)
	}
}

// reserve charges n bytes against the ENOSPC budget. The caller holds mu.
func (s *state) reserve(n int64) syscall.Errno {
	if s.faults.budget >= 0 && s.faults.used+n > s.faults.budget {
		s.stats.ENOSPCErrors++
		return syscall.ENOSPC
	}
	s.faults.used += n
	return 0
}

// full reports whether the ENOSPC budget is spent. The caller holds mu.
func (s *state) full() bool {
	if s.faults.budget >= 0 && s.faults.used >= s.faults.budget {
		s.stats.ENOSPCErrors++
		return true
	}
	return false
}

// fsyncFails counts an fsync and says whether it is the one to fail. The
// caller holds mu.
func (s *state) fsyncFails() bool {
	s.stats.Fsyncs++
	f := &s.faults
	if f.fsyncFail <= 0 {
		return false
	}
	f.fsyncSeen++
	if f.fsyncSeen == f.fsyncFail || (f.fsyncSticky && f.fsyncSeen > f.fsyncFail) {
		s.stats.FsyncErrors++
		return true
	}
	return false
}

// delay sleeps for a draw from the armed distribution, outside mu.
func (s *state) delay() {
	s.mu.Lock()
	d := s.faults.delay
	var z float64
	if d.Median > 0 && s.faults.rng != nil {
		z = s.faults.rng.NormFloat64()
		s.stats.DelayedOps++
	}
	s.mu.Unlock()
	if d.Median <= 0 {
		return
	}
	wait := d.Median
	if d.P99 > d.Median {
		sigma := math.Log(float64(d.P99)/float64(d.Median)) / 2.3263478740408408
		wait = time.Duration(float64(d.Median) * math.Exp(sigma*z))
	}
	time.Sleep(wait)
}

func (s *state) statsNow() Stats {
	st := s.stats
	st.UnsyncedOps = int64(len(s.disk.pending))
	for i := range s.disk.pending {
		st.UnsyncedBytes += int64(len(s.disk.pending[i].Data))
	}
	if s.rec != nil {
		st.RecordedOps = int64(len(s.rec.Ops))
	}
	return st
}

// mark starts a new recording from the current durable state, carrying the
// operations still pending.
func (s *state) mark() {
	s.rec = &Recording{Base: s.disk.durable.Clone(), Ops: append([]Op(nil), s.disk.pending...)}
}

// recording returns a copy of the recording since the mark.
func (s *state) recording() (*Recording, error) {
	if s.rec == nil {
		return nil, fmt.Errorf("faultfs: recording: %w", ErrNotMarked)
	}
	return &Recording{Base: s.rec.Base, Ops: append([]Op(nil), s.rec.Ops...)}, nil
}

// powerLoss rewrites the backing directory to what a power loss leaves and
// makes that the new durable state. The file system must be unmounted.
func (s *state) powerLoss(mode PowerLossMode, seed uint64) error {
	t := crashState(&s.disk, mode, seed)
	entries, err := os.ReadDir(s.backing)
	if err != nil {
		return fmt.Errorf("faultfs: power loss: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(s.backing, e.Name())); err != nil {
			return fmt.Errorf("faultfs: power loss: %w", err)
		}
	}
	if err := t.WriteTo(s.backing); err != nil {
		return fmt.Errorf("faultfs: power loss: %w", err)
	}
	// Only what a name reaches survives a power loss on a real disk.
	reach := &Tree{Root: t.Root, Inodes: map[uint64]*Inode{t.Root: t.Inodes[t.Root]}}
	_ = t.walk(func(_ string, id uint64, in *Inode) error { reach.Inodes[id] = in; return nil })
	if err := s.adopt(reach); err != nil {
		return err
	}
	s.stats.PowerLosses++
	if s.rec != nil {
		s.mark()
	}
	return nil
}
