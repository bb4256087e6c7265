package faultfs

// Crash-state exploration after ALICE (OSDI 2014) and CrashMonkey (OSDI
// 2018): replay a recording, and at every durability boundary build the disk
// states a power loss there could leave.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
)

// DefaultMaxStatesPerBoundary bounds the states built at one crash point
// when ExploreOptions leaves it zero.
const DefaultMaxStatesPerBoundary = 16

// Recording is the durable state at a mark and the operations since, in the
// order they took effect. Ops may begin with operations that were still
// unsynced at the mark.
type Recording struct {
	Base *Tree `json:"base"`
	Ops  []Op  `json:"ops"`
}

// ExploreOptions bound and seed an exploration.
type ExploreOptions struct {
	// Dir receives one fresh directory per crash state, state-00001 and on.
	Dir string
	// MaxStatesPerBoundary bounds the distinct new states per crash point
	// (DefaultMaxStatesPerBoundary if zero). A point's core states (up to
	// six, the edges of its crash window) are built even past it.
	MaxStatesPerBoundary int
	// MaxStates bounds the states of the whole exploration (0: no bound),
	// core states excepted: every crash point builds its core states, so
	// a small bound still reaches the last step of a procedure.
	MaxStates int
	// Seed drives the sampling where a crash point has more states than
	// its bound.
	Seed uint64
	// Keep leaves each state's directory after visit returns.
	Keep bool
}

// CrashState is one disk state a power loss could leave.
type CrashState struct {
	Index int    `json:"index"` // 1-based, in exploration order
	Dir   string `json:"dir"`   // where it is materialised
	// OpIndex is how many of the recording's operations had been issued
	// when the power failed: Ops[:OpIndex].
	OpIndex int `json:"op_index"`
	// Boundary says where: "before-fsync", "after-rename" or "end".
	Boundary string `json:"boundary"`
	// Kept and Pending count the unsynced name operations and data pieces
	// (sectors) this state keeps, out of how many were pending.
	KeptNames     int    `json:"kept_names"`
	PendingNames  int    `json:"pending_names"`
	KeptPieces    int    `json:"kept_pieces"`
	PendingPieces int    `json:"pending_pieces"`
	Hash          string `json:"hash"`
}

// BoundaryResult says how one crash point was explored.
type BoundaryResult struct {
	OpIndex  int    `json:"op_index"`
	Boundary string `json:"boundary"`
	// Space is the number of states the model allows here, (names+1) ×
	// 2^pieces, saturated at MaxInt64.
	Space int64 `json:"space"`
	// States is how many new distinct states were built; Exhaustive is
	// true when they are all of Space (minus duplicates).
	States     int  `json:"states"`
	CoreStates int  `json:"core_states"` // of States, the core states (see core)
	Duplicates int  `json:"duplicates"`
	Exhaustive bool `json:"exhaustive"`
}

// Exploration is the result of Explore, with the bounds it used.
type Exploration struct {
	MaxStatesPerBoundary int              `json:"max_states_per_boundary"`
	MaxStates            int              `json:"max_states,omitempty"`
	Seed                 uint64           `json:"seed"`
	States               int              `json:"states"`
	CoreStates           int              `json:"core_states"` // of States, built whatever the bounds
	Duplicates           int              `json:"duplicates"`
	Truncated            bool             `json:"truncated,omitempty"` // MaxStates cut it short
	Boundaries           []BoundaryResult `json:"boundaries"`
}

// Explore replays rec and, at every crash point, materialises each allowed
// state into a fresh directory under opts.Dir and calls visit with it.
//
// The crash points are just before every fsync (its data may or may not
// have reached the disk), just after every rename, and the end. At each, a
// state holds every durable operation plus a prefix of the pending name
// operations and any subset of the pending data sectors. States identical to
// one already visited are skipped. Every point first builds its core
// states, the edges of its crash window (see core), whatever the bounds;
// they make the exploration of a procedure's critical windows independent of
// the seed and the bound. Where a point allows more states than the bound,
// Explore then takes, in order: the name prefixes with no data and with all
// data, the data in log order cut at each piece, and then seeded random
// torn states.
//
// Explore does not modify rec. visit's error stops the exploration and is
// returned. Unless opts.Keep,
// each directory is removed after visit.
func Explore(ctx context.Context, rec *Recording, opts ExploreOptions, visit func(context.Context, CrashState) error) (*Exploration, error) {
	if rec == nil || rec.Base == nil {
		return nil, errors.New("faultfs: explore: recording has no base tree")
	}
	if opts.Dir == "" {
		return nil, errors.New("faultfs: explore: no directory for the states")
	}
	if opts.MaxStatesPerBoundary <= 0 {
		opts.MaxStatesPerBoundary = DefaultMaxStatesPerBoundary
	}
	res := &Exploration{MaxStatesPerBoundary: opts.MaxStatesPerBoundary, MaxStates: opts.MaxStates, Seed: opts.Seed}
	seen := map[string]bool{}
	d := &disk{durable: rec.Base.clone(false)} // rec is the caller's: never mark it
	last := -1
	point := func(opIndex int, kind string) error {
		if opIndex == last {
			return nil
		}
		last = opIndex
		return explorePoint(ctx, d, opIndex, kind, opts, res, seen, visit)
	}
	for i := range rec.Ops {
		o := rec.Ops[i]
		if o.isSync() {
			if err := point(i, "before-fsync"); err != nil {
				return res, err
			}
		}
		d.record(o)
		if o.Kind == OpRename {
			if err := point(i+1, "after-rename"); err != nil {
				return res, err
			}
		}
	}
	if err := point(len(rec.Ops), "end"); err != nil {
		return res, err
	}
	return res, nil
}

var errEnough = errors.New("faultfs: explore: state bound reached")

func explorePoint(ctx context.Context, d *disk, opIndex int, kind string, opts ExploreOptions, res *Exploration, seen map[string]bool, visit func(context.Context, CrashState) error) error {
	names, pieces := split(d.pending)
	br := BoundaryResult{OpIndex: opIndex, Boundary: kind, Space: space(names, len(pieces))}
	br.Exhaustive = br.Space <= int64(opts.MaxStatesPerBoundary)
	// The core states are built whatever the bounds; they count toward
	// them, so the rest fills what the bounds leave.
	inCore := true
	emit := func(c choice) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("faultfs: explore: %w", err)
		}
		if !inCore && br.States >= opts.MaxStatesPerBoundary {
			return errEnough
		}
		if !inCore && opts.MaxStates > 0 && res.States >= opts.MaxStates {
			res.Truncated = true
			return errEnough
		}
		t := materialise(d.durable, d.pending, pieces, c)
		h := t.Hash()
		if seen[h] {
			br.Duplicates++
			res.Duplicates++
			return nil
		}
		seen[h] = true
		res.States++
		br.States++
		if inCore {
			res.CoreStates++
			br.CoreStates++
		}
		st := CrashState{Index: res.States, OpIndex: opIndex, Boundary: kind, KeptNames: c.names,
			PendingNames: names, PendingPieces: len(pieces), Hash: h,
			Dir: filepath.Join(opts.Dir, fmt.Sprintf("state-%05d", res.States))}
		for _, k := range c.keep {
			if k {
				st.KeptPieces++
			}
		}
		if err := t.WriteTo(st.Dir); err != nil {
			return err
		}
		var err error
		if visit != nil {
			err = visit(ctx, st)
		}
		if !opts.Keep {
			if rmErr := os.RemoveAll(st.Dir); err == nil && rmErr != nil {
				err = fmt.Errorf("faultfs: explore: %w", rmErr)
			}
		}
		return err
	}
	var err error
	for _, c := range core(names, len(pieces)) {
		if err = emit(c); err != nil {
			break
		}
	}
	inCore = false
	if err == nil {
		err = candidates(names, len(pieces), br.Exhaustive, newRand(opts.Seed, uint64(opIndex)), opts.MaxStatesPerBoundary, emit)
	}
	res.Boundaries = append(res.Boundaries, br)
	if errors.Is(err, errEnough) {
		return nil
	}
	return err
}

// core returns the states every crash point builds before any bound
// applies: the edges of the window a crash there falls into. They are, in
// order:
//
//  1. nothing pending: the crash came just after the last durable point;
//  2. everything pending: every unsynced operation reached the disk;
//  3. every name, and the first half of the data pieces in log order: a
//     write the crash tore in the middle, such as an in-place rewrite;
//  4. every name, and only the first data piece: a file truncated or
//     begun, its new content not yet there;
//  5. every name, and every data piece but the last: a torn last sector;
//  6. no name, and every data piece: the data of files whose names a
//     journal had not committed.
//
// Identical choices (few pieces, no names) are made once.
func core(names, pieces int) []choice {
	cut := func(n, k int) choice {
		c := choice{names: n, keep: make([]bool, pieces)}
		for i := range min(k, pieces) {
			c.keep[i] = true
		}
		return c
	}
	cs := []choice{cut(0, 0), cut(names, pieces)}
	if pieces >= 2 {
		cs = append(cs, cut(names, (pieces+1)/2), cut(names, 1), cut(names, pieces-1))
	}
	if names > 0 && pieces > 0 {
		cs = append(cs, cut(0, pieces))
	}
	var out []choice
	for _, c := range cs {
		if !slices.ContainsFunc(out, func(o choice) bool { return o.names == c.names && slices.Equal(o.keep, c.keep) }) {
			out = append(out, c)
		}
	}
	return out
}

// candidates calls emit with the choices to try at one crash point.
func candidates(names, pieces int, exhaustive bool, rng *rand.Rand, bound int, emit func(choice) error) error {
	all := func(v bool) []bool {
		k := make([]bool, pieces)
		for i := range k {
			k[i] = v
		}
		return k
	}
	if exhaustive {
		for n := 0; n <= names; n++ {
			for mask := 0; mask < 1<<pieces; mask++ {
				k := make([]bool, pieces)
				for i := range k {
					k[i] = mask&(1<<i) != 0
				}
				if err := emit(choice{names: n, keep: k}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	fixed := []choice{{0, all(false)}, {names, all(true)}}
	for n := 0; n <= names; n++ {
		fixed = append(fixed, choice{n, all(false)}, choice{n, all(true)})
	}
	for cut := 1; cut < pieces; cut++ {
		k := all(false)
		for i := 0; i < cut; i++ {
			k[i] = true
		}
		fixed = append(fixed, choice{names, k})
	}
	for _, c := range fixed {
		if err := emit(c); err != nil {
			return err
		}
	}
	for try := 0; try < 8*bound; try++ {
		if err := emit(randomChoice(rng, names, pieces)); err != nil {
			return err
		}
	}
	return nil
}

// space is (names+1) × 2^pieces, saturated at MaxInt64.
func space(names, pieces int) int64 {
	if pieces >= 62 {
		return math.MaxInt64
	}
	s := int64(names+1) * (int64(1) << pieces)
	if s < 0 || s/(int64(1)<<pieces) != int64(names+1) {
		return math.MaxInt64
	}
	return s
}
